//! The file-based security Mosquitto users configure: `password_file` + `allow_anonymous` for
//! authentication, `acl_file` for authorization, per listener when `per_listener_settings` is on.

use std::sync::Arc;

use tern_codec::ReasonCode;

use super::acl::{Access, AclError, AclFile};
use super::enhanced::EnhancedMethods;
use super::password::{PasswordFile, PasswordFileError};
use super::scram::ScramSha512;
use super::{AllowAll, AuthDecision, Authenticator, Authorizer, ClientInfo, ConnectInfo};
use crate::config::{Config, ListenerConfig};

/// A listener's security as configured.
#[derive(Debug, Clone)]
pub struct Security {
    pub authenticator: Arc<dyn Authenticator>,
    pub authorizer: Arc<dyn Authorizer>,
    /// Enhanced authentication methods offered (MQTT 5.0): SCRAM-SHA-512 when there is a password file.
    pub enhanced: EnhancedMethods,
}

/// A security file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error(transparent)]
    Password(#[from] PasswordFileError),
    #[error(transparent)]
    Acl(#[from] AclError),
}

/// Mosquitto 2's authentication: anonymous clients only if allowed; with a password file, every user name
/// must be in it with the right password; without one, a user name is accepted wherever anonymous clients
/// are (with `allow_anonymous false` and no password file Mosquitto 2.0 refuses every client: there is
/// nothing to check a user name against). Every refusal is Not authorized (3.x: 5, 5.0: 0x87), as
/// Mosquitto answers: client scripts test the exit status `mosquitto_pub` derives from it, and the answer
/// does not tell a wrong password from an unknown user.
#[derive(Debug, Clone)]
pub struct PasswordAuthenticator {
    pub allow_anonymous: bool,
    pub passwords: Option<PasswordFile>,
}

impl Authenticator for PasswordAuthenticator {
    fn authenticate(&self, info: &ConnectInfo<'_>) -> AuthDecision {
        match (info.username, &self.passwords) {
            (None, _) if self.allow_anonymous => AuthDecision::Allow,
            (None, _) => AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED),
            (Some(user), Some(passwords)) => {
                if passwords.authenticate(user, info.password.unwrap_or_default()) {
                    AuthDecision::Allow
                } else {
                    AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED)
                }
            }
            (Some(_), None) if self.allow_anonymous => AuthDecision::Allow,
            (Some(_), None) => AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED),
        }
    }
}

/// Authorization by an ACL file.
#[derive(Debug, Clone)]
pub struct AclAuthorizer {
    pub acl: AclFile,
}

impl Authorizer for AclAuthorizer {
    fn can_publish(&self, client: &ClientInfo<'_>, topic: &str) -> bool {
        self.acl.check(client.client_id, client.username, topic, Access::Write)
    }
    fn can_subscribe(&self, client: &ClientInfo<'_>, filter: &str) -> bool {
        self.acl.check(client.client_id, client.username, filter, Access::Subscribe)
    }
    fn can_receive(&self, client: &ClientInfo<'_>, topic: &str) -> bool {
        self.acl.check(client.client_id, client.username, topic, Access::Read)
    }
}

/// Loads the security files that apply to `listener` (the global ones unless `per_listener_settings`).
pub fn load(config: &Config, listener: &ListenerConfig) -> Result<Security, SecurityError> {
    let security = config.security_for(listener);
    let passwords = security.password_file.as_ref().map(|p| PasswordFile::load(p)).transpose()?;
    let mut enhanced = EnhancedMethods::default();
    if let Some(passwords) = &passwords {
        enhanced.add(Arc::new(ScramSha512::new(passwords.clone())));
    }
    let authenticator =
        Arc::new(PasswordAuthenticator { allow_anonymous: config.allow_anonymous_for(listener), passwords });
    let authorizer: Arc<dyn Authorizer> = match &security.acl_file {
        Some(path) => Arc::new(AclAuthorizer { acl: AclFile::load(path)? }),
        None => Arc::new(AllowAll),
    };
    Ok(Security { authenticator, authorizer, enhanced })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info<'a>(username: Option<&'a str>, password: Option<&'a [u8]>) -> ConnectInfo<'a> {
        ConnectInfo { client_id: "c", username, password, peer: None }
    }

    #[test]
    fn mosquitto_2_anonymous_and_password_rules() {
        let passwords = PasswordFile::parse(
            "alice:$7$101$xWVjKCAyclPUaGHb$CAhL/cXEJRQOJpY+mB5MtYSxsYYvE9d9RNHlXeJ2KZy/VtKMW8AxU3yDk4FtosXl5cOKZnjv93Jfpp8V+hlvPw==\n",
            std::path::Path::new("pw"),
        )
        .unwrap();
        let closed = PasswordAuthenticator { allow_anonymous: false, passwords: Some(passwords.clone()) };
        assert_eq!(closed.authenticate(&info(None, None)), AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED));
        assert_eq!(closed.authenticate(&info(Some("alice"), Some(b"secret"))), AuthDecision::Allow);
        assert_eq!(
            closed.authenticate(&info(Some("alice"), Some(b"wrong"))),
            AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED)
        );
        assert_eq!(
            closed.authenticate(&info(Some("mallory"), Some(b"secret"))),
            AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED)
        );
        let open = PasswordAuthenticator { allow_anonymous: true, passwords: Some(passwords) };
        assert_eq!(open.authenticate(&info(None, None)), AuthDecision::Allow);
        // A user name given must still be right, even where anonymous clients are allowed.
        assert_eq!(
            open.authenticate(&info(Some("alice"), None)),
            AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED)
        );
        let no_file = PasswordAuthenticator { allow_anonymous: false, passwords: None };
        // Mosquitto 2.0.11 refuses both (CONNACK 5): tests/mosquitto_compat.rs checks it against the real one.
        assert_eq!(
            no_file.authenticate(&info(Some("bob"), Some(b"x"))),
            AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED)
        );
        assert_eq!(no_file.authenticate(&info(None, None)), AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED));
    }
}
