//! Request routing: method and path to handler, authentication, and the JSON/text responses.
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/health` | liveness, no credentials needed |
//! | GET | `/ready` | readiness (503 while shutting down or above the memory mark), no credentials |
//! | GET | `/metrics` | Prometheus / OpenMetrics text |
//! | GET | `/api/v1/broker` | version, uptime, counts |
//! | GET | `/api/v1/clients` | connected clients |
//! | GET, DELETE | `/api/v1/clients/{client_id}` | inspect / disconnect one |
//! | GET | `/api/v1/subscriptions?filter=&client_id=&topic=` | subscriptions |
//! | GET | `/api/v1/retained?filter=` | retained messages matching a filter (default `#`) |
//! | GET, DELETE | `/api/v1/retained/{topic}` | one retained message |
//! | POST | `/api/v1/publish` | publish a message |
//! | POST | `/api/v1/reload` | reload the configuration |
//!
//! Path segments and query values are percent-decoded; `+` is kept as `+` (a topic wildcard), not a space.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::{api, auth};
use crate::broker::BrokerShared;

/// Largest request body accepted (a published message included).
pub const MAX_BODY: usize = 1024 * 1024;

/// What a handler answers: a status and a JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn ok(body: serde_json::Value) -> Reply {
        Reply { status: StatusCode::OK, body }
    }

    pub fn error(status: StatusCode, message: impl Into<String>) -> Reply {
        Reply { status, body: json!({ "error": message.into() }) }
    }
}

/// Answers one request.
pub async fn handle(broker: &Arc<BrokerShared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let config = &broker.config.http;
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let method = req.method().clone();

    match path.as_str() {
        "/health" => return json_response(Reply::ok(json!({ "status": "ok" }))),
        "/ready" => return json_response(api::ready(broker)),
        _ => {}
    }
    let is_metrics = path == "/metrics";
    let is_api = path.starts_with("/api/v1/");
    if !(is_metrics && config.metrics || is_api && config.admin_api) {
        return json_response(Reply::error(StatusCode::NOT_FOUND, "no such resource"));
    }
    if (is_api || config.metrics_auth)
        && !auth::authorized(config, req.headers().get(AUTHORIZATION).map(|h| h.as_bytes()))
    {
        let mut response = json_response(Reply::error(StatusCode::UNAUTHORIZED, "credentials required"));
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(auth::challenge(config)));
        return response;
    }
    if is_metrics {
        if method != Method::GET {
            return not_allowed("GET");
        }
        let mut response = Response::new(Full::new(Bytes::from(crate::metrics::render(broker))));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
        return response;
    }

    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return json_response(Reply::error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))
        }
    };
    let rest = &path["/api/v1/".len()..];
    let (resource, tail) = rest.split_once('/').map_or((rest, None), |(r, t)| (r, Some(t)));
    let tail = match tail.map(percent_decode).transpose() {
        Ok(t) => t,
        Err(reply) => return json_response(reply),
    };
    let params = match parse_query(&query) {
        Ok(p) => p,
        Err(reply) => return json_response(reply),
    };
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    let reply = match (resource, tail.as_deref(), &method) {
        ("broker", None, &Method::GET) => api::broker_info(broker),
        ("clients", None, &Method::GET) => {
            api::list_clients(broker, param("include_offline") == Some("true"))
        }
        ("clients", Some(id), &Method::GET) if !id.is_empty() => api::get_client(broker, id),
        ("clients", Some(id), &Method::DELETE) if !id.is_empty() => api::disconnect_client(broker, id),
        ("subscriptions", None, &Method::GET) => {
            api::list_subscriptions(broker, param("filter"), param("client_id"), param("topic"))
        }
        ("retained", None, &Method::GET) => api::list_retained(broker, param("filter").unwrap_or("#")),
        ("retained", Some(topic), &Method::GET) if !topic.is_empty() => api::get_retained(broker, topic),
        ("retained", Some(topic), &Method::DELETE) if !topic.is_empty() => {
            api::delete_retained(broker, topic)
        }
        ("publish", None, &Method::POST) => api::publish(broker, &body),
        ("reload", None, &Method::POST) => api::reload(broker).await,
        ("broker" | "clients" | "subscriptions" | "retained", _, _) if tail.is_none() => {
            return not_allowed("GET")
        }
        ("clients" | "retained", Some(_), _) => return not_allowed("GET, DELETE"),
        ("publish" | "reload", None, _) => return not_allowed("POST"),
        _ => Reply::error(StatusCode::NOT_FOUND, "no such resource"),
    };
    json_response(reply)
}

fn json_response(reply: Reply) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&reply.body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = reply.status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = json_response(Reply::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// Decodes `%XX` escapes; the result must be UTF-8.
pub fn percent_decode(s: &str) -> Result<String, Reply> {
    let bad = || Reply::error(StatusCode::BAD_REQUEST, "invalid percent-encoding");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

fn parse_query(query: &str) -> Result<Vec<(String, String)>, Reply> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_plus_and_decodes_escapes() {
        assert_eq!(percent_decode("a/%2B/%23").unwrap(), "a/+/#");
        assert_eq!(percent_decode("a/+/b").unwrap(), "a/+/b");
        assert_eq!(percent_decode("%24SYS%2Fbroker").unwrap(), "$SYS/broker");
        assert_eq!(percent_decode("%E2%9C%93").unwrap(), "\u{2713}");
        assert!(percent_decode("%2").is_err());
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%FF").is_err());
    }

    #[test]
    fn queries_split_into_decoded_pairs() {
        let q = parse_query("filter=a%2F%23&client_id=c%201&flag").unwrap();
        assert_eq!(
            q,
            vec![
                ("filter".into(), "a/#".into()),
                ("client_id".into(), "c 1".into()),
                ("flag".into(), String::new())
            ]
        );
    }
}
