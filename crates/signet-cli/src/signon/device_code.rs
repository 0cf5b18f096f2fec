//! The device code flow (RFC 8628): show the URL and the code (and a QR code
//! on a terminal), then poll, honouring `interval` and `slow_down`, under a spinner.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::anyhow;
use oauth2::{RequestTokenError, Scope, StandardDeviceAuthorizationResponse};

use super::Provider;
use crate::output::safe;
use crate::services::Grant;
use crate::token_store::Cached;

pub async fn sign_on(p: &Provider, client_id: &str, scopes: &str, timeout: Duration) -> anyhow::Result<Cached> {
    let client = p.client(client_id, None)?;
    let mut req = client.exchange_device_code().map_err(|_| {
        anyhow!("the provider of service {} offers no device authorization endpoint\nhint: use authentication.type=authorization_code", p.service.name)
    })?;
    for s in scopes.split(' ').filter(|s| !s.is_empty()) {
        req = req.add_scope(Scope::new(s.to_owned()));
    }
    let details: StandardDeviceAuthorizationResponse =
        req.request_async(&p.sender()).await.map_err(|e| p.explain("device authorization", e))?;
    // All three come from the provider: shown escaped (`output::safe`).
    let uri = details.verification_uri().to_string();
    let code = details.user_code().secret();
    eprintln!("To sign on to {}, open {} and enter the code {}", p.reached(), safe(&uri), safe(code));
    if let Some(complete) = details.verification_uri_complete() {
        eprintln!("or open {}", safe(complete.secret()));
        if std::io::stdout().is_terminal()
            && let Ok(qr) = qrcode::QrCode::new(complete.secret().as_bytes())
        {
            eprintln!("{}", qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
        }
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message("waiting for approval…");
    spinner.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    spinner.enable_steady_tick(Duration::from_millis(120));
    let mut exchange = client.exchange_device_access_token(&details)?;
    if let Some(m) = p.session_minutes {
        exchange = exchange.add_extra_param(super::SESSION_MINUTES, m.to_string());
    }
    let result = exchange.request_async(&p.sender(), tokio::time::sleep, Some(timeout)).await;
    spinner.finish_and_clear();
    let tokens = result.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) if r.error().as_ref() == "expired_token" => {
            anyhow!("the code expired before it was approved\nhint: run signet auth login again and approve within the time shown")
        }
        RequestTokenError::ServerResponse(r) if r.error().as_ref() == "access_denied" => {
            anyhow!("the sign-on was denied in the browser")
        }
        other => p.explain("device sign-on", other),
    })?;
    Ok(p.cache(client_id, Grant::DeviceCode, &tokens, None))
}
