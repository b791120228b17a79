//! `tern passwd`: mosquitto_passwd. Creates and edits password files in the format mosquitto reads, with
//! mosquitto_passwd 2.0's options, messages and exit codes. New hashes are PBKDF2-HMAC-SHA512 with 210,000
//! iterations unless `-H`/`-I` say otherwise. Files are replaced atomically (written beside, then renamed),
//! keeping their permissions.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::password_prompt::read_hidden;
use tern_broker::auth::password::{
    hash_password, parse_lines, Algorithm, Line, PasswordHash, DEFAULT_PBKDF2_ITERATIONS,
};

fn usage() -> String {
    format!(
        "tern passwd is a tool for managing password files for Tern and mosquitto.

Usage: tern passwd [-H sha512-pbkdf2 | -H argon2id | -H sha512] [-I iterations] [-c | -D] passwordfile username
       tern passwd [-H sha512-pbkdf2 | -H argon2id | -H sha512] [-I iterations] [-c] -b passwordfile username password
       tern passwd -U passwordfile
 -b : run in batch mode to allow passing passwords on the command line.
 -c : create a new password file. This will overwrite existing files.
 -D : delete the username rather than adding/updating its password.
 -H : specify the hashing algorithm. Defaults to sha512-pbkdf2 with {DEFAULT_PBKDF2_ITERATIONS} iterations
      (PBKDF2-HMAC-SHA512, which mosquitto 2.0 also reads).
      argon2id (19 MiB, 2 passes; Tern only) is stronger against GPU attacks.
      sha512 (one round of salted SHA-512) is weak: only for mosquitto 1.6 and earlier.
 -I : number of PBKDF2 iterations for sha512-pbkdf2. Defaults to {DEFAULT_PBKDF2_ITERATIONS}.
 -U : update a plain text password file to use hashed passwords.

Without -b the password is asked for twice, without echo.
"
    )
}

#[derive(Debug, Default)]
struct Args {
    algorithm: Option<&'static str>,
    iterations: u32,
    batch: bool,
    create: bool,
    delete: bool,
    update_file: bool,
    file: String,
    username: Option<String>,
    password: Option<String>,
}

fn fail(msg: &str) -> i32 {
    eprintln!("{msg}");
    1
}

fn parse(args: &[String]) -> Result<Args, i32> {
    if args.is_empty() {
        print!("{}", usage());
        return Err(1);
    }
    let mut a = Args { iterations: DEFAULT_PBKDF2_ITERATIONS, ..Args::default() };
    let mut idx = 0;
    while idx < args.len() {
        match args[idx].as_str() {
            "-H" => {
                let Some(h) = args.get(idx + 1) else {
                    return Err(fail("Error: -H argument given but not enough other arguments."));
                };
                a.algorithm = Some(match h.as_str() {
                    "sha512" => "sha512",
                    "sha512-pbkdf2" => "sha512-pbkdf2",
                    "argon2id" => "argon2id",
                    _ => return Err(fail(&format!("Error: Unknown hash type '{h}'"))),
                });
                idx += 1;
            }
            "-b" => a.batch = true,
            "-c" => a.create = true,
            "-D" => a.delete = true,
            "-I" => {
                let Some(n) = args.get(idx + 1) else {
                    return Err(fail("Error: -I argument given but not enough other arguments."));
                };
                let n = crate::client_opts::atoi(n);
                if n < 1 {
                    return Err(fail("Error: Number of iterations must be > 0."));
                }
                a.iterations = u32::try_from(n).unwrap_or(u32::MAX);
                idx += 1;
            }
            "-U" => a.update_file = true,
            "--help" => {
                print!("{}", usage());
                return Err(1);
            }
            _ => break,
        }
        idx += 1;
    }
    if a.create && a.delete {
        return Err(fail("Error: -c and -D cannot be used together."));
    }
    if a.create && a.update_file {
        return Err(fail("Error: -c and -U cannot be used together."));
    }
    if a.delete && a.update_file {
        return Err(fail("Error: -D and -U cannot be used together."));
    }
    if a.delete && a.batch {
        return Err(fail("Error: -b and -D cannot be used together."));
    }
    let rest = &args[idx..];
    let positional = |n: usize| rest.get(n).cloned();
    if a.create {
        let needed = if a.batch { 3 } else { 2 };
        if rest.len() < needed {
            return Err(fail(if a.batch {
                "Error: -c argument given but password file, username, or password missing."
            } else {
                "Error: -c argument given but password file or username missing."
            }));
        }
    } else if a.delete {
        if rest.len() < 2 {
            return Err(fail("Error: -D argument given but password file or username missing."));
        }
    } else if a.update_file {
        if rest.len() != 1 {
            return Err(fail("Error: -U argument given but password file missing."));
        }
    } else if !((a.batch && rest.len() == 3) || (!a.batch && rest.len() == 2)) {
        print!("{}", usage());
        return Err(1);
    }
    a.file = positional(0).unwrap_or_default();
    if !a.update_file {
        a.username = positional(1);
    }
    if a.batch {
        a.password = positional(2);
    }
    if let Some(u) = &a.username {
        if u.len() > 65535 {
            return Err(fail("Error: Username must be less than 65536 characters long."));
        }
        if u.chars().any(char::is_control) {
            return Err(fail("Error: Username must not contain control characters."));
        }
        if u.contains(':') {
            return Err(fail("Error: Username must not contain the ':' character."));
        }
    }
    if a.password.as_ref().is_some_and(|p| p.len() > 65535) {
        return Err(fail("Error: Password must be less than 65536 characters long."));
    }
    Ok(a)
}

impl Args {
    fn algorithm(&self) -> Algorithm {
        match self.algorithm {
            Some("sha512") => Algorithm::Sha512,
            Some("argon2id") => Algorithm::Argon2id,
            _ => Algorithm::Sha512Pbkdf2 { iterations: self.iterations },
        }
    }
}

/// Asks for the password twice without echo (from the terminal; from standard input when it is not one, so
/// scripts can pipe it in as they do to mosquitto_passwd).
fn get_password() -> Result<String, i32> {
    let ask = |prompt: &str| read_hidden(prompt).map_err(|e| fail(&format!("Error: {e}")));
    let first = ask("Password: ")?;
    if first.is_empty() {
        return Err(fail("Error: Empty password."));
    }
    println!();
    let second = ask("Reenter password: ")?;
    println!();
    if first != second {
        eprintln!("Error: Passwords do not match.");
        return Err(2);
    }
    Ok(first)
}

fn entry(username: &str, password: &str, algorithm: Algorithm) -> Result<String, i32> {
    match hash_password(password.as_bytes(), algorithm) {
        Ok(h) => Ok(format!("{username}:{h}\n")),
        Err(_) => Err(fail("Error: Unable to hash password.")),
    }
}

/// Writes `contents` to `path` through a temporary file in the same directory. An existing file keeps its
/// permissions; a new one gets the umask's, as mosquitto_passwd does, so a broker that drops privileges to
/// its own user can still read it.
fn write_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.tern-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn os_error(e: &std::io::Error) -> String {
    crate::connection::strerror(e)
}

pub fn run(args: &[String]) -> i32 {
    let a = match parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let path = PathBuf::from(&a.file);
    let algorithm = a.algorithm();
    if a.create {
        let password = match a.password.clone().map_or_else(get_password, Ok) {
            Ok(p) => p,
            Err(code) => return code,
        };
        let username = a.username.as_deref().unwrap_or_default();
        let line = match entry(username, &password, algorithm) {
            Ok(l) => l,
            Err(code) => return code,
        };
        if let Err(e) = write_file(&path, &line) {
            return fail(&format!(
                "Error: Unable to open file {} for writing. {}.",
                path.display(),
                os_error(&e)
            ));
        }
        return 0;
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return fail(&format!(
                "Error: Unable to open password file {}. {}.",
                path.display(),
                os_error(&e)
            ))
        }
    };
    let lines = match parse_lines(&text) {
        Ok(l) => l,
        Err(e) => return fail(&format!("Error: Corrupt password file at line {}.", e.line)),
    };
    let mut out = String::with_capacity(text.len() + 160);
    if a.update_file {
        for line in &lines {
            match line {
                Line::Other(s) => {
                    out.push_str(s);
                    out.push('\n');
                }
                // An entry already hashed is kept: -U can run twice without hashing hashes.
                Line::Entry(e) if e.secret.parse::<PasswordHash>().is_ok() => {
                    out.push_str(&format!("{}:{}\n", e.username, e.secret));
                }
                Line::Entry(e) => match entry(e.username, e.secret, algorithm) {
                    Ok(l) => out.push_str(&l),
                    Err(code) => return code,
                },
            }
        }
    } else {
        let username = a.username.as_deref().unwrap_or_default();
        let found = lines.iter().any(|l| matches!(l, Line::Entry(e) if e.username == username));
        if a.delete && !found {
            return fail(&format!("Warning: User {username} not found in password file."));
        }
        let new_line = if a.delete {
            None
        } else {
            let password = match a.password.clone().map_or_else(get_password, Ok) {
                Ok(p) => p,
                Err(code) => return code,
            };
            match entry(username, &password, algorithm) {
                Ok(l) => Some(l),
                Err(code) => return code,
            }
        };
        for line in &lines {
            match line {
                Line::Other(s) => {
                    out.push_str(s);
                    out.push('\n');
                }
                Line::Entry(e) if e.username == username => {
                    if let Some(l) = &new_line {
                        out.push_str(l);
                    }
                }
                Line::Entry(e) => out.push_str(&format!("{}:{}\n", e.username, e.secret)),
            }
        }
        if !found {
            if let Some(l) = &new_line {
                out.push_str(l);
            }
        }
    }
    if let Err(e) = write_file(&path, &out) {
        eprintln!("Error occurred updating password file: {}.", os_error(&e));
        return 1;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn option_conflicts_are_refused() {
        assert_eq!(parse(&args(&["-c", "-D", "f", "u"])).unwrap_err(), 1);
        assert_eq!(parse(&args(&["-b", "-D", "f", "u"])).unwrap_err(), 1);
        assert_eq!(parse(&args(&["-H", "md5", "f", "u"])).unwrap_err(), 1);
        assert_eq!(parse(&args(&["-b", "f", "a:b", "p"])).unwrap_err(), 1);
    }

    #[test]
    fn algorithm_defaults_to_pbkdf2_with_210000_iterations() {
        let a = parse(&args(&["-b", "f", "u", "p"])).unwrap();
        assert_eq!(a.algorithm(), Algorithm::Sha512Pbkdf2 { iterations: 210_000 });
        let a = parse(&args(&["-H", "argon2id", "-b", "f", "u", "p"])).unwrap();
        assert_eq!(a.algorithm(), Algorithm::Argon2id);
        let a = parse(&args(&["-I", "1000", "-b", "f", "u", "p"])).unwrap();
        assert_eq!(a.algorithm(), Algorithm::Sha512Pbkdf2 { iterations: 1000 });
    }

    #[test]
    fn positional_arguments_by_mode() {
        let a = parse(&args(&["-U", "f"])).unwrap();
        assert!(a.update_file && a.username.is_none());
        let a = parse(&args(&["-D", "f", "bob"])).unwrap();
        assert_eq!(a.username.as_deref(), Some("bob"));
        assert!(parse(&args(&["f"])).is_err());
    }
}
