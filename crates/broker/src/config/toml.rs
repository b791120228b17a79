//! Tern's own configuration format: the [`Config`] model written as TOML.
//!
//! Keys are the model's field names (docs/configuration.md lists them all); unknown keys and values of the
//! wrong type are errors that name the file and line.

use std::path::Path;

use super::{Config, ConfigError, Location};

/// Parses a TOML configuration (without validating it).
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Config, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ConfigError::NotUtf8 {
        at: Location { file: path.to_path_buf(), line: line_of(bytes, e.valid_up_to()) },
    })?;
    ::toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |span| line_of(bytes, span.start));
        ConfigError::Toml { at: Location { file: path.to_path_buf(), line }, message: e.message().to_owned() }
    })
}

/// Writes `config` as TOML that [`parse`] reads back to the same configuration.
pub(crate) fn write(config: &Config) -> Result<String, ConfigError> {
    Ok(::toml::to_string(config)?)
}

/// The 1-based line holding byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes.iter().take(offset).filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::config::{ListenerConfig, Protocol, SecurityConfig, TlsConfig};

    fn error(text: &str) -> (usize, String) {
        match parse(text.as_bytes(), Path::new("tern.toml")) {
            Err(ConfigError::Toml { at, message }) => {
                assert_eq!(at.file, Path::new("tern.toml"));
                (at.line, message)
            }
            other => panic!("expected a TOML error, got {other:?}"),
        }
    }

    fn rich() -> Config {
        let tls = TlsConfig {
            certfile: "/etc/tern/server.pem".into(),
            keyfile: "/etc/tern/server.key".into(),
            cafile: Some("/etc/tern/ca.pem".into()),
            require_certificate: true,
            use_identity_as_username: true,
            tls_version: Some("tlsv1.3".into()),
            ..TlsConfig::default()
        };
        let mut config = Config {
            per_listener_settings: true,
            pid_file: Some("/run/tern.pid".into()),
            ..Config::default()
        };
        config.limits.persistent_client_expiration = Some(Duration::from_secs(86_400));
        config.listeners = vec![
            ListenerConfig {
                port: 8883,
                tls: Some(tls),
                max_qos: Some(1),
                security: Some(SecurityConfig {
                    password_file: Some(PathBuf::from("/etc/tern/passwd")),
                    allow_anonymous: Some(false),
                    ..SecurityConfig::default()
                }),
                ..ListenerConfig::default()
            },
            ListenerConfig {
                port: 0,
                unix_socket: Some("/run/tern.sock".into()),
                protocol: Protocol::Mqtt,
                ..ListenerConfig::default()
            },
            ListenerConfig { port: 9001, protocol: Protocol::Websockets, ..ListenerConfig::default() },
        ];
        config
    }

    #[test]
    fn every_configuration_round_trips_through_toml() {
        for config in [Config::default(), rich()] {
            let text = write(&config).unwrap();
            assert_eq!(parse(text.as_bytes(), Path::new("t.toml")).unwrap(), config, "{text}");
        }
    }

    #[test]
    fn an_empty_file_is_the_default_configuration() {
        assert_eq!(parse(b"", Path::new("t.toml")).unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let (line, message) = error("sys_interval = 5\n\n[limits]\nmax_qos = 1\nmax_qoss = 2\n");
        assert_eq!(line, 5);
        assert!(message.contains("unknown field `max_qoss`"), "{message}");
        let (line, message) =
            error("[[listeners]]\nport = 1883\n\n[[listeners]]\nport = 8883\ncertfile = \"x\"\n");
        assert_eq!(line, 6);
        assert!(message.contains("unknown field `certfile`"), "{message}");
    }

    #[test]
    fn wrongly_typed_values_are_errors_with_their_line() {
        let (line, message) = error("[limits]\nmax_qos = \"two\"\n");
        assert_eq!(line, 2);
        assert!(message.contains("invalid type"), "{message}");
        assert_eq!(error("[[listeners]]\nport = 70000\n").0, 2);
        assert_eq!(error("[[listeners]]\nprotocol = \"mqttsn\"\n").0, 2);
        assert_eq!(error("[log\n").0, 1);
    }

    #[test]
    fn expiration_takes_seconds_or_mosquittos_form() {
        let read = |value: &str| {
            let text = format!("[limits]\npersistent_client_expiration = {value}\n");
            parse(text.as_bytes(), Path::new("t.toml")).map(|c| c.limits.persistent_client_expiration)
        };
        assert_eq!(read("3600").unwrap(), Some(Duration::from_secs(3_600)));
        assert_eq!(read("\"2w\"").unwrap(), Some(Duration::from_secs(14 * 86_400)));
        assert!(read("0").is_err());
        assert!(read("\"2 weeks\"").is_err());
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_at_its_line() {
        match parse(b"sys_interval = 5\nuser = \"\xff\"\n", Path::new("t.toml")) {
            Err(ConfigError::NotUtf8 { at }) => assert_eq!(at.line, 2),
            other => panic!("{other:?}"),
        }
    }
}
