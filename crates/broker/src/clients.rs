//! Connected clients as operators see them: who is connected, from where, with which protocol level and
//! keep-alive, since when, and how much is in flight towards them. The admin API and metrics read it; the
//! connection registers itself after CONNACK and leaves when it ends.
//!
//! The map is behind a mutex touched only on connect, disconnect and inspection; the inflight figure is a
//! relaxed atomic each connection updates itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use tern_codec::{ByteString, ProtocolVersion};

use crate::session::Session;

/// One connected client.
#[derive(Debug)]
pub struct ConnectedClient {
    pub client_id: ByteString,
    pub connection_id: u64,
    /// `None` for a Unix socket.
    pub peer: Option<SocketAddr>,
    pub listener_port: u16,
    pub protocol: ProtocolVersion,
    pub username: Option<ByteString>,
    /// The keep-alive in force (the server's if it imposed one).
    pub keep_alive: u16,
    pub clean_start: bool,
    pub session_expiry: u32,
    pub connected_at: SystemTime,
    pub session: Arc<Session>,
    inflight: AtomicUsize,
}

impl ConnectedClient {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client_id: ByteString,
        connection_id: u64,
        peer: Option<SocketAddr>,
        listener_port: u16,
        protocol: ProtocolVersion,
        username: Option<ByteString>,
        keep_alive: u16,
        clean_start: bool,
        session_expiry: u32,
        session: Arc<Session>,
    ) -> Self {
        ConnectedClient {
            client_id,
            connection_id,
            peer,
            listener_port,
            protocol,
            username,
            keep_alive,
            clean_start,
            session_expiry,
            connected_at: SystemTime::now(),
            session,
            inflight: AtomicUsize::new(0),
        }
    }

    /// QoS 1/2 messages sent to the client and not yet acknowledged.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    pub(crate) fn set_inflight(&self, n: usize) {
        self.inflight.store(n, Ordering::Relaxed);
    }
}

/// Client id -> the connection serving it.
#[derive(Debug, Default)]
pub struct ClientDirectory {
    clients: Mutex<HashMap<ByteString, Arc<ConnectedClient>>>,
}

impl ClientDirectory {
    /// Records a new connection; it replaces one it took the session over from.
    pub(crate) fn register(&self, client: Arc<ConnectedClient>) {
        self.clients.lock().insert(client.client_id.clone(), client);
    }

    /// Forgets a connection, unless a newer one for the same client id already replaced it.
    pub(crate) fn unregister(&self, client_id: &str, connection_id: u64) {
        let mut clients = self.clients.lock();
        if clients.get(client_id).is_some_and(|c| c.connection_id == connection_id) {
            clients.remove(client_id);
        }
    }

    pub fn get(&self, client_id: &str) -> Option<Arc<ConnectedClient>> {
        self.clients.lock().get(client_id).cloned()
    }

    /// Every connected client, sorted by client id.
    pub fn all(&self) -> Vec<Arc<ConnectedClient>> {
        let mut all: Vec<_> = self.clients.lock().values().cloned().collect();
        all.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        all
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// QoS 1/2 messages in flight towards all clients.
    pub fn inflight_total(&self) -> usize {
        self.clients.lock().values().map(|c| c.inflight()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::QueueLimits;

    fn client(id: &str, connection_id: u64) -> Arc<ConnectedClient> {
        let limits =
            QueueLimits { max_messages: 1, max_bytes: 0, queue_qos0_offline: false, max_stored: usize::MAX };
        let session = Arc::new(Session::new(id.into(), limits));
        Arc::new(ConnectedClient::new(
            id.into(),
            connection_id,
            None,
            1883,
            ProtocolVersion::V5,
            None,
            60,
            true,
            0,
            session,
        ))
    }

    #[test]
    fn an_old_connection_leaving_does_not_remove_the_one_that_took_over() {
        let dir = ClientDirectory::default();
        dir.register(client("a", 1));
        dir.register(client("a", 2));
        dir.unregister("a", 1);
        assert_eq!(dir.get("a").map(|c| c.connection_id), Some(2));
        dir.unregister("a", 2);
        assert!(dir.is_empty());
    }

    #[test]
    fn inflight_adds_up_over_clients() {
        let dir = ClientDirectory::default();
        let (a, b) = (client("a", 1), client("b", 2));
        a.set_inflight(3);
        b.set_inflight(4);
        dir.register(a);
        dir.register(b);
        assert_eq!(dir.inflight_total(), 7);
        assert_eq!(dir.all().iter().map(|c| c.client_id.to_string()).collect::<Vec<_>>(), ["a", "b"]);
    }
}
