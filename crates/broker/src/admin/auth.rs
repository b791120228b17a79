//! Who may use the HTTP listener: a bearer token (`Authorization: Bearer TOKEN`) or basic authentication
//! (`Authorization: Basic base64(user:password)`), compared in constant time. Without any credential
//! configured the listener is open, which [`super::bind`] allows on loopback only. Credentials are never
//! logged.

use base64::Engine;
use subtle::ConstantTimeEq;

use crate::config::HttpConfig;

/// Whether a request with this `Authorization` header may proceed.
pub fn authorized(config: &HttpConfig, header: Option<&[u8]>) -> bool {
    if !config.has_credentials() {
        return true;
    }
    let Some(header) = header.and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return config
            .token
            .as_deref()
            .is_some_and(|t| !t.is_empty() && same(t.as_bytes(), value.as_bytes()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let (Some(user), Some(password)) = (&config.username, &config.password) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(value) else {
            return false;
        };
        let Some(split) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        // Both halves are always compared, so timing does not tell which one was wrong.
        let user_ok = same(user.as_bytes(), &decoded[..split]);
        let password_ok = same(password.as_bytes(), &decoded[split + 1..]);
        return user_ok & password_ok;
    }
    false
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The `WWW-Authenticate` challenge for a 401.
pub fn challenge(config: &HttpConfig) -> &'static str {
    if config.token.is_some() {
        "Bearer realm=\"tern\""
    } else {
        "Basic realm=\"tern\""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn without_credentials_configured_everything_is_allowed() {
        assert!(authorized(&HttpConfig::default(), None));
    }

    #[test]
    fn a_bearer_token_must_match_exactly() {
        let config = HttpConfig { token: Some("s3cret".into()), ..HttpConfig::default() };
        assert!(authorized(&config, Some(b"Bearer s3cret")));
        assert!(authorized(&config, Some(b"bearer s3cret")));
        assert!(!authorized(&config, Some(b"Bearer s3cre")));
        assert!(!authorized(&config, Some(b"Bearer s3cretx")));
        assert!(!authorized(&config, None));
        assert!(!authorized(&config, Some(basic("s3cret", "s3cret").as_bytes())));
    }

    #[test]
    fn basic_needs_both_user_and_password() {
        let config = HttpConfig {
            username: Some("ops".into()),
            password: Some("pw:1".into()),
            ..HttpConfig::default()
        };
        assert!(authorized(&config, Some(basic("ops", "pw:1").as_bytes())));
        assert!(!authorized(&config, Some(basic("ops", "pw").as_bytes())));
        assert!(!authorized(&config, Some(basic("op", "pw:1").as_bytes())));
        assert!(!authorized(&config, Some(b"Basic !!notbase64")));
        assert!(!authorized(&config, Some(b"Bearer pw:1")));
    }

    #[test]
    fn an_empty_token_is_no_credential() {
        let config = HttpConfig { token: Some(String::new()), ..HttpConfig::default() };
        assert!(!config.has_credentials());
    }
}
