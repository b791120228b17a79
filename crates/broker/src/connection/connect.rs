//! The CONNECT handshake: reading the first packet, checking it, authenticating, attaching the session and
//! answering CONNACK (MQTT 3.1, 3.2).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rand::Rng;
use tern_codec::{
    decode, encode, ByteString, ConnAck, Connect, DecodeError, Limits, Packet, PacketType, Properties,
    ProtocolVersion, ReasonCode,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::auth::{AuthDecision, ConnectInfo};
use crate::broker::{BrokerShared, NEVER_EXPIRES};

/// How long a new network connection may take to send CONNECT.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the handshake did not produce a session.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Answer CONNACK with this reason, then close.
    ConnAck(ProtocolVersion, ReasonCode),
    /// Answer CONNACK with this reason (0x9C/0x9D) and Server Reference (v5 only), then close.
    Redirect(ReasonCode, ByteString),
    /// Close without an answer (malformed, not CONNECT, timeout, network error).
    Close(String),
}

/// Reads the first packet, which must be CONNECT [MQTT-3.1.0-1], adding the bytes read to `bytes_received`.
pub(crate) async fn read_connect<R: AsyncRead + Unpin>(
    reader: &mut R,
    rbuf: &mut BytesMut,
    max_packet_size: u32,
    bytes_received: &std::sync::atomic::AtomicU64,
) -> Result<Connect, Refusal> {
    let limits = Limits { version: ProtocolVersion::V5, max_packet_size };
    loop {
        // The first byte says whether this is CONNECT: refuse anything else (an HTTP request, a stray
        // PUBLISH) at once instead of buffering a frame it announces and waiting for the CONNECT timeout.
        if let Some(&first) = rbuf.first() {
            if first >> 4 != PacketType::Connect as u8 {
                let why = format!("[MQTT-3.1.0-1] first packet type is {}, not CONNECT", first >> 4);
                return Err(Refusal::Close(why));
            }
        }
        match decode(rbuf, &limits) {
            Ok(Some(Packet::Connect(connect))) => return Ok(*connect),
            Ok(Some(other)) => {
                return Err(Refusal::Close(format!(
                    "[MQTT-3.1.0-1] first packet is {:?}, not CONNECT",
                    other.packet_type()
                )))
            }
            Ok(None) => {}
            Err(DecodeError::UnsupportedProtocolVersion(level)) => {
                // [MQTT-3.1.2-2] Answer 0x84 (v5) / return code 1 (3.x), then close.
                let version = if level & 0x7F == 5 { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
                return Err(Refusal::ConnAck(version, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION));
            }
            Err(e) => return Err(Refusal::Close(e.to_string())),
        }
        match super::read::read_some(reader, rbuf).await {
            Ok(0) => return Err(Refusal::Close("closed before CONNECT".into())),
            Ok(n) => crate::stats::Stats::add(bytes_received, n as u64),
            Err(e) => return Err(Refusal::Close(e.to_string())),
        }
    }
}

/// A CONNECT that passed every check, with what the broker decided about it.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub connect: Connect,
    pub client_id: ByteString,
    pub assigned_client_id: bool,
    pub keep_alive: u16,
    /// Keep alive the server imposes (v5 Server Keep Alive), if it differs from the client's.
    pub server_keep_alive: Option<u16>,
    pub session_expiry: u32,
    /// The outcome of enhanced authentication, when CONNECT named a method.
    pub enhanced: Option<super::auth::Authenticated>,
}

/// Checks client id rules, keep-alive limits and credentials.
pub(crate) async fn accept(
    broker: &Arc<BrokerShared>,
    cx: &super::ConnectionContext,
    mut connect: Connect,
    enhanced: Option<super::auth::Authenticated>,
) -> Result<Accepted, Refusal> {
    let v = connect.protocol;
    let security = &broker.config.security;
    let limits = broker.limits.current();
    let refuse = |rc: ReasonCode| Refusal::ConnAck(v, rc);

    if let Some(will) = &connect.will {
        if broker.config.mqtt.validate_utf8_payloads
            && will.properties.payload_format_indicator == Some(true)
            && std::str::from_utf8(&will.payload).is_err()
        {
            // MQTT 5.0 3.1.3.2.3: a will that says UTF-8 and is not: 0x99 Payload format invalid.
            return Err(refuse(ReasonCode::PAYLOAD_FORMAT_INVALID));
        }
        // [MQTT-3.2.2-12], [MQTT-3.2.2-13] A will the server could not publish as asked is refused now, not
        // dropped later. A 3.x client cannot be told why: it is closed without CONNACK, as Mosquitto does.
        // The listener's Maximum QoS, the one CONNACK announces.
        let unsupported = if will.qos.as_u8() > cx.listener.max_qos {
            Some(ReasonCode::QOS_NOT_SUPPORTED)
        } else if will.retain && !limits.retain_available {
            Some(ReasonCode::RETAIN_NOT_SUPPORTED)
        } else {
            None
        };
        if let Some(rc) = unsupported {
            return Err(if v.is_v5() { refuse(rc) } else { Refusal::Close(format!("will refused: {rc}")) });
        }
    }

    let mut assigned_client_id = false;
    let mut client_id = connect.client_id.clone();
    if client_id.is_empty() {
        let allowed = match v {
            // MQTT 3.1 requires 1 to 23 characters.
            ProtocolVersion::V31 => false,
            // [MQTT-3.1.3-8] A zero-byte id needs clean session in 3.1.1.
            ProtocolVersion::V311 => connect.clean_start,
            ProtocolVersion::V5 => true,
        };
        if !allowed || !security.allow_zero_length_clientid {
            return Err(refuse(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID));
        }
        client_id = generate_client_id(&security.auto_id_prefix).into();
        assigned_client_id = true;
    } else if client_id.len() > limits.max_client_id_length {
        broker.stats.limit_hit(crate::stats::LimitKind::ClientIdLength);
        return Err(refuse(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID));
    } else if v == ProtocolVersion::V31 && client_id.len() > 23 {
        // MQTT 3.1 section 3.1: more than 23 characters -> return code 2, identifier rejected.
        return Err(refuse(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID));
    }

    let mut keep_alive = connect.keep_alive;
    let mut server_keep_alive = None;
    if limits.max_keepalive < u16::MAX && (keep_alive == 0 || keep_alive > limits.max_keepalive) {
        if v.is_v5() {
            keep_alive = limits.max_keepalive;
            server_keep_alive = Some(keep_alive);
        } else if keep_alive > limits.max_keepalive {
            // 3.x cannot be told another value: refuse as Mosquitto does.
            return Err(refuse(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID));
        }
    }

    if let Some(authenticated) = &enhanced {
        // The AUTH exchange was the credential check; the mechanism names the user.
        connect.username = authenticated.username.clone();
        connect.password = None;
    } else if cx.listener.identity_as_username.is_some() {
        // The certificate, checked by TLS, is the credential: its identity replaces the user name. No
        // certificate, or a name with NUL or invalid UTF-8: refused as Mosquitto refuses it.
        let Some(identity) = &cx.certificate_username else {
            return Err(refuse(ReasonCode::BAD_USER_NAME_OR_PASSWORD));
        };
        connect.username = Some(identity.as_str().into());
        connect.password = None;
    } else {
        let credentials =
            Credentials { username: connect.username.clone(), password: connect.password.clone() };
        authenticate(cx, &client_id, &credentials).await.map_err(refuse)?;
    }
    if cx.listener.use_username_as_clientid {
        match &connect.username {
            Some(u) => client_id = u.clone(),
            None => return Err(refuse(ReasonCode::NOT_AUTHORIZED)),
        }
    }

    let session_expiry = if v.is_v5() {
        connect.properties.session_expiry_interval.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        NEVER_EXPIRES
    };
    connect.client_id = client_id.clone();
    Ok(Accepted {
        connect,
        client_id,
        assigned_client_id,
        keep_alive,
        server_keep_alive,
        session_expiry,
        enhanced,
    })
}

/// What a client authenticated with, kept to check it again after a reload.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credentials {
    pub username: Option<ByteString>,
    pub password: Option<bytes::Bytes>,
}

/// Asks the listener's authenticator, off the async workers: password hashing is slow on purpose.
pub(crate) async fn authenticate(
    cx: &super::ConnectionContext,
    client_id: &ByteString,
    credentials: &Credentials,
) -> Result<(), ReasonCode> {
    let peer = cx.peer;
    let authenticator = cx.listener.authenticator();
    let username = credentials.username.clone();
    let password = credentials.password.clone();
    let id_for_auth = client_id.clone();
    let decision = tokio::task::spawn_blocking(move || {
        authenticator.authenticate(&ConnectInfo {
            client_id: &id_for_auth,
            username: username.as_deref(),
            password: password.as_deref(),
            peer,
        })
    })
    .await
    .unwrap_or(AuthDecision::Deny(ReasonCode::SERVER_UNAVAILABLE));
    match decision {
        AuthDecision::Allow => Ok(()),
        AuthDecision::Deny(rc) => Err(rc),
    }
}

fn generate_client_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let suffix: String = (0..16).map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)])).collect();
    format!("{prefix}{suffix}")
}

/// The CONNACK for an accepted CONNECT, with the MQTT 5.0 properties that tell the client our limits.
pub(crate) fn connack(
    broker: &BrokerShared,
    limits: &crate::config::LimitsConfig,
    listener: &crate::listener::ListenerContext,
    accepted: &Accepted,
    session_present: bool,
) -> ConnAck {
    let mut properties = Properties::default();
    if accepted.connect.protocol.is_v5() {
        if accepted.assigned_client_id {
            properties.assigned_client_identifier = Some(accepted.client_id.clone());
            // [MQTT-3.2.2-16]
        }
        properties.server_keep_alive = accepted.server_keep_alive;
        properties.receive_maximum = Some(limits.max_inflight_messages.max(1)).filter(|&r| r != u16::MAX);
        if listener.max_qos < 2 {
            properties.maximum_qos = tern_codec::QoS::from_u8(listener.max_qos);
        }
        if !limits.retain_available {
            properties.retain_available = Some(false);
        }
        // Said only when off: absent means available [MQTT-3.2.2.3.11-13].
        let off = |available: bool| (!available).then_some(false);
        properties.wildcard_subscription_available = off(limits.wildcard_subscription_available);
        properties.shared_subscription_available = off(limits.shared_subscription_available);
        properties.subscription_identifier_available = off(limits.subscription_identifiers_available);
        if limits.max_packet_size < tern_codec::Limits::default().max_packet_size {
            properties.maximum_packet_size = Some(limits.max_packet_size);
        }
        if listener.max_topic_alias > 0 {
            properties.topic_alias_maximum = Some(listener.max_topic_alias);
        }
        if let (Some(true), Some(prefix)) = (
            accepted.connect.properties.request_response_information,
            &broker.config.mqtt.response_information_prefix,
        ) {
            // Only when asked for [MQTT-3.1.2-28]: the base of this client's response topics.
            properties.response_information = Some(format!("{prefix}{}", accepted.client_id).into());
        }
        if let Some(enhanced) = &accepted.enhanced {
            // [MQTT-4.12.0-5] The successful CONNACK names the method of CONNECT.
            properties.authentication_method = Some(enhanced.method.clone());
            properties.authentication_data = enhanced.data.clone();
        }
    }
    ConnAck { session_present, reason_code: ReasonCode::SUCCESS, properties }
}

/// Sends a refusing CONNACK and closes.
pub(crate) async fn send_refusal<W: AsyncWrite + Unpin>(
    writer: &mut W,
    version: ProtocolVersion,
    rc: ReasonCode,
    properties: Properties,
) {
    let mut buf = BytesMut::new();
    let ack = ConnAck { session_present: false, reason_code: rc, properties };
    if encode(&Packet::ConnAck(ack), version, &mut buf).is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_all(&buf)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
}
