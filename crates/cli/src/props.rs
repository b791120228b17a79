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

/// A number as mosquitto's tools read it: C's `atol`, then range-checked.
fn number<T: TryFrom<i64>>(value: &str, name: &str) -> Result<T, String> {
    let n = crate::client_opts::atoi(value);
    T::try_from(n).map_err(|_| format!("Error: Property value ({n}) out of range for property {name}.\n"))
}

/// How libmosquitto's property check names the packet in "Error in ... properties".
pub fn packet_label(cx: PropertyContext) -> &'static str {
    match cx {
        PropertyContext::Connect => "CONNECT",
        PropertyContext::Publish => "PUBLISH",
        PropertyContext::Subscribe => "SUBSCRIBE",
        PropertyContext::Unsubscribe => "UNSUBSCRIBE",
        PropertyContext::Disconnect => "DISCONNECT",
        PropertyContext::Will => "Will",
        _ => "AUTH",
    }
}

/// A value the protocol forbids (a zero Receive Maximum, a flag above 1): mosquitto's tools refuse it
/// before connecting, with MOSQ_ERR_PROTOCOL's message.
fn protocol_error(cx: PropertyContext) -> String {
    format!(
        "Error in {} properties: A network protocol error occurred when communicating with the broker.",
        packet_label(cx)
    )
}

fn duplicate(cx: PropertyContext) -> String {
    format!("Error in {} properties: Duplicate property in property list", packet_label(cx))
}

/// Sets a property that may appear once (in 5.0 only User Property may repeat, 2.2.2.2).
fn once<T>(slot: &mut Option<T>, value: T, cx: PropertyContext) -> Result<(), String> {
    if slot.is_some() {
        return Err(duplicate(cx));
    }
    *slot = Some(value);
    Ok(())
}

/// Sets property `name` to `value` (and `value2` for a user property) in `props`, the properties of a
/// `cx` packet.
pub fn set(
    props: &mut Properties,
    cx: PropertyContext,
    pid: u8,
    name: &str,
    value: &str,
    value2: Option<&str>,
) -> Result<(), String> {
    // A byte holding 0 or 1 [MQTT-3.1.2-28 and the like]; payload-format-indicator is not checked by
    // libmosquitto beyond its range.
    let flag = |v: &str| -> Result<bool, String> {
        let b = number::<u8>(v, name)?;
        if b > 1 && pid != id::PAYLOAD_FORMAT_INDICATOR {
            return Err(protocol_error(cx));
        }
        Ok(b != 0)
    };
    let nonzero_u16 = |v: &str| -> Result<u16, String> {
        match number::<u16>(v, name)? {
            0 => Err(protocol_error(cx)),
            n => Ok(n),
        }
    };
    match pid {
        id::PAYLOAD_FORMAT_INDICATOR => once(&mut props.payload_format_indicator, flag(value)?, cx)?,
        id::MESSAGE_EXPIRY_INTERVAL => once(&mut props.message_expiry_interval, number(value, name)?, cx)?,
        id::CONTENT_TYPE => once(&mut props.content_type, value.into(), cx)?,
        id::RESPONSE_TOPIC => once(&mut props.response_topic, value.into(), cx)?,
        id::CORRELATION_DATA => once(&mut props.correlation_data, value.to_owned().into(), cx)?,
        id::SUBSCRIPTION_IDENTIFIER => {
            if !props.subscription_identifiers.is_empty() {
                return Err(duplicate(cx));
            }
            props.subscription_identifiers.push(number(value, name)?)
        }
        id::SESSION_EXPIRY_INTERVAL => once(&mut props.session_expiry_interval, number(value, name)?, cx)?,
        id::ASSIGNED_CLIENT_IDENTIFIER => once(&mut props.assigned_client_identifier, value.into(), cx)?,
        id::SERVER_KEEP_ALIVE => once(&mut props.server_keep_alive, number(value, name)?, cx)?,
        id::AUTHENTICATION_METHOD => once(&mut props.authentication_method, value.into(), cx)?,
        id::AUTHENTICATION_DATA => once(&mut props.authentication_data, value.to_owned().into(), cx)?,
        id::REQUEST_PROBLEM_INFORMATION => once(&mut props.request_problem_information, flag(value)?, cx)?,
        id::WILL_DELAY_INTERVAL => once(&mut props.will_delay_interval, number(value, name)?, cx)?,
        id::REQUEST_RESPONSE_INFORMATION => once(&mut props.request_response_information, flag(value)?, cx)?,
        id::RESPONSE_INFORMATION => once(&mut props.response_information, value.into(), cx)?,
        id::SERVER_REFERENCE => once(&mut props.server_reference, value.into(), cx)?,
        id::REASON_STRING => once(&mut props.reason_string, value.into(), cx)?,
        id::RECEIVE_MAXIMUM => once(&mut props.receive_maximum, nonzero_u16(value)?, cx)?,
        id::TOPIC_ALIAS_MAXIMUM => once(&mut props.topic_alias_maximum, number(value, name)?, cx)?,
        id::TOPIC_ALIAS => once(&mut props.topic_alias, nonzero_u16(value)?, cx)?,
        id::MAXIMUM_QOS => {
            let q = number::<u8>(value, name)?;
            once(&mut props.maximum_qos, QoS::from_u8(q).ok_or_else(|| protocol_error(cx))?, cx)?
        }
        id::RETAIN_AVAILABLE => once(&mut props.retain_available, flag(value)?, cx)?,
        id::USER_PROPERTY => {
            let v = value2.unwrap_or_default();
            props.user_properties.push((value.into(), v.into()));
        }
        id::MAXIMUM_PACKET_SIZE => match number::<u32>(value, name)? {
            0 => return Err(protocol_error(cx)),
            n => once(&mut props.maximum_packet_size, n, cx)?,
        },
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => {
            once(&mut props.wildcard_subscription_available, flag(value)?, cx)?
        }
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
            once(&mut props.subscription_identifier_available, flag(value)?, cx)?
        }
        id::SHARED_SUBSCRIPTION_AVAILABLE => {
            once(&mut props.shared_subscription_available, flag(value)?, cx)?
        }
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
        set(&mut p, PropertyContext::Publish, pid, "user-property", "k", Some("v")).unwrap();
        assert_eq!(p.user_properties, vec![("k".into(), "v".into())]);
    }

    #[test]
    fn numbers_read_as_atol_then_are_range_checked_as_mosquitto_does() {
        let mut p = Properties::default();
        let cx = PropertyContext::Connect;
        let pid = property_id("receive-maximum").unwrap();
        assert_eq!(
            set(&mut p, cx, pid, "receive-maximum", "70000", None).unwrap_err().trim_end(),
            "Error: Property value (70000) out of range for property receive-maximum."
        );
        // "abc" reads as 0, and a Receive Maximum of 0 is a Protocol Error (3.1.2.11.3).
        assert_eq!(
            set(&mut p, cx, pid, "receive-maximum", "abc", None).unwrap_err(),
            "Error in CONNECT properties: A network protocol error occurred when communicating with the broker."
        );
        set(&mut p, cx, pid, "receive-maximum", "10", None).unwrap();
        assert_eq!(p.receive_maximum, Some(10));
    }

    #[test]
    fn a_property_given_twice_is_a_duplicate_unless_a_user_property() {
        let mut p = Properties::default();
        let cx = PropertyContext::Publish;
        let pid = property_id("correlation-data").unwrap();
        set(&mut p, cx, pid, "correlation-data", "a", None).unwrap();
        assert_eq!(
            set(&mut p, cx, pid, "correlation-data", "b", None).unwrap_err(),
            "Error in PUBLISH properties: Duplicate property in property list"
        );
        let user = property_id("user-property").unwrap();
        set(&mut p, cx, user, "user-property", "k", Some("1")).unwrap();
        set(&mut p, cx, user, "user-property", "k", Some("2")).unwrap();
    }

    #[test]
    fn content_type_is_not_allowed_in_connect() {
        // [MQTT-2.2.2-2] each property is allowed only in some packets.
        let pid = property_id("content-type").unwrap();
        assert!(!allowed(pid, command_context("connect").unwrap()));
        assert!(allowed(pid, command_context("publish").unwrap()));
    }
}
