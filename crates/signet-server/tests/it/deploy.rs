//! The production recipe's files in deploy/: the config example parses with
//! signetd's own parser, the systemd unit verifies with systemd-analyze and
//! keeps its hardening, and the HAProxy configuration passes `haproxy -c`.

use std::path::{Path, PathBuf};
use std::process::Command;

use signet_server::config::FileConfig;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(file)
}

/// The path of `tool` (sbin included, where Debian puts haproxy), or a failure with the hint.
pub(crate) fn need(tool: &str, package: &str) -> String {
    let found =
        Command::new("sh").args(["-c", &format!("PATH=$PATH:/usr/sbin:/sbin; command -v {tool}")]).output().unwrap();
    assert!(
        found.status.success(),
        "{tool} is not installed\nhint: bash .ci/install installs it (apt-get install --no-install-recommends {package})"
    );
    String::from_utf8(found.stdout).unwrap().trim().to_owned()
}

#[test]
fn deploy_the_config_example_parses_with_signetds_parser() {
    let c = FileConfig::load(Some(&deploy("signetd.toml"))).unwrap();
    assert_eq!(c.public_url.as_deref(), Some("https://id.example.com"));
    assert!(c.database_url.unwrap().contains("target_session_attrs=read-write"));
    assert!(!c.trusted_proxies.unwrap().is_empty(), "the nodes trust HAProxy's X-Forwarded-For");
    assert_eq!(c.forwarded_header.as_deref(), Some("x-forwarded-for"));
    assert_eq!(c.insecure_http, Some(true));
}

/// `Key=value` lines of the unit, in order (a key may repeat).
fn unit_keys(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("not a Key=value line: {l}"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

#[test]
fn deploy_the_systemd_unit_verifies_and_keeps_its_hardening() {
    let text = std::fs::read_to_string(deploy("signetd.service")).unwrap();
    let keys = unit_keys(&text);
    let has = |k: &str, v: &str| keys.iter().any(|(key, val)| key == k && val == v);
    for (k, v) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("StateDirectory", "signet"),
        ("StateDirectoryMode", "0700"),
        ("CapabilityBoundingSet", ""),
        ("SystemCallFilter", "@system-service"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("KillSignal", "SIGTERM"),
        ("LoadCredential", "signet-kek:/etc/credstore/signet-kek"),
    ] {
        assert!(has(k, v), "signetd.service lacks {k}={v}");
    }
    assert!(keys.iter().any(|(k, _)| k == "TimeoutStopSec"));
    let exec = keys.iter().find(|(k, _)| k == "ExecStart").map(|(_, v)| v.clone()).unwrap();
    assert!(exec.contains("--key-encryption-key-file ${CREDENTIALS_DIRECTORY}/signet-kek"), "{exec}");

    // systemd's own check, on a copy that runs this build's signetd.
    let analyze = need("systemd-analyze", "systemd");
    let dir = crate::cli::temp_dir();
    let unit = dir.join("signetd.service");
    std::fs::write(&unit, text.replace("/usr/local/bin/signetd", env!("CARGO_BIN_EXE_signetd"))).unwrap();
    let out = Command::new(analyze).arg("verify").arg(&unit).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("signetd.service")).collect();
    assert!(out.status.success() && ours.is_empty(), "systemd-analyze verify: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deploy_the_haproxy_config_passes_haproxys_check() {
    let haproxy = need("haproxy", "haproxy");
    let openssl = need("openssl", "openssl");
    let dir = crate::cli::temp_dir();
    let pem = dir.join("site.pem");
    let made = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=id.example.com", "-keyout"])
        .arg(&pem)
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let mut both = std::fs::read(dir.join("cert.pem")).unwrap();
    both.extend(std::fs::read(&pem).unwrap());
    std::fs::write(&pem, both).unwrap();
    let text = std::fs::read_to_string(deploy("haproxy.cfg")).unwrap();
    assert!(text.contains("option forwardfor") && text.contains("option httpchk GET /readyz"));
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, text.replace("/etc/haproxy/certs/id.example.com.pem", pem.to_str().unwrap())).unwrap();
    let out = Command::new(haproxy).arg("-c").arg("-f").arg(&cfg).output().unwrap();
    assert!(
        out.status.success(),
        "haproxy -c: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
