//! Offline operator commands on the store: break-glass account recovery and
//! key-encryption key rotation. Both are audited as console actions.

use signet_core::audit::Action as Event;
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine;
use signet_core::audit::{Actor, AuditEvent};
use signet_core::clock::{Clock, SystemClock};
use signet_core::crypto::{Kek, random_token};
use signet_core::password;
use signet_store::{NewCredentials, Store};

use crate::cli::{RecoverArgs, RotateKekArgs, StoreArgs};
use crate::config::{self, FileConfig};

struct Opened {
    store: Store,
    data_dir: PathBuf,
    file: FileConfig,
}

async fn open(args: &StoreArgs) -> anyhow::Result<Opened> {
    let file = FileConfig::load(args.config.as_deref())?;
    let data_dir = args.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| config::DEFAULT_DATA_DIR.into());
    let url = args.database_url.clone().or(file.database_url.clone());
    if url.is_none() && !data_dir.join("signet.db").exists() {
        bail!("no signet database in {}\nhint: pass --data-dir of the server, or --database-url", data_dir.display());
    }
    let store = Store::open(&config::database_url(url, &data_dir)).await.context("opening the store")?;
    Ok(Opened { store, data_dir, file })
}

fn console_event(action: Event, environment_id: Option<&str>, target: &str, now: i64) -> anyhow::Result<AuditEvent> {
    Ok(AuditEvent::new(Actor::console(action.as_str()), action, environment_id, target, now)?)
}

pub async fn run(args: RecoverArgs) -> anyhow::Result<()> {
    let o = open(&args.store).await?;
    let kek_file = args.key_encryption_key_file.clone().or(o.file.key_encryption_key_file.clone());
    let kek_from_env = std::env::var(config::env::KEY_ENCRYPTION_KEY).ok();
    if let Some(kek) = config::existing_kek(kek_file.as_deref(), kek_from_env.as_deref(), &o.data_dir)? {
        crate::audit_chain::use_existing(&o.store, &kek).await?;
    }
    let now = SystemClock.now();
    let env = o
        .store
        .environment_by_name(&args.environment)
        .await?
        .with_context(|| format!("there is no environment named {:?}", args.environment))?;
    let account = o
        .store
        .account_by_username(&env.id, &args.username)
        .await?
        .with_context(|| format!("there is no account {:?} in {}", args.username, env.name))?;
    let new_password = random_token()?;
    let creds = NewCredentials { password_hash: password::hash(new_password.expose())? };
    let ev = console_event(Event::AccountRecover, Some(env.id.as_str()), account.id.as_str(), now)?;
    let out = args.output.unwrap_or_else(|| o.data_dir.join(format!("recovery-{}.json", account.username)));
    let body = serde_json::json!({
        "environment_id": env.id,
        "username": account.username,
        "password": new_password.expose(),
        "note": "Sign on with this password. Administrators set up two-step verification again at that sign-on.",
    });
    config::write_secret_file(&out, serde_json::to_string_pretty(&body)?.as_bytes())?;
    let recovered = o.store.recover_account(&account.id, &creds, &ev).await.map_err(|e| match e {
        signet_store::StoreError::AuditKeyMissing => {
            anyhow::anyhow!("{e}\nhint: pass --key-encryption-key-file with the key signetd uses")
        }
        e => e.into(),
    });
    let recovered = recovered.inspect_err(|_| {
        let _ = std::fs::remove_file(&out);
    })?;
    if !recovered {
        let _ = std::fs::remove_file(&out);
        bail!("the account vanished while it was being recovered");
    }
    println!("recovered {}: password and MFA reset, account unlocked", account.username);
    println!("new credentials written to {} (mode 0600); delete it once used", out.display());
    o.store.close().await;
    Ok(())
}

pub async fn rotate_kek(args: RotateKekArgs) -> anyhow::Result<()> {
    let o = open(&args.store).await?;
    let old_file = args.key_encryption_key_file.clone().or(o.file.key_encryption_key_file.clone());
    let default_path = o.data_dir.join(config::KEK_FILE_NAME);
    if old_file.is_some() && args.new_key_file.is_none() {
        bail!("the key in use comes from a file you manage\nhint: generate a new one and pass it with --new-key-file");
    }
    let old = config::read_kek_file(old_file.as_deref().unwrap_or(&default_path))?;
    let (new, new_raw_default) = match &args.new_key_file {
        Some(path) => (config::read_kek_file(path)?, None),
        None => {
            let raw = Kek::generate()?;
            (Kek::from_bytes(raw.expose())?, Some(base64::engine::general_purpose::STANDARD.encode(raw.expose())))
        }
    };
    // Keep the new default key beside the old one until the store has moved.
    let staged = default_path.with_extension("new");
    if let Some(text) = &new_raw_default {
        config::write_secret_file(&staged, format!("{text}\n").as_bytes())?;
    }
    // The rotation is recorded in the keyed trail, under the keys the old key opens.
    crate::audit_chain::use_existing(&o.store, &old).await?;
    let ev = console_event(Event::KekRotate, None, &new.id_hex(), SystemClock.now())?;
    let count = o
        .store
        .reseal_all(
            |purpose, sealed| {
                let plain = old.open(purpose, sealed).map_err(|e| format!("{purpose}: {e}"))?;
                new.seal(purpose, plain.expose()).map_err(|e| e.to_string())
            },
            &ev,
        )
        .await?;
    if new_raw_default.is_some() {
        std::fs::rename(&staged, &default_path).with_context(|| format!("installing {}", default_path.display()))?;
        println!("re-sealed {count} secrets; the new key replaced {}", default_path.display());
    } else {
        println!("re-sealed {count} secrets; start signetd with --key-encryption-key-file for the new key");
    }
    o.store.close().await;
    Ok(())
}
