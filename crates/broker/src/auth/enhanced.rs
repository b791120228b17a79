//! Enhanced authentication (MQTT 5.0 section 4.12): a challenge/response exchange of AUTH packets named by
//! an Authentication Method, instead of (or besides) a password in CONNECT.
//!
//! ```text
//!  CONNECT (method M, data d0) ──► start(M) ─► step(d0) ─┬─ Continue(c1) ──► AUTH 0x18 (M, c1)
//!                                                        │      client AUTH 0x18 (M, d1) ──► step(d1) ...
//!                                                        ├─ Success(s)   ──► CONNACK 0x00 (M, s)
//!                                                        └─ Fail(rc)     ──► CONNACK rc, close
//!  later: client AUTH 0x19 (M, d0) ──► a new exchange, the same steps; Success ──► AUTH 0x00 (M, s),
//!         Fail ──► DISCONNECT rc [MQTT-4.12.1-2]
//! ```
//!
//! A mechanism implements [`EnhancedAuth`]: it is chosen by method name and makes one [`AuthExchange`] per
//! authentication, which keeps that exchange's state. Steps run on the connection's task and must be quick
//! (the built-in SCRAM does a few HMACs per step).

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tern_codec::ReasonCode;

/// Who is authenticating, as the CONNECT says.
#[derive(Debug, Clone, Copy)]
pub struct AuthClient<'a> {
    pub client_id: &'a str,
    /// The User Name of CONNECT, if any.
    pub username: Option<&'a str>,
    pub peer: Option<SocketAddr>,
}

/// What one step of an exchange decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send this Authentication Data in AUTH 0x18 and wait for the client's answer [MQTT-4.12.0-2].
    Continue(Bytes),
    /// Authenticated as `username` (the name authorization uses); `data` goes in the CONNACK (or the AUTH
    /// 0x00 of a re-authentication).
    Success { username: Option<String>, data: Option<Bytes> },
    /// Refused with this reason code (0x80 or above) [MQTT-4.12.0-4].
    Fail(ReasonCode),
}

/// One authentication in progress.
pub trait AuthExchange: Send + Debug {
    /// The client's next Authentication Data (from CONNECT or AUTH); `None` when the packet had none.
    fn step(&mut self, data: Option<&[u8]>) -> AuthStep;
}

/// An authentication mechanism, chosen by the Authentication Method a client names.
pub trait EnhancedAuth: Send + Sync + Debug {
    /// The Authentication Method it answers to, e.g. `SCRAM-SHA-512`.
    fn method(&self) -> &str;
    /// Starts an exchange for `client`.
    fn start(&self, client: &AuthClient<'_>) -> Box<dyn AuthExchange>;
}

/// The mechanisms a listener offers, looked up by method name.
#[derive(Debug, Clone, Default)]
pub struct EnhancedMethods {
    methods: Vec<Arc<dyn EnhancedAuth>>,
}

impl EnhancedMethods {
    pub fn new(methods: Vec<Arc<dyn EnhancedAuth>>) -> Self {
        EnhancedMethods { methods }
    }

    /// Adds a mechanism; it replaces one with the same method name.
    pub fn add(&mut self, method: Arc<dyn EnhancedAuth>) {
        self.methods.retain(|m| m.method() != method.method());
        self.methods.push(method);
    }

    /// The mechanism for `method`, if offered. Method names compare exactly (they are UTF-8 strings).
    pub fn get(&self, method: &str) -> Option<&Arc<dyn EnhancedAuth>> {
        self.methods.iter().find(|m| m.method() == method)
    }

    /// Names of the methods offered.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().map(|m| m.method())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(&'static str);
    #[derive(Debug)]
    struct Never;
    impl AuthExchange for Never {
        fn step(&mut self, _: Option<&[u8]>) -> AuthStep {
            AuthStep::Fail(ReasonCode::NOT_AUTHORIZED)
        }
    }
    impl EnhancedAuth for Fixed {
        fn method(&self) -> &str {
            self.0
        }
        fn start(&self, _: &AuthClient<'_>) -> Box<dyn AuthExchange> {
            Box::new(Never)
        }
    }

    #[test]
    fn methods_are_found_by_exact_name_and_replaced_by_name() {
        let mut methods = EnhancedMethods::default();
        methods.add(Arc::new(Fixed("A")));
        methods.add(Arc::new(Fixed("B")));
        methods.add(Arc::new(Fixed("A")));
        assert_eq!(methods.names().collect::<Vec<_>>(), ["B", "A"]);
        assert!(methods.get("a").is_none());
        assert!(methods.get("B").is_some());
    }
}
