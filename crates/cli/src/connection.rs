//! Connecting for `tern pub`, `tern sub` and `tern rr`: the CONNACK refusal and network error messages and
//! exit codes of mosquitto's tools, and `-d` packet logging.

use std::time::Duration;

use tern_client::{
    Client, ConnAck, ConnectError, Events, Properties, ProtocolVersion, ReasonCode, Reconnect,
};

use crate::client_opts::{ClientConfig, Tool};

/// mosquitto_connack_string: the MQTT 3.x CONNACK return codes.
pub fn connack_string(code: u8) -> &'static str {
    match code {
        0 => "Connection Accepted.",
        1 => "Connection Refused: unacceptable protocol version.",
        2 => "Connection Refused: identifier rejected.",
        3 => "Connection Refused: broker unavailable.",
        4 => "Connection Refused: bad user name or password.",
        5 => "Connection Refused: not authorised.",
        _ => "Connection Refused: unknown reason.",
    }
}

/// The "Connection error: ..." line for a refused CONNECT, and the exit status (the CONNACK code).
pub fn refusal(code: ReasonCode, version: ProtocolVersion) -> (String, i32) {
    if version.is_v5() {
        let name = code.name().unwrap_or("Unknown reason");
        let line = if code == ReasonCode::UNSUPPORTED_PROTOCOL_VERSION {
            format!("Connection error: {name}. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.")
        } else {
            format!("Connection error: {name}")
        };
        (line, i32::from(code.0))
    } else {
        let v3 = code.to_v3_connack();
        (format!("Connection error: {}", connack_string(v3)), i32::from(v3))
    }
}

/// An OS error as C's strerror prints it (without Rust's " (os error N)").
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Prints to stderr unless `--quiet`.
pub fn err_print(cfg: &ClientConfig, line: &str) {
    if !cfg.quiet {
        eprintln!("{line}");
    }
}

/// Sends `-d` packet logs to stdout, one line each, as mosquitto's clients print them.
pub fn init_debug(cfg: &ClientConfig) {
    if cfg.debug {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("tern_client::packets=debug"))
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_writer(std::io::stdout)
            .try_init();
    }
}

/// Connects, or prints why not and returns the exit status. With `reconnect`, a lost connection is
/// reconnected (as libmosquitto's loop does for mosquitto_sub).
pub async fn connect(cfg: &ClientConfig, reconnect: bool) -> Result<(Client, Events, ConnAck), i32> {
    init_debug(cfg);
    if let Some(line) = cfg.tls_setup_error() {
        err_print(cfg, line);
        return Err(1);
    }
    if !cfg.version.is_v5() && cfg.connect_props != Properties::default() {
        // libmosquitto refuses CONNECT properties on MQTT 3.x (a -V after -D) before connecting.
        err_print(cfg, "Unable to connect (This feature is not supported.).");
        return Err(1);
    }
    let mut options = cfg.connect_options();
    if reconnect {
        options.reconnect =
            Some(Reconnect { min_delay: Duration::from_secs(1), max_delay: Duration::from_secs(30) });
    }
    match Client::connect(options).await {
        Ok(c) => Ok(c),
        Err(ConnectError::Refused { connack, version }) => {
            let (line, code) = refusal(connack.reason_code, version);
            err_print(cfg, &line);
            if cfg.tool == Tool::Pub {
                // mosquitto_pub's main loop then reports the error it ended with.
                err_print(
                    cfg,
                    if version.is_v5() {
                        "Error: A network protocol error occurred when communicating with the broker."
                    } else {
                        "Error: The connection was refused."
                    },
                );
            }
            Err(code)
        }
        // What OpenSSL reports of a failed handshake, or of TLS settings it only reads when connecting
        // (a CA directory, the contents of the files), mosquitto's clients sum up in one line.
        Err(e @ (ConnectError::Tls(_) | ConnectError::TlsHandshake(_))) => {
            if cfg.debug {
                println!("TLS error: {e}");
            }
            err_print(cfg, "Unable to connect (A TLS error occurred.).");
            Err(1)
        }
        // A TLS alert after the handshake: how a TLS 1.3 server refuses the client certificate.
        Err(e @ ConnectError::TlsSession(_)) => {
            if cfg.debug {
                println!("TLS error: {e}");
            }
            err_print(cfg, "Error: Protocol error");
            Err(1)
        }
        // Not MQTT from the other end (e.g. a TLS listener's alert to a plain client): MOSQ_ERR_PROTOCOL.
        Err(e @ (ConnectError::Protocol(_) | ConnectError::UnexpectedPacket(_))) => {
            if cfg.debug {
                println!("{e}");
            }
            err_print(cfg, "Error: A network protocol error occurred when communicating with the broker.");
            Err(2)
        }
        // Closed before CONNACK: MOSQ_ERR_CONN_LOST.
        Err(ConnectError::Closed) => lost(cfg),
        Err(ConnectError::Io(e))
            if matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe) =>
        {
            lost(cfg)
        }
        Err(ConnectError::Lookup(_)) => {
            err_print(cfg, "Unable to connect (Lookup error.).");
            Err(1)
        }
        Err(ConnectError::Io(e)) => {
            err_print(cfg, &format!("Error: {}", strerror(&e)));
            Err(1)
        }
        Err(e) => {
            err_print(cfg, &format!("Error: {e}"));
            Err(1)
        }
    }
}

fn lost(cfg: &ClientConfig) -> Result<(Client, Events, ConnAck), i32> {
    err_print(cfg, "Error: The connection was lost.");
    Err(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_mosquitto_prints_them() {
        assert_eq!(
            refusal(ReasonCode::NOT_AUTHORIZED, ProtocolVersion::V311),
            ("Connection error: Connection Refused: not authorised.".to_owned(), 5)
        );
        assert_eq!(
            refusal(ReasonCode::NOT_AUTHORIZED, ProtocolVersion::V5),
            ("Connection error: Not authorized".to_owned(), 135)
        );
        assert_eq!(
            refusal(ReasonCode::BAD_USER_NAME_OR_PASSWORD, ProtocolVersion::V31),
            ("Connection error: Connection Refused: bad user name or password.".to_owned(), 4)
        );
    }

    #[test]
    fn strerror_drops_the_os_error_number() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(strerror(&e), "Connection refused");
    }
}
