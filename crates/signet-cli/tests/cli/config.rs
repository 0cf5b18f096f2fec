//! `signet config …`: seed 001's lines, profiles, validation, precedence,
//! masking, file safety and concurrency.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{Home, to_run};

const ENV_ID: &str = "5a3f1c2e-8b4d-4e6f-9a1b-2c3d4e5f6a7b";
const CLIENT_ID: &str = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";

#[test]
fn seed_001_lines_work_as_written() {
    let h = Home::new();
    h.ok(&["config", "set", "service.pingone.authentication.type=worker"]);
    h.ok(&["config", "set", &format!("service.pingone.authentication.worker.clientID={CLIENT_ID}")]);
    h.ok(&["config", "set", "service.pingone.authentication.worker.clientSecret=s3cr3t-value"]);
    h.ok(&["config", "set", &format!("service.pingone.authentication.worker.environmentID={ENV_ID}")]);
    h.ok(&["config", "set", "service.pingone.regionCode=EU"]);

    assert_eq!(h.ok(&["config", "get", "service.pingone.authentication.type"]).stdout.trim(), "worker");
    assert_eq!(h.ok(&["config", "get", "service.pingone.regionCode"]).stdout.trim(), "EU");
    // The seed's environment key is an alias of the endpoint's: both answer.
    assert_eq!(h.ok(&["config", "get", "service.pingone.authentication.worker.environmentID"]).stdout.trim(), ENV_ID);
    assert_eq!(h.ok(&["config", "get", "service.pingone.endpoint.environmentID"]).stdout.trim(), ENV_ID);
    // Keys are case-insensitive.
    assert_eq!(h.ok(&["config", "get", "SERVICE.PINGONE.REGIONCODE"]).stdout.trim(), "EU");

    let file = h.config_file();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("environmentID"), "{text}");
    assert_eq!(text.matches(ENV_ID).count(), 1, "the alias writes one setting: {text}");
}

#[test]
fn secrets_are_masked_unless_unmasked() {
    let h = Home::new();
    h.ok(&["config", "set", "service.pingone.authentication.worker.clientSecret=s3cr3t-value"]);
    let shown = h.ok(&["config", "set", "service.pingone.authentication.worker.clientSecret=s3cr3t-value"]).stdout;
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert_eq!(
        h.ok(&["config", "get", "service.pingone.authentication.worker.clientSecret"]).stdout.trim(),
        "********"
    );
    assert_eq!(
        h.ok(&["config", "get", "service.pingone.authentication.worker.clientSecret", "--unmask"]).stdout.trim(),
        "s3cr3t-value"
    );
    let view = h.ok(&["config", "view-profile"]).stdout;
    assert!(view.contains("clientSecret") && !view.contains("s3cr3t"), "{view}");
    assert!(h.ok(&["config", "view-profile", "--unmask"]).stdout.contains("s3cr3t-value"));
    let json = h.ok(&["-O", "json", "config", "view-profile"]).json();
    assert_eq!(json["settings"]["service.pingone.authentication.worker.clientSecret"], "********");
}

#[test]
fn unknown_keys_and_bad_values_are_refused_and_change_nothing() {
    let h = Home::new();
    h.ok(&["config", "set", "service.pingone.regionCode=EU"]);
    let before = std::fs::read(h.config_file()).unwrap();
    for (args, expect) in [
        (vec!["config", "set", "service.pingone.regionCod=EU"], "did you mean \"service.pingone.regionCode\""),
        (vec!["config", "set", "service.pingone.regionCode=XX"], "choose one of NA, EU, AP, CA, AU, SG"),
        (vec!["config", "set", "service.pingone.endpoint.environmentID=not-a-uuid"], "not a UUID"),
        (vec!["config", "set", "service.pingone.endpoint.baseURL=ftp://host"], "not an http(s) URL"),
        (vec!["config", "set", "service.pingone.authentication.authorizationCode.redirectURIPort=99999"], "not a port"),
        (vec!["config", "set", "auth.storage.type"], "expected KEY=VALUE"),
        (vec!["config", "get", "nonsense.key"], "unknown key"),
    ] {
        let r = h.run(&args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains(expect), "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    assert_eq!(std::fs::read(h.config_file()).unwrap(), before, "the file is untouched");
}

#[test]
fn a_malformed_file_is_reported_with_its_line_and_never_overwritten() {
    let h = Home::new();
    let file = h.config_file();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let broken = "activeProfile = \"default\"\n[profiles.default]\nx = = 1\n";
    std::fs::write(&file, broken).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = h.run(&["config", "set", "service.pingone.regionCode=EU"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("config.toml") && r.stderr.contains("line 3"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
}

#[test]
fn profiles_can_be_added_activated_viewed_and_deleted() {
    let h = Home::new();
    h.ok(&["config", "add-profile", "staging", "--description", "pre-production", "--set-active"]);
    h.ok(&["config", "set", "service.pingone.regionCode=AP"]);
    h.ok(&["-P", "default", "config", "set", "service.pingone.regionCode=CA"]);
    assert_eq!(h.ok(&["config", "get", "service.pingone.regionCode"]).stdout.trim(), "AP");
    assert_eq!(h.ok(&["-P", "default", "config", "get", "service.pingone.regionCode"]).stdout.trim(), "CA");
    let list = h.ok(&["-O", "json", "config", "list-profiles"]).json();
    let staging = list.as_array().unwrap().iter().find(|p| p["name"] == "staging").unwrap().clone();
    assert_eq!(staging["active"], true);
    assert_eq!(staging["description"], "pre-production");
    let refused = h.run(&["config", "delete-profile", "staging"]);
    assert!(refused.code == 1 && refused.stderr.contains("active profile"), "{}", refused.stderr);
    h.ok(&["config", "set-active-profile", "default"]);
    h.ok(&["config", "delete-profile", "staging"]);
    let unknown = h.run(&["-P", "staging", "config", "get", "service.pingone.regionCode"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("no profile \"staging\"") && unknown.stderr.contains("hint:"),
        "{}",
        unknown.stderr
    );
    assert!(h.run(&["config", "add-profile", "bad name"]).stderr.contains("not a valid profile name"));
    assert!(h.run(&["config", "add-profile", "default"]).stderr.contains("already exists"));
}

#[test]
fn the_environment_beats_the_profile_and_list_keys_names_the_variables() {
    let h = Home::new();
    h.ok(&["config", "set", "service.pingone.regionCode=EU"]);
    let r = h.run_with(
        &["-O", "json", "config", "get", "service.pingone.regionCode"],
        &[("SIGNET_SERVICE_PINGONE_REGIONCODE", "SG")],
    );
    assert_eq!(r.json()["value"], "SG");
    assert_eq!(r.json()["source"], "environment (SIGNET_SERVICE_PINGONE_REGIONCODE)");
    let d = h.ok(&["-O", "json", "config", "get", "auth.storage.type"]).json();
    assert_eq!((d["value"].as_str(), d["source"].as_str()), (Some("secure_local"), Some("default")));
    let keys = h.ok(&["config", "list-keys"]).stdout;
    assert!(keys.contains("SIGNET_SERVICE_<NAME>_AUTHENTICATION_WORKER_CLIENTID"), "{keys}");
    assert!(keys.contains("SIGNET_AUTH_STORAGE_TYPE"));
    let json = h.ok(&["-O", "json", "config", "list-keys"]).json();
    assert!(json.as_array().unwrap().iter().all(|k| !k["description"].as_str().unwrap().is_empty()));
}

#[test]
fn concurrent_sets_all_land() {
    let h = Home::new();
    h.ok(&["config", "set", "auth.storage.type=file"]);
    let children: Vec<_> = (0..16)
        .map(|i| {
            let mut c = h.command();
            c.args(["config", "set", &format!("service.svc{i}.issuer=https://idp{i}.example")]);
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in children {
        let r = to_run(child.wait_with_output().unwrap());
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    for i in 0..16 {
        assert_eq!(
            h.ok(&["config", "get", &format!("service.svc{i}.issuer")]).stdout.trim(),
            format!("https://idp{i}.example")
        );
    }
    assert_eq!(h.ok(&["config", "get", "auth.storage.type"]).stdout.trim(), "file");
}

#[test]
fn unset_removes_a_key_and_another_file_can_be_chosen() {
    let h = Home::new();
    h.ok(&["config", "set", "service.pingone.regionCode=EU"]);
    h.ok(&["config", "unset", "SERVICE.PINGONE.REGIONCODE"]);
    let gone = h.run(&["config", "get", "service.pingone.regionCode"]);
    assert!(!gone.stdout.contains("EU"), "unset: {}", gone.stdout);
    let unknown = h.run(&["config", "unset", "service.pingone.regionCod"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("did you mean"), "{}", unknown.stderr);

    // --config and SIGNET_CONFIG choose another file; the default one is untouched.
    let other = h.dir.join("elsewhere/signet.toml");
    h.ok(&["--config", other.to_str().unwrap(), "config", "set", "service.pingone.regionCode=AP"]);
    assert_eq!(std::fs::metadata(&other).unwrap().permissions().mode() & 0o777, 0o600);
    let by_env =
        h.run_with(&["config", "get", "service.pingone.regionCode"], &[("SIGNET_CONFIG", other.to_str().unwrap())]);
    assert!(by_env.stdout.contains("AP"), "{}", by_env.stdout);
    assert!(!h.ok(&["config", "get", "service.pingone.regionCode"]).stdout.contains("AP"));
}

#[test]
fn region_codes_map_to_pingone_hosts() {
    for (code, host) in [
        ("NA", "auth.pingone.com"),
        ("EU", "auth.pingone.eu"),
        ("AP", "auth.pingone.asia"),
        ("CA", "auth.pingone.ca"),
        ("AU", "auth.pingone.com.au"),
        ("SG", "auth.pingone.sg"),
    ] {
        let h = Home::new();
        h.ok(&["config", "set", &format!("service.pingone.regionCode={code}")]);
        h.ok(&["config", "set", &format!("service.pingone.endpoint.environmentID={ENV_ID}")]);
        h.ok(&["config", "set", "service.pingone.authentication.type=device_code"]);
        h.ok(&["config", "set", "service.pingone.authentication.deviceCode.clientID=signet-cli"]);
        h.ok(&["config", "set", "auth.storage.type=file"]);
        // Status reads the cache only: nothing leaves this machine.
        let status = h.run(&["-O", "json", "auth", "status"]);
        assert_eq!(status.code, 4, "{}", status.stderr);
        assert_eq!(status.json()["services"][0]["issuer"], format!("https://{host}/{ENV_ID}/as"));
    }
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let h = Home::new();
    let bin = env!("CARGO_BIN_EXE_signet");
    let on_tty = |args: &str| {
        let mut c = h.command();
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &h.dir)
            .env("XDG_CONFIG_HOME", h.dir.join("config"))
            .env("TERM", "xterm");
        let out = std::process::Command::new("script")
            .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
            .envs(c.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(on_tty("config list-profiles").contains("\x1b[1m"), "a terminal gets bold headers");
    assert!(!on_tty("--no-color config list-profiles").contains("\x1b["), "--no-color");
    assert!(!h.ok(&["config", "list-profiles"]).stdout.contains("\x1b["), "a pipe gets none");
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_19_config_set_takes_a_secret_on_stdin_never_as_an_argument() {
    let h = Home::new();
    let key = "service.pingone.authentication.worker.clientSecret";
    // From stdin: the value is never in the process's arguments.
    let r = h.run_async_stdin(&["config", "set", key, "--stdin"], "s3cr3t-from-stdin\n").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("s3cr3t") && r.stdout.contains("********"), "masked: {}", r.stdout);
    assert_eq!(h.ok(&["config", "get", key, "--unmask"]).stdout.trim(), "s3cr3t-from-stdin");
    // Any key, not only secrets; the value is checked as any other.
    let r = h.run_async_stdin(&["config", "set", "service.pingone.regionCode", "--stdin"], "eu\n").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(h.ok(&["config", "get", "service.pingone.regionCode"]).stdout.trim(), "EU");
    let bad = h.run_async_stdin(&["config", "set", "service.pingone.regionCode", "--stdin"], "XX\n").await;
    assert!(bad.code == 1 && bad.stderr.contains("choose one of"), "{}", bad.stderr);

    // On a terminal, the key alone asks for the value without echo.
    let typed = h.run_on_tty(&["config", "set", key], &[(&format!("value of {key}"), "typed-secret")]).await;
    assert_eq!(typed.code, 0, "{}", typed.stdout);
    assert!(!typed.stdout.contains("typed-secret"), "not echoed: {}", typed.stdout);
    assert_eq!(h.ok(&["config", "get", key, "--unmask"]).stdout.trim(), "typed-secret");

    // Refusals: both ways at once, nothing on stdin, more than one line.
    for (args, input, says) in [
        (vec!["config", "set", &format!("{key}=x"), "--stdin"], "y\n", "both after = and on stdin"),
        (vec!["config", "set", key, "--stdin"], "", "stdin holds no value"),
        (vec!["config", "set", key, "--stdin"], "a\nb\n", "more than one line"),
    ] {
        let r = h.run_async_stdin(&args, input).await;
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says) && r.stderr.contains("hint:"), "{args:?}: {}", r.stderr);
    }
    assert_eq!(h.ok(&["config", "get", key, "--unmask"]).stdout.trim(), "typed-secret", "unchanged");

    // A secret given as an argument still works (seed 001's lines), with a note on the way out.
    let arg = h.ok(&["config", "set", &format!("{key}=from-an-argument")]);
    assert!(arg.stderr.contains("--stdin reads it from stdin"), "{}", arg.stderr);
    let plain = h.ok(&["config", "set", "service.pingone.regionCode=NA"]);
    assert!(!plain.stderr.contains("note:"), "only secrets get the note: {}", plain.stderr);
}
