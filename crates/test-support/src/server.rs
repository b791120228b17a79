//! The broker under test, of either kind: the same test runs against Tern and against Mosquitto, which is
//! how Tern shows it is a drop-in replacement.

use std::path::{Path, PathBuf};

use crate::inprocess::TernBroker;
use crate::mosquitto::Mosquitto;

/// Which broker a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// Tern, in this process.
    Tern,
    /// The Debian `mosquitto` package, as a child process.
    Mosquitto,
}

/// Both kinds, for tests that loop over them.
pub const BROKER_KINDS: [BrokerKind; 2] = [BrokerKind::Tern, BrokerKind::Mosquitto];

#[derive(Debug)]
enum Running {
    Tern(Box<TernBroker>),
    Mosquitto(Mosquitto),
}

/// A running broker of either kind, on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct AnyBroker {
    /// The loopback port it listens on.
    pub port: u16,
    running: Running,
}

impl AnyBroker {
    /// A broker that allows anonymous clients.
    pub fn start(kind: BrokerKind) -> AnyBroker {
        AnyBroker::start_with(kind, "allow_anonymous true\n")
    }

    /// A broker with these mosquitto.conf lines after its `listener` line.
    pub fn start_with(kind: BrokerKind, config: &str) -> AnyBroker {
        match kind {
            BrokerKind::Tern => AnyBroker::from(TernBroker::start_with(config)),
            BrokerKind::Mosquitto => AnyBroker::from(Mosquitto::start_with(config)),
        }
    }

    /// A broker on a given port (e.g. to restart one), retrying while the port is still held.
    pub fn start_on(kind: BrokerKind, port: u16, config: &str) -> AnyBroker {
        match kind {
            BrokerKind::Tern => AnyBroker::from(TernBroker::start_on(port, config)),
            BrokerKind::Mosquitto => AnyBroker::from(Mosquitto::start_on(port, config)),
        }
    }

    pub fn kind(&self) -> BrokerKind {
        match self.running {
            Running::Tern(_) => BrokerKind::Tern,
            Running::Mosquitto(_) => BrokerKind::Mosquitto,
        }
    }

    /// The directory holding the configuration; tests put password files here.
    pub fn dir(&self) -> &Path {
        match &self.running {
            Running::Tern(b) => b.dir(),
            Running::Mosquitto(b) => b.dir(),
        }
    }

    /// A path inside [`AnyBroker::dir`].
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }
}

impl From<TernBroker> for AnyBroker {
    fn from(broker: TernBroker) -> AnyBroker {
        AnyBroker { port: broker.port, running: Running::Tern(Box::new(broker)) }
    }
}

impl From<Mosquitto> for AnyBroker {
    fn from(broker: Mosquitto) -> AnyBroker {
        AnyBroker { port: broker.port, running: Running::Mosquitto(broker) }
    }
}
