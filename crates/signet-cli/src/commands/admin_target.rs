//! After a sign-on to signetd: point the profile's admin API at the server
//! just reached, so that `signet accounts list` uses this sign-on. Only
//! unset keys are written, and none when a key already says otherwise;
//! nothing on the server changes.

use std::path::Path;

use serde_json::json;

use crate::config::ConfigFile;
use crate::config::keys;
use crate::config::settings::{Settings, Source};
use crate::output::safe;
use crate::services::ADMIN_SERVICE;

/// What became of the profile's admin API.
#[derive(Debug, PartialEq, Eq)]
pub enum Pointed {
    /// These keys were unset, and are now set to these values.
    Set(Vec<(String, String)>),
    /// The profile already calls this admin API with this sign-on.
    Already,
    /// Nothing was written: a key says otherwise, or the admin API is not
    /// where the profile would look for it. The line says how to set it.
    Hint(String),
}

impl Pointed {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Pointed::Set(keys) => {
                let set: serde_json::Map<_, _> = keys.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                json!({"result": "set", "set": set})
            }
            Pointed::Already => json!({"result": "already_set"}),
            Pointed::Hint(h) => json!({"result": "unchanged", "hint": h}),
        }
    }
}

/// Points the profile's admin API at `admin_api`, the one signetd named in
/// the discovery document of `service`, whose issuer is `issuer`.
pub fn point(
    path: &Path,
    settings: &Settings,
    service: &str,
    issuer: &str,
    admin_api: &str,
) -> anyhow::Result<Pointed> {
    let k = |suffix: &str| format!("service.{ADMIN_SERVICE}.{suffix}");
    let (Ok(api), Ok(iss)) = (url::Url::parse(admin_api), url::Url::parse(issuer)) else {
        return Ok(Pointed::Hint(format!("signetd named its admin API as {}, which is not a URL", safe(admin_api))));
    };
    // Printed from here on as parsed, so nothing the server sent is echoed raw.
    let admin_api = api.as_str();
    let origin = iss.origin().ascii_serialization();
    let wanted = [
        (k("httpsHost"), origin.clone()),
        (k("authentication.type"), "oauth".to_owned()),
        (k("authentication.oauth.service"), service.to_owned()),
    ];
    let how = |pairs: &[(String, String)]| {
        pairs.iter().map(|(key, v)| format!("signet config set \"{key}={}\"", safe(v))).collect::<Vec<_>>().join(" && ")
    };
    // The profile finds its admin API at httpsHost + adminAPIPath: where
    // signetd's is elsewhere, the CLI cannot tell what to write.
    let path_now = settings.value(&k("adminAPIPath")).unwrap_or_default();
    if api.origin() != iss.origin() || api.path().trim_end_matches('/') != path_now.trim_end_matches('/') {
        let api_origin = api.origin().ascii_serialization();
        let mut pairs = vec![(k("httpsHost"), api_origin), (k("adminAPIPath"), api.path().to_owned())];
        pairs.extend(wanted[1..].iter().cloned());
        return Ok(Pointed::Hint(format!(
            "signetd's admin API is {admin_api}, not at {origin}{path_now}; to call it with this sign-on: {}",
            how(&pairs)
        )));
    }
    let mut unset = Vec::new();
    let mut differs = Vec::new();
    for (key, value) in &wanted {
        let now =
            keys::resolve(key).ok().and_then(|key| settings.resolve(&key)).filter(|r| r.source != Source::Default);
        match now {
            None => unset.push((key.clone(), value.clone())),
            Some(r) if r.value.trim_end_matches('/') == value => {}
            Some(r) => differs.push(format!("{key}={} (from the {})", safe(&r.value), r.source.label())),
        }
    }
    if !differs.is_empty() {
        return Ok(Pointed::Hint(format!(
            "the profile's admin API is set up otherwise ({}); to call {admin_api} with this sign-on: {}",
            differs.join(", "),
            how(&wanted)
        )));
    }
    if unset.is_empty() {
        return Ok(Pointed::Already);
    }
    let profile = settings.profile.clone();
    ConfigFile::update(path, |f| {
        f.require_profile(&profile)?;
        for (key, value) in &unset {
            f.set(&profile, &keys::resolve(key)?, value.clone())?;
        }
        Ok(())
    })?;
    Ok(Pointed::Set(unset))
}

/// The line `signet auth login` prints about what it set, if it set anything.
pub fn describe(p: &Pointed, profile: &str, admin_api: &str) -> Option<String> {
    let Pointed::Set(keys) = p else { return None };
    let set = keys.iter().map(|(k, v)| format!("{k}={}", safe(v))).collect::<Vec<_>>().join(", ");
    Some(format!("admin API: {} now takes this sign-on (set {set} in profile {profile})", safe(admin_api)))
}
