//! Generated form posts to the sign-on pages: each case signs a new account
//! on part of the way (through `signet-cli`, a web application whose code
//! waits for an administrator's confirmation, or the device flow), then
//! posts a bent form to the step it reached: the password form, the TOTP
//! step, enrolment, the one-time password's change, the device consent or
//! the confirmation, `/federate`, or the device code form. Fields are
//! dropped, repeated, given hostile values or the right ones; the CSRF
//! token and the flow's cookie are kept, lost or forged.
//!
//! What must hold for every one of them: never a 5xx; an HTML page, or a
//! redirect to the flow's own sign-on page or to the client's redirect URI;
//! and a code for the client, or an approved device, only when the form
//! carried what that step needs (the password, a current TOTP code, the
//! person's own decision).

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use reqwest::header::{COOKIE, HeaderMap, HeaderValue};
use signet_core::clock::Clock;
use signet_core::crypto::random_id;
use signet_core::model::{Account, AppKind, GrantType, totp_purpose};
use signet_proto::roles::Role;

use super::{Reply, check_no_5xx, check_page, hostile};
use crate::harness::*;

/// Whom the case signs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// An end user without a second factor: the password is enough.
    EndUser,
    /// A person with TOTP.
    Person,
    /// An administrator without TOTP yet: enrols after the password.
    NewAdmin,
    /// An administrator whose password is one-time: chooses another first.
    OneTime,
}

/// Which flow the sign-on belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Cli,
    /// A web application in the Administrators environment: its code waits
    /// for the person's confirmation of where it goes.
    Web,
    Device,
}

/// How far the sign-on gets before the fuzzed post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Password,
    /// The step after the right password.
    AfterPassword,
    /// Password and TOTP done: the device consent or the confirmation.
    Authenticated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Signon,
    Federate,
    /// The device code form, `/device`.
    DeviceCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cookies {
    Kept,
    Lost,
    Forged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Csrf,
    Username,
    Password,
    /// The account's current TOTP code.
    Code,
    /// The current code of the secret an enrolment page shows.
    EnrolCode,
    UserCode,
    NewPassword,
}

#[derive(Debug, Clone)]
enum Val {
    Known(Known),
    Lit(String),
}

#[derive(Debug, Clone)]
struct Case {
    who: Who,
    via: Via,
    stage: Stage,
    target: Target,
    cookies: Cookies,
    content_type: &'static str,
    fields: Vec<(String, Val)>,
    /// Form-encode each field, or write one as it is.
    raw: Option<usize>,
}

const NAMES: &[&str] = &[
    "csrf",
    "username",
    "password",
    "code",
    "decision",
    "new_password",
    "confirm_password",
    "provider",
    "user_code",
    "method",
    "passcode",
];

const LITERALS: &[&str] = &[
    "approve",
    "deny",
    "continue",
    "cancel",
    "link",
    "administrator",
    "ADMINISTRATOR",
    " administrator",
    "000000",
    "123456",
    "12345678",
    "BCDF-GHJK",
    "bcdfghjk",
    "a long enough passphrase",
    "short",
];

fn known() -> impl Strategy<Value = Known> + Clone {
    use Known::*;
    prop::sample::select(&[Csrf, Username, Password, Code, EnrolCode, UserCode, NewPassword][..])
}

fn val() -> impl Strategy<Value = Val> + Clone {
    prop_oneof![
        3 => known().prop_map(Val::Known),
        2 => prop::sample::select(LITERALS).prop_map(|s| Val::Lit(s.into())),
        3 => hostile().prop_map(Val::Lit),
    ]
}

/// The form the step expects, with the right values most of the time.
fn template(stage: Stage, target: Target) -> BoxedStrategy<Vec<(String, Val)>> {
    use Known::*;
    let k = Val::Known;
    let lit = |s: &str| Val::Lit(s.into());
    let pick = |options: Vec<Val>| {
        let first = options[0].clone();
        prop_oneof![1 => Just(first), 1 => prop::sample::select(options)].boxed()
    };
    let fields = |v: Vec<(&str, BoxedStrategy<Val>)>| {
        let (names, vals): (Vec<String>, Vec<BoxedStrategy<Val>>) =
            v.into_iter().map(|(n, s)| (n.to_owned(), s)).unzip();
        vals.prop_map(move |vals| names.iter().cloned().zip(vals).collect::<Vec<_>>()).boxed()
    };
    let csrf = || pick(vec![k(Csrf), lit(""), lit("forged")]);
    match (target, stage) {
        (Target::DeviceCode, _) => {
            fields(vec![("csrf", csrf()), ("user_code", pick(vec![k(UserCode), lit("BCDF-GHJK")]))])
        }
        (Target::Federate, _) => fields(vec![("csrf", csrf()), ("provider", pick(vec![lit("nobody"), lit("")]))]),
        (Target::Signon, Stage::Password) => fields(vec![
            ("csrf", csrf()),
            ("username", pick(vec![k(Username), lit("administrator"), lit("nobody")])),
            ("password", pick(vec![lit("wrong password"), k(Password)])),
            ("code", pick(vec![lit(""), k(Code)])),
        ]),
        (Target::Signon, Stage::AfterPassword) => fields(vec![
            ("csrf", csrf()),
            ("code", pick(vec![lit("000000"), k(Code), k(EnrolCode)])),
            ("new_password", pick(vec![k(NewPassword), lit("short")])),
            ("confirm_password", pick(vec![k(NewPassword), lit("a long enough passphrase")])),
        ]),
        (Target::Signon, Stage::Authenticated) => fields(vec![
            ("csrf", csrf()),
            ("decision", pick(vec![lit("cancel"), lit("deny"), lit("approve"), lit("continue")])),
        ]),
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Drop(usize),
    Replace(usize, Val),
    Repeat(usize),
    Insert(usize, String, Val),
}

fn edit() -> impl Strategy<Value = Edit> {
    let name = prop_oneof![4 => prop::sample::select(NAMES).prop_map(str::to_owned), 1 => hostile()];
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::Drop),
        3 => (any::<usize>(), val()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => any::<usize>().prop_map(Edit::Repeat),
        2 => (any::<usize>(), name, val()).prop_map(|(i, n, v)| Edit::Insert(i, n, v)),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    use Who::*;
    let who = prop::sample::select(&[EndUser, Person, Person, NewAdmin, OneTime][..]);
    let via = prop::sample::select(&[Via::Cli, Via::Web, Via::Device][..]);
    let stage = prop::sample::select(&[Stage::Password, Stage::AfterPassword, Stage::Authenticated][..]);
    let target = prop_oneof![8 => Just(Target::Signon), 1 => Just(Target::Federate), 1 => Just(Target::DeviceCode)];
    let cookies = prop_oneof![8 => Just(Cookies::Kept), 1 => Just(Cookies::Lost), 1 => Just(Cookies::Forged)];
    let content_type = prop_oneof![
        10 => Just("application/x-www-form-urlencoded"),
        1 => Just("text/plain"),
        1 => Just(""),
    ];
    let edits = prop_oneof![1 => Just(vec![]), 2 => prop::collection::vec(edit(), 1..4)];
    let raw = prop_oneof![6 => Just(None), 1 => any::<usize>().prop_map(Some)];
    (who, via, stage, target, cookies, content_type, edits, raw).prop_flat_map(
        |(who, via, stage, target, cookies, content_type, edits, raw)| {
            template(stage, target).prop_map(move |fields| {
                let mut fields = fields;
                for e in edits.clone() {
                    let n = fields.len().max(1);
                    match e {
                        Edit::Drop(i) if !fields.is_empty() => {
                            fields.remove(i % n);
                        }
                        Edit::Replace(i, v) if !fields.is_empty() => fields[i % n].1 = v,
                        Edit::Repeat(i) if !fields.is_empty() => {
                            let f = fields[i % n].clone();
                            fields.push(f);
                        }
                        Edit::Insert(i, name, v) => fields.insert(i % (fields.len() + 1), (name, v)),
                        _ => {}
                    }
                }
                Case { who, via, stage, target, cookies, content_type, fields, raw }
            })
        },
    )
}

struct Ctx {
    s: Server,
    http: reqwest::Client,
    web: String,
    /// One password for every account the cases make, hashed once.
    password: String,
    password_hash: String,
    /// How often each step gave each answer: shows how deep the cases reach.
    seen: std::sync::Mutex<std::collections::BTreeMap<String, u32>>,
}

/// What a case set up: the page to post to, and what the form may name.
struct Setup {
    browser: Browser,
    url: String,
    csrf: String,
    username: String,
    secret: Vec<u8>,
    enrol_secret: Option<Vec<u8>>,
    user_code: String,
    redirect: &'static str,
}

impl Ctx {
    async fn new(backend: Backend) -> Ctx {
        let s = Server::start_on(backend).await;
        let (web, _) = s.application(AppKind::Web, &[GrantType::AuthorizationCode], &[], None).await;
        let password = format!("pw-{}", random_id().unwrap());
        let password_hash = signet_core::password::hash(&password).unwrap();
        Ctx { http: super::one_shot_client(), web, password, password_hash, seen: Default::default(), s }
    }

    /// A new account for one case, so that no case inherits another's lock.
    async fn account(&self, who: Who) -> (String, Vec<u8>) {
        let s = &self.s;
        let id = random_id().unwrap();
        let username = format!("fz-{}", &id[..8]);
        let secret = signet_core::totp::generate_secret().unwrap().expose().clone();
        let admin = matches!(who, Who::NewAdmin | Who::OneTime);
        let enrolled = matches!(who, Who::Person | Who::OneTime);
        let a = Account {
            id: id.clone().into(),
            environment_id: s.env_id.clone().into(),
            username: username.clone(),
            password_hash: Some(self.password_hash.clone()),
            active: true,
            admin,
            roles: if admin { Role::ALL.into_iter().collect() } else { Default::default() },
            auditor: false,
            totp_sealed: enrolled.then(|| s.state.kek.seal(&totp_purpose(&id), &secret).unwrap()),
            totp_confirmed: enrolled,
            totp_last_step: 0,
            failed_attempts: 0,
            password_change_required: who == Who::OneTime,
            locked_until: 0,
            created_at: s.clock.now(),
        };
        s.store().insert_account(&a, &test_event("account.create", Some(&s.env_id), &id)).await.unwrap();
        (username, secret)
    }

    /// Submits a form on the page at `url`, waiting out the address's
    /// failure limit, which earlier cases may have filled.
    async fn submit(&self, b: &mut Browser, url: &str, fields: &[(&str, &str)]) -> Page {
        loop {
            let page = b.submit(url, fields).await;
            if page.status != 429 {
                return page;
            }
            self.s.clock.advance(301);
        }
    }

    /// A pending device authorization: its user code.
    async fn user_code(&self) -> String {
        let (status, d) =
            self.s.post_form(&self.s.url("/device_authorization"), &[("client_id", "signet-cli")], None).await;
        assert_eq!(status, 200, "{d}");
        d["user_code"].as_str().unwrap().to_owned()
    }

    async fn setup(&self, case: &Case) -> Setup {
        let s = &self.s;
        let (username, secret) = self.account(case.who).await;
        let mut b = Browser::default();
        let user_code = self.user_code().await;
        if case.target == Target::DeviceCode {
            let url = s.url("/device");
            let page = b.get(&url).await;
            let csrf = page.field("csrf").unwrap();
            return Setup { browser: b, url, csrf, username, secret, enrol_secret: None, user_code, redirect: "" };
        }
        let (_, challenge) = pkce_pair();
        let (client, redirect) = match case.via {
            Via::Web => (self.web.as_str(), "https://app.test/cb"),
            _ => ("signet-cli", CLI_REDIRECT),
        };
        let signon = match case.via {
            Via::Device => {
                let device = s.url("/device");
                self.submit(&mut b, &device, &[("user_code", &user_code)]).await.location.unwrap()
            }
            _ => {
                let start = b
                    .get(&format!(
                        "{}?response_type=code&client_id={client}&redirect_uri={redirect}&scope=openid&state=st&code_challenge={challenge}&code_challenge_method=S256",
                        s.url("/authorize")
                    ))
                    .await;
                assert_eq!(start.status, 303, "{}", start.body);
                start.location.unwrap()
            }
        };
        if case.stage != Stage::Password {
            let page = self.submit(&mut b, &signon, &[("username", &username), ("password", &self.password)]).await;
            assert_eq!(page.status, 303, "{}", page.body);
        }
        if case.stage == Stage::Authenticated {
            let page = b.get(&signon).await;
            if let Some(enrol) = enrol_secret(&page) {
                let code = signet_core::totp::code_at(&enrol, s.clock.now()).unwrap();
                self.submit(&mut b, &signon, &[("code", &code)]).await;
            } else if page.body.contains("name=\"new_password\"") {
                let new = "a new passphrase of mine";
                self.submit(&mut b, &signon, &[("new_password", new), ("confirm_password", new)]).await;
                let code = s.code(&secret);
                self.submit(&mut b, &signon, &[("code", &code)]).await;
            } else if page.body.contains("name=\"code\"") {
                let code = s.code(&secret);
                self.submit(&mut b, &signon, &[("code", &code)]).await;
            }
        }
        let page = b.get(&signon).await;
        let csrf = page.field("csrf").unwrap_or_default();
        let url = if case.target == Target::Federate { format!("{signon}/federate") } else { signon };
        Setup { enrol_secret: enrol_secret(&page), browser: b, url, csrf, username, secret, user_code, redirect }
    }

    fn value(&self, setup: &Setup, k: Known) -> String {
        let now = self.s.clock.now();
        match k {
            Known::Csrf => setup.csrf.clone(),
            Known::Username => setup.username.clone(),
            Known::Password => self.password.clone(),
            Known::Code => signet_core::totp::code_at(&setup.secret, now).unwrap(),
            Known::EnrolCode => setup
                .enrol_secret
                .as_ref()
                .and_then(|e| signet_core::totp::code_at(e, now))
                .unwrap_or_else(|| "000000".into()),
            Known::UserCode => setup.user_code.clone(),
            Known::NewPassword => "a new passphrase of mine".into(),
        }
    }

    async fn check(&self, case: Case) -> Result<(), TestCaseError> {
        let setup = self.setup(&case).await;
        let text = |v: &Val| match v {
            Val::Known(k) => self.value(&setup, *k),
            Val::Lit(s) => s.clone(),
        };
        let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let body = case
            .fields
            .iter()
            .enumerate()
            .map(|(i, (n, v))| match case.raw {
                Some(r) if r % case.fields.len().max(1) == i => format!("{n}={}", text(v)),
                _ => format!("{}={}", form(n), form(&text(v))),
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut headers = HeaderMap::new();
        match case.cookies {
            Cookies::Kept => headers = setup.browser.cookie_headers(),
            Cookies::Lost => {}
            Cookies::Forged => {
                let real = setup.browser.cookie_headers();
                let cookie = real.get(COOKIE).and_then(|c| c.to_str().ok()).unwrap_or_default();
                let forged: String = cookie.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect();
                headers.insert(COOKIE, HeaderValue::from_str(&forged).unwrap());
            }
        }
        if !case.content_type.is_empty() {
            headers.insert("content-type", HeaderValue::from_static(case.content_type));
        }
        let too_long = body.len() > signet_server::oauth::form::MAX_BODY;
        let r = match self.http.post(&setup.url).headers(headers).body(body).send().await {
            Ok(res) => Reply::of(res).await,
            Err(e) if e.is_request() && too_long => return Ok(()),
            Err(e) => panic!("{e}"),
        };
        check_no_5xx(&r, &setup.url)?;
        let shown = r.shown();
        let html = String::from_utf8_lossy(&r.body);
        let answer = match r.headers.get("location").and_then(|l| l.to_str().ok()) {
            Some(l) if l.contains("/signon/") => "to the sign-on page".to_owned(),
            Some(l) if l.contains("code=") => "to the client with a code".to_owned(),
            Some(_) => "to the client".to_owned(),
            None => html.split("<h1>").nth(1).and_then(|t| t.split("</h1>").next()).unwrap_or_default().to_owned(),
        };
        let step = format!("{:?} {:?} {:?} {:?}: {} {answer}", case.target, case.who, case.via, case.stage, r.status);
        *self.seen.lock().unwrap().entry(step).or_default() += 1;
        let mentions = |k: Known| {
            let value = self.value(&setup, k);
            case.fields.iter().any(|(_, v)| match v {
                Val::Known(x) => *x == k,
                Val::Lit(s) => *s == value,
            })
        };
        let says = |word: &str| case.fields.iter().any(|(_, v)| matches!(v, Val::Lit(s) if s == word));
        let Some(location) = r.headers.get("location").and_then(|l| l.to_str().ok()) else {
            check_page(&r)?;
            if String::from_utf8_lossy(&r.body).contains("Device approved") {
                prop_assert!(case.stage == Stage::Authenticated && says("approve"), "approved without asking: {shown}");
            }
            return Ok(());
        };
        prop_assert_eq!(r.status, 303, "{}", shown);
        if location.starts_with(&format!("{}/signon/", self.s.issuer)) {
            return Ok(());
        }
        prop_assert!(
            !setup.redirect.is_empty() && location.starts_with(setup.redirect),
            "sent somewhere else: {location}"
        );
        let url = url::Url::parse(location).unwrap();
        if url.query_pairs().any(|(k, _)| k == "code") {
            let earned = match case.stage {
                Stage::Password => mentions(Known::Password) && (case.who == Who::EndUser || mentions(Known::Code)),
                Stage::AfterPassword => match case.who {
                    Who::Person => mentions(Known::Code),
                    Who::NewAdmin => mentions(Known::EnrolCode),
                    Who::EndUser | Who::OneTime => false,
                },
                Stage::Authenticated => says("continue"),
            };
            prop_assert!(earned, "a code the form did not earn: {location}");
        }
        Ok(())
    }
}

/// The TOTP secret an enrolment page shows.
fn enrol_secret(page: &Page) -> Option<Vec<u8>> {
    let marker = "id=\"totp-secret\">";
    let start = page.body.find(marker)? + marker.len();
    let end = page.body[start..].find('<')? + start;
    signet_core::totp::from_base32(&page.body[start..end])
}

fn fuzz_signon_pages(backend: Backend) {
    let rt = super::runtime();
    let ctx = rt.block_on(Ctx::new(backend));
    super::run(&rt, "signon_pages", 32, case(), |c| ctx.check(c));
    eprintln!("answers: {:#?}", ctx.seen.lock().unwrap());
    // The trail is intact after all of it (asked by an administrator the
    // cases never named, since they lock `administrator` now and then).
    let verified = rt.block_on(async {
        let auditor = ctx.s.account(true, true).await;
        crate::admin::Api::new(&ctx.s)
            .get("/audit/verify", &crate::admin::basic(&auditor.username, &auditor.password))
            .await
    });
    assert_eq!(verified.body["intact"], true, "{:?}", verified.body);
}

#[test]
fn fuzz_signon_pages_sqlite() {
    fuzz_signon_pages(Backend::Sqlite);
}

#[test]
fn fuzz_signon_pages_postgres() {
    fuzz_signon_pages(Backend::Postgres);
}
