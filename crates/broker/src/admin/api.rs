//! The admin API's handlers: each reads or changes the broker and answers JSON. Payloads are returned to
//! the operator who asks for them but never logged.

use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use base64::Engine;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use tern_codec::{ByteString, Bytes, Publish, QoS, ReasonCode, RetainHandling};

use super::routes::Reply;
use crate::auth::is_reserved_for_publish;
use crate::broker::BrokerShared;
use crate::clients::ConnectedClient;
use crate::message::Message;
use crate::session::{Control, Session, Subscription};
use crate::stats::Stats;

/// `GET /ready`: 503 while shutting down or above the memory high-water mark.
pub fn ready(broker: &BrokerShared) -> Reply {
    if broker.shutdown.is_cancelled() {
        Reply { status: StatusCode::SERVICE_UNAVAILABLE, body: json!({ "status": "shutting_down" }) }
    } else if broker.memory.is_over() {
        Reply { status: StatusCode::SERVICE_UNAVAILABLE, body: json!({ "status": "overloaded" }) }
    } else {
        Reply::ok(json!({ "status": "ready" }))
    }
}

/// `GET /api/v1/broker`.
pub fn broker_info(broker: &BrokerShared) -> Reply {
    let s = &broker.stats;
    Reply::ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": broker.started.elapsed().as_secs(),
        "clients_connected": Stats::get(&s.clients_connected),
        "sessions": broker.sessions.len(),
        "subscriptions": broker.router.subscription_count(),
        "retained_messages": broker.retained.read().len(),
        "overloaded": broker.memory.is_over(),
    }))
}

fn protocol_name(level: u8) -> &'static str {
    match level {
        3 => "MQTT v3.1",
        4 => "MQTT v3.1.1",
        _ => "MQTT v5.0",
    }
}

fn subscription_json(filter: &str, client_id: Option<&str>, s: &Subscription) -> Value {
    let retain_handling = match s.options.retain_handling {
        RetainHandling::SendAtSubscribe => 0,
        RetainHandling::SendAtSubscribeIfNew => 1,
        RetainHandling::DoNotSend => 2,
    };
    let mut v = json!({
        "filter": filter,
        "qos": s.options.qos.as_u8(),
        "no_local": s.options.no_local,
        "retain_as_published": s.options.retain_as_published,
        "retain_handling": retain_handling,
        "subscription_identifier": s.id,
    });
    if let (Some(id), Value::Object(map)) = (client_id, &mut v) {
        map.insert("client_id".into(), json!(id));
    }
    v
}

fn session_figures(session: &Session) -> (usize, usize) {
    let mailbox = session.mailbox.lock();
    (mailbox.len(), mailbox.bytes())
}

fn client_json(c: &ConnectedClient, detail: bool) -> Value {
    let (queued, queued_bytes) = session_figures(&c.session);
    let subscriptions = c.session.state.lock().subscriptions.clone();
    let mut v = json!({
        "client_id": c.client_id.as_ref() as &str,
        "connected": true,
        "address": c.peer.map(|p| p.to_string()),
        "listener_port": c.listener_port,
        "protocol_version": c.protocol.level(),
        "protocol": protocol_name(c.protocol.level()),
        "username": c.username.as_deref(),
        "keep_alive": c.keep_alive,
        "clean_start": c.clean_start,
        "session_expiry_interval": c.session_expiry,
        "connected_since": c.connected_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "inflight": c.inflight(),
        "queued": queued,
        "queued_bytes": queued_bytes,
        "dropped": c.session.dropped(),
        "subscription_count": subscriptions.len(),
    });
    if detail {
        let mut subs: Vec<_> = subscriptions.iter().map(|(f, s)| subscription_json(f, None, s)).collect();
        subs.sort_by(|a, b| a["filter"].as_str().cmp(&b["filter"].as_str()));
        if let Value::Object(map) = &mut v {
            map.insert("subscriptions".into(), Value::Array(subs));
        }
    }
    v
}

fn offline_session_json(session: &Session, detail: bool) -> Value {
    let (queued, queued_bytes) = session_figures(session);
    let state = session.state.lock();
    let mut v = json!({
        "client_id": session.client_id.as_ref() as &str,
        "connected": false,
        "session_expiry_interval": state.expiry_interval,
        "queued": queued,
        "queued_bytes": queued_bytes,
        "dropped": session.dropped(),
        "subscription_count": state.subscriptions.len(),
    });
    if detail {
        let mut subs: Vec<_> =
            state.subscriptions.iter().map(|(f, s)| subscription_json(f, None, s)).collect();
        subs.sort_by(|a, b| a["filter"].as_str().cmp(&b["filter"].as_str()));
        if let Value::Object(map) = &mut v {
            map.insert("subscriptions".into(), Value::Array(subs));
        }
    }
    v
}

/// `GET /api/v1/clients[?include_offline=true]`.
pub fn list_clients(broker: &BrokerShared, include_offline: bool) -> Reply {
    let connected = broker.clients.all();
    let mut out: Vec<Value> = connected.iter().map(|c| client_json(c, false)).collect();
    if include_offline {
        let mut offline: Vec<Arc<Session>> = broker
            .sessions
            .all()
            .into_iter()
            .filter(|s| broker.clients.get(&s.client_id).is_none())
            .collect();
        offline.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        out.extend(offline.iter().map(|s| offline_session_json(s, false)));
    }
    Reply::ok(json!({ "clients": out }))
}

/// `GET /api/v1/clients/{id}`: a connected client, or an offline session.
pub fn get_client(broker: &BrokerShared, client_id: &str) -> Reply {
    if let Some(c) = broker.clients.get(client_id) {
        return Reply::ok(client_json(&c, true));
    }
    match broker.sessions.get(client_id) {
        Some(session) => Reply::ok(offline_session_json(&session, true)),
        None => Reply::error(StatusCode::NOT_FOUND, "no such client"),
    }
}

/// `DELETE /api/v1/clients/{id}`: disconnects the client (v5: DISCONNECT 0x98 Administrative action). Its
/// session stays or ends by its own expiry interval, and its will is sent as on any server disconnect.
pub fn disconnect_client(broker: &BrokerShared, client_id: &str) -> Reply {
    let control = broker
        .sessions
        .get(client_id)
        .and_then(|s| s.state.lock().attached.as_ref().map(|a| a.control.clone()));
    match control {
        Some(control) => match control.send(Control::Kick(ReasonCode::ADMINISTRATIVE_ACTION)) {
            Ok(()) => Reply {
                status: StatusCode::ACCEPTED,
                body: json!({ "client_id": client_id, "disconnecting": true }),
            },
            Err(_) => Reply::error(StatusCode::NOT_FOUND, "client not connected"),
        },
        None => Reply::error(StatusCode::NOT_FOUND, "client not connected"),
    }
}

/// `GET /api/v1/subscriptions`: by exact `filter`, by `client_id`, and/or those a `topic` would reach.
pub fn list_subscriptions(
    broker: &BrokerShared,
    filter: Option<&str>,
    client_id: Option<&str>,
    topic: Option<&str>,
) -> Reply {
    let mut subs = broker.router.list();
    subs.retain(|(f, c, _)| {
        let inner = match tern_codec::topic::parse_shared(f) {
            Some(Ok(shared)) => shared.filter,
            _ => f.as_str(),
        };
        filter.is_none_or(|want| want == f)
            && client_id.is_none_or(|want| want == &**c)
            && topic.is_none_or(|t| tern_codec::topic::matches(inner, t))
    });
    subs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let out: Vec<Value> = subs.iter().map(|(f, c, s)| subscription_json(f, Some(c), s)).collect();
    Reply::ok(json!({ "subscriptions": out }))
}

fn retained_json(topic: &str, m: &Message) -> Value {
    json!({
        "topic": topic,
        "qos": m.qos.as_u8(),
        "size": m.payload.len(),
        "payload": std::str::from_utf8(&m.payload).ok(),
        "payload_base64": base64::engine::general_purpose::STANDARD.encode(&m.payload),
    })
}

/// `GET /api/v1/retained?filter=`.
pub fn list_retained(broker: &BrokerShared, filter: &str) -> Reply {
    if tern_codec::topic::validate_topic_filter(filter).is_err() {
        return Reply::error(StatusCode::BAD_REQUEST, "invalid topic filter");
    }
    let now = Instant::now();
    let mut out = Vec::new();
    broker.retained.read().for_each_match(filter, |topic, m| {
        if !m.is_expired(now) {
            out.push(retained_json(topic, m));
        }
    });
    out.sort_by(|a, b| a["topic"].as_str().cmp(&b["topic"].as_str()));
    Reply::ok(json!({ "retained": out }))
}

/// `GET /api/v1/retained/{topic}`.
pub fn get_retained(broker: &BrokerShared, topic: &str) -> Reply {
    match broker.retained.read().get(topic) {
        Some(m) if !m.is_expired(Instant::now()) => Reply::ok(retained_json(topic, m)),
        _ => Reply::error(StatusCode::NOT_FOUND, "no retained message on this topic"),
    }
}

/// `DELETE /api/v1/retained/{topic}`.
pub fn delete_retained(broker: &BrokerShared, topic: &str) -> Reply {
    match broker.remove_retained(topic) {
        Some(_) => Reply { status: StatusCode::OK, body: json!({ "topic": topic, "deleted": true }) },
        None => Reply::error(StatusCode::NOT_FOUND, "no retained message on this topic"),
    }
}

/// The body of `POST /api/v1/publish`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    topic: String,
    /// UTF-8 payload.
    payload: Option<String>,
    /// Binary payload, base64.
    payload_base64: Option<String>,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    retain: bool,
}

/// `POST /api/v1/publish`: publishes as the broker itself (no client id; ACLs apply to the receivers).
pub fn publish(broker: &BrokerShared, body: &[u8]) -> Reply {
    let request: PublishRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return Reply::error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    if tern_codec::topic::validate_topic_name(&request.topic).is_err()
        || is_reserved_for_publish(&request.topic)
    {
        return Reply::error(StatusCode::BAD_REQUEST, "invalid topic name");
    }
    let Some(qos) = QoS::from_u8(request.qos) else {
        return Reply::error(StatusCode::BAD_REQUEST, "qos must be 0, 1 or 2");
    };
    let payload = match (request.payload, request.payload_base64) {
        (Some(_), Some(_)) => {
            return Reply::error(StatusCode::BAD_REQUEST, "give payload or payload_base64, not both")
        }
        (Some(text), None) => Bytes::from(text),
        (None, Some(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(bytes) => Bytes::from(bytes),
            Err(_) => return Reply::error(StatusCode::BAD_REQUEST, "payload_base64 is not base64"),
        },
        (None, None) => Bytes::new(),
    };
    let topic = ByteString::from(request.topic);
    let publish = Publish { qos, retain: request.retain, ..Publish::new(topic.clone(), payload) };
    let message = Message::from_publish(publish, topic, None, Instant::now());
    let outcome = broker.publish(Arc::new(message));
    Reply::ok(json!({ "delivered": outcome.delivered, "dropped": outcome.dropped }))
}

/// `POST /api/v1/reload`: runs the broker's reload hook; 501 when there is none.
pub async fn reload(broker: &BrokerShared) -> Reply {
    match broker.reload_hook().await {
        None => Reply::error(StatusCode::NOT_IMPLEMENTED, "configuration reload is not available"),
        Some(Ok(result)) => Reply::ok(json!({ "reloaded": true, "result": result })),
        Some(Err(e)) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, format!("reload failed: {e}")),
    }
}
