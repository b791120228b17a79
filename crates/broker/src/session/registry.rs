//! Client id -> session. The registry only maps; attaching, takeover and expiry are decided by the broker
//! core, which also owns the router the session's subscriptions live in.
//!
//! The lock is a plain mutex held for map operations only, never across `.await`.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tern_codec::ByteString;

use super::Session;

#[derive(Debug, Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<ByteString, Arc<Session>>>,
}

impl SessionRegistry {
    pub fn get(&self, client_id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().get(client_id).cloned()
    }

    /// The session for `client_id`, created by `create` if there is none. Returns whether it existed.
    pub fn get_or_insert_with(
        &self,
        client_id: &ByteString,
        create: impl FnOnce() -> Session,
    ) -> (Arc<Session>, bool) {
        let mut sessions = self.sessions.lock();
        if let Some(existing) = sessions.get(client_id) {
            return (existing.clone(), true);
        }
        let session = Arc::new(create());
        sessions.insert(client_id.clone(), session.clone());
        (session, false)
    }

    /// Replaces whatever session `client_id` had.
    pub fn replace(&self, session: Arc<Session>) -> Option<Arc<Session>> {
        self.sessions.lock().insert(session.client_id.clone(), session)
    }

    /// Removes the session of `client_id` if it is still `session` (a newer one may have replaced it).
    pub fn remove_if_same(&self, session: &Arc<Session>) -> bool {
        let mut sessions = self.sessions.lock();
        match sessions.get(&session.client_id) {
            Some(current) if Arc::ptr_eq(current, session) => {
                sessions.remove(&session.client_id);
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.lock().is_empty()
    }

    /// A snapshot of every session.
    pub fn all(&self) -> Vec<Arc<Session>> {
        self.sessions.lock().values().cloned().collect()
    }
}
