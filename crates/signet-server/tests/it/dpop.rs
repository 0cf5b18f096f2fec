//! DPoP (RFC 9449, issue 6): proofs at the token endpoint bind tokens to a
//! key; bound tokens need a fresh proof of that key at userinfo, the admin
//! API and the Vault-compatible API; every bad proof is refused and spends
//! nothing.

use serde_json::{Value, json};
use signet_core::clock::Clock;
use signet_core::model::{AppKind, GrantType};
use signet_testkit::dpop::DpopKey;

use crate::admin::basic;
use crate::harness::*;

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&signet_core::crypto::b64url_decode(payload).unwrap()).unwrap()
}

struct Answer {
    status: u16,
    www_authenticate: String,
    body: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let www_authenticate =
        res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = res.text().await.unwrap();
    Answer { status, www_authenticate, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

/// POST /token with these proofs (none, one, or several `DPoP` headers).
async fn token(s: &Server, url: &str, form: &[(&str, &str)], client: Option<(&str, &str)>, proofs: &[&str]) -> Answer {
    let mut req = s.http.post(url).form(form);
    if let Some((id, secret)) = client {
        req = req.basic_auth(id, Some(secret));
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    send(req).await
}

async fn worker_tokens_are_bound_and_bad_proofs_refused(s: Server) {
    let (id, secret) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
    let secret = secret.unwrap();
    let client = Some((id.as_str(), secret.as_str()));
    let url = s.url("/token");
    let form = [("grant_type", "client_credentials")];
    let key = DpopKey::new();
    let now = s.clock.now();

    // Unbound without a proof; bound with one.
    let plain = token(&s, &url, &form, client, &[]).await;
    assert_eq!((plain.status, plain.body["token_type"].as_str()), (200, Some("Bearer")), "{}", plain.body);
    assert!(claims_of(plain.body["access_token"].as_str().unwrap()).get("cnf").is_none());
    let proof = key.proof_at("POST", &url, None, now);
    let bound = token(&s, &url, &form, client, &[&proof]).await;
    assert_eq!((bound.status, bound.body["token_type"].as_str()), (200, Some("DPoP")), "{}", bound.body);
    assert_eq!(claims_of(bound.body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.jkt());
    // Introspection tells a resource server the token is bound, and to what.
    let seen = s.introspect(bound.body["access_token"].as_str().unwrap(), (&id, &secret)).await;
    assert_eq!((seen["token_type"].as_str(), seen["cnf"]["jkt"].as_str()), (Some("DPoP"), Some(key.jkt().as_str())));
    let plain_seen = s.introspect(plain.body["access_token"].as_str().unwrap(), (&id, &secret)).await;
    assert_eq!((plain_seen["token_type"].as_str(), plain_seen.get("cnf")), (Some("Bearer"), None));

    // The same proof again, here or on another instance: a replay.
    let replay = token(&s, &url, &form, client, &[&proof]).await;
    assert_eq!((replay.status, replay.body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{}", replay.body);
    assert!(replay.body["error_description"].as_str().unwrap().contains("used before"));
    let other = s.another_instance().await;
    let elsewhere = key.proof_at("POST", &format!("{other}/token"), None, now);
    let wrong_htu = token(&s, &format!("{other}/token"), &form, client, &[&elsewhere]).await;
    assert_eq!(wrong_htu.status, 400, "htu names the public URL: {}", wrong_htu.body);
    assert!(wrong_htu.body["error_description"].as_str().unwrap().contains("htu"), "{}", wrong_htu.body);
    let fresh = key.proof_at("POST", &url, None, now);
    assert_eq!(token(&s, &format!("{other}/token"), &form, client, &[&fresh]).await.status, 200);
    let spent = token(&s, &url, &form, client, &[&fresh]).await;
    assert_eq!(spent.status, 400, "spent on the other instance: {}", spent.body);
    assert!(spent.body["error_description"].as_str().unwrap().contains("used before"), "{}", spent.body);

    // Each bad proof: 400 invalid_dpop_proof, and the reason.
    let stranger = DpopKey::new();
    let mut private = key.jwk.clone();
    private["d"] = json!("c2VjcmV0");
    let claims = |htm: &str, htu: &str, iat: i64| json!({"jti": signet_core::crypto::random_id().unwrap(), "htm": htm, "htu": htu, "iat": iat});
    let b64 = |v: Value| signet_core::crypto::b64url(v.to_string().as_bytes());
    let cases: Vec<(String, &str)> = vec![
        (key.proof_at("POST", &s.url("/revoke"), None, now), "htu"),
        (key.proof_at("GET", &url, None, now), "htm"),
        (key.proof_at("POST", &url, None, now - 120), "iat"),
        (key.proof_at("POST", &url, None, now + 120), "iat"),
        (key.sign(&private, &claims("POST", &url, now)), "private key"),
        (stranger.sign(&key.jwk, &claims("POST", &url, now)), "signature"),
        (
            format!(
                "{}.{}.",
                b64(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk})),
                b64(claims("POST", &url, now))
            ),
            "ES256 or EdDSA",
        ),
        ("garbage".into(), "not a JWT"),
    ];
    for (proof, reason) in &cases {
        let a = token(&s, &url, &form, client, &[proof]).await;
        assert_eq!((a.status, a.body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{reason}: {}", a.body);
        assert!(a.body["error_description"].as_str().unwrap().contains(reason), "{reason}: {}", a.body);
        assert!(a.body.get("access_token").is_none());
    }
    let (p1, p2) = (key.proof_at("POST", &url, None, now), key.proof_at("POST", &url, None, now));
    let two = token(&s, &url, &form, client, &[&p1, &p2]).await;
    assert_eq!((two.status, two.body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{}", two.body);

    // Discovery says which algorithms.
    let d: Value = s.http.get(s.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA"]));
}

#[tokio::test]
async fn worker_tokens_are_bound_on_sqlite() {
    worker_tokens_are_bound_and_bad_proofs_refused(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn worker_tokens_are_bound_on_postgres() {
    worker_tokens_are_bound_and_bad_proofs_refused(Server::start_on(Backend::Postgres).await).await;
}

/// A person's tokens through the CLI's public client, bound to `key`.
async fn bound_person_tokens(s: &Server, who: &TestAccount, key: &DpopKey) -> Value {
    let form = CodeToRedeem::of(s, who).await;
    let url = s.url("/token");
    let a = token(s, &url, &form.form(), None, &[&key.proof_at("POST", &url, None, s.clock.now())]).await;
    assert_eq!((a.status, a.body["token_type"].as_str()), (200, Some("DPoP")), "{}", a.body);
    a.body
}

async fn bound_tokens_need_proofs_at_resources(s: Server) {
    let admin = s.account(true, true).await;
    let key = DpopKey::new();
    let tokens = bound_person_tokens(&s, &admin, &key).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let url = s.url("/token");

    // The public client's refresh token is bound too: no proof, or another
    // key's, spends nothing; a proof of its key refreshes.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "signet-cli")];
    let none = token(&s, &url, &form, None, &[]).await;
    assert_eq!((none.status, none.body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{}", none.body);
    let other = DpopKey::new();
    let wrong = token(&s, &url, &form, None, &[&other.proof_at("POST", &url, None, s.clock.now())]).await;
    assert_eq!((wrong.status, wrong.body["error"].as_str()), (400, Some("invalid_grant")), "{}", wrong.body);
    let right = token(&s, &url, &form, None, &[&key.proof_at("POST", &url, None, s.clock.now())]).await;
    assert_eq!((right.status, right.body["token_type"].as_str()), (200, Some("DPoP")), "{}", right.body);
    assert_eq!(claims_of(right.body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.jkt());

    // userinfo: DPoP with a proof carrying ath; anything else is refused.
    let userinfo = s.url("/userinfo");
    let get = |scheme: &str, proof: Option<String>| {
        let mut req = s.http.get(&userinfo).header("authorization", format!("{scheme} {access}"));
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        send(req)
    };
    let now = s.clock.now();
    let good = key.proof_at("GET", &userinfo, Some(&access), now);
    let ok = get("DPoP", Some(good.clone())).await;
    assert_eq!((ok.status, ok.body["sub"].as_str()), (200, Some(admin.id.as_str())), "{}", ok.body);
    let refusals = [
        ("Bearer", None, "invalid_token"),
        ("DPoP", None, "invalid_token"),
        ("DPoP", Some(good), "invalid_dpop_proof"),
        ("DPoP", Some(other.proof_at("GET", &userinfo, Some(&access), now)), "invalid_token"),
        ("DPoP", Some(key.proof_at("GET", &userinfo, Some("another token"), now)), "invalid_dpop_proof"),
        ("DPoP", Some(key.proof_at("POST", &userinfo, Some(&access), now)), "invalid_dpop_proof"),
    ];
    for (scheme, proof, error) in refusals {
        let a = get(scheme, proof).await;
        assert_eq!(a.status, 401, "{scheme} {error}: {}", a.body);
        assert!(a.www_authenticate.starts_with("DPoP "), "{}", a.www_authenticate);
        assert!(a.www_authenticate.contains(&format!("error=\"{error}\"")), "{}", a.www_authenticate);
    }

    // The Vault-compatible API: DPoP with a proof, else Vault's 403.
    let vault = format!("{}/v1/identity/mfa/method", s.base);
    let listed = format!("{vault}?list=true");
    let list = send;
    let as_dpop = list(
        s.http
            .get(&listed)
            .header("authorization", format!("DPoP {access}"))
            .header("DPoP", key.proof_at("GET", &vault, Some(&access), now)),
    )
    .await;
    assert_eq!(as_dpop.status, 404, "an empty list, for an authenticated caller: {}", as_dpop.body);
    assert_eq!(as_dpop.body, json!({"errors": []}));
    for req in [
        s.http.get(&listed).header("x-vault-token", &access),
        s.http.get(&listed).header("authorization", format!("Bearer {access}")),
        s.http.get(&listed).header("authorization", format!("DPoP {access}")),
    ] {
        let a = list(req).await;
        assert_eq!((a.status, a.body.clone()), (403, json!({"errors": ["permission denied"]})));
    }

    // The admin API, once its OAuth scheme is on.
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let admin_api = format!("{}/admin-api/v1", s.base);
    let on = send(
        s.http
            .put(format!("{admin_api}/settings/authentication"))
            .header("authorization", &root)
            .json(&json!({"schemes": ["native", "oauth"]})),
    )
    .await;
    assert!(on.status < 300, "{}", on.body);
    let me = format!("{admin_api}/accounts/{}", admin.username);
    let read = send(
        s.http
            .get(&me)
            .header("authorization", format!("DPoP {access}"))
            .header("DPoP", key.proof_at("GET", &me, Some(&access), now)),
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let as_bearer = send(s.http.get(&me).header("authorization", format!("Bearer {access}"))).await;
    assert_eq!(as_bearer.status, 401, "{}", as_bearer.body);
    assert!(as_bearer.www_authenticate.contains("DPoP realm"), "{}", as_bearer.www_authenticate);
    assert!(as_bearer.www_authenticate.contains("error=\"invalid_token\""), "{}", as_bearer.www_authenticate);
    let elsewhere = send(
        s.http
            .get(&me)
            .header("authorization", format!("DPoP {access}"))
            .header("DPoP", key.proof_at("GET", &format!("{admin_api}/accounts"), Some(&access), now)),
    )
    .await;
    assert_eq!(elsewhere.status, 401, "a proof for another URL: {}", elsewhere.body);
    assert!(elsewhere.www_authenticate.contains("error=\"invalid_token\""), "{}", elsewhere.www_authenticate);
}

#[tokio::test]
async fn bound_tokens_need_proofs_on_sqlite() {
    bound_tokens_need_proofs_at_resources(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn bound_tokens_need_proofs_on_postgres() {
    bound_tokens_need_proofs_at_resources(Server::start_on(Backend::Postgres).await).await;
}

/// A key-bound session chooses its access token lifetime when it signs on;
/// each refresh gives a full new lifetime, until 24 hours after the sign-on.
#[tokio::test]
async fn sessions_refresh_until_their_limit() {
    let s = Server::start().await;
    let who = s.account(false, true).await;
    let key = DpopKey::new();
    let url = s.url("/token");
    let (verifier, challenge) = pkce_pair();
    let q = sign_on(&s, &mut Browser::default(), "signet-cli", &who, &challenge).await;
    let signed_on = s.clock.now();
    let code_form = |minutes: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", CLI_REDIRECT),
            ("client_id", "signet-cli"),
            ("code_verifier", verifier.as_str()),
            ("session_expiration_in_minutes", minutes),
        ]
    };
    // Out of range, or without a key: refused before the code is spent.
    for minutes in ["4", "61", "an hour", "15.5"] {
        let a = token(&s, &url, &code_form(minutes), None, &[&key.proof_at("POST", &url, None, s.clock.now())]).await;
        assert_eq!((a.status, a.body["error"].as_str()), (400, Some("invalid_request")), "{minutes}: {}", a.body);
    }
    let unbound = token(&s, &url, &code_form("15"), None, &[]).await;
    assert_eq!((unbound.status, unbound.body["error"].as_str()), (400, Some("invalid_request")), "{}", unbound.body);
    assert!(unbound.body["error_description"].as_str().unwrap().contains("DPoP"));

    let first = token(&s, &url, &code_form("15"), None, &[&key.proof_at("POST", &url, None, s.clock.now())]).await;
    assert_eq!((first.status, first.body["expires_in"].as_i64()), (200, Some(900)), "{}", first.body);
    let at = claims_of(first.body["access_token"].as_str().unwrap());
    assert_eq!(at["exp"].as_i64().unwrap() - at["iat"].as_i64().unwrap(), 900);

    // Ten minutes on, a refresh gives a new full lifetime.
    let mut refresh = first.body["refresh_token"].as_str().unwrap().to_owned();
    s.clock.advance(600);
    let second = refreshed(&s, &key, &refresh).await;
    assert_eq!((second.status, second.body["expires_in"].as_i64()), (200, Some(900)), "{}", second.body);
    let at = claims_of(second.body["access_token"].as_str().unwrap());
    assert_eq!(at["exp"].as_i64().unwrap(), s.clock.now() + 900, "refresh extends the expiry");
    assert_eq!(at["auth_time"].as_i64().unwrap(), signed_on, "the sign-on's time is kept");
    refresh = second.body["refresh_token"].as_str().unwrap().to_owned();

    // Five minutes before the limit: the token ends with the session.
    s.clock.advance(signed_on + 24 * 3600 - 300 - s.clock.now());
    let late = refreshed(&s, &key, &refresh).await;
    assert_eq!((late.status, late.body["expires_in"].as_i64()), (200, Some(300)), "{}", late.body);
    refresh = late.body["refresh_token"].as_str().unwrap().to_owned();

    // Past it: refused, with what to do.
    s.clock.advance(signed_on + 24 * 3600 - s.clock.now());
    let over = refreshed(&s, &key, &refresh).await;
    assert_eq!((over.status, over.body["error"].as_str()), (400, Some("invalid_grant")), "{}", over.body);
    assert!(over.body["error_description"].as_str().unwrap().contains("24 hours"), "{}", over.body);
}

async fn refreshed(s: &Server, key: &DpopKey, refresh: &str) -> Answer {
    let url = s.url("/token");
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "signet-cli")];
    token(s, &url, &form, None, &[&key.proof_at("POST", &url, None, s.clock.now())]).await
}

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Exchanges `subject` (bound to `old`) for a session bound to `new`.
async fn exchange(s: &Server, subject: &str, old: &DpopKey, new: &DpopKey, extra: &[(&str, &str)]) -> Answer {
    let url = s.url("/token");
    let now = s.clock.now();
    let subject_proof = old.proof_at("POST", &url, Some(subject), now);
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("client_id", "signet-cli"),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("subject_token_dpop", subject_proof.as_str()),
    ];
    form.extend_from_slice(extra);
    token(s, &url, &form, None, &[&new.proof_at("POST", &url, None, now)]).await
}

async fn sessions_are_minted_without_a_browser(s: Server) {
    let who = s.account(false, true).await;
    let (a, b, c) = (DpopKey::new(), DpopKey::new(), DpopKey::new());
    let first = bound_person_tokens(&s, &who, &a).await;
    let subject = first["access_token"].as_str().unwrap();
    let signed_on = claims_of(subject)["auth_time"].as_i64().unwrap();

    s.clock.advance(300);
    let minted = exchange(&s, subject, &a, &b, &[]).await;
    assert_eq!(minted.status, 200, "{}", minted.body);
    assert_eq!(
        (minted.body["token_type"].as_str(), minted.body["issued_token_type"].as_str()),
        (Some("DPoP"), Some(ACCESS))
    );
    let at = claims_of(minted.body["access_token"].as_str().unwrap());
    assert_eq!(at["cnf"]["jkt"], b.jkt(), "bound to the new key");
    assert_eq!((at["sub"].as_str(), at["auth_time"].as_i64()), (Some(who.id.as_str()), Some(signed_on)));
    assert_eq!(minted.body["expires_in"], 3600);
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let ev = events.iter().find(|e| e.event.action == "signon.exchange").expect("the exchange is recorded");
    assert_eq!(
        (ev.event.actor.id.as_str(), &ev.event.actor.scheme),
        (who.id.as_str(), &signet_core::audit::ActorScheme::TokenExchange)
    );

    // Bad input: a clear error, nothing minted.
    let url = s.url("/token");
    let now = s.clock.now();
    let plain = code_flow_tokens(&s, &who).await;
    let bearer = plain["access_token"].as_str().unwrap();
    let proof_by = |k: &DpopKey, t: &str| k.proof_at("POST", &url, Some(t), now);
    let spent = proof_by(&a, subject);
    let spend = [
        ("grant_type", EXCHANGE),
        ("client_id", "signet-cli"),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("subject_token_dpop", spent.as_str()),
    ];
    let used = token(&s, &url, &spend, None, &[&c.proof_at("POST", &url, None, now)]).await;
    assert_eq!(used.status, 200, "a fresh proof of the old key: {}", used.body);
    // The fields changed, whether the new key's proof is sent, and the error.
    type Case<'a> = (Vec<(&'a str, String)>, bool, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("subject_token_dpop", proof_by(&b, subject))], true, "invalid_grant"),
        (vec![("subject_token_dpop", spent.clone())], true, "invalid_dpop_proof"),
        (vec![("subject_token_dpop", spent.clone())], false, "invalid_dpop_proof"),
        (vec![], true, "invalid_dpop_proof"),
        (
            vec![("subject_token", bearer.to_owned()), ("subject_token_dpop", proof_by(&a, bearer))],
            true,
            "invalid_grant",
        ),
        (
            vec![("subject_token", "not-a-token".into()), ("subject_token_dpop", proof_by(&a, "not-a-token"))],
            true,
            "invalid_grant",
        ),
        (vec![("subject_token_type", "urn:ietf:params:oauth:token-type:id_token".into())], true, "invalid_request"),
        (
            vec![
                ("scope", "openid profile offline_access api:write".into()),
                ("subject_token_dpop", proof_by(&a, subject)),
            ],
            true,
            "invalid_scope",
        ),
    ];
    for (fields, with_new_key, error) in cases {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", EXCHANGE.into()),
            ("client_id", "signet-cli".into()),
            ("subject_token", subject.into()),
            ("subject_token_type", ACCESS.into()),
        ];
        for (k, v) in &fields {
            form.retain(|(f, _)| f != k);
            form.push((k, v.clone()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let new_proof = c.proof_at("POST", &url, None, now);
        let proofs: Vec<&str> = if with_new_key { vec![&new_proof] } else { vec![] };
        let refused = token(&s, &url, &form, None, &proofs).await;
        assert_eq!(
            (refused.status, refused.body["error"].as_str()),
            (400, Some(error)),
            "{fields:?}: {}",
            refused.body
        );
    }
    let same_key = exchange(&s, subject, &a, &a, &[]).await;
    assert_eq!(
        (same_key.status, same_key.body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{}",
        same_key.body
    );
    let exchanges = s.store().audit_events(0, 10_000).await.unwrap();
    assert_eq!(exchanges.iter().filter(|e| e.event.action == "signon.exchange").count(), 2, "refusals mint nothing");

    // A minted session lasts an hour in all: a chained exchange and
    // refreshes stay within it.
    let minted_refresh = minted.body["refresh_token"].as_str().unwrap().to_owned();
    let minted_ends = at["iat"].as_i64().unwrap() + 3600;
    s.clock.advance(1800);
    let chained = exchange(&s, minted.body["access_token"].as_str().unwrap(), &b, &c, &[]).await;
    assert_eq!(chained.status, 200, "{}", chained.body);
    assert_eq!(chained.body["expires_in"].as_i64(), Some(minted_ends - s.clock.now()), "within the first hour");
    s.clock.advance(minted_ends - 10 - s.clock.now());
    let last = refreshed(&s, &b, &minted_refresh).await;
    assert_eq!((last.status, last.body["expires_in"].as_i64()), (200, Some(10)), "{}", last.body);
    s.clock.advance(10);
    let over = refreshed(&s, &b, last.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!((over.status, over.body["error"].as_str()), (400, Some("invalid_grant")), "{}", over.body);

    // A worker mints its own session from its credentials; a public client cannot.
    let (id, secret) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
    let secret = secret.unwrap();
    let now = s.clock.now();
    let own = [("grant_type", EXCHANGE), ("session_expiration_in_minutes", "5")];
    let w = token(&s, &url, &own, Some((&id, &secret)), &[&a.proof_at("POST", &url, None, now)]).await;
    assert_eq!((w.status, w.body["expires_in"].as_i64()), (200, Some(300)), "{}", w.body);
    assert!(w.body.get("refresh_token").is_none());
    let public = [("grant_type", EXCHANGE), ("client_id", "signet-cli")];
    let p = token(&s, &url, &public, None, &[&a.proof_at("POST", &url, None, now)]).await;
    assert_eq!((p.status, p.body["error"].as_str()), (400, Some("invalid_request")), "{}", p.body);

    let d: Value = s.http.get(s.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(d["grant_types_supported"].as_array().unwrap().contains(&json!(EXCHANGE)));
}

#[tokio::test]
async fn sessions_are_minted_without_a_browser_on_sqlite() {
    sessions_are_minted_without_a_browser(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn sessions_are_minted_without_a_browser_on_postgres() {
    sessions_are_minted_without_a_browser(Server::start_on(Backend::Postgres).await).await;
}

/// Revoking a session (its refresh token, as `signet session terminate`
/// will) revokes the sessions minted from it.
#[tokio::test]
async fn revoking_a_session_revokes_what_was_minted_from_it() {
    let s = Server::start().await;
    let who = s.account(false, true).await;
    let (a, b) = (DpopKey::new(), DpopKey::new());
    let first = bound_person_tokens(&s, &who, &a).await;
    let minted = exchange(&s, first["access_token"].as_str().unwrap(), &a, &b, &[]).await;
    assert_eq!(minted.status, 200, "{}", minted.body);
    let (status, _) = s
        .post_form(
            &s.url("/revoke"),
            &[("token", first["refresh_token"].as_str().unwrap()), ("client_id", "signet-cli")],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let refused = refreshed(&s, &b, minted.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (400, Some("invalid_grant")), "{}", refused.body);
}

/// A proof with the server's `nonce` (RFC 9449 §8).
fn proof_with_nonce(key: &DpopKey, url: &str, iat: i64, nonce: &str) -> String {
    let jti = signet_core::crypto::random_id().unwrap();
    key.sign(&key.jwk, &json!({"jti": jti, "htm": "POST", "htu": url, "iat": iat, "nonce": nonce}))
}

#[tokio::test]
async fn a_session_is_minted_only_with_the_nonce_in_both_proofs() {
    let s = Server::start_requiring_dpop_nonce(Backend::Sqlite).await;
    let who = s.account(true, true).await;
    let code = CodeToRedeem::of(&s, &who).await;
    let form = code.form();
    let url = s.url("/token");
    let (old, new) = (DpopKey::new(), DpopKey::new());
    // The first try learns the nonce, and spends no code.
    let first = s.http.post(&url).form(&form).header("DPoP", old.proof_at("POST", &url, None, s.clock.now()));
    let first = first.send().await.unwrap();
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let a = token(&s, &url, &form, None, &[&proof_with_nonce(&old, &url, s.clock.now(), &nonce)]).await;
    assert_eq!((a.status, a.body["token_type"].as_str()), (200, Some("DPoP")), "{}", a.body);
    let subject = a.body["access_token"].as_str().unwrap();

    let mint = |subject_proof: String| {
        let new_proof = proof_with_nonce(&new, &url, s.clock.now(), &nonce);
        let form = [
            ("grant_type", EXCHANGE),
            ("client_id", "signet-cli"),
            ("subject_token", subject),
            ("subject_token_type", ACCESS),
            ("subject_token_dpop", subject_proof.as_str()),
        ]
        .map(|(k, v)| (k, v.to_owned()));
        let (s, url) = (&s, url.clone());
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(s, &url, &pairs, None, &[&new_proof]).await
        }
    };
    // A subject proof made without the nonce (ahead of time, say) mints nothing.
    let ahead = mint(old.proof_at("POST", &url, Some(subject), s.clock.now())).await;
    assert_eq!((ahead.status, ahead.body["error"].as_str()), (400, Some("use_dpop_nonce")), "{}", ahead.body);
    let jti = signet_core::crypto::random_id().unwrap();
    let claims = json!({"jti": jti, "htm": "POST", "htu": url, "iat": s.clock.now(), "nonce": nonce,
        "ath": signet_core::dpop::ath(subject)});
    let fresh = mint(old.sign(&old.jwk, &claims)).await;
    assert_eq!((fresh.status, fresh.body["token_type"].as_str()), (200, Some("DPoP")), "{}", fresh.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_that_asks_for_nonces_gives_them_and_takes_them_on_every_instance() {
    let s = Server::start_requiring_dpop_nonce(Backend::Sqlite).await;
    let (id, secret) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
    let secret = secret.unwrap();
    let client = Some((id.as_str(), secret.as_str()));
    let url = s.url("/token");
    let form = [("grant_type", "client_credentials")];
    let key = DpopKey::new();

    // A proof without the nonce: use_dpop_nonce, with one to use.
    let res = s
        .http
        .post(&url)
        .form(&form)
        .basic_auth(&id, Some(&secret))
        .header("DPoP", key.proof_at("POST", &url, None, s.clock.now()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "use_dpop_nonce", "{body}");

    // With it: bound, here and on another instance sharing the key-encryption key.
    let bound = token(&s, &url, &form, client, &[&proof_with_nonce(&key, &url, s.clock.now(), &nonce)]).await;
    assert_eq!((bound.status, bound.body["token_type"].as_str()), (200, Some("DPoP")), "{}", bound.body);
    let other = s.another_instance().await;
    let there =
        token(&s, &format!("{other}/token"), &form, client, &[&proof_with_nonce(&key, &url, s.clock.now(), &nonce)])
            .await;
    assert_eq!(there.status, 200, "{}", there.body);

    // A nonce it never gave, or one given too long ago, is asked for again.
    let forged = token(&s, &url, &form, client, &[&proof_with_nonce(&key, &url, s.clock.now(), "made-up")]).await;
    assert_eq!((forged.status, forged.body["error"].as_str()), (400, Some("use_dpop_nonce")), "{}", forged.body);
    s.clock.advance(10 * 60);
    let stale = token(&s, &url, &form, client, &[&proof_with_nonce(&key, &url, s.clock.now(), &nonce)]).await;
    assert_eq!((stale.status, stale.body["error"].as_str()), (400, Some("use_dpop_nonce")), "{}", stale.body);
    // Without DPoP at all, nothing is asked.
    assert_eq!(token(&s, &url, &form, client, &[]).await.status, 200);
}
