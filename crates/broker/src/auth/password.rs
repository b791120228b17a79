//! Password files, as read by mosquitto's `password_file` and written by `mosquitto_passwd`.
//!
//! A password file has one `user:hash` entry a line. Three hash formats are read:
//!
//! | format | written as | notes |
//! |---|---|---|
//! | PBKDF2-HMAC-SHA512 | `$7$ITERATIONS$SALT$HASH` | mosquitto 2.0's default; salt of 12 or 64 bytes, 64-byte hash |
//! | salted SHA-512 | `$6$SALT$HASH` | mosquitto 1.x; SHA-512(password ‖ salt); read only by choice of the writer |
//! | Argon2id | `$argon2id$v=19$m=..,t=..,p=..$SALT$HASH` | the PHC string format |
//!
//! Salts and hashes of `$6$`/`$7$` are standard base64 with padding. New hashes default to
//! [`Algorithm::DEFAULT`]: PBKDF2-HMAC-SHA512 with 210,000 iterations (the OWASP 2023 figure), which
//! mosquitto 2.0 also reads. Comparison is constant time, and [`PasswordFile::authenticate`] spends the
//! same work on an unknown user as on a known one so timing does not reveal which user names exist.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// Iterations of a new PBKDF2 hash unless told otherwise (OWASP password storage guidance, 2023).
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 210_000;
/// Salt length of new `$6$`/`$7$` hashes: the 12 bytes mosquitto writes.
pub const SALT_LEN: usize = 12;
/// Salt lengths accepted in `$6$`/`$7$` hashes: mosquitto's 12 and the 64 of later tools.
const SALT_LENS: [usize; 2] = [12, 64];
/// Length of a SHA-512 output, the hash in `$6$`/`$7$` entries.
const HASH_LEN: usize = 64;

/// How a new password is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `$7$`: PBKDF2-HMAC-SHA512 with this many iterations.
    Sha512Pbkdf2 { iterations: u32 },
    /// `$6$`: one round of salted SHA-512. Weak; only for brokers that read nothing else.
    Sha512,
    /// `$argon2id$`: Argon2id with the OWASP parameters (19 MiB, 2 passes, 1 lane).
    Argon2id,
}

impl Algorithm {
    /// The default for new hashes: strong, and readable by mosquitto 2.0.
    pub const DEFAULT: Algorithm = Algorithm::Sha512Pbkdf2 { iterations: DEFAULT_PBKDF2_ITERATIONS };
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::DEFAULT
    }
}

/// A stored password hash, parsed from the text after `user:`.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// `$7$ITERATIONS$SALT$HASH`
    Pbkdf2Sha512 { iterations: u32, salt: Vec<u8>, hash: Vec<u8> },
    /// `$6$SALT$HASH`
    Sha512 { salt: Vec<u8>, hash: Vec<u8> },
    /// A PHC string for Argon2id, kept as written.
    Argon2id(String),
}

impl fmt::Debug for PasswordHash {
    /// Names the format and its cost only: hashes stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Pbkdf2Sha512 { iterations, .. } => {
                write!(f, "PasswordHash(sha512-pbkdf2, {iterations})")
            }
            PasswordHash::Sha512 { .. } => f.write_str("PasswordHash(sha512)"),
            PasswordHash::Argon2id(_) => f.write_str("PasswordHash(argon2id)"),
        }
    }
}

/// Why a hash string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("unknown password hash format (expected $7$, $6$ or $argon2id$)")]
    UnknownFormat,
    #[error("malformed $7$ hash: expected $7$ITERATIONS$SALT$HASH")]
    MalformedPbkdf2,
    #[error("malformed $6$ hash: expected $6$SALT$HASH")]
    MalformedSha512,
    #[error("invalid iteration count {0:?}")]
    Iterations(String),
    #[error("salt is not valid base64")]
    SaltBase64,
    #[error("salt is {0} bytes; expected 12 or 64")]
    SaltLength(usize),
    #[error("hash is not valid base64")]
    HashBase64,
    #[error("hash is {0} bytes; expected 64")]
    HashLength(usize),
    #[error("invalid argon2id hash: {0}")]
    Argon2(String),
}

impl FromStr for PasswordHash {
    type Err = HashError;

    fn from_str(s: &str) -> Result<Self, HashError> {
        if s.starts_with("$argon2id$") {
            let parsed =
                argon2::password_hash::PasswordHash::new(s).map_err(|e| HashError::Argon2(e.to_string()))?;
            if parsed.hash.is_none() {
                return Err(HashError::Argon2("no hash".into()));
            }
            return Ok(PasswordHash::Argon2id(s.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("$7$") {
            let mut parts = rest.split('$');
            let (Some(iter), Some(salt), Some(hash), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(HashError::MalformedPbkdf2);
            };
            let iterations = iter.parse::<u32>().ok().filter(|&i| i > 0);
            let iterations = iterations.ok_or_else(|| HashError::Iterations(iter.to_owned()))?;
            let (salt, hash) = decode_salt_hash(salt, hash)?;
            return Ok(PasswordHash::Pbkdf2Sha512 { iterations, salt, hash });
        }
        if let Some(rest) = s.strip_prefix("$6$") {
            let mut parts = rest.split('$');
            let (Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(HashError::MalformedSha512);
            };
            let (salt, hash) = decode_salt_hash(salt, hash)?;
            return Ok(PasswordHash::Sha512 { salt, hash });
        }
        Err(HashError::UnknownFormat)
    }
}

fn decode_salt_hash(salt: &str, hash: &str) -> Result<(Vec<u8>, Vec<u8>), HashError> {
    let salt = STANDARD.decode(salt).map_err(|_| HashError::SaltBase64)?;
    if !SALT_LENS.contains(&salt.len()) {
        return Err(HashError::SaltLength(salt.len()));
    }
    let hash = STANDARD.decode(hash).map_err(|_| HashError::HashBase64)?;
    if hash.len() != HASH_LEN {
        return Err(HashError::HashLength(hash.len()));
    }
    Ok((salt, hash))
}

impl fmt::Display for PasswordHash {
    /// The form written after `user:` in a password file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Pbkdf2Sha512 { iterations, salt, hash } => {
                write!(f, "$7${iterations}${}${}", STANDARD.encode(salt), STANDARD.encode(hash))
            }
            PasswordHash::Sha512 { salt, hash } => {
                write!(f, "$6${}${}", STANDARD.encode(salt), STANDARD.encode(hash))
            }
            PasswordHash::Argon2id(phc) => f.write_str(phc),
        }
    }
}

fn pbkdf2_sha512(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = vec![0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
    out
}

fn salted_sha512(password: &[u8], salt: &[u8]) -> Vec<u8> {
    let mut h = Sha512::new();
    h.update(password);
    h.update(salt);
    h.finalize().to_vec()
}

/// Why a new hash could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashPasswordError {
    #[error("iterations must be greater than 0")]
    ZeroIterations,
    #[error("argon2id: {0}")]
    Argon2(String),
}

/// Hashes `password` with `algorithm` and a fresh random salt.
pub fn hash_password(password: &[u8], algorithm: Algorithm) -> Result<PasswordHash, HashPasswordError> {
    let mut rng = rand::rngs::OsRng;
    match algorithm {
        Algorithm::Sha512Pbkdf2 { iterations } => {
            if iterations == 0 {
                return Err(HashPasswordError::ZeroIterations);
            }
            let mut salt = vec![0u8; SALT_LEN];
            rng.fill_bytes(&mut salt);
            let hash = pbkdf2_sha512(password, &salt, iterations);
            Ok(PasswordHash::Pbkdf2Sha512 { iterations, salt, hash })
        }
        Algorithm::Sha512 => {
            let mut salt = vec![0u8; SALT_LEN];
            rng.fill_bytes(&mut salt);
            let hash = salted_sha512(password, &salt);
            Ok(PasswordHash::Sha512 { salt, hash })
        }
        Algorithm::Argon2id => {
            let salt = SaltString::generate(&mut rng);
            let phc = Argon2::default()
                .hash_password(password, &salt)
                .map_err(|e| HashPasswordError::Argon2(e.to_string()))?;
            Ok(PasswordHash::Argon2id(phc.to_string()))
        }
    }
}

/// Whether `password` matches `stored`. The comparison of hashes is constant time.
pub fn verify(password: &[u8], stored: &PasswordHash) -> bool {
    match stored {
        PasswordHash::Pbkdf2Sha512 { iterations, salt, hash } => {
            pbkdf2_sha512(password, salt, *iterations).ct_eq(hash).into()
        }
        PasswordHash::Sha512 { salt, hash } => salted_sha512(password, salt).ct_eq(hash).into(),
        PasswordHash::Argon2id(phc) => match argon2::password_hash::PasswordHash::new(phc) {
            // The argon2 crate compares its output in constant time.
            Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
            Err(_) => false,
        },
    }
}

/// One `user:secret` line of a password file, before the secret is interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry<'a> {
    /// 1-based line number.
    pub line: usize,
    pub username: &'a str,
    /// Everything after the first `:`, blanks trimmed: a hash, or a plain password in a file for `-U`.
    pub secret: &'a str,
}

/// A line of a password file as read for editing: an entry, or a comment or blank line kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    Entry(RawEntry<'a>),
    Other(&'a str),
}

/// A line that is neither a comment, blank, nor `user:secret`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected user:password")]
pub struct CorruptLine {
    pub line: usize,
}

/// Splits password file text into lines. Comments (`#`) and blank lines are kept; an entry needs a non-empty
/// user name and secret either side of the first `:`, as mosquitto requires.
pub fn parse_lines(text: &str) -> Result<Vec<Line<'_>>, CorruptLine> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim_end_matches('\r');
        if content.starts_with('#') || content.trim().is_empty() {
            lines.push(Line::Other(content));
            continue;
        }
        let (user, secret) = content.split_once(':').ok_or(CorruptLine { line })?;
        let (username, secret) = (user.trim(), secret.trim());
        if username.is_empty() || secret.is_empty() {
            return Err(CorruptLine { line });
        }
        lines.push(Line::Entry(RawEntry { line, username, secret }));
    }
    Ok(lines)
}

/// An error in a password file, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: expected user:password_hash", path.display())]
    Corrupt { path: PathBuf, line: usize },
    #[error("{}:{line}: user {username:?}: {source}", path.display())]
    Hash { path: PathBuf, line: usize, username: String, source: HashError },
    #[error("{}:{line}: user {username:?} already appears on line {first}", path.display())]
    DuplicateUser { path: PathBuf, line: usize, username: String, first: usize },
}

/// A loaded password file: user names and their hashes.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    users: HashMap<String, (usize, PasswordHash)>,
    /// The hash an unknown user name is checked against: the first entry's, so that a failed login costs
    /// what a known user's costs, whatever algorithm and cost the file's hashes use, and timing does not
    /// tell which user names exist.
    decoy: Option<PasswordHash>,
}

impl PasswordFile {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<PasswordFile, PasswordFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PasswordFileError::Read { path: path.to_owned(), source })?;
        PasswordFile::parse(&text, path)
    }

    /// Parses password file text; `path` names the file in errors. Every entry must hold a hash in a known
    /// format (a plain-text password is an error: hash the file with `tern passwd -U` first).
    pub fn parse(text: &str, path: &Path) -> Result<PasswordFile, PasswordFileError> {
        let lines = parse_lines(text)
            .map_err(|e| PasswordFileError::Corrupt { path: path.to_owned(), line: e.line })?;
        let mut users = HashMap::new();
        let mut decoy = None;
        for line in lines {
            let Line::Entry(entry) = line else { continue };
            let hash = entry.secret.parse::<PasswordHash>().map_err(|source| PasswordFileError::Hash {
                path: path.to_owned(),
                line: entry.line,
                username: entry.username.to_owned(),
                source,
            })?;
            if let Some((first, _)) = users.get(entry.username) {
                return Err(PasswordFileError::DuplicateUser {
                    path: path.to_owned(),
                    line: entry.line,
                    username: entry.username.to_owned(),
                    first: *first,
                });
            }
            decoy.get_or_insert_with(|| hash.clone());
            users.insert(entry.username.to_owned(), (entry.line, hash));
        }
        Ok(PasswordFile { users, decoy })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The hash stored for `username`.
    pub fn get(&self, username: &str) -> Option<&PasswordHash> {
        self.users.get(username).map(|(_, h)| h)
    }

    /// Whether `username` exists and `password` is theirs. An unknown user costs the verification of a
    /// known one, whose outcome is ignored.
    pub fn authenticate(&self, username: &str, password: &[u8]) -> bool {
        match (self.get(username), &self.decoy) {
            (Some(hash), _) => verify(password, hash),
            (None, Some(decoy)) => {
                let _ = verify(password, decoy);
                false
            }
            (None, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by mosquitto_passwd 2.0.11: `-b f alice secret` and `-H sha512 -b f bob pw2`.
    const MOSQ_PBKDF2: &str = "$7$101$xWVjKCAyclPUaGHb$CAhL/cXEJRQOJpY+mB5MtYSxsYYvE9d9RNHlXeJ2KZy/VtKMW8AxU3yDk4FtosXl5cOKZnjv93Jfpp8V+hlvPw==";
    const MOSQ_SHA512: &str = "$6$aKD2rkehvlsTmDbQ$g6xB7PlLyoXnhjKSFRu63TrSnls2r6Kf8/1HB9ziXcErzK1zsYOu2m9rJxnx5QVeqBmU9XoVxRsvcVBLA+sEsA==";

    #[test]
    fn mosquitto_pbkdf2_hash_verifies_its_password_only() {
        let h: PasswordHash = MOSQ_PBKDF2.parse().unwrap();
        assert!(matches!(h, PasswordHash::Pbkdf2Sha512 { iterations: 101, .. }));
        assert!(verify(b"secret", &h));
        assert!(!verify(b"Secret", &h));
        assert!(!verify(b"", &h));
    }

    #[test]
    fn mosquitto_salted_sha512_hash_verifies_its_password_only() {
        let h: PasswordHash = MOSQ_SHA512.parse().unwrap();
        assert!(verify(b"pw2", &h));
        assert!(!verify(b"pw3", &h));
    }

    #[test]
    fn hash_strings_round_trip_through_display() {
        for s in [MOSQ_PBKDF2, MOSQ_SHA512] {
            assert_eq!(s.parse::<PasswordHash>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn new_hashes_of_each_algorithm_verify_and_reparse() {
        for alg in [Algorithm::Sha512Pbkdf2 { iterations: 1000 }, Algorithm::Sha512, Algorithm::Argon2id] {
            let h = hash_password(b"p@ss word", alg).unwrap();
            let reparsed: PasswordHash = h.to_string().parse().unwrap();
            assert_eq!(reparsed, h);
            assert!(verify(b"p@ss word", &reparsed), "{alg:?}");
            assert!(!verify(b"p@ss w0rd", &reparsed), "{alg:?}");
        }
    }

    #[test]
    fn default_algorithm_is_pbkdf2_with_at_least_210000_iterations() {
        let h = hash_password(b"x", Algorithm::default()).unwrap();
        let s = h.to_string();
        assert!(s.starts_with("$7$210000$"), "{s}");
        assert!(verify(b"x", &h));
    }

    #[test]
    fn new_salts_are_random_so_equal_passwords_hash_differently() {
        let a = hash_password(b"same", Algorithm::Sha512).unwrap();
        let b = hash_password(b"same", Algorithm::Sha512).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_64_byte_salt_is_accepted() {
        let salt = vec![7u8; 64];
        let hash = pbkdf2_sha512(b"pw", &salt, 5);
        let s = PasswordHash::Pbkdf2Sha512 { iterations: 5, salt, hash }.to_string();
        assert!(verify(b"pw", &s.parse().unwrap()));
    }

    #[test]
    fn malformed_hashes_are_rejected_with_the_reason() {
        assert_eq!("plaintext".parse::<PasswordHash>(), Err(HashError::UnknownFormat));
        assert_eq!("$7$101$abc".parse::<PasswordHash>(), Err(HashError::MalformedPbkdf2));
        assert_eq!("$7$x$AAAA$AAAA".parse::<PasswordHash>(), Err(HashError::Iterations("x".into())));
        assert_eq!("$7$0$AAAA$AAAA".parse::<PasswordHash>(), Err(HashError::Iterations("0".into())));
        assert_eq!("$6$AAAA$AAAA".parse::<PasswordHash>(), Err(HashError::SaltLength(3)));
        assert_eq!("$6$!!$AAAA".parse::<PasswordHash>(), Err(HashError::SaltBase64));
        let short_hash = format!("$6${}${}", STANDARD.encode([1u8; 12]), STANDARD.encode([1u8; 32]));
        assert_eq!(short_hash.parse::<PasswordHash>(), Err(HashError::HashLength(32)));
        assert!(matches!("$argon2id$v=19$garbage".parse::<PasswordHash>(), Err(HashError::Argon2(_))));
    }

    #[test]
    fn debug_output_hides_salt_and_hash() {
        let h: PasswordHash = MOSQ_PBKDF2.parse().unwrap();
        assert_eq!(format!("{h:?}"), "PasswordHash(sha512-pbkdf2, 101)");
    }

    #[test]
    fn password_file_authenticates_known_users_and_refuses_others() {
        let text = format!("# users\nalice:{MOSQ_PBKDF2}\n\n bob : {MOSQ_SHA512}\r\n");
        let f = PasswordFile::parse(&text, Path::new("pw")).unwrap();
        assert_eq!(f.len(), 2);
        assert!(f.authenticate("alice", b"secret"));
        assert!(f.authenticate("bob", b"pw2"));
        assert!(!f.authenticate("alice", b"pw2"));
        assert!(!f.authenticate("carol", b"secret"));
    }

    #[test]
    fn password_file_errors_name_file_and_line() {
        let err = PasswordFile::parse("a:$6$x$y\n", Path::new("/etc/pw")).unwrap_err();
        assert_eq!(err.to_string(), "/etc/pw:1: user \"a\": salt is not valid base64");
        let err = PasswordFile::parse("# c\nnocolon\n", Path::new("pw")).unwrap_err();
        assert_eq!(err.to_string(), "pw:2: expected user:password_hash");
        let err = PasswordFile::parse("a:\n", Path::new("pw")).unwrap_err();
        assert_eq!(err.to_string(), "pw:1: expected user:password_hash");
        let dup = format!("a:{MOSQ_SHA512}\na:{MOSQ_SHA512}\n");
        let err = PasswordFile::parse(&dup, Path::new("pw")).unwrap_err();
        assert_eq!(err.to_string(), "pw:2: user \"a\" already appears on line 1");
    }

    #[test]
    fn plain_text_entries_are_errors_in_a_password_file() {
        let err = PasswordFile::parse("a:plain\n", Path::new("pw")).unwrap_err();
        assert!(matches!(err, PasswordFileError::Hash { line: 1, source: HashError::UnknownFormat, .. }));
    }

    #[test]
    fn parse_lines_keeps_comments_and_splits_at_the_first_colon() {
        let lines = parse_lines("#c\nu:a:b\n").unwrap();
        assert_eq!(lines[0], Line::Other("#c"));
        assert_eq!(lines[1], Line::Entry(RawEntry { line: 2, username: "u", secret: "a:b" }));
    }

    #[test]
    fn an_unknown_user_is_refused_even_with_the_password_of_the_entry_it_is_checked_against() {
        let file = PasswordFile::parse(&format!("alice:{MOSQ_PBKDF2}\nbob:{MOSQ_SHA512}\n"), Path::new("pw"))
            .unwrap();
        assert!(file.authenticate("alice", b"secret"));
        assert!(!file.authenticate("mallory", b"secret"));
        assert!(!PasswordFile::default().authenticate("mallory", b"secret"));
    }
}
