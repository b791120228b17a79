//! The HTTP listener for operators: Prometheus `/metrics`, health and readiness probes, and the JSON admin
//! API. Off unless an address is given; refused on a non-loopback address without credentials.

use serde::{Deserialize, Serialize};

/// `[http]` in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to listen on, e.g. `127.0.0.1:9883`; `None` (the default) runs no HTTP listener.
    pub listen: Option<String>,
    /// Serve `/metrics`.
    pub metrics: bool,
    /// Serve the admin API under `/api/v1/`.
    pub admin_api: bool,
    /// Bearer token: `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Basic authentication user name and password (both or neither).
    pub username: Option<String>,
    pub password: Option<String>,
    /// Ask `/metrics` for credentials too (by default scrapers need none).
    pub metrics_auth: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: None,
            metrics: true,
            admin_api: true,
            token: None,
            username: None,
            password: None,
            metrics_auth: false,
        }
    }
}

impl HttpConfig {
    /// Whether any credential is configured.
    pub fn has_credentials(&self) -> bool {
        self.token.as_deref().is_some_and(|t| !t.is_empty())
            || (self.username.is_some() && self.password.as_deref().is_some_and(|p| !p.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn basic_credentials_come_in_pairs() {
        let mut config = Config::default();
        config.http.username = Some("ops".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("http.password"), "{err}");
        config.http.password = Some("pw".into());
        assert!(config.validate().is_ok());
        assert!(config.http.has_credentials());
    }
}
