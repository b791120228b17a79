//! What to connect to and how: server address, transport, the CONNECT packet, flow control, reconnect.

use std::time::Duration;

use tern_codec::{ByteString, Bytes, Connect, LastWill, ProtocolVersion, QoS};

use crate::transport::Transport;

/// Automatic reconnection with exponential back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// Delay before the first attempt.
    pub min_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect { min_delay: Duration::from_millis(500), max_delay: Duration::from_secs(30) }
    }
}

/// Options of a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    /// Local address to bind the socket to.
    pub bind_address: Option<String>,
    /// Disable Nagle's algorithm.
    pub nodelay: bool,
    /// The CONNECT packet: protocol version, client id, clean start, keep alive, credentials, will,
    /// and MQTT 5.0 properties.
    pub connect: Connect,
    /// Time allowed for the transport and the CONNECT/CONNACK exchange.
    pub connect_timeout: Duration,
    /// Most outgoing QoS 1/2 messages in flight; the server's Receive Maximum lowers it.
    pub max_inflight: u16,
    /// Largest packet accepted from the server.
    pub max_packet_size: u32,
    /// Topic aliases the client sets on its own PUBLISH packets (MQTT 5.0), at most the server's Topic Alias
    /// Maximum: repeated topics then travel as a two-byte number. 0 (the default) sends topic names only.
    pub outbound_topic_aliases: u16,
    /// Capacity of the event channel; a full channel stops reading from the socket (backpressure).
    pub event_capacity: usize,
    /// Reconnect after the connection is lost, or `None` to end the event loop.
    pub reconnect: Option<Reconnect>,
    /// Hold an incoming QoS 2 message until its PUBREL, as libmosquitto does, instead of delivering it at
    /// once: an application that stops after a message has then finished its exchange. Messages of
    /// different QoS may then reach the application in another order than they were sent.
    pub deliver_qos2_at_pubrel: bool,
}

impl ConnectOptions {
    /// Options for `host:port` over TCP with MQTT 3.1.1, clean session, 60 s keep-alive and an empty client
    /// id (the server assigns one).
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ConnectOptions {
            host: host.into(),
            port,
            transport: Transport::Tcp,
            bind_address: None,
            nodelay: false,
            connect: Connect::default(),
            connect_timeout: Duration::from_secs(30),
            max_inflight: 20,
            max_packet_size: 268_435_460,
            outbound_topic_aliases: 0,
            event_capacity: 1024,
            reconnect: None,
            deliver_qos2_at_pubrel: false,
        }
    }

    pub fn client_id(mut self, id: impl Into<ByteString>) -> Self {
        self.connect.client_id = id.into();
        self
    }

    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.connect.protocol = version;
        self
    }

    /// Clean Session (3.x) / Clean Start (5.0).
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.connect.clean_start = clean;
        self
    }

    /// Keep alive in seconds; 0 turns it off.
    pub fn keep_alive(mut self, secs: u16) -> Self {
        self.connect.keep_alive = secs;
        self
    }

    /// MQTT 5.0 Session Expiry Interval, seconds.
    pub fn session_expiry(mut self, secs: u32) -> Self {
        self.connect.properties.session_expiry_interval = Some(secs);
        self
    }

    pub fn credentials(mut self, username: impl Into<ByteString>, password: impl Into<Bytes>) -> Self {
        self.connect.username = Some(username.into());
        self.connect.password = Some(password.into());
        self
    }

    /// The will, published by the server if the connection ends without DISCONNECT.
    pub fn will(
        mut self,
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Self {
        self.connect.will = Some(LastWill {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
            properties: Default::default(),
        });
        self
    }

    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    pub fn reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = Some(reconnect);
        self
    }

    /// MQTT 5.0 Topic Alias Maximum announced in CONNECT: the server may then send up to `n` topic aliases,
    /// which the client resolves; messages always reach the application with their topic name.
    pub fn topic_alias_maximum(mut self, n: u16) -> Self {
        self.connect.properties.topic_alias_maximum = Some(n);
        self
    }

    /// Lets the client set up to `n` topic aliases on the messages it publishes (MQTT 5.0), within the
    /// server's Topic Alias Maximum. Messages then must not carry a topic alias of their own.
    pub fn outbound_topic_aliases(mut self, n: u16) -> Self {
        self.outbound_topic_aliases = n;
        self
    }

    pub fn max_inflight(mut self, n: u16) -> Self {
        self.max_inflight = n.max(1);
        self
    }
}
