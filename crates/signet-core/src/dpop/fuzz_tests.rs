//! `dpop::check` fuzzed on stable (issue 15): proofs that a real key signs,
//! right but for the faults proptest chooses (in the header, the key, the
//! claims, the signature or the JWS's shape), so that the cases reach every
//! check; and raw garbage. `check` must never panic; a proof with a fault
//! it must see is refused; a proof with none is accepted; and an accepted
//! proof is one the holder of its header's key signed for this request, now.
//! `PROPTEST_CASES` sets the number of cases; `fuzz/run.sh` runs it longer.

use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use super::*;
use crate::crypto::generate_es256_key;

const URL: &str = "https://signet.test/env/as/token";
const NOW: UnixTime = 1_700_000_000;
const TOKEN: &str = "the-access-token";
const NONCE: &str = "n-1";

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}

struct Key {
    encoding: EncodingKey,
    public: Value,
    alg: Algorithm,
    name: &'static str,
}

fn es256() -> Key {
    let k = generate_es256_key().unwrap();
    Key {
        encoding: EncodingKey::from_ec_der(k.pkcs8.expose()),
        public: k.public_jwk,
        alg: Algorithm::ES256,
        name: "ES256",
    }
}

fn ed25519() -> Key {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(pair.public_key().as_ref())});
    Key { encoding: EncodingKey::from_ed_der(pkcs8.as_ref()), public, alg: Algorithm::EdDSA, name: "EdDSA" }
}

/// What happens to one member of the header or the claims.
#[derive(Debug, Clone)]
enum Member {
    Keep,
    Drop,
    /// A value `check` must refuse.
    Bad(Value),
    /// A value that may or may not mean the same (an equivalent URL, an
    /// extra public member): either answer, but never a panic.
    Odd(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signer {
    /// The key whose public JWK the header carries.
    Own,
    /// The other algorithm's key, or another key of the same kind.
    Other,
    Garbage,
    Empty,
    /// The right signature, one character changed.
    Flipped,
}

#[derive(Debug, Clone)]
enum Shape {
    Jws,
    /// Another segment, or one fewer.
    Segments(i8),
    /// Base64 with padding, or with a character outside the alphabet.
    Padded,
    Alphabet(char),
}

#[derive(Debug, Clone)]
struct Proof {
    eddsa: bool,
    typ: Member,
    alg: Member,
    jwk: Member,
    /// Members of the JWK itself (x, y, kty, crv, d, …).
    jwk_member: Option<(&'static str, Member)>,
    claims: Vec<(&'static str, Member)>,
    extra_header: Option<(String, Value)>,
    signer: Signer,
    shape: Shape,
    /// The request: at a resource (an access token, so `ath`), with a nonce asked for.
    at_resource: bool,
    nonce_asked: bool,
}

/// JSON values of every type, with the ones that break parsers.
fn json_value() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(u64::MAX)),
        Just(json!(-0.0)),
        ".{0,24}".prop_map(Value::String),
        Just(json!("\u{0}")),
        Just(json!("x".repeat(9000))),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..3).prop_map(|m| json!(m)),
        ]
    })
}

/// A member kept (mostly), dropped, or given a `bad` or an `odd` value, where there are such values.
fn member(bad: Option<BoxedStrategy<Value>>, odd: Option<BoxedStrategy<Value>>) -> BoxedStrategy<Member> {
    let mut options: Vec<(u32, BoxedStrategy<Member>)> =
        vec![(12, Just(Member::Keep).boxed()), (1, Just(Member::Drop).boxed())];
    if let Some(bad) = bad {
        options.push((2, bad.prop_map(Member::Bad).boxed()));
    }
    if let Some(odd) = odd {
        options.push((1, odd.prop_map(Member::Odd).boxed()));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}

fn bad(s: impl Strategy<Value = Value> + 'static) -> Option<BoxedStrategy<Value>> {
    Some(s.boxed())
}

fn just(values: Vec<Value>) -> BoxedStrategy<Value> {
    prop::sample::select(values).boxed()
}

fn claim() -> impl Strategy<Value = (&'static str, Member)> {
    let not_text = || json_value().prop_filter("a value that may pass", |v| !v.is_string() && !v.is_i64()).boxed();
    let either = |a: BoxedStrategy<Value>, b: BoxedStrategy<Value>| bad(prop_oneof![a, b]);
    let jti = member(
        either(
            just(vec![json!(""), json!("x".repeat(257)), json!("j\u{0}1"), json!("j\n1"), json!("\u{7f}")]),
            not_text(),
        ),
        bad(prop_oneof![".{1,40}".prop_map(Value::String), Just(json!("x".repeat(256)))]),
    );
    let htm = member(either(just(vec![json!("GET"), json!("post"), json!("POST "), json!("")]), not_text()), None);
    let htu = member(
        either(
            just(vec![
                json!("https://signet.test/env/as/other"),
                json!("http://signet.test/env/as/token"),
                json!("https://signet.test:8443/env/as/token"),
                json!("https://evil.test/env/as/token"),
                json!("/env/as/token"),
                json!("not a url"),
            ]),
            not_text(),
        ),
        bad(just(vec![
            json!("https://SIGNET.test:443/env/as/token"),
            json!("https://signet.test/env/as/token?x=1#y"),
            json!("HTTPS://signet.test/env/as/token"),
            json!("https://signet.test/env/as/./token"),
            json!("https://signet.test/env/as/token/"),
            json!("https://signet.test/env/as/%74oken"),
        ])),
    );
    let iat = member(
        either(
            just(vec![
                json!(NOW - 61),
                json!(NOW + 61),
                json!(i64::MIN),
                json!(i64::MAX),
                json!(u64::MAX),
                json!(NOW as f64 + 0.5),
                json!(NOW.to_string()),
            ]),
            (61i64..i64::MAX / 2).prop_map(|d| json!(NOW - d)).boxed(),
        ),
        bad(prop_oneof![(-60i64..=60).prop_map(|d| json!(NOW + d)), Just(json!(NOW as f64))]),
    );
    let ath_claim = member(either(just(vec![json!(ath("another token")), json!("")]), not_text()), None);
    let nonce = member(either(just(vec![json!("n-2"), json!("")]), not_text()), None);
    let extra = member(None, bad(json_value()));
    prop_oneof![
        jti.prop_map(|m| ("jti", m)),
        htm.prop_map(|m| ("htm", m)),
        htu.prop_map(|m| ("htu", m)),
        iat.prop_map(|m| ("iat", m)),
        ath_claim.prop_map(|m| ("ath", m)),
        nonce.prop_map(|m| ("nonce", m)),
        extra.prop_map(|m| ("extra", m)),
    ]
}

fn jwk_member() -> impl Strategy<Value = (&'static str, Member)> {
    let other =
        |not: [&'static str; 2]| json_value().prop_filter("another value", move |v| v != not[0] && v != not[1]).boxed();
    let not_text = || json_value().prop_filter("not text", |v| !v.is_string()).boxed();
    let secret = || bad(Just(json!("c2VjcmV0")));
    prop_oneof![
        member(secret(), None).prop_map(|m| ("d", m)),
        member(secret(), None).prop_map(|m| ("k", m)),
        member(bad(prop_oneof![just(vec![json!("RSA"), json!("oct"), json!("ec")]), other(["EC", "OKP"])]), None)
            .prop_map(|m| ("kty", m)),
        member(
            bad(prop_oneof![
                just(vec![json!("P-384"), json!("secp256k1"), json!("X25519")]),
                other(["P-256", "Ed25519"])
            ]),
            None
        )
        .prop_map(|m| ("crv", m)),
        member(
            bad(prop_oneof![
                just(vec![json!(""), json!("AAAA"), json!("!!!"), json!("A".repeat(43)), json!("A".repeat(9000))]),
                not_text()
            ]),
            None
        )
        .prop_map(|m| ("x", m)),
        member(bad(prop_oneof![just(vec![json!(""), json!("AAAA"), json!("A".repeat(43))]), not_text()]), None)
            .prop_map(|m| ("y", m)),
        member(None, bad(json_value())).prop_map(|m| ("kid", m)),
        member(None, bad(prop_oneof![Just(json!("enc")), json_value()])).prop_map(|m| ("use", m)),
        member(None, bad(json_value())).prop_map(|m| ("key_ops", m)),
        member(None, bad(json_value())).prop_map(|m| ("x5c", m)),
    ]
}

fn proof() -> impl Strategy<Value = Proof> {
    let other = |not: &'static str| json_value().prop_filter("another value", move |v| v != not).boxed();
    let typ = member(
        bad(prop_oneof![
            just(vec![json!("JWT"), json!("DPOP+JWT"), json!("dpop+jwt "), json!("at+jwt")]),
            other("dpop+jwt")
        ]),
        None,
    );
    let alg = member(
        bad(prop_oneof![
            just(vec![json!("none"), json!("HS256"), json!("RS256"), json!("es256"), json!("ES384")]),
            json_value().prop_filter("another value", |v| v != "ES256" && v != "EdDSA")
        ]),
        None,
    );
    let jwk = member(bad(json_value().prop_filter("not an object", |v| !v.is_object())), None);
    let signer = prop_oneof![
        12 => Just(Signer::Own),
        1 => Just(Signer::Other),
        1 => Just(Signer::Garbage),
        1 => Just(Signer::Empty),
        1 => Just(Signer::Flipped),
    ];
    let shape = prop_oneof![
        12 => Just(Shape::Jws),
        1 => prop::sample::select(&[-2i8, -1, 1, 2][..]).prop_map(Shape::Segments),
        1 => Just(Shape::Padded),
        1 => prop::sample::select(&['+', '/', '=', ' ', '\0', 'é', '.'][..]).prop_map(Shape::Alphabet),
    ];
    let extra_header = prop::option::weighted(0.1, ("[a-z]{1,4}|crit|b64|kid|jku|x5u", json_value()));
    let header = (typ, alg, jwk, prop::option::weighted(0.3, jwk_member()), extra_header);
    (any::<bool>(), header, prop::collection::vec(claim(), 0..3), signer, shape, any::<bool>(), any::<bool>()).prop_map(
        |(eddsa, (typ, alg, jwk, jwk_member, extra_header), claims, signer, shape, at_resource, nonce_asked)| Proof {
            eddsa,
            typ,
            alg,
            jwk,
            jwk_member,
            claims,
            extra_header,
            signer,
            shape,
            at_resource,
            nonce_asked,
        },
    )
}

/// Applies `m` to `key` in `map`; whether it made a fault `check` must see,
/// or possibly one (None).
fn apply(map: &mut Map<String, Value>, key: &str, m: &Member, required: bool) -> Option<bool> {
    match m {
        Member::Keep => Some(false),
        Member::Drop => {
            map.remove(key);
            Some(required)
        }
        Member::Bad(v) => {
            map.insert(key.to_owned(), v.clone());
            Some(true)
        }
        Member::Odd(v) => {
            map.insert(key.to_owned(), v.clone());
            None
        }
    }
}

/// Either is a fault, or not known.
fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

struct Keys {
    es256: Key,
    ed25519: Key,
    other_es256: Key,
}

/// The proof as text, and whether it has a fault (None: perhaps).
fn build(keys: &Keys, p: &Proof) -> (String, Option<bool>) {
    // Another key: of the other algorithm for an Ed25519 proof, another P-256 key for an ES256 one.
    let (key, other) = if p.eddsa { (&keys.ed25519, &keys.es256) } else { (&keys.es256, &keys.other_es256) };
    let mut fault = Some(false);
    let mut jwk = key.public.as_object().cloned().unwrap_or_default();
    if let Some((name, m)) = &p.jwk_member {
        // Dropping an optional member changes nothing; a required one is a fault.
        let required = matches!(*name, "kty" | "crv" | "x") || (*name == "y" && !p.eddsa);
        let changed = apply(&mut jwk, name, m, required);
        // `y` on an Ed25519 key is an extra member; `kid` and friends are optional.
        let changed = if *name == "y" && p.eddsa && changed == Some(true) { None } else { changed };
        fault = or(fault, changed);
    }
    let mut header = Map::new();
    header.insert("typ".into(), json!("dpop+jwt"));
    header.insert("alg".into(), json!(key.name));
    header.insert("jwk".into(), Value::Object(jwk));
    fault = or(fault, apply(&mut header, "typ", &p.typ, true));
    fault = or(fault, apply(&mut header, "alg", &p.alg, true));
    fault = or(fault, apply(&mut header, "jwk", &p.jwk, true));
    if let Some((k, v)) = &p.extra_header
        && !header.contains_key(k)
    {
        header.insert(k.clone(), v.clone());
        fault = or(fault, None);
    }
    let mut claims = Map::new();
    claims.insert("jti".into(), json!("j-1"));
    claims.insert("htm".into(), json!("POST"));
    claims.insert("htu".into(), json!(URL));
    claims.insert("iat".into(), json!(NOW));
    claims.insert("ath".into(), json!(ath(TOKEN)));
    claims.insert("nonce".into(), json!(NONCE));
    // One change per claim: the last one given.
    let changes: std::collections::BTreeMap<&str, &Member> = p.claims.iter().map(|(n, m)| (*n, m)).collect();
    for (name, m) in changes {
        let required = match name {
            "ath" => p.at_resource,
            "nonce" => p.nonce_asked,
            "extra" => false,
            _ => true,
        };
        let changed = apply(&mut claims, name, m, required);
        // A wrong ath or nonce is a fault only where it is checked.
        let changed = match (name, changed) {
            ("ath", Some(true)) if !p.at_resource => Some(false),
            ("nonce", Some(true)) if !p.nonce_asked => Some(false),
            (_, c) => c,
        };
        fault = or(fault, changed);
    }
    let b64 = |v: &Map<String, Value>| b64url(Value::Object(v.clone()).to_string().as_bytes());
    let message = format!("{}.{}", b64(&header), b64(&claims));
    let sign = |k: &Key| jsonwebtoken::crypto::sign(message.as_bytes(), &k.encoding, k.alg).unwrap_or_default();
    let signature = match p.signer {
        Signer::Own => sign(key),
        Signer::Other => {
            fault = Some(true);
            sign(other)
        }
        Signer::Garbage => {
            fault = Some(true);
            b64url(b"not a signature at all, of any length it should have")
        }
        Signer::Empty => {
            fault = Some(true);
            String::new()
        }
        Signer::Flipped => {
            fault = Some(true);
            let mut s = sign(key).into_bytes();
            let i = s.len() / 2;
            s[i] = if s[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(s).unwrap_or_default()
        }
    };
    let text = format!("{message}.{signature}");
    let text = match &p.shape {
        Shape::Jws => text,
        Shape::Segments(n) if *n > 0 => {
            fault = Some(true);
            format!("{text}{}", ".AAAA".repeat(*n as usize))
        }
        Shape::Segments(n) => {
            fault = Some(true);
            let parts: Vec<&str> = text.split('.').collect();
            parts[..parts.len().saturating_sub(n.unsigned_abs() as usize)].join(".")
        }
        Shape::Padded => {
            // Padding inside a segment is not base64url without padding.
            fault = or(fault, None);
            let mut parts: Vec<String> = text.split('.').map(str::to_owned).collect();
            parts[0].push_str("==");
            parts.join(".")
        }
        Shape::Alphabet(c) => {
            fault = or(fault, None);
            let mut t = text;
            let at = t.len() / 3;
            let at = (0..=at).rev().find(|i| t.is_char_boundary(*i)).unwrap_or(0);
            t.insert(at, *c);
            t
        }
    };
    // A proof longer than signetd reads is refused whatever it holds.
    if text.len() > MAX_PROOF {
        fault = Some(true);
    }
    (text, fault)
}

fn expect<'a>(p: &Proof, nonce: &'a (dyn Fn(&str) -> bool + Sync)) -> Expect<'a> {
    Expect {
        method: "POST",
        url: URL,
        now: NOW,
        access_token: p.at_resource.then_some(TOKEN),
        nonce: p.nonce_asked.then_some(nonce),
    }
}

fn run<T: std::fmt::Debug>(
    name: &str,
    strategy: impl Strategy<Value = T>,
    default: u32,
    body: impl Fn(T) -> Result<(), TestCaseError>,
) {
    let cases = cases(default);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&strategy, body);
    eprintln!("fuzz-cases {name} {cases}");
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

#[test]
fn fuzz_dpop_structured_proofs_are_judged_rightly() {
    let keys = Keys { es256: es256(), ed25519: ed25519(), other_es256: es256() };
    let nonce = |n: &str| n == NONCE;
    // How often each answer came: shows that the cases reach every check.
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<String, u32>::new());
    run("dpop_structured", proof(), 2_000, |p| {
        let (text, fault) = build(&keys, &p);
        let checked = check(&text, &expect(&p, &nonce));
        let answer = checked.as_ref().map_or_else(|e| format!("{e:?}"), |_| "accepted".into());
        *seen.lock().unwrap().entry(answer).or_default() += 1;
        match (fault, &checked) {
            (Some(true), Ok(_)) => prop_assert!(false, "a faulty proof was accepted: {text}"),
            (Some(false), Err(e)) => prop_assert!(false, "a good proof was refused ({}): {text}", e.message()),
            _ => {}
        }
        if let Ok(accepted) = checked {
            // Only the key in the header, which signed it, is named.
            let key = if p.eddsa { &keys.ed25519 } else { &keys.es256 };
            prop_assert_eq!(p.signer, Signer::Own);
            prop_assert_eq!(Some(accepted.jkt), thumbprint(key.public.as_object().unwrap()));
            prop_assert!(accepted.iat.abs_diff(NOW) <= 60);
            prop_assert!(!accepted.jti.is_empty() && accepted.jti.len() <= 256);
        }
        Ok(())
    });
    eprintln!("answers: {:?}", seen.lock().unwrap());
}

#[test]
fn fuzz_dpop_garbage_is_refused_without_a_panic() {
    let nonce = |n: &str| n == NONCE;
    let segment =
        prop_oneof!["[A-Za-z0-9_-]{0,64}", json_value().prop_map(|v| b64url(v.to_string().as_bytes())), ".{0,16}",];
    let jws = prop::collection::vec(segment, 0..5).prop_map(|s| s.join("."));
    let strategy = prop_oneof![jws, any::<String>(), "[ -~]{0,9000}", Just("a".repeat(8 * 1024 + 1))];
    run("dpop_garbage", strategy, 2_000, |text| {
        for at_resource in [false, true] {
            let e = Expect {
                method: "POST",
                url: URL,
                now: NOW,
                access_token: at_resource.then_some(TOKEN),
                nonce: Some(&nonce),
            };
            prop_assert!(check(&text, &e).is_err(), "garbage accepted: {text:?}");
        }
        Ok(())
    });
}

#[test]
fn fuzz_dpop_thumbprints_of_any_jwk() {
    let jwk = prop::collection::btree_map(
        prop_oneof![
            prop::sample::select(&["kty", "crv", "x", "y", "d", "n", "e"][..]).prop_map(str::to_owned),
            "[a-z]{1,3}"
        ],
        prop_oneof![
            prop::sample::select(&["EC", "OKP", "RSA", "P-256", "Ed25519", ""][..]).prop_map(|s| json!(s)),
            json_value()
        ],
        0..6,
    );
    run("dpop_thumbprint", jwk, 1_000, |m| {
        let map: Map<String, Value> = m.into_iter().collect();
        if let Some(t) = thumbprint(&map) {
            prop_assert_eq!(t.len(), 43, "a SHA-256, base64url");
        }
        Ok(())
    });
}
