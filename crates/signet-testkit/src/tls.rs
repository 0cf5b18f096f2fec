//! A private test CA and a certificate for 127.0.0.1 signed by it, made with
//! the `openssl` command (Debian's; `bash .ci/install` installs it).

use std::path::{Path, PathBuf};

pub struct TestCa {
    /// The CA certificate a client must trust.
    pub ca: PathBuf,
    /// The leaf certificate for 127.0.0.1 and its key, for the server.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// Writes `ca.pem`, `cert.pem` and `key.pem` (P-256, one day) into `dir`.
    pub async fn create(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("leaf.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
        let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509"][..],
                &p256,
                &["-days", "1", "-subj", "/CN=signet test CA", "-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat(),
            [&["req"][..], &p256, &["-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "leaf.csr"]].concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                "cert.pem",
                "-extfile",
                "leaf.ext",
            ],
        ];
        for args in steps {
            let made = tokio::process::Command::new("openssl").args(&args).current_dir(dir).output().await.unwrap();
            assert!(made.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&made.stderr));
        }
        TestCa { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") }
    }
}
