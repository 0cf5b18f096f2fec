//! The requests `forms` sends: near-real ones per endpoint, from templates
//! filled with the server's own values by name (`Known`), then bent by
//! edits and broken encodings; and random ones.

use proptest::prelude::*;

use super::super::hostile;

/// A value the case names, resolved against the server when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
    Cli,
    Worker,
    WorkerSecret,
    Web,
    WebSecret,
    LiveRefresh,
    LiveAccess,
    /// A refresh token of another family, already rotated away.
    SpentRefresh,
    WorkerAccess,
    DeviceCode,
    Verifier,
    Challenge,
    CliRedirect,
    WebRedirect,
}

#[derive(Debug, Clone)]
pub(super) enum Val {
    Known(Known),
    Lit(String),
}

/// How a pair is written into the body.
#[derive(Debug, Clone)]
pub(super) enum Enc {
    Form,
    /// As it is, `&`, `=` and `%` included.
    Raw,
    /// Form-encoded, then a broken escape or a separator inserted.
    Mangled(usize, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    Token,
    Revoke,
    Introspect,
    DeviceAuthorization,
    AuthorizeGet,
    AuthorizePost,
}

#[derive(Debug, Clone)]
pub(super) enum Body {
    Pairs(Vec<(String, Val, Enc)>),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub(super) enum Auth {
    None,
    /// `Basic base64(urlencode(id):urlencode(secret))`, as RFC 6749 §2.3.1 has it.
    Basic(Val, Val),
    /// `Basic` and the base64 of these bytes.
    BasicBytes(Vec<u8>),
    /// Any header value at all.
    Header(Vec<u8>),
}

#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) endpoint: Endpoint,
    pub(super) content_type: &'static str,
    pub(super) auth: Auth,
    pub(super) body: Body,
}

pub(super) const NAMES: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "device_code",
    "token",
    "token_type_hint",
    "subject_token",
    "subject_token_type",
    "subject_token_dpop",
    "requested_token_type",
    "session_expiration_in_minutes",
    "response_type",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "username",
    "password",
    "audience",
    "resource",
    "client_assertion",
    "client_assertion_type",
    "request",
    "request_uri",
];

pub(super) const GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "password",
    "implicit",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "CLIENT_CREDENTIALS",
    "client_credentials ",
];

pub(super) const LITERALS: &[&str] = &[
    "openid",
    "openid profile offline_access",
    "openid offline_access api:read",
    "api:read",
    "admin",
    "openid openid",
    " openid",
    "openid\tprofile",
    "http://127.0.0.1:4711/callback",
    "http://[::1]:9/callback",
    "http://localhost/callback",
    "https://attacker.example/cb",
    "https://app.test/cb?x=1",
    "http://127.0.0.1/callback#frag",
    "http://user@127.0.0.1/callback",
    "javascript:alert(1)",
    "//attacker.example",
    "S256",
    "plain",
    "none",
    "login",
    "none login",
    "code",
    "token",
    "code id_token",
    "5",
    "60",
    "61",
    "access_token",
    "refresh_token",
    "urn:ietf:params:oauth:token-type:access_token",
    "urn:ietf:params:oauth:token-type:refresh_token",
    "signet-cli",
    "administrator",
];

pub(super) fn known() -> impl Strategy<Value = Known> + Clone {
    use Known::*;
    prop::sample::select(
        &[
            Cli,
            Worker,
            WorkerSecret,
            Web,
            WebSecret,
            LiveRefresh,
            LiveAccess,
            SpentRefresh,
            WorkerAccess,
            DeviceCode,
            Verifier,
            Challenge,
            CliRedirect,
            WebRedirect,
        ][..],
    )
}

pub(super) fn val() -> impl Strategy<Value = Val> + Clone {
    prop_oneof![
        3 => known().prop_map(Val::Known),
        2 => prop::sample::select(LITERALS).prop_map(|s| Val::Lit(s.into())),
        1 => prop::sample::select(GRANTS).prop_map(|s| Val::Lit(s.into())),
        3 => hostile().prop_map(Val::Lit),
    ]
}

pub(super) fn name() -> impl Strategy<Value = String> + Clone {
    prop_oneof![8 => prop::sample::select(NAMES).prop_map(str::to_owned), 1 => "[a-z_]{0,12}", 1 => hostile()]
}

pub(super) fn enc() -> impl Strategy<Value = Enc> + Clone {
    prop_oneof![
        24 => Just(Enc::Form),
        1 => Just(Enc::Raw),
        1 => (any::<usize>(), prop::sample::select(&["%", "%G", "%FF", "%C3", "%E2%80", "%00", "+", "&", "=", "&&", "%25"][..]))
            .prop_map(|(at, s)| Enc::Mangled(at, s)),
    ]
}

pub(super) fn lit(s: &str) -> Val {
    Val::Lit(s.into())
}

/// A real request of each kind, filled with the right values most of the time.
pub(super) fn template(endpoint: Endpoint) -> BoxedStrategy<Vec<(String, Val)>> {
    use Known::*;
    let k = |k: Known| Val::Known(k);
    // The first option, the one a real client sends, half the time.
    let pick = |options: Vec<Val>| {
        let first = options[0].clone();
        prop_oneof![1 => Just(first), 1 => prop::sample::select(options)].boxed()
    };
    let client = pick(vec![k(Cli), k(Worker), k(Web), lit("nobody")]);
    let pairs = |v: Vec<(&str, BoxedStrategy<Val>)>| {
        let (names, vals): (Vec<String>, Vec<BoxedStrategy<Val>>) =
            v.into_iter().map(|(n, s)| (n.to_owned(), s)).unzip();
        vals.prop_map(move |vals| names.iter().cloned().zip(vals).collect::<Vec<_>>()).boxed()
    };
    match endpoint {
        Endpoint::Token => prop_oneof![
            pairs(vec![
                ("grant_type", pick(vec![lit("client_credentials")])),
                ("client_id", pick(vec![k(Worker), k(Web), k(Cli)])),
                ("client_secret", pick(vec![k(WorkerSecret), k(WebSecret), lit("wrong")])),
                ("scope", pick(vec![lit("api:read"), lit("openid"), lit("")])),
            ]),
            pairs(vec![
                ("grant_type", pick(vec![lit("refresh_token")])),
                ("client_id", client.clone()),
                ("refresh_token", pick(vec![k(LiveRefresh), k(SpentRefresh), k(LiveAccess), lit("forged")])),
                ("scope", pick(vec![lit("openid"), lit("openid profile offline_access"), lit("admin"), lit("")])),
            ]),
            pairs(vec![
                ("grant_type", pick(vec![lit("authorization_code")])),
                ("client_id", client.clone()),
                ("code", pick(vec![lit("forged"), k(DeviceCode), k(LiveRefresh)])),
                ("redirect_uri", pick(vec![k(CliRedirect), k(WebRedirect), lit("http://127.0.0.1:4711/callback")])),
                ("code_verifier", pick(vec![k(Verifier), k(Challenge)])),
            ]),
            pairs(vec![
                ("grant_type", pick(vec![lit("urn:ietf:params:oauth:grant-type:device_code")])),
                ("client_id", client.clone()),
                ("device_code", pick(vec![k(DeviceCode), lit("forged"), k(LiveRefresh)])),
            ]),
            pairs(vec![
                ("grant_type", pick(vec![lit("urn:ietf:params:oauth:grant-type:token-exchange")])),
                ("client_id", pick(vec![k(Worker), k(Cli)])),
                ("client_secret", pick(vec![k(WorkerSecret), lit("")])),
                ("subject_token", pick(vec![k(LiveAccess), k(WorkerAccess), lit("")])),
                ("subject_token_type", pick(vec![lit("urn:ietf:params:oauth:token-type:access_token")])),
                ("session_expiration_in_minutes", pick(vec![lit("5"), lit("60"), lit("61"), lit("-1")])),
            ]),
        ]
        .boxed(),
        Endpoint::Revoke | Endpoint::Introspect => pairs(vec![
            ("token", pick(vec![k(LiveAccess), k(LiveRefresh), k(WorkerAccess), k(SpentRefresh), lit("forged")])),
            ("client_id", client.clone()),
            ("client_secret", pick(vec![k(WorkerSecret), k(WebSecret), lit("")])),
            ("token_type_hint", pick(vec![lit("access_token"), lit("refresh_token"), lit("")])),
        ]),
        Endpoint::DeviceAuthorization => pairs(vec![
            ("client_id", client.clone()),
            ("scope", pick(vec![lit("openid"), lit("openid offline_access"), lit("admin"), lit("")])),
        ]),
        Endpoint::AuthorizeGet | Endpoint::AuthorizePost => pairs(vec![
            ("response_type", pick(vec![lit("code"), lit("token")])),
            ("client_id", client),
            (
                "redirect_uri",
                pick(vec![
                    k(CliRedirect),
                    k(WebRedirect),
                    lit("http://127.0.0.1:4711/callback"),
                    lit("https://attacker.example/cb"),
                ]),
            ),
            ("scope", pick(vec![lit("openid profile"), lit("openid offline_access"), lit("admin")])),
            ("state", pick(vec![lit("st"), lit("")])),
            ("code_challenge", pick(vec![k(Challenge), k(Verifier)])),
            ("code_challenge_method", pick(vec![lit("S256"), lit("plain")])),
            ("prompt", pick(vec![lit(""), lit("none"), lit("login")])),
        ]),
    }
}

/// One change to a request.
#[derive(Debug, Clone)]
pub(super) enum Edit {
    Drop(usize),
    Replace(usize, Val),
    Repeat(usize),
    Rename(usize, String),
    Insert(usize, String, Val),
}

pub(super) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => any::<usize>().prop_map(Edit::Drop),
        4 => (any::<usize>(), val()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => any::<usize>().prop_map(Edit::Repeat),
        1 => (any::<usize>(), name()).prop_map(|(i, n)| Edit::Rename(i, n)),
        2 => (any::<usize>(), name(), val()).prop_map(|(i, n, v)| Edit::Insert(i, n, v)),
    ]
}

pub(super) fn apply(mut pairs: Vec<(String, Val)>, edits: Vec<Edit>) -> Vec<(String, Val)> {
    for e in edits {
        let n = pairs.len().max(1);
        match e {
            Edit::Drop(i) if !pairs.is_empty() => {
                pairs.remove(i % n);
            }
            Edit::Replace(i, v) if !pairs.is_empty() => pairs[i % n].1 = v,
            Edit::Repeat(i) if !pairs.is_empty() => {
                let p = pairs[i % n].clone();
                pairs.push(p);
            }
            Edit::Rename(i, name) if !pairs.is_empty() => pairs[i % n].0 = name,
            Edit::Insert(i, name, v) => pairs.insert(i % (pairs.len() + 1), (name, v)),
            _ => {}
        }
    }
    pairs
}

pub(super) fn body(endpoint: Endpoint) -> impl Strategy<Value = Body> {
    let edits = prop_oneof![1 => Just(vec![]), 2 => prop::collection::vec(edit(), 1..4)];
    let near = (template(endpoint), edits, prop::collection::vec(enc(), 8)).prop_map(|(pairs, edits, encs)| {
        let pairs = apply(pairs, edits);
        Body::Pairs(pairs.into_iter().zip(encs.into_iter().cycle()).map(|((n, v), e)| (n, v, e)).collect())
    });
    let random = prop::collection::vec((name(), val(), enc()), 0..8).prop_map(Body::Pairs);
    prop_oneof![
        12 => near,
        3 => random,
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Body::Bytes),
    ]
}

pub(super) fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        10 => Just(Auth::None),
        2 => (val(), val()).prop_map(|(id, secret)| Auth::Basic(id, secret)),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Auth::BasicBytes),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Auth::Header),
    ]
}

pub(super) fn case() -> impl Strategy<Value = Case> {
    let endpoint = prop_oneof![
        6 => Just(Endpoint::Token),
        2 => Just(Endpoint::Revoke),
        2 => Just(Endpoint::Introspect),
        2 => Just(Endpoint::DeviceAuthorization),
        2 => Just(Endpoint::AuthorizeGet),
        1 => Just(Endpoint::AuthorizePost),
    ];
    let content_type = prop_oneof![
        12 => Just("application/x-www-form-urlencoded"),
        1 => Just("application/x-www-form-urlencoded; charset=ISO-8859-1"),
        1 => Just("APPLICATION/X-WWW-FORM-URLENCODED"),
        1 => Just("application/json"),
        1 => Just("multipart/form-data; boundary=x"),
        1 => Just(""),
    ];
    (endpoint, content_type, auth()).prop_flat_map(|(endpoint, content_type, auth)| {
        body(endpoint).prop_map(move |body| Case { endpoint, content_type, auth: auth.clone(), body })
    })
}
