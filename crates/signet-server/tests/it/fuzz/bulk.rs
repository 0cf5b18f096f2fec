//! `/bulk` documents, generated from a real export of a server that holds
//! one of nearly everything (environments, every kind of application, admin
//! accounts and end users with attributes, a claim mapping, a certificate,
//! a PingID method and its enforcement, an identity provider, policies):
//! values of the wrong type, NUL, huge strings, dropped and unknown members,
//! duplicated entries (duplicate ids), values copied from elsewhere in the
//! document (dangling and crossed references), bad redirect URIs, and text
//! broken after it was written. Posted as an administrator with all four
//! roles, and now and then as one without.
//!
//! What must hold: never a 5xx; a refusal is the admin API's error body, and
//! leaves the export byte-identical to before it (nothing half-written);
//! only all four roles import anything. An import that is taken is undone
//! in the store before the next case, so each case starts from the export.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use signet_core::clock::Clock;
use signet_core::configuration::Configuration;

use super::{Reply, check_no_5xx, hostile};
use crate::admin::{Api, admin_with, basic};
use crate::harness::*;

/// What a mutation does at the place it picks.
#[derive(Debug, Clone)]
enum Change {
    /// A value of any type.
    Value(Value),
    Text(String),
    Remove,
    /// The entry this is in, once more (duplicate ids).
    Duplicate,
    /// An unknown member beside it.
    Unknown(String),
    /// A value of the same type: text for text, a number at the edges for
    /// a number, the other boolean; so that more cases pass the parser and
    /// meet the import's own checks.
    SameType(String, i64),
    /// The value at another place of the document (crossed references), of
    /// the same type where the document has one.
    CopyFrom(Index),
    /// A redirect URI that no rule allows, or one that some might.
    Redirect(&'static str),
}

#[derive(Debug, Clone)]
struct Mutation {
    at: Index,
    change: Change,
}

/// Breaks the text after it was written.
#[derive(Debug, Clone)]
enum Text {
    Intact,
    Truncated(Index),
    Inserted(Index, &'static [u8]),
    /// Nested past the parser's depth limit.
    Deep(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    AllFour,
    Admin,
    Auditor,
    Anonymous,
}

#[derive(Debug, Clone)]
struct Case {
    mutations: Vec<Mutation>,
    text: Text,
    caller: Caller,
    content_type: &'static str,
}

/// Bytes put into the text: NUL raw and escaped, structure, and bytes that are not UTF-8.
const INSERTED: &[&[u8]] = &[b"\0", b"\\u0000", b",", b"}", b"\"", b"\xff", b"{\"a\":1}"];

const REDIRECTS: &[&str] = &[
    "javascript:alert(1)",
    "data:text/html,x",
    "file:///etc/passwd",
    "https://*.example.com/cb",
    "https://app.example/cb#frag",
    "https://user:pw@app.example/cb",
    "http://app.example/cb",
    "http://localhost/cb",
    "http://127.0.0.1:8080/cb",
    "http://[::1]/cb",
    "com.example.app:/callback",
    "myapp:/cb",
    "https://attacker.example/cb",
    "",
    " https://app.example/cb",
    "https://app.example/c\u{0}b",
];

fn json_value() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(&[0i64, 1, -1, i64::MAX, i64::MIN, 4_102_444_800][..]).prop_map(|n| json!(n)),
        Just(json!(u64::MAX)),
        Just(json!(1.5)),
        Just(json!(1e308)),
        hostile().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3).prop_map(|m| json!(m)),
        ]
    })
}

fn change() -> impl Strategy<Value = Change> {
    let edge =
        prop::sample::select(&[0i64, 1, -1, 2, 63, 64, 101, i64::MAX, i64::MIN, 4_102_444_800, -4_102_444_800][..]);
    prop_oneof![
        1 => json_value().prop_map(Change::Value),
        1 => hostile().prop_map(Change::Text),
        5 => (hostile(), edge).prop_map(|(t, n)| Change::SameType(t, n)),
        1 => Just(Change::Remove),
        2 => Just(Change::Duplicate),
        1 => "[a-z_]{1,12}".prop_map(Change::Unknown),
        4 => any::<Index>().prop_map(Change::CopyFrom),
        1 => prop::sample::select(REDIRECTS).prop_map(Change::Redirect),
    ]
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn case() -> impl Strategy<Value = Case> {
    let mutation = (any::<Index>(), change()).prop_map(|(at, change)| Mutation { at, change });
    let text = prop_oneof![
        12 => Just(Text::Intact),
        1 => any::<Index>().prop_map(Text::Truncated),
        1 => (any::<Index>(), prop::sample::select(INSERTED))
            .prop_map(|(i, s)| Text::Inserted(i, s)),
        1 => prop::sample::select(&[64usize, 127, 128, 129, 4096][..]).prop_map(Text::Deep),
    ];
    let caller = prop_oneof![
        12 => Just(Caller::AllFour),
        1 => Just(Caller::Admin),
        1 => Just(Caller::Auditor),
        1 => Just(Caller::Anonymous),
    ];
    let content_type = prop_oneof![12 => Just("application/json"), 1 => Just("text/plain"), 1 => Just("")];
    (prop::collection::vec(mutation, 1..4), text, caller, content_type)
        .prop_map(|(mutations, text, caller, content_type)| Case { mutations, text, caller, content_type })
}

/// Every place in a document, as JSON pointers.
fn places(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                places(child, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                places(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn parent(pointer: &str) -> Option<(&str, &str)> {
    pointer.rsplit_once('/')
}

fn apply(doc: &mut Value, places: &[String], m: &Mutation) {
    let at = m.at.get(places).as_str();
    match &m.change {
        Change::Value(v) => set(doc, at, v.clone()),
        Change::Text(t) => set(doc, at, json!(t)),
        Change::Redirect(r) => {
            if doc.pointer(at).is_some_and(Value::is_string) {
                set(doc, at, json!(r));
            }
        }
        Change::SameType(text, n) => {
            let v = match doc.pointer(at) {
                Some(Value::String(_)) => json!(text),
                Some(Value::Number(_)) => json!(n),
                Some(Value::Bool(b)) => json!(!b),
                _ => return,
            };
            set(doc, at, v);
        }
        Change::CopyFrom(from) => {
            let Some(target) = doc.pointer(at).cloned() else { return };
            let alike: Vec<&String> =
                places.iter().filter(|p| doc.pointer(p).is_some_and(|v| same_type(v, &target))).collect();
            let source = if alike.is_empty() { from.get(places) } else { *from.get(&alike) };
            if let Some(v) = doc.pointer(source).cloned() {
                set(doc, at, v);
            }
        }
        Change::Remove => {
            let Some((up, key)) = parent(at) else { return };
            match doc.pointer_mut(up) {
                Some(Value::Object(o)) => drop(o.remove(key)),
                Some(Value::Array(a)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < a.len()
                    {
                        a.remove(i);
                    }
                }
                _ => {}
            }
        }
        Change::Duplicate => {
            // The nearest entry of an array at or above this place.
            let mut p = at;
            while let Some((up, key)) = parent(p) {
                if let (Some(Value::Array(_)), Ok(i)) = (doc.pointer(up), key.parse::<usize>()) {
                    let entry = doc.pointer(p).cloned();
                    if let (Some(Value::Array(a)), Some(e)) = (doc.pointer_mut(up), entry) {
                        a.insert(i.min(a.len()), e);
                    }
                    return;
                }
                p = up;
            }
        }
        Change::Unknown(name) => {
            if let Some(Value::Object(o)) = doc.pointer_mut(at) {
                o.insert(name.clone(), json!(true));
            }
        }
    }
}

fn set(doc: &mut Value, at: &str, v: Value) {
    if let Some(slot) = doc.pointer_mut(at) {
        *slot = v;
    }
}

fn text_of(doc: &Value, t: &Text) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(doc).unwrap();
    match t {
        Text::Intact => {}
        Text::Truncated(i) => bytes.truncate(i.index(bytes.len() + 1)),
        Text::Inserted(i, s) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, s.iter().copied());
        }
        Text::Deep(n) => {
            let deep = format!("{}{}", "[".repeat(*n), "]".repeat(*n));
            // In place of the attributes of the first account that has them, or at the top.
            let text = String::from_utf8(bytes).unwrap();
            bytes = match text.find("\"attributes\":{") {
                Some(i) => format!("{}\"attributes\":{{\"deep\":{deep},{}", &text[..i], &text[i + 14..]).into_bytes(),
                None => format!("{{\"deep\":{deep},{}", &text[1..]).into_bytes(),
            };
        }
    }
    bytes
}

struct Ctx {
    s: Server,
    http: reqwest::Client,
    root: String,
    admin: String,
    auditor: String,
    /// The document as exported at the start, and its places.
    base: Value,
    places: Vec<String>,
    /// The export now: what a refused import must leave.
    current: std::sync::Mutex<Vec<u8>>,
    seen: std::sync::Mutex<std::collections::BTreeMap<String, u32>>,
}

async fn populate(s: &Server, root: &str) {
    let api = Api::new(s);
    let post = |path: String, body: Value| {
        let api = &api;
        async move {
            let a = api.call(reqwest::Method::POST, &path, Some(root), Some(body), None).await;
            assert!(a.status == 201 || a.status == 200, "{path}: {:?}", a.body);
            a.body
        }
    };
    let env = post("/environments".into(), json!({"name": "Customers"})).await["id"].as_str().unwrap().to_owned();
    for (e, app) in [
        (
            &env,
            json!({"name": "shop", "kind": "web", "redirect_uris": ["https://shop.example/cb"], "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "profile"]}),
        ),
        (
            &env,
            json!({"name": "app", "kind": "native", "redirect_uris": ["http://127.0.0.1/cb", "com.example.app:/cb"], "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]}),
        ),
        (&s.env_id, json!({"name": "robot", "kind": "worker", "grant_types": ["client_credentials"]})),
    ] {
        post(format!("/environments/{e}/applications"), app).await;
    }
    let user = post(format!("/environments/{env}/users"), json!({"username": "ada", "password": "a first passphrase"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let attrs = json!({"department": "eng", "locations": ["a", "b"], "level": 3});
    let put = api
        .call(
            reqwest::Method::PUT,
            &format!("/environments/{env}/users/{user}/attributes"),
            Some(root),
            Some(attrs),
            None,
        )
        .await;
    assert!(put.status < 300, "{:?}", put.body);
    post(
        format!("/environments/{env}/claim-mappings"),
        json!({"claim": "department", "expression": "user.attributes.department ?? \"none\""}),
    )
    .await;
    let ca = signet_testkit::pki::TestAuthority::new("Fuzz CA");
    post("/certificates".into(), json!({"name": "fuzz ca", "pem": ca.pem, "trusted_for_mtls": true})).await;
    for (path, body) in [
        ("/policies/lockout", json!({"max_failures": 7, "lock_seconds": 600})),
        ("/policies/tokens", json!({"access_token_seconds": 1800, "refresh_token_seconds": 86400})),
    ] {
        let a = api.call(reqwest::Method::PUT, path, Some(root), Some(body), None).await;
        assert!(a.status < 300, "{path}: {:?}", a.body);
    }
    // Login MFA: a PingID method and an enforcement that uses it.
    let vault = crate::vault::Vault::new(s);
    let token = crate::vault::admin_token(s).await;
    let method = vault
        .call(
            "POST",
            "identity/mfa/method/pingid",
            Some(&token),
            Some(json!({"settings_file_base64": crate::vault::b64(crate::vault::FIXTURE), "method_name": "ping"})),
        )
        .await;
    let id = method.body["data"]["method_id"].as_str().unwrap().to_owned();
    let enforced = vault
        .call(
            "POST",
            "identity/mfa/login-enforcement/people",
            Some(&token),
            Some(json!({"mfa_method_ids": [id], "auth_method_types": ["ldap"]})),
        )
        .await;
    assert!(enforced.status < 300, "{}", enforced.body);
    // An identity provider, as the store keeps it (adding one through the API fetches its discovery).
    let idp = signet_core::federation::Provider {
        id: signet_core::crypto::random_id().unwrap(),
        environment_id: env.clone(),
        name: "Acme SSO".into(),
        issuer: "https://sso.acme.test".into(),
        client_id: "signetd".into(),
        scopes: vec!["openid".into()],
        jit: false,
        mfa: Default::default(),
        version: 1,
        created_at: 1,
    };
    let sealed = s.state.kek.seal(&signet_core::federation::secret_purpose(&idp.id), b"upstream-secret").unwrap();
    s.store().insert_identity_provider(&idp, &sealed, &test_event("idp.create", None, &idp.id)).await.unwrap();
}

impl Ctx {
    async fn new(backend: Backend) -> Ctx {
        let s = Server::start_on(backend).await;
        let root = basic(&s.boot.admin.username, &s.boot.admin.password);
        populate(&s, &root).await;
        let api = Api::new(&s);
        let admin = admin_with(&api, &root, "fuzz-admin", json!(["Admin"])).await;
        let made = api
            .call(
                reqwest::Method::POST,
                "/accounts",
                Some(&root),
                Some(json!({"username": "fuzz-auditor", "password": "a first passphrase", "auditor": true})),
                None,
            )
            .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let auditor = basic("fuzz-auditor", "a first passphrase");
        let ctx = Ctx {
            http: super::one_shot_client(),
            root,
            admin,
            auditor,
            base: Value::Null,
            places: vec![],
            current: Default::default(),
            seen: Default::default(),
            s,
        };
        let exported = ctx.export().await;
        assert_eq!(exported, ctx.export().await, "an export is the same each time");
        let base: Value = serde_json::from_slice(&exported).unwrap();
        for section in ["environments", "applications", "accounts", "claim_mappings", "certificates", "settings", "mfa"]
        {
            assert!(base[section].as_array().is_none_or(|a| !a.is_empty()), "{section} is empty in {base}");
        }
        let mut places_found = vec![];
        places(&base, String::new(), &mut places_found);
        *ctx.current.lock().unwrap() = exported;
        Ctx { base, places: places_found, ..ctx }
    }

    async fn export(&self) -> Vec<u8> {
        let res = self
            .s
            .http
            .get(format!("{}/admin-api/v1/bulk", self.s.base))
            .header("authorization", &self.root)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap().to_vec()
    }

    /// Puts the starting configuration back in the store, under the API's
    /// feet (the import may have taken the caller's own roles), and lets
    /// this instance forget what it cached.
    async fn restore(&self) {
        let s = &self.s;
        let doc: Configuration = serde_json::from_value(self.base.clone()).unwrap();
        let now = s.clock.now();
        let fresh =
            |env: &str| signet_server::bootstrap::new_signing_key(&s.state.kek, env, now).map_err(|e| e.to_string());
        let ev = test_event("fuzz.restore", None, "configuration");
        s.store().replace_configuration(&doc, signet_store::KeySource::Keep(&fresh), now, &ev).await.unwrap();
        s.state.keyring.forget_all();
        s.state.clients.clear();
        s.state.claim_mappings.forget_all();
        s.state.authn.forget();
        s.state.revocations.stale();
        let exported = self.export().await;
        // Environments the import had dropped came back with new keys; nothing else differs.
        let without_keys = |mut v: Value| {
            v.as_object_mut().unwrap().remove("signing_keys");
            v
        };
        let now_doc: Value = serde_json::from_slice(&exported).unwrap();
        assert_eq!(without_keys(now_doc), without_keys(self.base.clone()), "the restore restored");
        *self.current.lock().unwrap() = exported;
    }

    async fn check(&self, case: Case) -> Result<(), TestCaseError> {
        let outcome = self.check_case(&case).await;
        if outcome.is_err() {
            self.restore().await;
        }
        outcome
    }

    async fn check_case(&self, case: &Case) -> Result<(), TestCaseError> {
        let mut doc = self.base.clone();
        for m in &case.mutations {
            apply(&mut doc, &self.places, m);
        }
        let body = text_of(&doc, &case.text);
        let auth = match case.caller {
            Caller::AllFour => Some(self.root.as_str()),
            Caller::Admin => Some(self.admin.as_str()),
            Caller::Auditor => Some(self.auditor.as_str()),
            Caller::Anonymous => None,
        };
        let mut req = self.http.post(format!("{}/admin-api/v1/bulk", self.s.base)).body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if !case.content_type.is_empty() {
            req = req.header("content-type", case.content_type);
        }
        let r = Reply::of(req.send().await.unwrap()).await;
        let at: Vec<&str> = case.mutations.iter().map(|m| m.at.get(&self.places).as_str()).collect();
        check_no_5xx(&r, &format!("POST /bulk changed at {at:?}"))?;
        let shown = r.shown();
        let body = r.json();
        let answer = format!("{} {}", r.status, body["error"].as_str().unwrap_or_default());
        *self.seen.lock().unwrap().entry(answer).or_default() += 1;
        prop_assert!(r.header("content-type").starts_with("application/json"), "{shown}");
        if r.status == 200 {
            prop_assert_eq!(case.caller, Caller::AllFour, "imported without all four roles: {}", shown);
            prop_assert!(body["environments"].is_u64() && body["accounts"].is_u64(), "{shown}");
            self.restore().await;
            return Ok(());
        }
        prop_assert!(body["error"].is_string() && body["message"].is_string(), "not the admin API's error: {shown}");
        // Without all four roles: refused. (A body that does not parse is
        // refused as such before the roles are looked at, so 400 as well.)
        if case.caller != Caller::AllFour {
            prop_assert!(matches!(r.status, 400 | 401 | 403 | 413 | 415), "{shown}");
        }
        let after = self.export().await;
        let before = self.current.lock().unwrap().clone();
        prop_assert!(after == before, "a refused import changed the configuration: {shown}");
        Ok(())
    }
}

fn fuzz_bulk_documents(backend: Backend) {
    let rt = super::runtime();
    let ctx = rt.block_on(Ctx::new(backend));
    super::run(&rt, "bulk_documents", 48, case(), |c| ctx.check(c));
    eprintln!("answers: {:#?}", ctx.seen.lock().unwrap());
}

#[test]
fn fuzz_bulk_documents_sqlite() {
    fuzz_bulk_documents(Backend::Sqlite);
}

#[test]
fn fuzz_bulk_documents_postgres() {
    fuzz_bulk_documents(Backend::Postgres);
}
