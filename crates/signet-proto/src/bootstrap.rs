//! The shape of `DATA_DIR/bootstrap.json`, written once on first start.

use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct BootstrapFile {
    pub issuer: String,
    pub environment_id: String,
    pub admin: BootstrapAdmin,
    pub cli_client_id: String,
    pub worker: BootstrapWorker,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct BootstrapAdmin {
    pub username: String,
    pub password: String,
    pub totp_secret: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct BootstrapWorker {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for BootstrapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapFile")
            .field("issuer", &self.issuer)
            .field("environment_id", &self.environment_id)
            .field("admin", &self.admin.username)
            .field("worker", &self.worker.client_id)
            .finish_non_exhaustive()
    }
}
