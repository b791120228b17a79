//! SCRAM-SHA-512 (RFC 5802 with the SHA-512 hash, as RFC 7677 does for SHA-256) over MQTT 5.0 enhanced
//! authentication, against the users of the password file.
//!
//! A `$7$ITERATIONS$SALT$HASH` entry is PBKDF2-HMAC-SHA512 of the password with a 64-byte output: exactly
//! SCRAM's SaltedPassword. So the server derives StoredKey and ServerKey from the file as it is, and sends
//! the entry's own salt and iteration count in its first message; the password never crosses the network
//! and the file needs no second kind of entry. Users stored with other hashes (`$6$`, argon2id) cannot
//! use SCRAM.
//!
//! ```text
//!  CONNECT  method SCRAM-SHA-512, data "n,,n=alice,r=CNONCE"                 (client-first)
//!  AUTH 0x18 data "r=CNONCE SNONCE,s=SALT,i=ITERATIONS"                      (server-first)
//!  AUTH 0x18 data "c=biws,r=CNONCE SNONCE,p=PROOF"                           (client-final)
//!  CONNACK 0x00 data "v=SERVER-SIGNATURE"                                    (server-final)
//! ```
//!
//! Not supported: channel binding (`p=` in the GS2 header), SASLprep (names and passwords are compared as
//! the bytes sent), an authorization identity other than the user name.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use tern_codec::ReasonCode;

use super::enhanced::{AuthClient, AuthExchange, AuthStep, EnhancedAuth};
use super::password::{PasswordFile, PasswordHash};

/// The Authentication Method name.
pub const SCRAM_SHA_512: &str = "SCRAM-SHA-512";

/// Iterations announced for a user name that does not exist, so that the answer looks like any other.
const UNKNOWN_USER_ITERATIONS: u32 = 4096;

/// SCRAM-SHA-512 against a password file.
#[derive(Debug)]
pub struct ScramSha512 {
    passwords: Arc<PasswordFile>,
    /// Derives the fake salts of unknown users: stable per name, so probing twice reveals nothing.
    secret: [u8; 32],
}

impl ScramSha512 {
    pub fn new(passwords: PasswordFile) -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        ScramSha512 { passwords: Arc::new(passwords), secret }
    }
}

impl EnhancedAuth for ScramSha512 {
    fn method(&self) -> &str {
        SCRAM_SHA_512
    }

    fn start(&self, client: &AuthClient<'_>) -> Box<dyn AuthExchange> {
        Box::new(ScramExchange {
            passwords: self.passwords.clone(),
            secret: self.secret,
            connect_username: client.username.map(str::to_owned),
            state: State::ClientFirst,
        })
    }
}

#[derive(Debug)]
enum State {
    ClientFirst,
    ClientFinal {
        username: String,
        /// None for an unknown user: the exchange goes on and fails at the proof.
        salted_password: Option<Vec<u8>>,
        gs2_header: String,
        nonce: String,
        client_first_bare: String,
        server_first: String,
    },
    Done,
}

#[derive(Debug)]
struct ScramExchange {
    passwords: Arc<PasswordFile>,
    secret: [u8; 32],
    connect_username: Option<String>,
    state: State,
}

impl AuthExchange for ScramExchange {
    fn step(&mut self, data: Option<&[u8]>) -> AuthStep {
        let state = std::mem::replace(&mut self.state, State::Done);
        let Some(text) = data.and_then(|d| std::str::from_utf8(d).ok()) else {
            return AuthStep::Fail(ReasonCode::NOT_AUTHORIZED);
        };
        match state {
            State::ClientFirst => self.client_first(text),
            State::ClientFinal {
                username,
                salted_password,
                gs2_header,
                nonce,
                client_first_bare,
                server_first,
            } => {
                let Some(final_) = parse_client_final(text) else {
                    return AuthStep::Fail(ReasonCode::NOT_AUTHORIZED);
                };
                if final_.channel_binding != STANDARD.encode(gs2_header.as_bytes()) || final_.nonce != nonce {
                    return AuthStep::Fail(ReasonCode::NOT_AUTHORIZED);
                }
                let Some(salted_password) = salted_password else {
                    return AuthStep::Fail(ReasonCode::BAD_USER_NAME_OR_PASSWORD);
                };
                let auth_message = format!("{client_first_bare},{server_first},{}", final_.without_proof);
                let keys = Keys::from_salted_password(&salted_password);
                let client_signature = hmac(&keys.stored_key, auth_message.as_bytes());
                if final_.proof.len() != client_signature.len() {
                    return AuthStep::Fail(ReasonCode::BAD_USER_NAME_OR_PASSWORD);
                }
                let client_key: Vec<u8> =
                    final_.proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
                let stored_key = Sha512::digest(&client_key);
                if !bool::from(stored_key.as_slice().ct_eq(&keys.stored_key)) {
                    return AuthStep::Fail(ReasonCode::BAD_USER_NAME_OR_PASSWORD);
                }
                let server_signature = hmac(&keys.server_key, auth_message.as_bytes());
                let server_final = format!("v={}", STANDARD.encode(server_signature));
                AuthStep::Success { username: Some(username), data: Some(Bytes::from(server_final)) }
            }
            State::Done => AuthStep::Fail(ReasonCode::PROTOCOL_ERROR),
        }
    }
}

impl ScramExchange {
    fn client_first(&mut self, text: &str) -> AuthStep {
        let Some(first) = parse_client_first(text) else {
            return AuthStep::Fail(ReasonCode::NOT_AUTHORIZED);
        };
        if first.authzid.as_ref().is_some_and(|a| *a != first.username) {
            return AuthStep::Fail(ReasonCode::NOT_AUTHORIZED);
        }
        if self.connect_username.as_ref().is_some_and(|u| *u != first.username) {
            // The CONNECT named somebody else than the SCRAM exchange does.
            return AuthStep::Fail(ReasonCode::BAD_USER_NAME_OR_PASSWORD);
        }
        let (salt, iterations, salted_password) = match self.passwords.get(&first.username) {
            Some(PasswordHash::Pbkdf2Sha512 { iterations, salt, hash }) => {
                (salt.clone(), *iterations, Some(hash.clone()))
            }
            // The user exists but the stored hash is not a SCRAM SaltedPassword.
            Some(_) => return AuthStep::Fail(ReasonCode::NOT_AUTHORIZED),
            None => {
                let fake = hmac(&self.secret, first.username.as_bytes());
                (fake[..16].to_vec(), UNKNOWN_USER_ITERATIONS, None)
            }
        };
        let mut server_nonce = [0u8; 18];
        rand::rngs::OsRng.fill_bytes(&mut server_nonce);
        let nonce = format!("{}{}", first.nonce, STANDARD.encode(server_nonce));
        let server_first = format!("r={nonce},s={},i={iterations}", STANDARD.encode(&salt));
        self.state = State::ClientFinal {
            username: first.username,
            salted_password,
            gs2_header: first.gs2_header,
            nonce,
            client_first_bare: first.bare,
            server_first: server_first.clone(),
        };
        AuthStep::Continue(Bytes::from(server_first))
    }
}

/// ClientKey, StoredKey and ServerKey of a SaltedPassword (RFC 5802 section 3).
struct Keys {
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Keys {
    fn from_salted_password(salted_password: &[u8]) -> Keys {
        let client_key = hmac(salted_password, b"Client Key");
        Keys {
            stored_key: Sha512::digest(client_key).to_vec(),
            server_key: hmac(salted_password, b"Server Key"),
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length: new_from_slice cannot fail for it.
    match Hmac::<Sha512>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct ClientFirst {
    gs2_header: String,
    authzid: Option<String>,
    username: String,
    nonce: String,
    bare: String,
}

/// `gs2-header client-first-message-bare`, e.g. `n,,n=alice,r=abc`.
fn parse_client_first(text: &str) -> Option<ClientFirst> {
    let mut parts = text.splitn(3, ',');
    let flag = parts.next()?;
    let authzid = parts.next()?;
    let bare = parts.next()?;
    // "p=..." asks for channel binding, which is not offered; "y" says the client could but thinks we
    // cannot, which is true.
    if flag != "n" && flag != "y" {
        return None;
    }
    let authzid = match authzid {
        "" => None,
        a => Some(decode_saslname(a.strip_prefix("a=")?)?),
    };
    let gs2_header = text[..text.len() - bare.len()].to_owned();
    let mut attrs = bare.split(',');
    let first = attrs.next()?;
    if first.starts_with("m=") {
        return None; // Mandatory extensions are not supported (RFC 5802 section 5.1).
    }
    let username = decode_saslname(first.strip_prefix("n=")?)?;
    let nonce = attrs.next()?.strip_prefix("r=")?.to_owned();
    if username.is_empty()
        || nonce.is_empty()
        || !nonce.bytes().all(|b| (0x21..=0x7E).contains(&b) && b != b',')
    {
        return None;
    }
    Some(ClientFirst { gs2_header, authzid, username, nonce, bare: bare.to_owned() })
}

#[derive(Debug, PartialEq, Eq)]
struct ClientFinal {
    channel_binding: String,
    nonce: String,
    proof: Vec<u8>,
    without_proof: String,
}

/// `c=...,r=...[,extensions],p=...`.
fn parse_client_final(text: &str) -> Option<ClientFinal> {
    let (without_proof, proof) = text.rsplit_once(",p=")?;
    let mut attrs = without_proof.split(',');
    let channel_binding = attrs.next()?.strip_prefix("c=")?.to_owned();
    let nonce = attrs.next()?.strip_prefix("r=")?.to_owned();
    let proof = STANDARD.decode(proof).ok()?;
    Some(ClientFinal { channel_binding, nonce, proof, without_proof: without_proof.to_owned() })
}

/// A `saslname`: `=2C` stands for `,` and `=3D` for `=`; any other `=` is an error.
fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// The client's side of SCRAM-SHA-512, for tests and for clients built on this crate.
pub mod client {
    use super::*;

    /// A SCRAM-SHA-512 client: `first()`, then `last(server_first)`, then `verify(server_final)`.
    #[derive(Debug)]
    pub struct ScramClient {
        username: String,
        password: Vec<u8>,
        nonce: String,
        client_first_bare: String,
        server_signature: Option<Vec<u8>>,
    }

    impl ScramClient {
        pub fn new(username: &str, password: &[u8]) -> Self {
            let mut nonce = [0u8; 18];
            rand::rngs::OsRng.fill_bytes(&mut nonce);
            let nonce = STANDARD.encode(nonce);
            let name = username.replace('=', "=3D").replace(',', "=2C");
            ScramClient {
                username: username.to_owned(),
                password: password.to_vec(),
                client_first_bare: format!("n={name},r={nonce}"),
                nonce,
                server_signature: None,
            }
        }

        /// The user name this client authenticates as.
        pub fn username(&self) -> &str {
            &self.username
        }

        /// The client-first message (Authentication Data of CONNECT).
        pub fn first(&self) -> String {
            format!("n,,{}", self.client_first_bare)
        }

        /// The client-final message answering `server_first`; `None` if that is malformed or does not
        /// extend our nonce.
        pub fn last(&mut self, server_first: &[u8]) -> Option<String> {
            let text = std::str::from_utf8(server_first).ok()?;
            let mut attrs = text.split(',');
            let nonce = attrs.next()?.strip_prefix("r=")?;
            let salt = STANDARD.decode(attrs.next()?.strip_prefix("s=")?).ok()?;
            let iterations: u32 = attrs.next()?.strip_prefix("i=")?.parse().ok()?;
            if !nonce.starts_with(&self.nonce) || iterations == 0 {
                return None;
            }
            let mut salted_password = vec![0u8; 64];
            pbkdf2::pbkdf2_hmac::<Sha512>(&self.password, &salt, iterations, &mut salted_password);
            let keys = Keys::from_salted_password(&salted_password);
            let client_key = hmac(&salted_password, b"Client Key");
            let without_proof = format!("c=biws,r={nonce}");
            let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
            let client_signature = hmac(&keys.stored_key, auth_message.as_bytes());
            let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(k, s)| k ^ s).collect();
            self.server_signature = Some(hmac(&keys.server_key, auth_message.as_bytes()));
            Some(format!("{without_proof},p={}", STANDARD.encode(proof)))
        }

        /// Whether `server_final` proves the server knows the user's keys.
        pub fn verify(&self, server_final: &[u8]) -> bool {
            let Some(expected) = &self.server_signature else { return false };
            let Some(v) = std::str::from_utf8(server_final).ok().and_then(|t| t.strip_prefix("v=")) else {
                return false;
            };
            STANDARD.decode(v).is_ok_and(|sig| bool::from(sig.ct_eq(expected)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client::ScramClient;
    use super::*;

    // mosquitto_passwd 2.0.11: alice / secret.
    const ALICE: &str = "alice:$7$101$xWVjKCAyclPUaGHb$CAhL/cXEJRQOJpY+mB5MtYSxsYYvE9d9RNHlXeJ2KZy/VtKMW8AxU3yDk4FtosXl5cOKZnjv93Jfpp8V+hlvPw==\n";
    const BOB_SHA512: &str = "bob:$6$aKD2rkehvlsTmDbQ$g6xB7PlLyoXnhjKSFRu63TrSnls2r6Kf8/1HB9ziXcErzK1zsYOu2m9rJxnx5QVeqBmU9XoVxRsvcVBLA+sEsA==\n";

    fn scram() -> ScramSha512 {
        let text = format!("{ALICE}{BOB_SHA512}");
        ScramSha512::new(PasswordFile::parse(&text, std::path::Path::new("pw")).unwrap())
    }

    fn anyone() -> AuthClient<'static> {
        AuthClient { client_id: "c", username: None, peer: None }
    }

    fn run(server: &ScramSha512, client: &mut ScramClient, who: AuthClient<'_>) -> (AuthStep, bool) {
        let mut exchange = server.start(&who);
        let server_first = match exchange.step(Some(client.first().as_bytes())) {
            AuthStep::Continue(d) => d,
            other => return (other, false),
        };
        let Some(last) = client.last(&server_first) else {
            return (AuthStep::Fail(ReasonCode::UNSPECIFIED_ERROR), false);
        };
        let outcome = exchange.step(Some(last.as_bytes()));
        let verified = match &outcome {
            AuthStep::Success { data: Some(d), .. } => client.verify(d),
            _ => false,
        };
        (outcome, verified)
    }

    #[test]
    fn a_mosquitto_pbkdf2_entry_authenticates_with_scram_and_the_server_proves_itself() {
        let server = scram();
        let mut client = ScramClient::new("alice", b"secret");
        let (outcome, verified) = run(&server, &mut client, anyone());
        assert!(
            matches!(outcome, AuthStep::Success { username: Some(ref u), .. } if u == "alice"),
            "{outcome:?}"
        );
        assert!(verified, "the server signature must verify");
    }

    #[test]
    fn server_first_carries_the_stored_salt_and_iterations() {
        let server = scram();
        let client = ScramClient::new("alice", b"secret");
        let mut exchange = server.start(&anyone());
        let AuthStep::Continue(first) = exchange.step(Some(client.first().as_bytes())) else { panic!() };
        let text = std::str::from_utf8(&first).unwrap();
        assert!(text.contains(",s=xWVjKCAyclPUaGHb,i=101"), "{text}");
    }

    #[test]
    fn a_wrong_password_fails_with_bad_user_name_or_password() {
        let (outcome, _) = run(&scram(), &mut ScramClient::new("alice", b"wrong"), anyone());
        assert_eq!(outcome, AuthStep::Fail(ReasonCode::BAD_USER_NAME_OR_PASSWORD));
    }

    #[test]
    fn an_unknown_user_gets_a_stable_fake_salt_and_fails_at_the_proof() {
        let server = scram();
        let (outcome, _) = run(&server, &mut ScramClient::new("mallory", b"x"), anyone());
        assert_eq!(outcome, AuthStep::Fail(ReasonCode::BAD_USER_NAME_OR_PASSWORD));
        let salt = |s: &ScramSha512| {
            let mut e = s.start(&anyone());
            match e.step(Some(ScramClient::new("mallory", b"x").first().as_bytes())) {
                AuthStep::Continue(d) => {
                    String::from_utf8(d.to_vec()).unwrap().split(',').nth(1).unwrap().to_owned()
                }
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(salt(&server), salt(&server));
    }

    #[test]
    fn a_user_with_another_hash_cannot_use_scram() {
        let (outcome, _) = run(&scram(), &mut ScramClient::new("bob", b"pw2"), anyone());
        assert_eq!(outcome, AuthStep::Fail(ReasonCode::NOT_AUTHORIZED));
    }

    #[test]
    fn the_connect_user_name_must_be_the_scram_user() {
        let who = AuthClient { client_id: "c", username: Some("bob"), peer: None };
        let (outcome, _) = run(&scram(), &mut ScramClient::new("alice", b"secret"), who);
        assert_eq!(outcome, AuthStep::Fail(ReasonCode::BAD_USER_NAME_OR_PASSWORD));
    }

    #[test]
    fn a_tampered_nonce_or_channel_binding_fails() {
        let server = scram();
        let mut client = ScramClient::new("alice", b"secret");
        let mut exchange = server.start(&anyone());
        let AuthStep::Continue(first) = exchange.step(Some(client.first().as_bytes())) else { panic!() };
        let last = client.last(&first).unwrap().replacen("c=biws", "c=eSws", 1);
        assert_eq!(exchange.step(Some(last.as_bytes())), AuthStep::Fail(ReasonCode::NOT_AUTHORIZED));
    }

    #[test]
    fn client_first_message_syntax_rfc_5802() {
        let first = parse_client_first("n,a=al=2Cice,n=al=2Cice,r=abc,x=ext").unwrap();
        assert_eq!(first.username, "al,ice");
        assert_eq!(first.authzid.as_deref(), Some("al,ice"));
        assert_eq!(first.gs2_header, "n,a=al=2Cice,");
        assert_eq!(first.bare, "n=al=2Cice,r=abc,x=ext");
        assert!(parse_client_first("p=tls-unique,,n=a,r=b").is_none(), "channel binding is not offered");
        assert!(parse_client_first("n,,m=x,n=a,r=b").is_none(), "mandatory extensions are refused");
        assert!(parse_client_first("n,,n=a=41,r=b").is_none(), "bad saslname escape");
        assert!(parse_client_first("n,,n=a").is_none());
        assert_eq!(decode_saslname("a=3Db").as_deref(), Some("a=b"));
    }

    #[test]
    fn a_step_after_the_end_is_a_protocol_error() {
        let server = scram();
        let mut client = ScramClient::new("alice", b"secret");
        let mut exchange = server.start(&anyone());
        let AuthStep::Continue(first) = exchange.step(Some(client.first().as_bytes())) else { panic!() };
        let last = client.last(&first).unwrap();
        assert!(matches!(exchange.step(Some(last.as_bytes())), AuthStep::Success { .. }));
        assert_eq!(exchange.step(Some(b"n,,n=alice,r=x")), AuthStep::Fail(ReasonCode::PROTOCOL_ERROR));
    }
}
