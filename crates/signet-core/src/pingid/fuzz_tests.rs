//! PingID settings files fuzzed on stable (issue 15): the proptest
//! equivalent of the libFuzzer target `fuzz/fuzz_targets/settings_file.rs`,
//! over the same body (`fuzz_check`), plus a model of Vault's rules for
//! files generated well-formed: each parses to the last value of each key,
//! a bad `use_signature` is refused naming it, and no error ever quotes the
//! token or the key. The base64 layer is bent too (line breaks, padding,
//! the URL-safe alphabet). `PROPTEST_CASES` sets the number of cases;
//! `fuzz/run.sh` runs them longer.

use std::collections::BTreeMap;

use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::*;

fn run<T: std::fmt::Debug>(name: &str, strategy: impl Strategy<Value = T>, default: u32, body: impl Fn(T)) {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&strategy, |v| {
        body(v);
        Ok(())
    });
    eprintln!("fuzz-cases {name} {cases}");
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

const KEYS: [&str; 7] =
    ["use_base64_key", "use_signature", "token", "idp_url", "org_alias", "admin_url", "authenticator_url"];
const BOOLS: [&str; 13] = ["", "0", "f", "F", "false", "FALSE", "False", "1", "t", "T", "true", "TRUE", "True"];

/// A line of a file generated well-formed.
#[derive(Debug, Clone)]
enum Line {
    Setting(&'static str, String),
    Comment(String),
    Blank(String),
}

fn line() -> impl Strategy<Value = Line> {
    // Values hold anything but a line feed: '=' , spaces, CR, NUL, non-ASCII.
    let value = prop_oneof![
        4 => "[ -~]{0,24}",
        1 => "[^\n]{0,24}",
        1 => Just("a=b==".to_owned()),
        1 => Just(" spaced ".to_owned()),
        1 => Just("x\r".to_owned()),
        1 => Just("\u{0}".to_owned()),
    ];
    let setting = (prop::sample::select(&KEYS[..]), value, prop::sample::select(&BOOLS[..])).prop_map(|(k, v, b)| {
        // use_signature takes a Go boolean, and now and then something else.
        let v = if k == "use_signature" && !v.starts_with('~') { b.to_owned() } else { v };
        Line::Setting(k, v)
    });
    prop_oneof![
        8 => setting,
        1 => "#[^\n]{0,20}".prop_map(Line::Comment),
        1 => "[ \t\r]{0,3}".prop_map(Line::Blank),
    ]
}

fn text(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| match l {
            Line::Setting(k, v) => format!("{k}={v}"),
            Line::Comment(c) => c.clone(),
            Line::Blank(b) => b.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How the base64 of the file is written.
#[derive(Debug, Clone)]
enum Wrapping {
    Standard,
    /// Broken into lines, as a terminal or an editor might.
    Lines(usize, &'static str),
    Unpadded,
    UrlSafe,
}

fn encode(bytes: &[u8], w: &Wrapping) -> String {
    let standard = base64::engine::general_purpose::STANDARD.encode(bytes);
    match w {
        Wrapping::Standard => standard,
        Wrapping::Lines(n, eol) => {
            let chars: Vec<char> = standard.chars().collect();
            chars.chunks((*n).max(1)).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(eol)
        }
        Wrapping::Unpadded => standard.trim_end_matches('=').to_owned(),
        Wrapping::UrlSafe => base64::engine::general_purpose::URL_SAFE.encode(bytes),
    }
}

#[test]
fn fuzz_pingid_any_bytes_parse_or_fail_cleanly() {
    run("pingid_bytes", prop::collection::vec(any::<u8>(), 0..2048), 2_000, |data| fuzz_check(&data));
    run("pingid_text", any::<String>(), 1_000, |s| {
        let _ = parse_settings_file(&s);
    });
}

#[test]
fn fuzz_pingid_settings_shaped_text_parses_or_fails_cleanly() {
    let lines = prop::collection::vec(
        prop_oneof![
            Just("#comment".to_owned()),
            Just(String::new()),
            Just("  ".to_owned()),
            "(use_base64_key|use_signature|token|idp_url|org_alias|admin_url|authenticator_url|Token|x)=[ -~]{0,40}",
            "[ -~]{0,40}",
        ],
        0..20,
    );
    run("pingid_shaped", lines, 2_000, |lines| fuzz_check(lines.join("\n").as_bytes()));
}

#[test]
fn fuzz_pingid_well_formed_files_follow_vaults_rules() {
    let wrapping = prop_oneof![
        6 => Just(Wrapping::Standard),
        2 => (1usize..80, prop::sample::select(&["\n", "\r\n", "\r"][..])).prop_map(|(n, e)| Wrapping::Lines(n, e)),
        1 => Just(Wrapping::Unpadded),
        1 => Just(Wrapping::UrlSafe),
    ];
    let bad_bool = prop::option::weighted(0.1, "~[ -~]{0,8}");
    run(
        "pingid_model",
        (prop::collection::vec(line(), 0..16), wrapping, bad_bool),
        2_000,
        |(mut lines, wrapping, bad_bool)| {
            if let Some(b) = bad_bool {
                lines.push(Line::Setting("use_signature", b));
            }
            let file = text(&lines);
            let encoded = encode(file.as_bytes(), &wrapping);
            let parsed = parse_settings_file(&encoded);
            // Which base64 is taken: standard, padded, line breaks anywhere.
            let standard = base64::engine::general_purpose::STANDARD.encode(file.as_bytes());
            let decodable = match wrapping {
                Wrapping::Standard | Wrapping::Lines(..) => true,
                Wrapping::Unpadded => !standard.ends_with('='),
                Wrapping::UrlSafe => !standard.contains(['+', '/']),
            };
            if file.is_empty() {
                assert_eq!(parsed.unwrap_err(), SettingsFileError::Empty);
                return;
            }
            if !decodable {
                assert!(matches!(parsed, Err(SettingsFileError::Base64(_))), "{parsed:?} for {encoded:?}");
                return;
            }
            // The model: the last value of each key; use_signature a Go boolean.
            let mut last: BTreeMap<&str, &str> = BTreeMap::new();
            let mut bad = None;
            for l in &lines {
                if let Line::Setting(k, v) = l {
                    if *k == "use_signature" && go_bool(v).is_none() && bad.is_none() {
                        bad = Some(v.clone());
                    }
                    last.insert(k, v);
                }
            }
            let secrets = [last.get("token"), last.get("use_base64_key")];
            match (parsed, bad) {
                (Err(e), Some(b)) => {
                    assert_eq!(e, SettingsFileError::NotBool(b));
                    let shown = e.to_string();
                    for s in secrets.into_iter().flatten().filter(|s| s.len() > 3) {
                        assert!(!shown.contains(*s), "an error quotes a secret: {shown}");
                    }
                }
                (Ok(s), None) => {
                    let got = |k: &str| last.get(k).copied().unwrap_or_default().to_owned();
                    assert_eq!(s.token.expose(), &got("token"));
                    assert_eq!(s.use_base64_key.expose(), &got("use_base64_key"));
                    assert_eq!(s.use_signature, go_bool(&got("use_signature")).unwrap_or(false));
                    assert_eq!(
                        [s.idp_url, s.org_alias, s.admin_url, s.authenticator_url],
                        [got("idp_url"), got("org_alias"), got("admin_url"), got("authenticator_url")]
                    );
                }
                (parsed, bad) => panic!("{parsed:?} for a file whose first bad use_signature is {bad:?}: {file:?}"),
            }
        },
    );
}
