//! # tern-codec
//!
//! The MQTT 3.1, 3.1.1 and 5.0 wire format: every control packet, every 5.0 property and reason code, in one
//! packet model for all versions (5.0 is the superset; the connection's version gates what is encoded and
//! accepted). Pure: no I/O, no async runtime.
//!
//! ```
//! use bytes::BytesMut;
//! use tern_codec::{decode, encode, Limits, Packet, ProtocolVersion, Publish};
//!
//! let mut buf = BytesMut::new();
//! let publish = Publish::new("home/temp", "23.5");
//! encode(&Packet::Publish(publish.clone()), ProtocolVersion::V311, &mut buf).unwrap();
//! let decoded = decode(&mut buf, &Limits::new(ProtocolVersion::V311)).unwrap();
//! assert_eq!(decoded, Some(Packet::Publish(publish)));
//! ```
//!
//! Decoding is strict: every rule of the spec that a receiver can check from the bytes alone is checked,
//! and each [`DecodeError`] names the rule and maps to the reason code to answer with
//! ([`DecodeError::reason_code`]). Encoding refuses what the receiving decoder would reject
//! ([`EncodeError`]). Rules that need connection state (packet identifiers in use, topic alias maximum,
//! which side sent a packet) are the protocol layer's.
//!
//! Decoding never allocates for bytes that have not arrived: a declared Remaining Length is checked against
//! [`Limits::max_packet_size`] before anything is buffered, and topics and payloads are views of the frame.
//!
//! # Layout
//! - [`packet`]: the packets (CONNECT/CONNACK, PUBLISH, the four acks, SUBSCRIBE/SUBACK/UNSUBSCRIBE/UNSUBACK,
//!   DISCONNECT/AUTH), framing, [`decode`], [`frame_len`] and [`encode`]
//! - [`properties`]: MQTT 5.0 properties and where each is allowed
//! - [`reason`]: reason codes, which packet may carry which, and their 3.x equivalents
//! - [`error`]: [`DecodeError`] (with the rule and reason code of each) and [`EncodeError`]
//! - [`topic`]: topic names, filters, wildcards, `$share`, matching
//! - [`wire`]: integers, variable byte integers, strings
//! - [`qos`], [`version`]: quality of service levels and protocol levels

pub mod error;
pub mod packet;
pub mod properties;
pub mod qos;
pub mod reason;
pub mod topic;
pub mod version;
pub mod wire;

pub use bytes::{Bytes, BytesMut};
pub use bytestring::ByteString;
pub use error::{DecodeError, EncodeError};
pub use packet::{
    decode, encode, frame_len, Ack, AckKind, Auth, ConnAck, Connect, Disconnect, LastWill, Limits, Packet,
    PacketType, Publish, RetainHandling, SubAck, Subscribe, SubscriptionOptions, SubscriptionRequest,
    UnsubAck, Unsubscribe,
};
pub use properties::{Properties, PropertyContext};
pub use qos::QoS;
pub use reason::ReasonCode;
pub use version::ProtocolVersion;
