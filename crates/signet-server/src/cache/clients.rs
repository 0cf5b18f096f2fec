//! Applications by client id, kept `CLIENT_TTL` seconds, or until the
//! revocation feed says their subject changed.
//!
//! A secret rotation made on another instance revokes the client's tokens
//! by subject, and that revocation reaches this instance with its next poll
//! of the feed (`REVOCATION_POLL`). An entry remembers the subject's latest
//! revocation it was read under (its `mark`), so an entry read before the
//! rotation is read again once the poll has seen it: the old secret stops
//! on every instance within the revocation window, and no later. A secret
//! that does not match is checked once more against the store (`reread`),
//! so a new secret works everywhere as soon as its rotation is answered.

use signet_core::id::{ClientId, EnvironmentId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use signet_core::clock::UnixTime;
use signet_core::model::Application;
use signet_store::{Store, StoreError};

pub const CLIENT_TTL: i64 = 10;
const MAX_CLIENTS: usize = 10_000;

/// The latest revocation of a subject's tokens known when an entry was read.
pub type Mark = Option<UnixTime>;

#[derive(Clone)]
struct Cached {
    app: Arc<Application>,
    at: UnixTime,
    mark: Mark,
}

/// environment → client id → the application, when it was read and under
/// which mark. Nested, so a lookup by `&str` allocates nothing.
type ClientMap = HashMap<String, HashMap<String, Cached>>;

#[derive(Default)]
pub struct Clients {
    entries: RwLock<ClientMap>,
}

impl Clients {
    /// The application, as cached while it stands (whatever its mark).
    pub async fn get(
        &self,
        store: &Store,
        env: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<Option<Arc<Application>>, StoreError> {
        match self.cached(env, id, now) {
            Some(c) => Ok(Some(c.app)),
            None => self.reread(store, env, id, now, None).await,
        }
    }

    /// The application, as cached while it stands and was read under `mark`.
    pub async fn get_marked(
        &self,
        store: &Store,
        env: &str,
        id: &str,
        now: UnixTime,
        mark: Mark,
    ) -> Result<Option<Arc<Application>>, StoreError> {
        match self.cached(env, id, now).filter(|c| c.mark == mark) {
            Some(c) => Ok(Some(c.app)),
            None => self.reread(store, env, id, now, mark).await,
        }
    }

    fn cached(&self, env: &str, id: &str, now: UnixTime) -> Option<Cached> {
        let c = self.entries.read().ok().and_then(|m| m.get(env)?.get(id).cloned())?;
        (c.at <= now && now - c.at < CLIENT_TTL).then_some(c)
    }

    /// The application as stored now, cached under `mark`.
    pub async fn reread(
        &self,
        store: &Store,
        env: &str,
        id: &str,
        now: UnixTime,
        mark: Mark,
    ) -> Result<Option<Arc<Application>>, StoreError> {
        let Some(app) = store.application(&EnvironmentId::from(env), &ClientId::from(id)).await? else {
            self.forget(env, id);
            return Ok(None);
        };
        let app = Arc::new(app);
        if let Ok(mut m) = self.entries.write() {
            if m.values().map(HashMap::len).sum::<usize>() >= MAX_CLIENTS {
                m.clear();
            }
            let cached = Cached { app: app.clone(), at: now, mark };
            m.entry(env.to_owned()).or_default().insert(id.to_owned(), cached);
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
