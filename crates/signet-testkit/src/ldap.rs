//! A private OpenLDAP (Debian's slapd) on loopback for the LDAP scheme's
//! tests: suffix `dc=example,dc=test`, people `alice`/`alicepw`,
//! `bob`/`bobpw`, `carol`/`carolpw`, `mallory`/`mallorypw`, and groups
//! `cn=signet-admins` (alice), `cn=signet-auditors` (bob) and
//! `cn=signet-ops` (carol), under `ou=groups`. With a `TestCa`, it also
//! listens on ldaps:// and takes StartTLS. `bash .ci/install` installs slapd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::tls::TestCa;

pub const SUFFIX: &str = "dc=example,dc=test";
pub const MANAGER: &str = "cn=admin,dc=example,dc=test";
pub const MANAGER_PASSWORD: &str = "adminpw";

pub struct Slapd {
    child: Child,
    /// `ldap://127.0.0.1:PORT`
    pub url: String,
    /// `ldaps://127.0.0.1:PORT`, when started with TLS.
    pub ldaps_url: Option<String>,
    _dir: PathBuf,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn slappasswd(pw: &str) -> String {
    let out = Command::new("slappasswd").args(["-s", pw]).output().expect("slappasswd (apt-get install slapd)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Slapd {
    /// Starts slapd in `dir` (emptied first), as `nobody` when run as root.
    pub async fn start(dir: &Path, tls: Option<&TestCa>) -> Slapd {
        assert!(
            Path::new("/usr/sbin/slapd").exists(),
            "slapd is not installed: run `bash .ci/install` (apt-get install slapd ldap-utils)"
        );
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let d = dir.display();
        let mut conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
"
        );
        if let Some(ca) = tls {
            // slapd reads them as nobody: copies it may read.
            for (from, to) in [(&ca.ca, "ca.pem"), (&ca.cert, "cert.pem"), (&ca.key, "key.pem")] {
                std::fs::copy(from, dir.join(to)).unwrap();
            }
            conf += &format!(
                "TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/cert.pem\nTLSCertificateKeyFile {d}/key.pem\n"
            );
        }
        conf += &format!(
            "database mdb
maxsize 104857600
suffix \"{SUFFIX}\"
rootdn \"{MANAGER}\"
rootpw {}
directory {d}/db
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
",
            slappasswd(MANAGER_PASSWORD)
        );
        std::fs::write(dir.join("slapd.conf"), conf).unwrap();
        let port = free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let mut listen = format!("{url}/");
        let ldaps_url = tls.map(|_| format!("ldaps://127.0.0.1:{}", free_port()));
        if let Some(u) = &ldaps_url {
            listen += &format!(" {u}/");
        }
        let mut cmd = Command::new("/usr/sbin/slapd");
        if running_as_root() {
            Command::new("chown").args(["-R", "nobody", &d.to_string()]).status().unwrap();
            cmd.args(["-u", "nobody"]);
        }
        // -d 0: stay in the foreground, so dropping the handle stops it.
        cmd.args(["-d", "0", "-f"]).arg(dir.join("slapd.conf")).args(["-h", &listen]);
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starting slapd");
        let slapd = Slapd { child, url, ldaps_url, _dir: dir.to_owned() };
        for _ in 0..100 {
            if std::net::TcpStream::connect(slapd.url.trim_start_matches("ldap://")).is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        slapd.add(&seed()).await;
        slapd
    }

    /// Adds LDIF as the manager.
    pub async fn add(&self, ldif: &str) {
        let mut child = tokio::process::Command::new("ldapadd")
            .args(["-x", "-H", &self.url, "-D", MANAGER, "-w", MANAGER_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ldapadd (apt-get install ldap-utils)");
        use tokio::io::AsyncWriteExt;
        child.stdin.take().unwrap().write_all(ldif.as_bytes()).await.unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success(), "ldapadd: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn person(uid: &str, password: &str) -> String {
    format!(
        "dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: Example\nmail: {uid}@example.test\nuserPassword: {}\n\n",
        slappasswd(password)
    )
}

fn group(cn: &str, members: &[&str]) -> String {
    let mut g = format!("dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n");
    for m in members {
        g += &format!("member: uid={m},ou=people,{SUFFIX}\n");
    }
    g + "\n"
}

fn seed() -> String {
    let mut ldif = format!(
        "dn: {SUFFIX}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for (uid, pw) in [("alice", "alicepw"), ("bob", "bobpw"), ("carol", "carolpw"), ("mallory", "mallorypw")] {
        ldif += &person(uid, pw);
    }
    ldif += &group("signet-admins", &["alice"]);
    ldif += &group("signet-auditors", &["bob"]);
    ldif += &group("signet-ops", &["carol"]);
    ldif
}
