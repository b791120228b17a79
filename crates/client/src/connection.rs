//! One network connection's share of the protocol state, sans I/O: what the server allowed in its CONNACK,
//! the topic aliases of both directions and keep-alive timing. Topic aliases live as long as the network
//! connection, not the session [MQTT-3.3.2-7], so each reconnection starts this state afresh while the
//! session (`session`) carries on.
//!
//! Topic aliases (MQTT 5.0): the server may replace a topic name by a number in what it sends when the client
//! announced a Topic Alias Maximum in CONNECT; the client can do the same towards the server, up to the
//! server's Topic Alias Maximum, when the application turns it on ([`ConnectOptions::outbound_topic_aliases`]).
//!
//! [`ConnectOptions::outbound_topic_aliases`]: crate::ConnectOptions::outbound_topic_aliases

use std::time::Instant;

use tern_codec::{ConnAck, Packet, ProtocolVersion, Publish};
use tern_proto::{InboundAliases, KeepAlive, OutboundAlias, OutboundAliases, ProtoError};

use crate::error::ClientError;
use crate::options::ConnectOptions;

/// Bytes a Topic Alias property adds to a PUBLISH: identifier and two-byte value.
const TOPIC_ALIAS_PROPERTY_LEN: usize = 3;

/// State of one network connection.
#[derive(Debug)]
pub(crate) struct Connection {
    version: ProtocolVersion,
    /// The server's Maximum Packet Size [MQTT-3.2.2-15].
    max_packet_size: u32,
    /// The server's Topic Alias Maximum: no alias above it may be sent [MQTT-3.3.2-9].
    server_topic_alias_max: u16,
    /// Whether the client chooses aliases itself; the application then sets none.
    automatic_aliases: bool,
    aliases_out: OutboundAliases,
    aliases_in: InboundAliases,
    pub keep_alive: KeepAlive,
}

impl Connection {
    /// The state of a connection the server accepted with `connack`.
    pub fn new(options: &ConnectOptions, connack: &ConnAck, now: Instant) -> Connection {
        let version = options.connect.protocol;
        let v5 = version.is_v5();
        let props = &connack.properties;
        let server_topic_alias_max = if v5 { props.topic_alias_maximum.unwrap_or(0) } else { 0 };
        let announced = if v5 { options.connect.properties.topic_alias_maximum.unwrap_or(0) } else { 0 };
        let outbound = options.outbound_topic_aliases.min(server_topic_alias_max);
        // The server's Server Keep Alive replaces ours [MQTT-3.2.2-21].
        let keep_alive = props.server_keep_alive.unwrap_or(options.connect.keep_alive);
        Connection {
            version,
            max_packet_size: if v5 { props.maximum_packet_size.unwrap_or(u32::MAX) } else { u32::MAX },
            server_topic_alias_max,
            automatic_aliases: v5 && options.outbound_topic_aliases > 0,
            aliases_out: OutboundAliases::new(outbound),
            aliases_in: InboundAliases::new(announced),
            keep_alive: KeepAlive::new(keep_alive, now),
        }
    }

    /// The server's Maximum Packet Size.
    pub fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    fn max_len(&self) -> usize {
        usize::try_from(self.max_packet_size).unwrap_or(usize::MAX)
    }

    /// Refuses a packet larger than the server accepts [MQTT-3.2.2-15].
    pub fn check_size(&self, packet: &Packet) -> Result<(), ClientError> {
        let size = packet.encoded_len(self.version);
        if size > self.max_len() {
            return Err(ClientError::PacketTooLarge { size, max: self.max_packet_size });
        }
        Ok(())
    }

    /// Refuses a topic alias set by the application that the server does not accept [MQTT-3.3.2-9], or that
    /// would clash with the aliases the client chooses itself.
    pub fn check_alias(&self, publish: &Publish) -> Result<(), ClientError> {
        let Some(alias) = publish.properties.topic_alias.filter(|_| self.version.is_v5()) else {
            return Ok(());
        };
        if self.automatic_aliases {
            return Err(ClientError::TopicAlias(format!(
                "topic alias {alias} set on a message while the client chooses topic aliases itself"
            )));
        }
        if alias > self.server_topic_alias_max {
            return Err(ClientError::TopicAlias(
                ProtoError::TopicAliasOutOfRange { alias, max: self.server_topic_alias_max }.to_string(),
            ));
        }
        Ok(())
    }

    /// Gives an outgoing PUBLISH a topic alias when the client chooses them: the topic name and a new alias
    /// the first time, the alias alone after. A PUBLISH that would not fit the server's Maximum Packet Size
    /// with the alias property is sent as it is, so no alias is ever assumed that the server never learnt.
    pub fn outgoing(&mut self, publish: &mut Publish) {
        if !self.automatic_aliases || publish.properties.topic_alias.is_some() || publish.topic.is_empty() {
            return;
        }
        if publish.encoded_len(self.version) + TOPIC_ALIAS_PROPERTY_LEN > self.max_len() {
            return;
        }
        match self.aliases_out.alias_for(&publish.topic) {
            Some(OutboundAlias::Set(alias)) => publish.properties.topic_alias = Some(alias),
            Some(OutboundAlias::Use(alias)) => {
                publish.properties.topic_alias = Some(alias);
                publish.topic = Default::default();
            }
            None => {}
        }
    }

    /// Gives an incoming PUBLISH its topic name (3.3.2.3.4): a topic name with an alias sets the alias, an
    /// empty one with an alias stands for the topic last set. An alias above what the client announced, or
    /// never set on this connection, is a violation (0x94 Topic Alias invalid).
    pub fn incoming(&mut self, publish: &mut Publish) -> Result<(), ProtoError> {
        if self.version.is_v5() {
            publish.topic = self.aliases_in.resolve(&publish.topic, publish.properties.topic_alias)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tern_codec::{ByteString, Properties};

    use super::*;

    fn connack(topic_alias_maximum: Option<u16>, maximum_packet_size: Option<u32>) -> ConnAck {
        ConnAck {
            properties: Properties { topic_alias_maximum, maximum_packet_size, ..Properties::default() },
            ..ConnAck::default()
        }
    }

    fn v5() -> ConnectOptions {
        ConnectOptions::new("localhost", 1883).version(ProtocolVersion::V5)
    }

    fn aliased(topic: &str, alias: u16) -> Publish {
        let mut p = Publish::new(ByteString::from(topic.to_owned()), "23.5");
        p.properties.topic_alias = Some(alias);
        p
    }

    #[test]
    fn outgoing_aliases_set_then_use_within_the_server_maximum_mqtt_3_3_2_9() {
        let mut c = Connection::new(&v5().outbound_topic_aliases(5), &connack(Some(1), None), Instant::now());
        let mut p = Publish::new("home/temp", "23.5");
        c.outgoing(&mut p);
        assert_eq!((&p.topic[..], p.properties.topic_alias), ("home/temp", Some(1)));
        let mut p = Publish::new("home/temp", "23.6");
        c.outgoing(&mut p);
        assert_eq!((&p.topic[..], p.properties.topic_alias), ("", Some(1)));
        // Only one alias allowed by the server: a second topic takes it over.
        let mut p = Publish::new("home/hum", "40");
        c.outgoing(&mut p);
        assert_eq!((&p.topic[..], p.properties.topic_alias), ("home/hum", Some(1)));
    }

    #[test]
    fn no_outgoing_aliases_unless_asked_for_and_allowed() {
        for (options, connack) in [
            (v5(), connack(Some(10), None)),
            (v5().outbound_topic_aliases(5), connack(None, None)),
            (v5().outbound_topic_aliases(5).version(ProtocolVersion::V311), connack(Some(10), None)),
        ] {
            let mut c = Connection::new(&options, &connack, Instant::now());
            for _ in 0..2 {
                let mut p = Publish::new("home/temp", "23.5");
                c.outgoing(&mut p);
                assert_eq!((&p.topic[..], p.properties.topic_alias), ("home/temp", None));
            }
        }
    }

    #[test]
    fn no_alias_is_set_on_a_publish_that_would_then_be_too_large() {
        let plain = Publish::new("home/temp", "23.5");
        let max = plain.encoded_len(ProtocolVersion::V5) as u32 + 2;
        let mut c =
            Connection::new(&v5().outbound_topic_aliases(5), &connack(Some(5), Some(max)), Instant::now());
        let mut p = plain.clone();
        c.outgoing(&mut p);
        assert_eq!(p, plain);
        // A shorter message gets the alias.
        let mut p = Publish::new("home/temp", "2");
        c.outgoing(&mut p);
        assert_eq!(p.properties.topic_alias, Some(1));
    }

    #[test]
    fn application_aliases_are_checked_against_the_server_maximum_mqtt_3_3_2_9() {
        let c = Connection::new(&v5(), &connack(Some(2), None), Instant::now());
        assert!(c.check_alias(&aliased("a", 2)).is_ok());
        let err = c.check_alias(&aliased("a", 3)).unwrap_err();
        assert!(err.to_string().contains("[MQTT-3.3.2-9]"), "{err}");
        let auto = Connection::new(&v5().outbound_topic_aliases(2), &connack(Some(2), None), Instant::now());
        assert!(matches!(auto.check_alias(&aliased("a", 1)), Err(ClientError::TopicAlias(_))));
    }

    #[test]
    fn incoming_aliases_resolve_to_their_topic_up_to_the_announced_maximum() {
        let options = v5().topic_alias_maximum(2);
        let mut c = Connection::new(&options, &connack(None, None), Instant::now());
        let mut first = aliased("home/temp", 2);
        c.incoming(&mut first).unwrap();
        assert_eq!(first.topic, "home/temp");
        let mut next = aliased("", 2);
        c.incoming(&mut next).unwrap();
        assert_eq!(next.topic, "home/temp");
        assert_eq!(c.incoming(&mut aliased("", 1)), Err(ProtoError::TopicAliasUnknown(1)));
        let out_of_range = c.incoming(&mut aliased("x", 3)).unwrap_err();
        assert_eq!(out_of_range.reason_code().0, 0x94);
        // Without an announced maximum every alias is out of range.
        let mut none = Connection::new(&v5(), &connack(None, None), Instant::now());
        assert!(none.incoming(&mut aliased("x", 1)).is_err());
    }

    #[test]
    fn packets_larger_than_the_server_maximum_are_refused_mqtt_3_2_2_15() {
        let p = Packet::Publish(Publish::new("home/temp", "23.5"));
        let size = p.encoded_len(ProtocolVersion::V5);
        let c = Connection::new(&v5(), &connack(None, Some(size as u32)), Instant::now());
        assert!(c.check_size(&p).is_ok());
        let c = Connection::new(&v5(), &connack(None, Some(size as u32 - 1)), Instant::now());
        assert_eq!(c.check_size(&p), Err(ClientError::PacketTooLarge { size, max: size as u32 - 1 }));
    }

    #[test]
    fn server_keep_alive_replaces_the_requested_one_mqtt_3_2_2_21() {
        let mut ack = connack(None, None);
        ack.properties.server_keep_alive = Some(5);
        let c = Connection::new(&v5().keep_alive(60), &ack, Instant::now());
        assert_eq!(c.keep_alive.interval(), Some(std::time::Duration::from_secs(5)));
    }
}
