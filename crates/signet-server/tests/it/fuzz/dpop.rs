//! DPoP headers at the token endpoint, end to end: the worker's real client
//! credentials with a proof that is good, faulty in one generated way,
//! replayed, doubled, or garbage, on a server that asks for its nonce and
//! one that does not. Never a 5xx; a refusal is `invalid_dpop_proof` or
//! `use_dpop_nonce` in an RFC 6749 §5.2 body; tokens come, DPoP-bound, for
//! a good fresh proof and for nothing else.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use signet_core::clock::Clock;
use signet_core::crypto::random_id;

use super::{Reply, check_no_5xx, check_oauth_error, hostile};
use crate::harness::*;
use signet_testkit::dpop::DpopKey;

#[derive(Debug, Clone)]
enum Fault {
    None,
    /// One claim set to a value, or dropped (None).
    Claim(&'static str, Option<Value>),
    /// The other key's public JWK in the header: the signature fails.
    OtherKey,
    /// A private member in the header's JWK.
    PrivateKey,
    /// The proof of an earlier case, sent again.
    Replay,
    /// The header twice.
    Twice,
    /// Not a proof at all.
    Garbage(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Case {
    nonce_server: bool,
    /// Whether the proof carries the server's nonce.
    with_nonce: bool,
    fault: Fault,
}

fn fault() -> impl Strategy<Value = Fault> {
    let claim = prop_oneof![
        Just(("htm", Some(json!("GET")))),
        Just(("htu", Some(json!("https://attacker.example/token")))),
        Just(("iat", Some(json!(0)))),
        Just(("iat", Some(json!("now")))),
        Just(("jti", Some(json!("")))),
        Just(("jti", Some(json!("j\u{0}")))),
        Just(("nonce", Some(json!("forged")))),
        prop::sample::select(&["htm", "htu", "iat", "jti"][..]).prop_map(|c| (c, None)),
        hostile().prop_map(|h| ("htu", Some(json!(h)))),
        hostile().prop_map(|h| ("jti", Some(json!(h)))),
    ];
    prop_oneof![
        4 => Just(Fault::None),
        4 => claim.prop_map(|(c, v)| Fault::Claim(c, v)),
        1 => Just(Fault::OtherKey),
        1 => Just(Fault::PrivateKey),
        2 => Just(Fault::Replay),
        1 => Just(Fault::Twice),
        2 => prop_oneof![
            prop::collection::vec(any::<u8>(), 0..128),
            hostile().prop_map(String::into_bytes),
            "[A-Za-z0-9_.-]{0,300}".prop_map(String::into_bytes),
        ]
        .prop_map(Fault::Garbage),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), prop::bool::weighted(0.8), fault()).prop_map(|(nonce_server, with_nonce, fault)| Case {
        nonce_server,
        with_nonce,
        fault,
    })
}

struct Ctx {
    plain: Server,
    /// A second server on the same backend that asks for its DPoP nonce.
    nonce: Server,
    key: DpopKey,
    other: DpopKey,
    http: reqwest::Client,
    /// A proof each server took, to replay.
    spent: std::sync::Mutex<[Option<String>; 2]>,
    /// The jtis each server took: a case that names one again replays it.
    jtis: std::sync::Mutex<[std::collections::HashSet<String>; 2]>,
}

impl Ctx {
    async fn new(backend: Backend) -> Ctx {
        let plain = Server::start_on(backend).await;
        let nonce = Server::start_requiring_dpop_nonce(backend).await;
        Ctx {
            plain,
            nonce,
            key: DpopKey::new(),
            other: DpopKey::new(),
            http: super::one_shot_client(),
            spent: Default::default(),
            jtis: Default::default(),
        }
    }

    async fn check(&self, case: Case) -> Result<(), TestCaseError> {
        let s = if case.nonce_server { &self.nonce } else { &self.plain };
        let url = s.url("/token");
        let now = s.clock.now();
        let mut claims = json!({"jti": random_id().unwrap(), "htm": "POST", "htu": url, "iat": now});
        if case.with_nonce {
            claims["nonce"] = json!(signet_server::oauth::dpop::nonce(&s.state));
        }
        let mut jwk = self.key.jwk.clone();
        let mut good = case.with_nonce || !case.nonce_server;
        match &case.fault {
            Fault::Claim(c, v) => {
                match v {
                    Some(v) => claims[*c] = v.clone(),
                    None => drop(claims.as_object_mut().unwrap().remove(*c)),
                }
                good &= match (*c, v) {
                    // A forged nonce matters only where nonces are asked for.
                    ("nonce", _) => !case.nonce_server,
                    // Any other text of at most 256 characters is a jti.
                    ("jti", Some(Value::String(j))) => {
                        !j.is_empty() && j.len() <= 256 && !j.chars().any(char::is_control)
                    }
                    _ => false,
                };
            }
            Fault::OtherKey => {
                jwk = self.other.jwk.clone();
                good = false;
            }
            Fault::PrivateKey => {
                jwk["d"] = json!("c2VjcmV0");
                good = false;
            }
            Fault::Replay | Fault::Twice | Fault::Garbage(_) => good = false,
            Fault::None => {}
        }
        let slot = usize::from(case.nonce_server);
        let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
        good &= !self.jtis.lock().unwrap()[slot].contains(&jti);
        let proof = match &case.fault {
            Fault::Replay => match self.spent.lock().unwrap()[slot].clone() {
                Some(p) => p.into_bytes(),
                None => return Ok(()),
            },
            Fault::Garbage(bytes) => bytes.clone(),
            _ => self.key.sign(&jwk, &claims).into_bytes(),
        };
        let mut req = self.http.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", s.boot.worker.client_id.as_str()),
            ("client_secret", s.boot.worker.client_secret.as_str()),
        ]);
        let Ok(value) = reqwest::header::HeaderValue::from_bytes(&proof) else { return Ok(()) };
        req = req.header("dpop", value.clone());
        if matches!(case.fault, Fault::Twice) {
            req = req.header("dpop", value);
        }
        let r = Reply::of(req.send().await.unwrap()).await;
        check_no_5xx(&r, "/token with DPoP")?;
        // A head larger than hyper reads (about 400 KiB) is refused before signetd sees it.
        if r.status == 431 && proof.len() > 256 * 1024 {
            return Ok(());
        }
        let shown = r.shown();
        if r.status == 200 {
            prop_assert!(good, "tokens for a proof with a fault: {shown}");
            prop_assert_eq!(&r.json()["token_type"], "DPoP", "{}", shown);
            self.spent.lock().unwrap()[slot] = String::from_utf8(proof).ok();
            self.jtis.lock().unwrap()[slot].insert(jti);
            return Ok(());
        }
        check_oauth_error(&r)?;
        let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
        prop_assert!(!good, "a good proof was refused: {shown}");
        prop_assert!(["invalid_dpop_proof", "use_dpop_nonce"].contains(&error.as_str()), "{shown}");
        if error == "use_dpop_nonce" {
            prop_assert!(!r.header("dpop-nonce").is_empty(), "use_dpop_nonce without a nonce: {shown}");
        }
        Ok(())
    }
}

fn fuzz_dpop_token_endpoint(backend: Backend) {
    let rt = super::runtime();
    let ctx = rt.block_on(Ctx::new(backend));
    super::run(&rt, "dpop_token_endpoint", 64, case(), |c| ctx.check(c));
}

#[test]
fn fuzz_dpop_token_endpoint_sqlite() {
    fuzz_dpop_token_endpoint(Backend::Sqlite);
}

#[test]
fn fuzz_dpop_token_endpoint_postgres() {
    fuzz_dpop_token_endpoint(Backend::Postgres);
}
