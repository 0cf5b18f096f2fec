//! First start: the Administrators environment, an administrator holding all
//! four roles (password + TOTP), the public `signet-cli` application, a
//! worker with no roles, and the admin API's authentication (native Basic
//! and the Administrators environment's OAuth tokens). Idempotent: once the environment exists nothing is
//! touched. Instances starting together on one store bootstrap once: the
//! store decides under a lock, and the others start with what it made. The
//! credentials go to `bootstrap.json` (0600), never to stdout, and only once
//! they are committed.

use signet_core::audit::Action as Event;
use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use signet_core::audit::{Actor, AuditEvent, digest_of};
use signet_core::crypto::{Kek, generate_es256_key, random_id, random_token, sha256};
use signet_core::model::{
    ADMINISTRATORS, Account, AppKind, Application, CLI_CLIENT_ID, CLI_GRANT_TYPES, CLI_REDIRECT_URI, Environment,
    GrantType, signing_key_purpose, totp_purpose,
};
use signet_core::secret::Secret;
use signet_core::{password, totp};
use signet_proto::bootstrap::{BootstrapAdmin, BootstrapFile, BootstrapWorker};
use signet_proto::roles::Role;
use signet_store::{Bootstrap, Bootstrapped, Store, StoredKey};

use crate::config::admin_auth::{AuthSettings, SETTINGS_KEY};

pub const ADMIN_USERNAME: &str = "administrator";

/// A new signing key for an environment, sealed under the key-encryption key.
pub fn new_signing_key(kek: &Kek, environment_id: &str, now: i64) -> anyhow::Result<StoredKey> {
    let key = generate_es256_key()?;
    Ok(StoredKey {
        private_sealed: kek.seal(&signing_key_purpose(&key.kid), key.pkcs8.expose())?,
        kid: key.kid,
        environment_id: environment_id.to_owned().into(),
        public_jwk: key.public_jwk.to_string(),
        created_at: now,
        retired_at: None,
        activates_at: None,
    })
}

fn created(now: i64, action: Event, env: &str, target: &str, body: serde_json::Value) -> anyhow::Result<AuditEvent> {
    let mut ev = AuditEvent::new(Actor::console("bootstrap"), action, Some(env), target, now)?;
    ev.digest = digest_of(&body);
    Ok(ev)
}

/// Bootstraps the store if it is new. Returns the file written, if any.
/// First, on every start, gives the store the audit trail's keys and seals
/// the chain if it is not keyed yet (see `audit_chain`), so even the
/// bootstrap's events are keyed.
pub async fn ensure(
    store: &Store,
    kek: &Kek,
    now: i64,
    public_url: &str,
    data_dir: &Path,
) -> anyhow::Result<Option<BootstrapFile>> {
    crate::audit_chain::open(store, kek, now).await?;
    if store.environment_by_name(ADMINISTRATORS).await?.is_some() {
        return Ok(None);
    }
    let env = Environment { id: random_id()?.into(), name: ADMINISTRATORS.into(), created_at: now };
    let (admin, password, totp_secret) = administrator(kek, &env, now)?;
    let cli = cli_application(&env, now);
    let (worker, worker_secret) = worker(&env, now)?;
    let key = new_signing_key(kek, env.id.as_str(), now)?;
    let authentication = serde_json::to_value(AuthSettings::new_installation())?;
    let events = [
        created(
            now,
            Event::EnvironmentCreate,
            env.id.as_str(),
            env.id.as_str(),
            serde_json::json!({"name": env.name}),
        )?,
        created(
            now,
            Event::AccountCreate,
            env.id.as_str(),
            admin.id.as_str(),
            serde_json::json!({"username": admin.username, "roles": admin.roles}),
        )?,
        created(
            now,
            Event::ApplicationCreate,
            env.id.as_str(),
            cli.id.as_str(),
            serde_json::json!({"kind": "native"}),
        )?,
        created(
            now,
            Event::ApplicationCreate,
            env.id.as_str(),
            worker.id.as_str(),
            serde_json::json!({"kind": "worker"}),
        )?,
        created(now, Event::SigningKeyCreate, env.id.as_str(), &key.kid, serde_json::json!({"kid": key.kid}))?,
        created(now, Event::AdminSettingsAuthentication, env.id.as_str(), SETTINGS_KEY, authentication.clone())?,
    ];
    let file = BootstrapFile {
        issuer: crate::state::issuer(public_url, env.id.as_str()),
        environment_id: env.id.to_string(),
        admin: BootstrapAdmin {
            username: admin.username.clone(),
            password: password.expose().clone(),
            totp_secret: totp::to_base32(totp_secret.expose()),
        },
        cli_client_id: CLI_CLIENT_ID.into(),
        worker: BootstrapWorker { client_id: worker.id.to_string(), client_secret: worker_secret.expose().clone() },
    };
    // The credentials are staged in a file of this process's own before the
    // commit and renamed into place after it, so `bootstrap.json` exists only
    // for a commit that happened: another instance that bootstrapped first,
    // or a failed write, leaves no file naming credentials nobody has.
    let path = data_dir.join(crate::config::BOOTSTRAP_FILE_NAME);
    let staged = Staged::write(&path, serde_json::to_string_pretty(&file)?.as_bytes())?;
    let done = store
        .bootstrap(Bootstrap {
            environment: &env,
            accounts: &[admin],
            applications: &[cli, worker],
            key: &key,
            settings: &[(SETTINGS_KEY, authentication)],
            events: &events,
        })
        .await?;
    match done {
        Bootstrapped::Created => {
            staged.publish()?;
            Ok(Some(file))
        }
        Bootstrapped::AlreadyThere => {
            tracing::info!("another instance bootstrapped the store first; starting with its environment");
            Ok(None)
        }
    }
}

/// Credentials written to a temporary file (0600) beside their place,
/// renamed into it by `publish`, removed if dropped unpublished.
struct Staged {
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
    published: bool,
}

impl Staged {
    fn write(path: &Path, contents: &[u8]) -> anyhow::Result<Staged> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{}.tmp", random_id()?));
        let staged = Staged { tmp: name.into(), path: path.to_owned(), published: false };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staged.tmp)
            .with_context(|| format!("creating {}", staged.tmp.display()))?;
        f.write_all(contents)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", staged.tmp.display()))?;
        Ok(staged)
    }

    /// Called after the commit: from here the staged file is the only copy of
    /// credentials that exist, so a rename that fails keeps it and names it.
    fn publish(mut self) -> anyhow::Result<()> {
        self.published = true;
        std::fs::rename(&self.tmp, &self.path).with_context(|| {
            format!("moving {} to {}: the credentials are in the first", self.tmp.display(), self.path.display())
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The administrator: every role, a random password and a TOTP secret
/// (sealed), both of which it answers beside the account.
fn administrator(kek: &Kek, env: &Environment, now: i64) -> anyhow::Result<(Account, Secret<String>, Secret<Vec<u8>>)> {
    let password = random_token()?;
    let totp_secret = totp::generate_secret()?;
    let admin = Account {
        id: random_id()?.into(),
        environment_id: env.id.clone(),
        username: ADMIN_USERNAME.into(),
        password_hash: Some(password::hash(password.expose())?),
        active: true,
        admin: true,
        roles: Role::ALL.into_iter().collect(),
        auditor: false,
        totp_sealed: None,
        totp_confirmed: true,
        totp_last_step: 0,
        failed_attempts: 0,
        password_change_required: false,
        locked_until: 0,
        created_at: now,
    };
    let admin =
        Account { totp_sealed: Some(kek.seal(&totp_purpose(admin.id.as_str()), totp_secret.expose())?), ..admin };
    Ok((admin, password, totp_secret))
}

/// The public `signet-cli` application, which may reach the admin API.
fn cli_application(env: &Environment, now: i64) -> Application {
    Application {
        id: CLI_CLIENT_ID.into(),
        environment_id: env.id.clone(),
        name: "signet CLI".into(),
        kind: AppKind::Native,
        secret_hash: None,
        redirect_uris: vec![CLI_REDIRECT_URI.into()],
        grant_types: CLI_GRANT_TYPES.into_iter().collect(),
        scopes: ["openid", "profile", "email", "offline_access"].into_iter().map(String::from).collect(),
        roles: BTreeSet::new(),
        admin_api: true,
        pkce_required: true,
        created_at: now,
    }
}

/// A worker with no roles, and its client secret.
fn worker(env: &Environment, now: i64) -> anyhow::Result<(Application, Secret<String>)> {
    let worker_secret = random_token()?;
    let worker = Application {
        id: random_id()?.into(),
        environment_id: env.id.clone(),
        name: "Bootstrap worker".into(),
        kind: AppKind::Worker,
        secret_hash: Some(sha256(worker_secret.expose().as_bytes()).to_vec()),
        redirect_uris: vec![],
        grant_types: [GrantType::ClientCredentials].into_iter().collect(),
        scopes: BTreeSet::new(),
        roles: BTreeSet::new(),
        admin_api: false,
        pkce_required: true,
        created_at: now,
    };
    Ok((worker, worker_secret))
}
