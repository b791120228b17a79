//! The connection's side of enhanced authentication (MQTT 5.0 section 4.12): the AUTH exchange between
//! CONNECT and CONNACK, and re-authentication on a live connection. The mechanisms are in
//! [`crate::auth::enhanced`].

use bytes::{Bytes, BytesMut};
use tern_codec::{
    decode, encode, Auth, ByteString, Connect, Limits, Packet, PacketType, Properties, ProtocolVersion,
    ReasonCode,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::connect::Refusal;
use super::{Connection, ConnectionContext, Exit};
use crate::auth::enhanced::{AuthClient, AuthExchange, AuthStep};

/// A client that passed an enhanced authentication exchange.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub method: ByteString,
    /// The user name the mechanism vouches for; authorization uses it.
    pub username: Option<ByteString>,
    /// Authentication Data for the CONNACK.
    pub data: Option<Bytes>,
}

/// An AUTH packet carrying `method` [MQTT-4.12.0-5].
pub(crate) fn auth_packet(reason_code: ReasonCode, method: &ByteString, data: Option<Bytes>) -> Packet {
    let properties = Properties {
        authentication_method: Some(method.clone()),
        authentication_data: data,
        ..Properties::default()
    };
    Packet::Auth(Auth { reason_code, properties })
}

/// Runs the AUTH exchange a CONNECT with an Authentication Method starts, up to the verdict. `Ok(None)`
/// when the CONNECT names no method (nothing to do).
pub(crate) async fn handshake<R, W>(
    reader: &mut R,
    writer: &mut W,
    rbuf: &mut BytesMut,
    cx: &ConnectionContext,
    connect: &Connect,
    max_packet_size: u32,
) -> Result<Option<Authenticated>, Refusal>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Some(method) = connect.properties.authentication_method.clone() else { return Ok(None) };
    let refuse = |rc| Refusal::ConnAck(ProtocolVersion::V5, rc);
    let security = cx.listener.security();
    let Some(mechanism) = security.enhanced.get(&method) else {
        // [MQTT-4.12.0-1] A method we do not support: 0x8C, then close.
        return Err(refuse(ReasonCode::BAD_AUTHENTICATION_METHOD));
    };
    let client =
        AuthClient { client_id: &connect.client_id, username: connect.username.as_deref(), peer: cx.peer };
    let mut exchange = mechanism.start(&client);
    drop(security);
    let mut data = connect.properties.authentication_data.clone();
    let limits = Limits { version: ProtocolVersion::V5, max_packet_size };
    loop {
        match exchange.step(data.as_deref()) {
            AuthStep::Success { username, data } => {
                let username = username.map(ByteString::from).or_else(|| connect.username.clone());
                return Ok(Some(Authenticated { method, username, data }));
            }
            AuthStep::Fail(rc) => return Err(refuse(failure(rc))),
            AuthStep::Continue(challenge) => {
                // [MQTT-4.12.0-2] More is needed: AUTH 0x18 with the method and the challenge.
                let mut buf = BytesMut::new();
                let packet = auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, &method, Some(challenge));
                if encode(&packet, ProtocolVersion::V5, &mut buf).is_err()
                    || writer.write_all(&buf).await.is_err()
                {
                    return Err(Refusal::Close("write failed during authentication".into()));
                }
            }
        }
        let auth = loop {
            match decode(rbuf, &limits) {
                Ok(Some(Packet::Auth(auth))) => break auth,
                // [MQTT-3.1.2-30] Only AUTH or DISCONNECT before CONNACK; DISCONNECT gives up.
                Ok(Some(Packet::Disconnect(_))) => {
                    return Err(Refusal::Close("client gave up authentication".into()))
                }
                Ok(Some(other)) => {
                    tracing::debug!("[MQTT-3.1.2-30] {:?} during authentication", other.packet_type());
                    return Err(refuse(ReasonCode::PROTOCOL_ERROR));
                }
                Ok(None) => {}
                Err(e) => return Err(refuse(e.reason_code())),
            }
            match super::read::read_some(reader, rbuf).await {
                Ok(0) => return Err(Refusal::Close("closed during authentication".into())),
                Ok(_) => {}
                Err(e) => return Err(Refusal::Close(e.to_string())),
            }
        };
        // [MQTT-4.12.0-3] The client answers with 0x18, [MQTT-4.12.0-5] with the same method.
        if auth.reason_code != ReasonCode::CONTINUE_AUTHENTICATION
            || auth.properties.authentication_method.as_ref() != Some(&method)
        {
            return Err(refuse(ReasonCode::PROTOCOL_ERROR));
        }
        data = auth.properties.authentication_data;
    }
}

/// A mechanism's refusal as a CONNACK/DISCONNECT reason: always an error code [MQTT-4.12.0-4].
fn failure(rc: ReasonCode) -> ReasonCode {
    if rc.is_error() {
        rc
    } else {
        ReasonCode::NOT_AUTHORIZED
    }
}

/// A re-authentication in progress on a live connection.
#[derive(Debug)]
pub(crate) struct Reauthentication {
    exchange: Box<dyn AuthExchange>,
}

impl Connection {
    /// An AUTH packet from the client after CONNACK: starts or continues a re-authentication (MQTT 5.0
    /// section 4.12.1). Other packets keep flowing meanwhile.
    pub(super) fn on_auth(&mut self, auth: Auth) -> Result<(), Exit> {
        let Some(method) = self.auth_method.clone() else {
            return Err(Exit::violation(
                ReasonCode::PROTOCOL_ERROR,
                "[MQTT-4.12.0-7] AUTH without an authentication method in CONNECT",
            ));
        };
        if auth.properties.authentication_method.as_ref() != Some(&method) {
            return Err(Exit::violation(
                ReasonCode::PROTOCOL_ERROR,
                "[MQTT-4.12.1-1] re-authentication with another method",
            ));
        }
        let mut exchange = match (auth.reason_code, self.reauth.take()) {
            (ReasonCode::RE_AUTHENTICATE, None) => {
                let security = self.listener.security();
                let Some(mechanism) = security.enhanced.get(&method) else {
                    return Err(Exit::violation(
                        ReasonCode::NOT_AUTHORIZED,
                        "re-authentication: the method is no longer offered",
                    ));
                };
                let client = AuthClient {
                    client_id: &self.client_id,
                    username: self.username.as_deref(),
                    peer: self.peer,
                };
                mechanism.start(&client)
            }
            (ReasonCode::CONTINUE_AUTHENTICATION, Some(r)) => r.exchange,
            _ => {
                return Err(Exit::violation(
                    ReasonCode::PROTOCOL_ERROR,
                    "[MQTT-3.15.2-1] unexpected AUTH reason code",
                ))
            }
        };
        match exchange.step(auth.properties.authentication_data.as_deref()) {
            AuthStep::Continue(challenge) => {
                self.send_packet(&auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, &method, Some(challenge)));
                self.reauth = Some(Reauthentication { exchange });
                Ok(())
            }
            AuthStep::Success { username, data } => {
                let same_user = match (&username, &self.username) {
                    (Some(new), Some(old)) => new == &old[..],
                    (None, _) => true,
                    (Some(_), None) => false,
                };
                if !same_user {
                    // Authorization was decided for the first identity: another one needs a new connection.
                    return Err(Exit::violation(
                        ReasonCode::NOT_AUTHORIZED,
                        "re-authenticated as another user",
                    ));
                }
                self.send_packet(&auth_packet(ReasonCode::SUCCESS, &method, data));
                Ok(())
            }
            // [MQTT-4.12.1-2] A failed re-authentication: DISCONNECT with the reason, close. CONNACK-only codes
            // (0x86 Bad User Name or Password) become 0x87, the DISCONNECT code for it.
            AuthStep::Fail(rc) => {
                let rc = failure(rc);
                let rc =
                    if rc.is_valid_for(PacketType::Disconnect) { rc } else { ReasonCode::NOT_AUTHORIZED };
                Err(Exit::violation(rc, "re-authentication failed"))
            }
        }
    }
}
