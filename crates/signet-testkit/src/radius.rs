//! A private FreeRADIUS 3.2 for tests: a self-contained configuration in a
//! temporary directory, its own UDP port on 127.0.0.1, run in the foreground
//! as `nobody` when the tests run as root, and killed on drop.
//!
//! PAP users `alice`/`alicepw` and `bob`/`bobpw` are always there; a test adds
//! its own in users-file syntax.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use signet_core::crypto::random_id;

const FREERADIUS: &str = "/usr/sbin/freeradius";
const MISSING: &str = "install the Debian package `freeradius` \
    (apt-get update && apt-get install -y --no-install-recommends freeradius), as .ci/install does";
/// How long FreeRADIUS may take to start: generous, on two cores shared with compilers.
const PATIENCE: Duration = Duration::from_secs(60);
const READY: &str = "Ready to process requests";

pub struct FreeRadiusOptions {
    /// The shared secret of the client entry for 127.0.0.1.
    pub secret: String,
    /// Users-file entries after alice's and bob's, e.g.
    /// `carol Cleartext-Password := "carolpw"\n    Class := "signet:Admin"`.
    pub users: String,
    /// Whether every reply, Accept and Reject alike, carries a Message-Authenticator.
    pub message_authenticator: bool,
}

impl Default for FreeRadiusOptions {
    fn default() -> Self {
        FreeRadiusOptions { secret: "testing123".into(), users: String::new(), message_authenticator: true }
    }
}

/// A running FreeRADIUS, stopped and its directory removed on drop.
pub struct FreeRadius {
    /// `127.0.0.1:PORT`, as `RadiusServer::address` takes it.
    pub address: String,
    pub secret: String,
    dir: PathBuf,
    child: Child,
}

impl FreeRadius {
    pub async fn start() -> FreeRadius {
        FreeRadius::start_with(FreeRadiusOptions::default()).await
    }

    pub async fn start_with(options: FreeRadiusOptions) -> FreeRadius {
        assert!(Path::new(FREERADIUS).exists(), "{FREERADIUS} is missing: {MISSING}");
        // The port is free when picked but may be taken before FreeRADIUS binds it: try again then.
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let dir = std::env::temp_dir().join(format!("signet-radius-{}", random_id().unwrap()));
            write_config(&dir, port, &options);
            let mut server = FreeRadius {
                address: format!("127.0.0.1:{port}"),
                secret: options.secret.clone(),
                child: spawn(&dir),
                dir,
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(log) => failures.push(log),
            }
        }
        panic!("FreeRADIUS did not start; its logs:\n{}", failures.join("\n---\n"));
    }

    /// What FreeRADIUS has logged so far: each request's outcome, and its errors.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/radius.log")).unwrap_or_default()
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if self.log().contains(READY) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}:\n{}", self.log()));
            }
            if started.elapsed() > PATIENCE {
                return Err(format!("not ready after {PATIENCE:?}:\n{}", self.log()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(dir: &Path) -> Child {
    let mut cmd = Command::new(FREERADIUS);
    // -f: stay in the foreground, so this child is the server and killing it stops it.
    cmd.arg("-f").arg("-d").arg(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    if let Some((uid, gid)) = unprivileged() {
        // std drops the supplementary groups too when root sets a uid.
        cmd.uid(uid).gid(gid);
    }
    cmd.spawn().unwrap_or_else(|e| panic!("starting {FREERADIUS}: {e}; {MISSING}"))
}

/// `nobody`'s uid and gid when the tests run as root, as FreeRADIUS should not.
fn unprivileged() -> Option<(u32, u32)> {
    if std::fs::metadata("/proc/self").ok()?.uid() != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("nobody:"))?;
    let mut fields = line.split(':').skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// FreeRADIUS's configuration: `@DIR@`, `@SECRET@`, `@PORT@` and
/// `@POST_AUTH@` are filled in by `write_config`.
const RADIUSD_CONF: &str = r#"prefix = /usr
exec_prefix = /usr
sysconfdir = @DIR@
localstatedir = @DIR@
sbindir = /usr/sbin
logdir = @DIR@/log
raddbdir = @DIR@
radacctdir = @DIR@/radacct
name = freeradius
confdir = ${raddbdir}
modconfdir = ${confdir}/mods-config
run_dir = @DIR@/run
db_dir = @DIR@
libdir = /usr/lib/freeradius
pidfile = ${run_dir}/${name}.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {
  destination = files
  file = ${logdir}/radius.log
  auth = yes
  auth_badpass = no
  auth_goodpass = no
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = yes
}
thread pool {
  start_servers = 2
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 3
  max_requests_per_server = 0
}
client localhost {
  ipaddr = 127.0.0.1
  secret = "@SECRET@"
  require_message_authenticator = yes
}
modules {
  pap {
    normalise = yes
  }
  files {
    filename = ${confdir}/users
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = @PORT@
  }
  authorize {
    files
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
  @POST_AUTH@
}
"#;

fn write_config(dir: &Path, port: u16, options: &FreeRadiusOptions) {
    for sub in ["log", "run", "radacct"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let d = dir.display();
    let secret = &options.secret;
    // Post-auth runs for Accepts, Post-Auth-Type REJECT for Rejects; FreeRADIUS
    // computes the value of a Message-Authenticator found in the reply.
    let post_auth = if options.message_authenticator {
        "post-auth {\n    update reply {\n      Message-Authenticator := 0x00\n    }\n    \
         Post-Auth-Type REJECT {\n      update reply {\n        Message-Authenticator := 0x00\n      }\n    }\n  }"
    } else {
        ""
    };
    let conf = RADIUSD_CONF
        .replace("@DIR@", &d.to_string())
        .replace("@SECRET@", secret)
        .replace("@PORT@", &port.to_string())
        .replace("@POST_AUTH@", post_auth);
    std::fs::write(dir.join("radiusd.conf"), conf).unwrap();
    let users = format!(
        "alice Cleartext-Password := \"alicepw\"\n\
         bob   Cleartext-Password := \"bobpw\"\n\
         {}\n",
        options.users
    );
    std::fs::write(dir.join("users"), users).unwrap();
    if let Some((uid, gid)) = unprivileged() {
        for sub in ["", "log", "run", "radacct", "radiusd.conf", "users"] {
            let path = dir.join(sub);
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
    }
}
