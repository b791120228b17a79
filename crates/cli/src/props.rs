//! `-D COMMAND IDENTIFIER VALUE`: MQTT 5.0 properties given on the command line, named as mosquitto names
//! them (`-D publish content-type text/plain`, `-D connect user-property key value`).

use tern_codec::properties::{id, is_allowed};
use tern_codec::{Properties, PropertyContext, QoS};

/// The packet a `-D` property goes into.
pub fn command_context(command: &str) -> Option<PropertyContext> {
    Some(match command {
        "connect" => PropertyContext::Connect,
        "publish" => PropertyContext::Publish,
        "subscribe" => PropertyContext::Subscribe,
        "unsubscribe" => PropertyContext::Unsubscribe,
        "disconnect" => PropertyContext::Disconnect,
        "will" => PropertyContext::Will,
        "auth" => PropertyContext::Auth,
        _ => return None,
    })
}

/// The property identifier for a mosquitto property name.
pub fn property_id(name: &str) -> Option<u8> {
    Some(match name {
        "payload-format-indicator" => id::PAYLOAD_FORMAT_INDICATOR,
        "message-expiry-interval" => id::MESSAGE_EXPIRY_INTERVAL,
        "content-type" => id::CONTENT_TYPE,
        "response-topic" => id::RESPONSE_TOPIC,
        "correlation-data" => id::CORRELATION_DATA,
        "subscription-identifier" => id::SUBSCRIPTION_IDENTIFIER,
        "session-expiry-interval" => id::SESSION_EXPIRY_INTERVAL,
        "assigned-client-identifier" => id::ASSIGNED_CLIENT_IDENTIFIER,
        "server-keep-alive" => id::SERVER_KEEP_ALIVE,
        "authentication-method" => id::AUTHENTICATION_METHOD,
        "authentication-data" => id::AUTHENTICATION_DATA,
        "request-problem-information" => id::REQUEST_PROBLEM_INFORMATION,
        "will-delay-interval" => id::WILL_DELAY_INTERVAL,
        "request-response-information" => id::REQUEST_RESPONSE_INFORMATION,
        "response-information" => id::RESPONSE_INFORMATION,
        "server-reference" => id::SERVER_REFERENCE,
        "reason-string" => id::REASON_STRING,
        "receive-maximum" => id::RECEIVE_MAXIMUM,
        "topic-alias-maximum" => id::TOPIC_ALIAS_MAXIMUM,
        "topic-alias" => id::TOPIC_ALIAS,
        "maximum-qos" => id::MAXIMUM_QOS,
        "retain-available" => id::RETAIN_AVAILABLE,
        "user-property" => id::USER_PROPERTY,
        "maximum-packet-size" => id::MAXIMUM_PACKET_SIZE,
        "wildcard-subscription-available" => id::WILDCARD_SUBSCRIPTION_AVAILABLE,
        "subscription-identifier-available" => id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        "shared-subscription-available" => id::SHARED_SUBSCRIPTION_AVAILABLE,
        _ => return None,
    })
}

fn number<T: TryFrom<u64>>(value: &str, name: &str) -> Result<T, String> {
    value
        .parse::<u64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("Error: Invalid value '{value}' for property {name}."))
}

/// Sets property `name` to `value` (and `value2` for a user property) in `props`.
pub fn set(
    props: &mut Properties,
    pid: u8,
    name: &str,
    value: &str,
    value2: Option<&str>,
) -> Result<(), String> {
    let flag = |v: &str| number::<u8>(v, name).map(|b| b != 0);
    match pid {
        id::PAYLOAD_FORMAT_INDICATOR => props.payload_format_indicator = Some(flag(value)?),
        id::MESSAGE_EXPIRY_INTERVAL => props.message_expiry_interval = Some(number(value, name)?),
        id::CONTENT_TYPE => props.content_type = Some(value.into()),
        id::RESPONSE_TOPIC => props.response_topic = Some(value.into()),
        id::CORRELATION_DATA => props.correlation_data = Some(value.to_owned().into()),
        id::SUBSCRIPTION_IDENTIFIER => props.subscription_identifiers.push(number(value, name)?),
        id::SESSION_EXPIRY_INTERVAL => props.session_expiry_interval = Some(number(value, name)?),
        id::ASSIGNED_CLIENT_IDENTIFIER => props.assigned_client_identifier = Some(value.into()),
        id::SERVER_KEEP_ALIVE => props.server_keep_alive = Some(number(value, name)?),
        id::AUTHENTICATION_METHOD => props.authentication_method = Some(value.into()),
        id::AUTHENTICATION_DATA => props.authentication_data = Some(value.to_owned().into()),
        id::REQUEST_PROBLEM_INFORMATION => props.request_problem_information = Some(flag(value)?),
        id::WILL_DELAY_INTERVAL => props.will_delay_interval = Some(number(value, name)?),
        id::REQUEST_RESPONSE_INFORMATION => props.request_response_information = Some(flag(value)?),
        id::RESPONSE_INFORMATION => props.response_information = Some(value.into()),
        id::SERVER_REFERENCE => props.server_reference = Some(value.into()),
        id::REASON_STRING => props.reason_string = Some(value.into()),
        id::RECEIVE_MAXIMUM => props.receive_maximum = Some(number(value, name)?),
        id::TOPIC_ALIAS_MAXIMUM => props.topic_alias_maximum = Some(number(value, name)?),
        id::TOPIC_ALIAS => props.topic_alias = Some(number(value, name)?),
        id::MAXIMUM_QOS => {
            props.maximum_qos = Some(
                QoS::from_u8(number(value, name)?)
                    .ok_or_else(|| format!("Error: Invalid value '{value}' for property {name}."))?,
            )
        }
        id::RETAIN_AVAILABLE => props.retain_available = Some(flag(value)?),
        id::USER_PROPERTY => {
            let v = value2.unwrap_or_default();
            props.user_properties.push((value.into(), v.into()));
        }
        id::MAXIMUM_PACKET_SIZE => props.maximum_packet_size = Some(number(value, name)?),
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => props.wildcard_subscription_available = Some(flag(value)?),
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => props.subscription_identifier_available = Some(flag(value)?),
        id::SHARED_SUBSCRIPTION_AVAILABLE => props.shared_subscription_available = Some(flag(value)?),
        _ => return Err(format!("Error: Invalid property identifier '{name}'.")),
    }
    Ok(())
}

/// Whether property `pid` may appear in `cx` [MQTT-2.2.2-2].
pub fn allowed(pid: u8, cx: PropertyContext) -> bool {
    is_allowed(pid, cx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_property_takes_a_name_and_a_value() {
        let mut p = Properties::default();
        let pid = property_id("user-property").unwrap();
        set(&mut p, pid, "user-property", "k", Some("v")).unwrap();
        assert_eq!(p.user_properties, vec![("k".into(), "v".into())]);
    }

    #[test]
    fn numbers_are_range_checked() {
        let mut p = Properties::default();
        let pid = property_id("receive-maximum").unwrap();
        assert!(set(&mut p, pid, "receive-maximum", "70000", None).is_err());
        set(&mut p, pid, "receive-maximum", "10", None).unwrap();
        assert_eq!(p.receive_maximum, Some(10));
    }

    #[test]
    fn content_type_is_not_allowed_in_connect() {
        // [MQTT-2.2.2-2] each property is allowed only in some packets.
        let pid = property_id("content-type").unwrap();
        assert!(!allowed(pid, command_context("connect").unwrap()));
        assert!(allowed(pid, command_context("publish").unwrap()));
    }
}
