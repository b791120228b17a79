//! One debug line per packet sent or received, worded as libmosquitto logs them so `tern sub -d` reads like
//! `mosquitto_sub -d`. Emitted as `tracing` events with target `tern_client::packets`.

use std::num::NonZeroU16;

use tern_codec::{ByteString, Packet};

pub(crate) const TARGET: &str = "tern_client::packets";

fn client(id: &ByteString) -> &str {
    if id.is_empty() {
        "(null)"
    } else {
        id
    }
}

/// `number` stands in for the packet identifier of a QoS 0 PUBLISH, which has none.
pub(crate) fn describe_sent(packet: &Packet, number: Option<NonZeroU16>) -> String {
    match packet {
        Packet::Connect(_) => "sending CONNECT".into(),
        Packet::Publish(p) => format!(
            "sending PUBLISH (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
            u8::from(p.dup),
            p.qos.as_u8(),
            u8::from(p.retain),
            p.packet_id.or(number).map_or(0, |i| i.get()),
            p.topic,
            p.payload.len()
        ),
        Packet::PubAck(a) => format!("sending PUBACK (m{}, rc{})", a.packet_id, a.reason_code.0),
        Packet::PubRec(a) => format!("sending PUBREC (m{}, rc{})", a.packet_id, a.reason_code.0),
        Packet::PubRel(a) => format!("sending PUBREL (m{})", a.packet_id),
        Packet::PubComp(a) => format!("sending PUBCOMP (m{})", a.packet_id),
        Packet::Subscribe(s) => {
            let mut line = String::new();
            for (i, f) in s.filters.iter().enumerate() {
                if i > 0 {
                    line.push('\n');
                }
                let o = f.options;
                let flags = (u8::from(o.no_local) << 2)
                    | (u8::from(o.retain_as_published) << 3)
                    | ((o.retain_handling as u8) << 4);
                line.push_str(&format!(
                    "sending SUBSCRIBE (Mid: {}, Topic: {}, QoS: {}, Options: 0x{:02x})",
                    s.packet_id,
                    f.filter,
                    o.qos.as_u8(),
                    flags
                ));
            }
            line
        }
        Packet::Unsubscribe(u) => {
            format!("sending UNSUBSCRIBE (Mid: {}, Topic: {})", u.packet_id, u.filters.join(", "))
        }
        Packet::PingReq => "sending PINGREQ".into(),
        Packet::Disconnect(_) => "sending DISCONNECT".into(),
        other => format!("sending {:?}", other.packet_type()),
    }
}

pub(crate) fn describe_received(packet: &Packet) -> String {
    match packet {
        Packet::ConnAck(c) => format!("received CONNACK ({})", c.reason_code.0),
        Packet::Publish(p) => format!(
            "received PUBLISH (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
            u8::from(p.dup),
            p.qos.as_u8(),
            u8::from(p.retain),
            p.packet_id.map_or(0, |i| i.get()),
            p.topic,
            p.payload.len()
        ),
        Packet::PubAck(a) => format!("received PUBACK (Mid: {}, RC:{})", a.packet_id, a.reason_code.0),
        Packet::PubRec(a) => format!("received PUBREC (Mid: {})", a.packet_id),
        Packet::PubRel(a) => format!("received PUBREL (Mid: {})", a.packet_id),
        Packet::PubComp(a) => format!("received PUBCOMP (Mid: {}, RC:{})", a.packet_id, a.reason_code.0),
        Packet::SubAck(_) => "received SUBACK".into(),
        Packet::UnsubAck(_) => "received UNSUBACK".into(),
        Packet::PingResp => "received PINGRESP".into(),
        Packet::Disconnect(d) => format!("received DISCONNECT ({})", d.reason_code.0),
        other => format!("received {:?}", other.packet_type()),
    }
}

pub(crate) fn trace_sent(id: &ByteString, packet: &Packet, number: Option<NonZeroU16>) {
    if tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        for line in describe_sent(packet, number).lines() {
            tracing::debug!(target: TARGET, "Client {} {}", client(id), line);
        }
    }
}

pub(crate) fn trace_received(id: &ByteString, packet: &Packet) {
    if tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        tracing::debug!(target: TARGET, "Client {} {}", client(id), describe_received(packet));
    }
}
