//! Applications by client id, kept `CLIENT_TTL` seconds.

use signet_core::id::{ClientId, EnvironmentId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use signet_core::clock::UnixTime;
use signet_core::model::Application;
use signet_store::{Store, StoreError};

pub const CLIENT_TTL: i64 = 10;
const MAX_CLIENTS: usize = 10_000;

/// environment → client id → the application and when it was read. Nested, so
/// a lookup by `&str` allocates nothing.
type ClientMap = HashMap<String, HashMap<String, (Arc<Application>, UnixTime)>>;

#[derive(Default)]
pub struct Clients {
    entries: RwLock<ClientMap>,
}

impl Clients {
    pub async fn get(
        &self,
        store: &Store,
        env: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<Option<Arc<Application>>, StoreError> {
        if let Some((app, at)) = self.entries.read().ok().and_then(|m| m.get(env)?.get(id).cloned())
            && now - at < CLIENT_TTL
        {
            return Ok(Some(app));
        }
        let Some(app) = store.application(&EnvironmentId::from(env), &ClientId::from(id)).await? else {
            self.forget(env, id);
            return Ok(None);
        };
        let app = Arc::new(app);
        if let Ok(mut m) = self.entries.write() {
            if m.values().map(HashMap::len).sum::<usize>() >= MAX_CLIENTS {
                m.clear();
            }
            m.entry(env.to_owned()).or_default().insert(id.to_owned(), (app.clone(), now));
        }
        Ok(Some(app))
    }

    /// Drops every cached application, after an import on this instance.
    pub fn clear(&self) {
        if let Ok(mut m) = self.entries.write() {
            m.clear();
        }
    }

    pub fn forget(&self, env: &str, id: &str) {
        if let Ok(mut m) = self.entries.write()
            && let Some(e) = m.get_mut(env)
        {
            e.remove(id);
        }
    }
}
