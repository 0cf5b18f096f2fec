//! The Vault-compatible API's LIST answers, as last built.

use axum::body::Bytes;
use signet_core::mfa::MethodType;

/// Built lists by type, with the generation of the methods they were built from.
#[derive(Default)]
pub struct ListCache(std::sync::Mutex<std::collections::HashMap<Option<MethodType>, (i64, Bytes)>>);

impl ListCache {
    pub fn get(&self, kind: Option<MethodType>, generation: i64) -> Option<Bytes> {
        let cached = self.0.lock().ok()?;
        cached.get(&kind).filter(|(g, _)| *g == generation).map(|(_, b)| b.clone())
    }

    pub fn put(&self, kind: Option<MethodType>, generation: i64, body: Bytes) {
        if let Ok(mut cached) = self.0.lock() {
            cached.insert(kind, (generation, body));
        }
    }
}
