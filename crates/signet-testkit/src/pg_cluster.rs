//! A private PostgreSQL cluster, for tests that stop, crash or promote the
//! database under a running signetd: `initdb` into a directory of its own,
//! a free port on 127.0.0.1, trust authentication, and a streaming replica
//! made with `pg_basebackup -R`. The server runs as `nobody` when the tests
//! run as root (PostgreSQL refuses root), and is stopped and removed on drop.

use std::path::{Path, PathBuf};

use signet_core::crypto::random_id;
use tokio::process::Command;

const MISSING: &str = "PostgreSQL's server binaries (apt-get install postgresql)";

pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl PgCluster {
    /// A new primary, started, that a replica can stream from.
    pub async fn primary() -> PgCluster {
        let cluster = PgCluster::empty();
        let data = cluster.data();
        cluster
            .run(
                cluster
                    .tool("initdb")
                    .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
                    .arg(&data),
            )
            .await;
        cluster.configure();
        cluster.start().await;
        cluster
    }

    /// A streaming replica of `primary` (a base backup with `-R` and a
    /// replication slot of its own), started.
    pub async fn replica_of(primary: &PgCluster) -> PgCluster {
        let cluster = PgCluster::empty();
        let slot = format!("replica_{}", cluster.port);
        let port = primary.port.to_string();
        cluster
            .run(
                cluster
                    .tool("pg_basebackup")
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port,
                        "-U",
                        "postgres",
                        "-c",
                        "fast",
                        "-X",
                        "stream",
                        "-R",
                        "-C",
                        "-S",
                        &slot,
                        "-D",
                    ])
                    .arg(cluster.data()),
            )
            .await;
        cluster.configure();
        cluster.start().await;
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates the database `db` on this cluster.
    pub async fn create_database(&self, db: &str) {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres")).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).await.unwrap();
        conn.close().await.unwrap();
    }

    /// Waits until this replica has replayed all `primary` has written so far.
    pub async fn catch_up_with(&self, primary: &PgCluster) {
        use sqlx::Connection;
        let lsn = |url: String, sql: &'static str| async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let (lsn,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await.unwrap();
            lsn
        };
        let written = lsn(primary.url("postgres"), "SELECT (pg_current_wal_lsn() - '0/0')::int8").await;
        for _ in 0..300 {
            if lsn(self.url("postgres"), "SELECT (pg_last_wal_replay_lsn() - '0/0')::int8").await >= written {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the replica on port {} did not catch up with its primary", self.port);
    }

    pub async fn start(&self) {
        let log = self.dir.join("log");
        self.run(self.tool("pg_ctl").args(["-w", "-t", "60", "-D"]).arg(self.data()).arg("-l").arg(log).arg("start"))
            .await;
    }

    /// Stops the server as a crash would: no checkpoint, every connection cut.
    pub async fn crash(&self) {
        self.run(self.tool("pg_ctl").args(["-w", "-m", "immediate", "-D"]).arg(self.data()).arg("stop")).await;
    }

    /// Promotes a replica to a primary, and waits until it takes writes.
    pub async fn promote(&self) {
        self.run(self.tool("pg_ctl").args(["-w", "-D"]).arg(self.data()).arg("promote")).await;
    }

    fn empty() -> PgCluster {
        let bin = newest_bin_dir();
        let dir = std::env::temp_dir().join(format!("signet-pg-{}", &random_id().unwrap()[..8]));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some((uid, gid)) = unprivileged() {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        PgCluster { port, dir, bin }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Its own port, loopback only, its socket in its directory, and no
    /// fsync: a test's data need not outlive the machine.
    fn configure(&self) {
        use std::io::Write;
        let conf = self.data().join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new().append(true).open(&conf).unwrap();
        writeln!(
            f,
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 60\nwal_level = replica\nmax_wal_senders = 4\nmax_replication_slots = 4",
            self.port,
            self.dir.display()
        )
        .unwrap();
    }

    fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.env("LC_ALL", "C").current_dir(&self.dir);
        if let Some((uid, gid)) = unprivileged() {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    async fn run(&self, cmd: &mut Command) {
        let out = cmd.output().await.unwrap_or_else(|e| panic!("{cmd:?}: {e}; {MISSING}"));
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        assert!(
            out.status.success(),
            "{cmd:?}: {}\n{}\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut cmd = std::process::Command::new(self.bin.join("pg_ctl"));
        cmd.args(["-m", "immediate", "-D"]).arg(self.data()).arg("stop");
        cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        if let Some((uid, gid)) = unprivileged() {
            std::os::unix::process::CommandExt::uid(&mut cmd, uid);
            std::os::unix::process::CommandExt::gid(&mut cmd, gid);
        }
        let _ = cmd.status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/N/bin`.
fn newest_bin_dir() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").unwrap_or_else(|e| panic!("{e}; {MISSING}"));
    versions
        .filter_map(|v| v.ok())
        .filter_map(|v| Some((v.file_name().to_str()?.parse::<u32>().ok()?, v.path().join("bin"))))
        .filter(|(_, bin)| Path::new(bin).join("initdb").exists())
        .max_by_key(|(n, _)| *n)
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| panic!("no initdb under /usr/lib/postgresql; {MISSING}"))
}

/// `nobody`'s uid and gid when the tests run as root.
fn unprivileged() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").ok()?.uid() != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("nobody:"))?;
    let mut fields = line.split(':').skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}
