//! `signet mfa method create|update|read|delete|list`: Vault's
//! `identity/mfa/method/{type}[/{id}]`.
//!
//! Secrets (Okta's API token, Duo's secret key, the PingID settings file
//! with its token and key) come from files, stdin or a prompt, never from
//! arguments, which sit in shell history and process listings; and they are
//! read before anything is sent, so a missing one fails early.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use signet_proto::vault::{CreatedMethod, Envelope, MethodView};

use super::client::{VaultClient, view};
use super::{shown, text};
use crate::cli::mfa::{
    ChangedMethod, Common, DuoArgs, MethodType, NewMethod, OktaArgs, PingidArgs, TotpAlgorithm, TotpArgs,
};
use crate::commands::Ctx;
use crate::exit::ExitCode;
use crate::secret;

/// A PingID settings file is a few hundred bytes; base64 of this much
/// still fits signetd's 64 KiB body limit.
const MAX_SETTINGS_FILE: u64 = 16 * 1024;

/// A write's body: the plain fields, and the type's secret kept out of
/// any JSON value, zeroized on drop.
struct Body {
    fields: Map<String, Value>,
    secret: Option<(&'static str, Zeroizing<String>)>,
}

impl serde::Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            fields: &'a Map<String, Value>,
            #[serde(flatten)]
            secret: BTreeMap<&'a str, &'a str>,
        }
        let secret = self.secret.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Flat { fields: &self.fields, secret }.serialize(s)
    }
}

fn put<T: serde::Serialize>(fields: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        fields.insert(key.to_owned(), json!(v));
    }
}

fn common(c: Common) -> Map<String, Value> {
    let mut f = Map::new();
    put(&mut f, "method_name", c.method_name);
    put(&mut f, "username_format", c.username_format);
    f
}

fn totp(a: TotpArgs) -> Body {
    let mut f = common(a.common);
    f.insert("issuer".into(), json!(a.issuer));
    put(&mut f, "period", a.period);
    put(&mut f, "key_size", a.key_size);
    put(&mut f, "qr_size", a.qr_size);
    put(&mut f, "algorithm", a.algorithm.map(TotpAlgorithm::as_str));
    put(&mut f, "digits", a.digits);
    put(&mut f, "skew", a.skew);
    put(&mut f, "max_validation_attempts", a.max_validation_attempts);
    Body { fields: f, secret: None }
}

/// The settings file as `settings_file_base64`; signetd checks what it says.
fn settings_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let hint = "hint: --settings-file takes the PingID settings file downloaded from PingOne, unchanged";
    let f = std::fs::File::open(path)
        .with_context(|| format!("reading the PingID settings file {}\n{hint}", path.display()))?;
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        bail!("{} is not a file\n{hint}", path.display());
    }
    let mut bytes = Zeroizing::new(Vec::new());
    f.take(MAX_SETTINGS_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading the PingID settings file {}", path.display()))?;
    if bytes.len() as u64 > MAX_SETTINGS_FILE {
        bail!(
            "{} is larger than {MAX_SETTINGS_FILE} bytes, too big for a PingID settings file\n{hint}",
            path.display()
        );
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        bail!("{} is empty\n{hint}", path.display());
    }
    Ok(Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*bytes)))
}

fn pingid(a: PingidArgs) -> anyhow::Result<Body> {
    let encoded = settings_file(&a.settings_file)?;
    Ok(Body { fields: common(a.common), secret: Some(("settings_file_base64", encoded)) })
}

fn okta(a: OktaArgs) -> anyhow::Result<Body> {
    let token = secret::read_secret(a.api_token_file.as_deref(), "Okta API token", "--api-token-file")?;
    let mut f = common(a.common);
    f.insert("org_name".into(), json!(a.org_name));
    put(&mut f, "base_url", a.base_url);
    put(&mut f, "primary_email", a.primary_email);
    put(&mut f, "production", a.production);
    Ok(Body { fields: f, secret: Some(("api_token", Zeroizing::new(token.expose().to_owned()))) })
}

fn duo(a: DuoArgs) -> anyhow::Result<Body> {
    let key = secret::read_secret(a.secret_key_file.as_deref(), "Duo secret key", "--secret-key-file")?;
    let mut f = common(a.common);
    f.insert("api_hostname".into(), json!(a.api_hostname));
    f.insert("integration_key".into(), json!(a.integration_key));
    put(&mut f, "push_info", a.push_info);
    put(&mut f, "use_passcode", a.use_passcode);
    Ok(Body { fields: f, secret: Some(("secret_key", Zeroizing::new(key.expose().to_owned()))) })
}

async fn connect(ctx: &Ctx) -> anyhow::Result<VaultClient> {
    VaultClient::connect(&ctx.settings()?).await
}

pub async fn create(ctx: &Ctx, new: NewMethod) -> anyhow::Result<ExitCode> {
    let (kind, body) = match new {
        NewMethod::Totp(a) => (MethodType::Totp, totp(a)),
        NewMethod::Pingid(a) => (MethodType::Pingid, pingid(a)?),
        NewMethod::Okta(a) => (MethodType::Okta, okta(a)?),
        NewMethod::Duo(a) => (MethodType::Duo, duo(a)?),
    };
    let vault = connect(ctx).await?;
    let answer = vault.call("POST", &["method", kind.as_str()], Some(&body)).await?.unwrap_or_default();
    let data = serde_json::from_value::<Envelope<Value>>(answer).ok().and_then(|a| a.data).unwrap_or_default();
    if ctx.out.json() {
        ctx.out.print_json(&data)?;
    } else {
        let created: CreatedMethod = view(&data, "a created method")?;
        ctx.out.line(&format!("created {} method {}", kind.as_str(), text(&created.method_id)))?;
    }
    Ok(ExitCode::Ok)
}

pub async fn update(ctx: &Ctx, changed: ChangedMethod) -> anyhow::Result<ExitCode> {
    let (kind, id, body) = match changed {
        ChangedMethod::Totp { id, args } => (MethodType::Totp, id, totp(args)),
        ChangedMethod::Pingid { id, args } => (MethodType::Pingid, id, pingid(args)?),
        ChangedMethod::Okta { id, args } => (MethodType::Okta, id, okta(args)?),
        ChangedMethod::Duo { id, args } => (MethodType::Duo, id, duo(args)?),
    };
    let vault = connect(ctx).await?;
    let path = ["method", kind.as_str(), id.as_str()];
    vault.call("POST", &path, Some(&body)).await?;
    let m = vault.read(&path).await?;
    if !ctx.out.json() {
        ctx.out.line(&format!("updated {} method {id}", kind.as_str()))?;
    }
    show(ctx, &m)
}

/// `read TYPE ID`, or `read ID` for a method of any type.
pub async fn read(ctx: &Ctx, first: &str, id: Option<&str>) -> anyhow::Result<ExitCode> {
    let kind = <MethodType as clap::ValueEnum>::from_str(first, false);
    let path: Vec<&str> = match (kind, id) {
        (Ok(kind), Some(id)) => vec!["method", kind.as_str(), id],
        (Err(_), None) => vec!["method", first],
        (Ok(kind), None) => bail!(
            "{} is a method type: give the method's id after it\nhint: signet mfa method list {} shows them",
            kind.as_str(),
            kind.as_str()
        ),
        (Err(_), Some(_)) => bail!("{first:?} is not a method type\nhint: the types are totp, pingid, okta, duo"),
    };
    let vault = connect(ctx).await?;
    show(ctx, &vault.read(&path).await?)
}

pub async fn delete(ctx: &Ctx, kind: MethodType, id: &str) -> anyhow::Result<ExitCode> {
    let vault = connect(ctx).await?;
    vault.call("DELETE", &["method", kind.as_str(), id], None::<&()>).await?;
    if ctx.out.json() {
        ctx.out.print_json(&json!({"method_id": id, "deleted": true}))?;
    } else {
        ctx.out.line(&format!("deleted {} method {id}", kind.as_str()))?;
    }
    Ok(ExitCode::Ok)
}

pub async fn list(ctx: &Ctx, kind: Option<MethodType>) -> anyhow::Result<ExitCode> {
    let vault = connect(ctx).await?;
    let mut path = vec!["method"];
    path.extend(kind.map(MethodType::as_str));
    let methods = vault.list(&path).await?;
    if ctx.out.json() {
        ctx.out.print_json(&Value::Array(methods))?;
        return Ok(ExitCode::Ok);
    }
    if methods.is_empty() {
        let of = kind.map(|k| format!(" of type {}", k.as_str())).unwrap_or_default();
        ctx.out.line(&format!("no MFA methods{of}"))?;
        return Ok(ExitCode::Ok);
    }
    let rows = methods
        .iter()
        .map(|m| {
            let m: MethodView = view(m, "an MFA method")?;
            Ok(vec![text(&m.id), text(&m.kind), text(&m.name), summary(&m)])
        })
        .collect::<anyhow::Result<Vec<Vec<String>>>>()?;
    ctx.out.table(&["ID", "TYPE", "NAME", "SETTINGS"], &rows).map(|()| ExitCode::Ok)
}

/// The field that tells methods of a type apart.
fn summary(m: &MethodView) -> String {
    let key = match m.kind.as_str() {
        "totp" => "issuer",
        "pingid" => "org_alias",
        "okta" => "org_name",
        "duo" => "api_hostname",
        _ => return String::new(),
    };
    format!("{key}={}", m.settings.get(key).map_or_else(|| "-".into(), shown))
}

/// Fields only Vault's own tooling needs.
const UNSHOWN: [&str; 3] = ["namespace_id", "namespace_path", "mount_accessor"];

/// One method: its id, type and name, then its type's fields.
fn show(ctx: &Ctx, raw: &Value) -> anyhow::Result<ExitCode> {
    if ctx.out.json() {
        ctx.out.print_json(raw)?;
        return Ok(ExitCode::Ok);
    }
    let m: MethodView = view(raw, "an MFA method")?;
    let mut pairs: Vec<(String, String)> =
        vec![("id".into(), text(&m.id)), ("type".into(), text(&m.kind)), ("name".into(), text(&m.name))];
    for (k, v) in &m.settings {
        if !UNSHOWN.contains(&k.as_str()) {
            pairs.push((k.replace('_', " "), shown(v)));
        }
    }
    let pairs: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    ctx.out.fields(&pairs)?;
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_sends_only_what_was_given_and_its_secret_beside_it() {
        let body = Body {
            fields: common(Common { method_name: Some("ping".into()), username_format: None }),
            secret: Some(("api_token", Zeroizing::new("tok".into()))),
        };
        assert_eq!(serde_json::to_value(&body).unwrap(), json!({"method_name": "ping", "api_token": "tok"}));
        let t = totp(TotpArgs {
            common: Common { method_name: None, username_format: None },
            issuer: "signet".into(),
            period: Some(60),
            key_size: None,
            qr_size: None,
            algorithm: Some(TotpAlgorithm::Sha256),
            digits: None,
            skew: Some(0),
            max_validation_attempts: None,
        });
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"issuer": "signet", "period": 60, "algorithm": "SHA256", "skew": 0})
        );
    }

    #[test]
    fn each_type_is_summed_up_by_its_distinguishing_field() {
        let summed = |m: Value| summary(&view(&m, "a method").unwrap());
        assert_eq!(summed(json!({"id": "1", "type": "totp", "issuer": "signet"})), "issuer=signet");
        assert_eq!(summed(json!({"id": "2", "type": "duo", "api_hostname": ""})), "api_hostname=-");
    }
}
