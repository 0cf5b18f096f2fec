//! `signet session export` and `import`: a session carried to another
//! machine as one zip archive (mode 0600) of three entries:
//!
//! - `manifest.json`: the format, the profile's settings that are not
//!   secret, and what the session is (service, issuer, client, expiry, key
//!   thumbprint). Nothing in it is secret.
//! - `key.pem`: the private key, as PKCS#8 encrypted with the passphrase
//!   (PBES2: scrypt with N = 2^17, r = 8, p = 1, and AES-256-CBC; RFC 8018).
//! - `secrets.pem`: the tokens, any secret settings (a worker's client
//!   secret), and the manifest's SHA-256, in a PBES2 envelope under the same
//!   passphrase; so a manifest edited to send the tokens elsewhere is refused.
//!
//! With `--insecure-unencrypted`, `key.pem` is a plain PKCS#8 key and the
//! secrets are `secrets.json`; nothing then shows the archive was not
//! altered, so `import` takes one only with `--insecure-unencrypted` too.
//! An import checks everything before it writes anything: the entries
//! (names, no links, no traversal, bounded sizes), the encryption's cost,
//! the passphrase, and every setting.

use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use signet_client::{ProofKey, Session, SessionFile};
use zeroize::Zeroizing;

use crate::commands::Ctx;
use crate::config::{ConfigFile, keys, valid_profile_name};
use crate::exit::ExitCode;
use crate::output::safe;
use crate::secret::Password;

const FORMAT: &str = "signet-session";
const VERSION: u64 = 1;
const MANIFEST: &str = "manifest.json";
const KEY: &str = "key.pem";
const SEALED: &str = "secrets.pem";
const PLAIN: &str = "secrets.json";
/// A session archive is a few kilobytes; these bounds refuse anything else
/// (a zip bomb included) before it is inflated.
const MAX_ARCHIVE: u64 = 1 << 20;
const MAX_ENTRY: u64 = 256 << 10;

fn sha256_hex(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The passphrase: the file's one line, or asked for on a terminal (twice
/// for a new archive). Never prompted for without a terminal.
fn passphrase(file: Option<&Path>, new: bool) -> anyhow::Result<Password> {
    use std::io::IsTerminal;
    match file {
        Some(f) => crate::secret::read_secret(Some(f), "passphrase", "--passphrase-file"),
        None if std::io::stdin().is_terminal() && new => crate::secret::prompt_new("passphrase"),
        None if std::io::stdin().is_terminal() => crate::secret::prompt("passphrase"),
        None if new => bail!(
            "a passphrase is needed to encrypt the session's key and tokens, and stdin is not a terminal to ask on\nhint: --passphrase-file FILE; or --insecure-unencrypted to write them in the clear"
        ),
        None => bail!(
            "the archive is encrypted, and stdin is not a terminal to ask for its passphrase on\nhint: --passphrase-file FILE"
        ),
    }
}

/// `manifest.json`. Every field may be missing from an archive, so that
/// each is named when it is.
#[derive(Serialize, Deserialize)]
struct Manifest {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    version: Option<u64>,
    /// The profile it was exported from.
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    encrypted: bool,
    /// The settings that are not secret, as dotted keys.
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    session: Option<Described>,
}

/// What the session is: nothing secret.
#[derive(Default, Serialize, Deserialize)]
struct Described {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    jkt: Option<String>,
    #[serde(default)]
    minted: bool,
    #[serde(default)]
    subject: Option<String>,
}

/// `secrets.pem` (sealed) or `secrets.json`. No `Debug`: it holds the tokens.
#[derive(Serialize, Deserialize)]
struct Secrets {
    /// Of `manifest.json`'s bytes, so an edited manifest is refused.
    #[serde(default)]
    manifest_sha256: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    /// The secret settings, as dotted keys.
    #[serde(default)]
    settings: Settings,
}

type Settings = BTreeMap<String, String>;

/// The archive's entries: each one's text, by name.
type Entries = BTreeMap<String, String>;

/// The profile's settings as dotted keys, split into plain and secret.
fn settings_of(file: &ConfigFile, profile: &str) -> anyhow::Result<(Settings, Settings)> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut Vec<(String, String)>) {
        for (k, v) in t {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(t) => walk(&key, t, out),
                toml::Value::String(s) => out.push((key, s.clone())),
                other => out.push((key, other.to_string())),
            }
        }
    }
    let mut all = Vec::new();
    walk("", file.require_profile(profile)?, &mut all);
    let (mut plain, mut secret) = (Settings::new(), Settings::new());
    for (k, v) in all {
        if k == "description" {
            continue;
        }
        let is_secret = keys::resolve(&k).map(|key| key.def().secret).unwrap_or(true);
        let side = if is_secret { &mut secret } else { &mut plain };
        side.insert(k, v);
    }
    Ok((plain, secret))
}

pub fn export(
    ctx: &Ctx,
    output: &Path,
    passphrase_file: Option<&Path>,
    insecure: bool,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let session = Session::load(&settings.profile)?;
    if output.symlink_metadata().is_ok() && !force {
        bail!("{} exists\nhint: --force replaces it", output.display());
    }
    let pass = if insecure { None } else { Some(passphrase(passphrase_file, true)?) };
    let (plain, secret) = settings_of(&settings.file, &settings.profile)?;
    let f = &session.file;
    let manifest = Manifest {
        format: Some(FORMAT.to_owned()),
        version: Some(VERSION),
        profile: Some(settings.profile.clone()),
        encrypted: pass.is_some(),
        settings: plain,
        session: Some(Described {
            service: Some(f.service.clone()),
            issuer: Some(f.issuer.clone()),
            client_id: Some(f.client_id.clone()),
            expires_at: Some(f.expires_at),
            jkt: Some(f.jkt.clone()),
            minted: f.minted,
            subject: f.subject.clone(),
        }),
    };
    // Through a JSON value, whose keys are sorted, as archives have always been written.
    let manifest = serde_json::to_vec_pretty(&serde_json::to_value(&manifest)?)?;
    let secrets = Secrets {
        manifest_sha256: Some(sha256_hex(&manifest)),
        access_token: Some(f.access_token.clone()),
        refresh_token: f.refresh_token.clone(),
        settings: secret,
    };
    let secrets = Zeroizing::new(serde_json::to_vec_pretty(&serde_json::to_value(&secrets)?)?);
    let key = session.key();
    let (key_pem, secrets_entry): (Zeroizing<String>, (&str, Zeroizing<Vec<u8>>)) = match &pass {
        Some(p) => {
            let k = Zeroizing::new(key.to_encrypted_pem(p.expose().as_bytes())?);
            let s = signet_client::seal(p.expose().as_bytes(), &secrets)?;
            (k, (SEALED, Zeroizing::new(s.into_bytes())))
        }
        None => (key.to_pem()?, (PLAIN, secrets.clone())),
    };
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    for (name, bytes) in [(MANIFEST, &manifest[..]), (KEY, key_pem.as_bytes()), (secrets_entry.0, &secrets_entry.1[..])]
    {
        zip.start_file(name, options)?;
        zip.write_all(bytes)?;
    }
    let bytes = Zeroizing::new(zip.finish()?.into_inner());
    if force {
        signet_client::write_private(output, &bytes)?;
    } else {
        signet_client::write_private_new(output, &bytes)
            .map_err(|e| anyhow!("{e}\nhint: --force replaces an existing file"))?;
    }
    if pass.is_none() {
        eprintln!(
            "warning: {} holds the session's private key and tokens unencrypted: anyone who reads it has the session",
            output.display()
        );
    }
    if ctx.out.json() {
        ctx.out.print_json(&json!({"profile": settings.profile, "archive": output, "encrypted": pass.is_some()}))?;
    } else {
        ctx.out.line(&format!("Session of profile {} exported to {}", settings.profile, output.display()))?;
    }
    Ok(ExitCode::Ok)
}

/// The archive's entries, checked: only the expected names, each once, no
/// links or directories, no path that leaves the archive, bounded sizes.
fn entries(bytes: &[u8]) -> anyhow::Result<Entries> {
    let damaged = |e: zip::result::ZipError| anyhow!("not a session archive: it is truncated or damaged ({e})");
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
    // The reader keeps one entry per name, the last: a name given twice
    // would be checked here as one entry while other tools show another.
    if zip.has_duplicate_names() {
        bail!("the archive holds an entry name more than once; nothing was imported");
    }
    if zip.len() > 3 {
        bail!("not a session archive: it holds {} entries, and a session has 3", zip.len());
    }
    let mut found = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(damaged)?;
        let name = entry.name().map_err(damaged)?.into_owned();
        if entry.enclosed_name().is_none() || name.starts_with('/') || name.contains('\\') {
            bail!("the archive's entry {name:?} points outside it (path traversal); nothing was imported");
        }
        if entry.is_symlink() {
            bail!("the archive's entry {name:?} is a link; nothing was imported");
        }
        if entry.is_dir() || ![MANIFEST, KEY, SEALED, PLAIN].contains(&name.as_str()) {
            bail!("the archive holds {name:?}, which a session archive does not; nothing was imported");
        }
        if found.contains_key(&name) {
            bail!("the archive holds {name:?} twice; nothing was imported");
        }
        if entry.size() > MAX_ENTRY {
            bail!(
                "the archive's {name} inflates to {} bytes, more than a session holds (a zip bomb?); nothing was imported",
                entry.size()
            );
        }
        // The size in the header may lie: read no more than the bound.
        let mut text = String::new();
        entry
            .by_ref()
            .take(MAX_ENTRY + 1)
            .read_to_string(&mut text)
            .map_err(|e| anyhow!("the archive's {name} cannot be read: {e}; it is truncated or damaged"))?;
        if text.len() as u64 > MAX_ENTRY {
            bail!("the archive's {name} inflates past {MAX_ENTRY} bytes (a zip bomb?); nothing was imported");
        }
        found.insert(name, text);
    }
    Ok(found)
}

fn text<'a>(entries: &'a Entries, name: &str) -> anyhow::Result<&'a str> {
    entries.get(name).map(String::as_str).ok_or_else(|| anyhow!("the archive has no {name}; nothing was imported"))
}

pub struct ImportOptions<'a> {
    pub passphrase_file: Option<&'a Path>,
    pub insecure: bool,
    pub force: bool,
    pub accept_settings: bool,
}

/// An archive once every check has passed; nothing is written yet.
struct Checked {
    /// The profile the archive was exported from.
    profile: String,
    file: SessionFile,
    key: ProofKey,
    /// Every setting, as `signet config set` would write it.
    settings: Vec<(keys::Key, String)>,
}

/// Reads and checks a whole archive: its entries, its manifest, the
/// passphrase (asked for through `passphrase` only if it is encrypted), the
/// manifest's seal, the key, and every setting.
fn check(
    bytes: &[u8],
    insecure: bool,
    passphrase: impl FnOnce() -> anyhow::Result<Password>,
) -> anyhow::Result<Checked> {
    let entries = entries(bytes)?;
    let manifest_text = text(&entries, MANIFEST)?;
    let manifest: Manifest = serde_json::from_str(manifest_text).map_err(|e| match e.is_data() {
        true => anyhow!("not a session archive of this version of signet ({e})"),
        false => anyhow!("the archive's manifest is not JSON: {e}"),
    })?;
    if manifest.format.as_deref() != Some(FORMAT) || manifest.version != Some(VERSION) {
        let shown = |v: Option<String>| v.unwrap_or_else(|| "null".into());
        bail!(
            "not a session archive of this version of signet (format {}, version {})",
            shown(manifest.format.as_ref().map(|f| format!("{f:?}"))),
            shown(manifest.version.map(|v| v.to_string()))
        );
    }
    let encrypted = manifest.encrypted && entries.contains_key(SEALED);
    if !encrypted && !insecure {
        bail!(
            "the archive's secrets are not encrypted, so nothing shows it was not altered on the way; nothing was imported\nhint: import it with --insecure-unencrypted only if you made it yourself"
        );
    }
    if encrypted && insecure {
        bail!(
            "the archive is encrypted; --insecure-unencrypted is for archives that are not\nhint: give its passphrase with --passphrase-file"
        );
    }
    let (key, secrets): (ProofKey, Secrets) = if encrypted {
        let pass = passphrase()?;
        let pass = pass.expose().as_bytes();
        let key = ProofKey::from_pem(text(&entries, KEY)?, Some(pass)).map_err(wrong)?;
        let plain = signet_client::open(pass, text(&entries, SEALED)?).map_err(wrong)?;
        (key, serde_json::from_slice(&plain).map_err(|_| wrong(signet_client::Error::Passphrase))?)
    } else {
        let key = ProofKey::from_pem(text(&entries, KEY)?, None)?;
        (
            key,
            serde_json::from_str(text(&entries, PLAIN)?)
                .map_err(|e| anyhow!("the archive's secrets are not JSON: {e}"))?,
        )
    };
    if secrets.manifest_sha256 != Some(sha256_hex(manifest_text.as_bytes())) {
        bail!("the archive's manifest is not the one its secrets were sealed with (edited?); nothing was imported");
    }
    let file = session_file(manifest.session.unwrap_or_default(), secrets.access_token, secrets.refresh_token)?;
    if key.thumbprint() != file.jkt {
        bail!("the archive's key is not the one its session is bound to; nothing was imported");
    }
    // Every setting is checked as `signet config set` checks it.
    let mut settings = Vec::new();
    for (k, v) in manifest.settings.iter().chain(&secrets.settings) {
        let key =
            keys::resolve(k).map_err(|e| anyhow!("the archive's setting {}: {e}; nothing was imported", safe(k)))?;
        let value = keys::validate(&key, v)
            .map_err(|e| anyhow!("the archive's setting {}: {e}; nothing was imported", safe(k)))?;
        settings.push((key, value));
    }
    let profile = manifest.profile.unwrap_or_default();
    Ok(Checked { profile, file, key, settings })
}

/// The session the archive describes, with its tokens; each field it lacks is named.
fn session_file(
    s: Described,
    access_token: Option<String>,
    refresh_token: Option<String>,
) -> anyhow::Result<SessionFile> {
    let field =
        |v: Option<String>, name: &str| v.ok_or_else(|| anyhow!("the archive lacks {name}; nothing was imported"));
    Ok(SessionFile {
        service: field(s.service, "service")?,
        issuer: field(s.issuer, "issuer")?,
        client_id: field(s.client_id, "client_id")?,
        access_token: field(access_token, "access_token")?,
        refresh_token,
        expires_at: s.expires_at.ok_or_else(|| anyhow!("the archive lacks expires_at"))?,
        jkt: field(s.jkt, "jkt")?,
        private_key_file: None,
        minted: s.minted,
        subject: s.subject,
    })
}

/// The archive's settings that say where the profile connects (the admin
/// API's host, a provider's issuer or base URL) and which files it reads
/// and trusts (CA files, a client certificate and its key): an archive from
/// someone else could send the person's requests, and what they type at a
/// sign-on, to a host of its choosing. They are applied only once the
/// person has seen them: asked on a terminal, or with `--accept-settings`.
fn accept(checked: &Checked, profile: &str, accepted: bool) -> anyhow::Result<()> {
    let steering: Vec<String> =
        checked.settings.iter().filter(|(k, _)| keys::steers(k)).map(|(k, v)| format!("{k} = {}", safe(v))).collect();
    if steering.is_empty() || accepted {
        return Ok(());
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        bail!(
            "the archive sets where profile {profile} connects and which files it trusts: {}; nothing was imported\nhint: check them, then import with --accept-settings",
            steering.join(", ")
        );
    }
    eprintln!("The archive sets where profile {profile} connects and which files it trusts:");
    for line in &steering {
        eprintln!("  {line}");
    }
    eprint!("Apply these settings? [y/N]: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("reading the answer")?;
    if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        bail!("the settings were not accepted; nothing was imported");
    }
    Ok(())
}

/// The archive's bytes, refused unread when it is far larger than a session archive.
fn read_archive(archive: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let meta = std::fs::metadata(archive).with_context(|| format!("reading {}", archive.display()))?;
    if meta.len() > MAX_ARCHIVE {
        bail!("{} is {} bytes, far more than a session archive; nothing was imported", archive.display(), meta.len());
    }
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(archive)
        .and_then(|f| f.take(MAX_ARCHIVE).read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", archive.display()))?;
    Ok(bytes)
}

pub fn import(ctx: &Ctx, archive: &Path, o: &ImportOptions<'_>) -> anyhow::Result<ExitCode> {
    let bytes = read_archive(archive)?;
    let checked = check(&bytes, o.insecure, || passphrase(o.passphrase_file, false))?;
    let profile = ctx.profile_flag.clone().unwrap_or_else(|| checked.profile.clone());
    if !valid_profile_name(&profile) {
        bail!("{:?} is not a valid profile name\nhint: choose one with -P NAME", safe(&profile));
    }
    let force = o.force;
    let config = ctx.path()?;
    let dir = signet_client::dir_for(&profile)?;
    let taken = |f: &ConfigFile| {
        let exists = f.profile_table(&profile).is_some_and(|t| !t.is_empty()) || dir.exists();
        match exists && !force {
            true => Err(anyhow!(
                "profile {profile} already exists here\nhint: --force replaces it, or -P NAME imports it under another name"
            )),
            false => Ok(()),
        }
    };
    taken(&ConfigFile::load(&config)?)?;
    accept(&checked, &profile, o.accept_settings)?;
    let Checked { file, key, settings, .. } = checked;
    // The session is written beside its place, then, under the session's
    // and the config file's locks, moved in whole and the profile written.
    // A session replaced (--force) is moved aside first and put back if
    // anything fails, so a failed import leaves what was there.
    let parent = crate::token_store::private_state_dir("sessions")?;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let staging = parent.join(format!(".{profile}.import-{tag}"));
    let aside = parent.join(format!(".{profile}.replaced-{tag}"));
    let issuer = file.issuer.clone();
    let staged = Session::new(staging.clone(), file, Arc::new(key)).save().map_err(anyhow::Error::from);
    let locked = staged.and_then(|()| super::writer_lock(&profile));
    let _lock = match locked {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let (mut replaced, mut moved_in) = (false, false);
    let written = ConfigFile::update(&config, |f| {
        // Looked at again under the locks: another import may have been quicker.
        taken(f)?;
        if dir.exists() {
            std::fs::rename(&dir, &aside).with_context(|| format!("moving {} aside", dir.display()))?;
            replaced = true;
        }
        std::fs::rename(&staging, &dir).with_context(|| format!("moving the session into {}", dir.display()))?;
        moved_in = true;
        if f.profile_table(&profile).is_none() {
            f.add_profile(&profile, None)?;
        }
        for k in settings_of(f, &profile).map(|(p, s)| p.into_iter().chain(s).map(|(k, _)| k)).into_iter().flatten() {
            if let Ok(key) = keys::resolve(&k) {
                f.unset(&profile, &key);
            }
        }
        for (key, value) in settings {
            f.set(&profile, &key, value)?;
        }
        Ok(())
    });
    if let Err(e) = written {
        return Err(roll_back(e, &staging, &dir, &aside, moved_in, replaced));
    }
    if replaced {
        let _ = std::fs::remove_dir_all(&aside);
        eprintln!("note: the session replaced here was not revoked; it ends by itself");
    }
    if ctx.out.json() {
        ctx.out.print_json(&json!({"profile": profile, "imported": true, "issuer": issuer}))?;
    } else {
        ctx.out.line(&format!(
            "Session with {issuer} imported as profile {profile}; signet session validate -P {profile} checks it"
        ))?;
    }
    Ok(ExitCode::Ok)
}

/// Undoes a failed import: the staged session goes, and the session it
/// was to replace (moved `aside`) is put back in `dir`.
fn roll_back(
    e: anyhow::Error,
    staging: &Path,
    dir: &Path,
    aside: &Path,
    moved_in: bool,
    replaced: bool,
) -> anyhow::Error {
    let e = e.context("the session was not imported");
    let _ = std::fs::remove_dir_all(staging);
    if moved_in {
        let _ = std::fs::remove_dir_all(dir);
    }
    if replaced && std::fs::rename(aside, dir).is_err() {
        return e.context(format!("the session it was to replace is kept in {}", aside.display()));
    }
    e
}

fn wrong(e: signet_client::Error) -> anyhow::Error {
    match e {
        signet_client::Error::Cost => anyhow!("{e}: not an archive signet wrote; nothing was imported"),
        signet_client::Error::Passphrase | signet_client::Error::Key(_) | signet_client::Error::Sealed => {
            anyhow!("wrong passphrase, or the archive is damaged; nothing was imported")
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    //! Fuzzing the archive reader: any bytes, and zips whose entries,
    //! manifest, secrets and settings are generated (sealed with the right
    //! digest, so the checks past the seal are reached), give a checked
    //! session or an error, never a panic. `PROPTEST_CASES` runs it longer
    //! than CI's budget.
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use serde_json::Value;

    use super::*;

    fn cases(default: u32) -> u32 {
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
    }

    fn no_passphrase() -> anyhow::Result<Password> {
        bail!("no passphrase here")
    }

    /// Reads an archive as `import` does, before anything is written.
    fn read(bytes: &[u8]) {
        for insecure in [true, false] {
            if let Ok(c) = check(bytes, insecure, no_passphrase) {
                let _ = accept(&c, "p", true);
                let _ = format!("{:?}", c.file);
            }
        }
    }

    const NAMES: &[&str] = &[
        MANIFEST,
        KEY,
        SEALED,
        PLAIN,
        "../manifest.json",
        "/manifest.json",
        "dir/",
        "dir\\key.pem",
        "other",
        "",
        "manifest.json\0",
    ];
    const WORDS: &[&str] = &[
        "format",
        "version",
        "profile",
        "encrypted",
        "settings",
        "session",
        "service",
        "issuer",
        "client_id",
        "expires_at",
        "jkt",
        "minted",
        "subject",
        "access_token",
        "refresh_token",
        "manifest_sha256",
        "auth.storage.type",
        "service.pingone.endpoint.baseURL",
        "service.pingfederate.httpsHost",
        "service.okta.authentication.authorizationCode.redirectURIPath",
        "service.okta.caCertificatePemFiles",
        "service.Bad Name.issuer",
        "bogus.key",
        "",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            prop::sample::select(WORDS).prop_map(|w| json!(w)),
            any::<String>().prop_map(Value::String),
            Just(json!(FORMAT)),
            Just(json!("https://as.example/as")),
            Just(json!("\u{1b}]0;x\u{7}")),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(prop::sample::select(WORDS).prop_map(str::to_owned), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const SETTING_KEYS: &[&str] = &[
        "auth.storage.type",
        "service.pingone.endpoint.baseURL",
        "service.pingone.endpoint.environmentID",
        "service.pingone.authentication.worker.clientSecret",
        "service.pingfederate.httpsHost",
        "service.pingfederate.authentication.clientCertificate.keyFile",
        "service.okta.issuer",
        "service.okta.authentication.authorizationCode.redirectURIPath",
        "service.okta.authentication.authorizationCode.redirectURIPort",
        "service.okta.caCertificatePemFiles",
        "SERVICE.OKTA.ISSUER",
        "service.Bad Name.issuer",
        "bogus.key",
        "",
    ];
    const SETTING_VALUES: &[&str] = &[
        "file",
        "secure_local",
        "https://admin.example.test",
        "6f1c1f4e-3b8a-4f53-9a43-0d6a5b7f2e11",
        "/callback/okta",
        "/a/../b",
        "8080",
        "70000",
        "/etc/ssl/ca.pem,/tmp/other.pem",
        "",
        " ",
        "\u{1b}]0;x\u{7}",
        "ftp://x",
    ];

    /// Settings as an archive carries them: mostly real keys and values.
    fn settings() -> impl Strategy<Value = Value> {
        let value = prop_oneof![
            4 => prop::sample::select(SETTING_VALUES).prop_map(|v| json!(v)),
            1 => json(),
        ];
        prop_oneof![
            6 => prop::collection::btree_map(prop::sample::select(SETTING_KEYS).prop_map(str::to_owned), value, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            1 => json(),
        ]
    }

    /// A manifest that mostly passes every check before the settings, with
    /// generated parts: it is the settings and the session's fields that
    /// the import is to survive.
    fn manifest(jkt: String) -> impl Strategy<Value = Value> {
        let extra = prop_oneof![3 => Just(json!({})), 1 => json()];
        let session = (extra, prop::bool::weighted(0.9), any::<i64>()).prop_map(move |(extra, real_key, expires)| {
            let mut s = json!({"service": "pingone", "issuer": "https://as.example/as", "client_id": "c",
                               "expires_at": expires, "subject": "ada"});
            if real_key {
                s["jkt"] = json!(jkt);
            }
            if let (Some(s), Value::Object(extra)) = (s.as_object_mut(), extra) {
                s.extend(extra);
            }
            s
        });
        let profile = prop_oneof![3 => Just(json!("ops")), 1 => json()];
        (session, settings(), profile, prop::bool::weighted(0.1)).prop_map(|(session, settings, profile, odd)| {
            let mut m = json!({"format": FORMAT, "version": VERSION, "encrypted": false,
                               "profile": profile, "settings": settings, "session": session});
            if odd {
                m["version"] = json!(2);
            }
            m
        })
    }

    fn zip_of(entries: &[(String, Vec<u8>)]) -> Option<Vec<u8>> {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in entries {
            z.start_file(name.as_str(), o).ok()?;
            z.write_all(body).ok()?;
        }
        Some(z.finish().ok()?.into_inner())
    }

    fn run<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, n: u32, body: impl Fn(T)) {
        let mut runner = TestRunner::new(Config { cases: cases(n), failure_persistence: None, ..Config::default() });
        let outcome = runner.run(&strategy, |v| {
            body(v);
            Ok(())
        });
        eprintln!("fuzz-cases session_archive {}", cases(n));
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    }

    #[test]
    fn fuzz_session_archive_any_bytes_are_refused_cleanly() {
        run(prop::collection::vec(any::<u8>(), 0..2048), 256, |b| read(&b));
        // Bytes that start as a zip does.
        run(prop::collection::vec(any::<u8>(), 0..2048), 256, |mut b| {
            b.splice(0..0, *b"PK\x03\x04");
            read(&b);
        });
    }

    #[test]
    fn fuzz_session_archive_generated_entries_are_checked_without_panics() {
        let key = ProofKey::generate().unwrap();
        let key_pem = key.to_pem().unwrap().to_string();
        let extra = prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec((prop::sample::select(NAMES), any::<Vec<u8>>()), 1..3),
        ];
        let strategy = (extra, manifest(key.thumbprint().to_owned()), settings(), prop::bool::weighted(0.9), 0..4usize);
        run(strategy, 512, |(extra, m, secret_settings, good_key, drop)| {
            let manifest = serde_json::to_vec(&m).unwrap();
            let secrets = json!({"manifest_sha256": sha256_hex(&manifest), "access_token": "at",
                                 "refresh_token": "rt", "settings": secret_settings});
            let key_body =
                if good_key { key_pem.clone().into_bytes() } else { b"-----BEGIN PRIVATE KEY-----\nAAAA\n".to_vec() };
            let mut entries = vec![
                (MANIFEST.to_owned(), manifest),
                (KEY.to_owned(), key_body),
                (PLAIN.to_owned(), serde_json::to_vec(&secrets).unwrap()),
            ];
            // Now and then one of the three is missing.
            if drop < 3 && extra.len() % 2 == 1 {
                entries.remove(drop);
            }
            entries.extend(extra.into_iter().map(|(n, b)| (n.to_owned(), b)));
            if let Some(zip) = zip_of(&entries) {
                read(&zip);
            }
        });
    }

    #[test]
    fn an_archive_signet_wrote_passes_the_same_checks() {
        let key = ProofKey::generate().unwrap();
        let manifest = serde_json::to_vec(&json!({"format": FORMAT, "version": VERSION, "encrypted": false,
            "profile": "ops", "settings": {"auth.storage.type": "file"},
            "session": {"service": "pingone", "issuer": "https://as.example/as", "client_id": "c",
                        "expires_at": 4_000_000_000i64, "jkt": key.thumbprint()}}))
        .unwrap();
        let secrets = json!({"manifest_sha256": sha256_hex(&manifest), "access_token": "at", "settings": {}});
        let entries = [
            (MANIFEST.to_owned(), manifest),
            (KEY.to_owned(), key.to_pem().unwrap().as_bytes().to_vec()),
            (PLAIN.to_owned(), serde_json::to_vec(&secrets).unwrap()),
        ];
        let checked = check(&zip_of(&entries).unwrap(), true, no_passphrase).unwrap();
        assert_eq!((checked.profile.as_str(), checked.file.issuer.as_str()), ("ops", "https://as.example/as"));
        assert_eq!(checked.settings.len(), 1);
    }
}
