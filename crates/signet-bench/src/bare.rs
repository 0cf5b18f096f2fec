//! Goal 1c's ceiling: a bare axum handler that signs the same access-token
//! claims as signetd's client_credentials grant (RFC 9068 shape, same issuer,
//! subject and audience lengths) with the same `Signer`, and does nothing else:
//! no client authentication, no store, no metrics.
//!
//! `--lookup` is a diagnostic: it adds the one store read that signetd's client
//! authentication makes per request (`Store::application`), to show what that
//! read costs on its own.

use signet_core::id::{ClientId, EnvironmentId};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use signet_core::clock::{Clock, SystemClock};
use signet_core::crypto::{generate_es256_key, random_id};
use signet_core::model::ACCESS_TOKEN_TTL;
use signet_core::token::{AccessClaims, Signer};
use signet_proto::oauth::TokenResponse;
use signet_store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The issuer to put in the tokens (signetd's, so the tokens are the same size).
    #[arg(long)]
    issuer: String,
    /// The client id (and subject) to put in the tokens.
    #[arg(long)]
    client_id: String,
    /// Diagnostic: also read the client from this store (`sqlite://…`) on every request.
    #[arg(long, requires = "environment")]
    lookup: Option<String>,
    /// The environment of the client, for `--lookup`.
    #[arg(long)]
    environment: Option<String>,
}

struct Bare {
    signer: Signer,
    issuer: String,
    client_id: String,
    lookup: Option<(Store, String)>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let key = generate_es256_key()?;
        let lookup = match (args.lookup, args.environment) {
            (Some(url), Some(env)) => Some((Store::open(&url).await?, env)),
            _ => None,
        };
        let bare = Bare {
            signer: Signer::from_pkcs8(key.kid.clone(), &key.pkcs8),
            issuer: args.issuer,
            client_id: args.client_id,
            lookup,
        };
        let app = Router::new().route("/token", post(token)).with_state(Arc::new(bare));
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        println!("bare listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

async fn token(State(bare): State<Arc<Bare>>, _form: Bytes) -> Response {
    if let Some((store, env)) = &bare.lookup
        && !matches!(
            store.application(&EnvironmentId::from(env.as_str()), &ClientId::from(bare.client_id.as_str())).await,
            Ok(Some(_))
        )
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let now = SystemClock.now();
    let Ok(jti) = random_id() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let claims = AccessClaims {
        iss: bare.issuer.clone(),
        sub: bare.client_id.clone(),
        aud: vec![bare.issuer.clone()],
        exp: now + ACCESS_TOKEN_TTL,
        iat: now,
        jti,
        client_id: bare.client_id.clone(),
        scope: String::new(),
        gid: None,
        auth_time: None,
        amr: vec![],
        username: None,
        cnf: None,
    };
    match bare.signer.sign("at+jwt", &claims) {
        Ok(access_token) => Json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TOKEN_TTL,
            refresh_token: None,
            id_token: None,
            scope: None,
            issued_token_type: None,
        })
        .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
