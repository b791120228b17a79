//! Asking for a password as mosquitto_passwd does: the prompt on stdout, the answer read from stdin with
//! the terminal's echo off (when stdin is a terminal; a script may pipe the password in), and the line
//! break printed only once the answer is taken, so an empty answer leaves the error on the prompt's line.

use std::io::{BufRead, IsTerminal, Write};

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};

/// Prints `prompt` and reads one line without echoing it, without its line ending.
pub fn read_hidden(prompt: &str) -> std::io::Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let stdin = std::io::stdin();
    // Echo off, newline echo too (mosquitto_passwd clears only ECHO; ECHONL is off on a usual terminal).
    let saved = if stdin.is_terminal() {
        let saved = tcgetattr(&stdin).map_err(std::io::Error::from)?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO | LocalFlags::ECHONL);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(std::io::Error::from)?;
        Some(saved)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        tcsetattr(&stdin, SetArg::TCSANOW, &saved).map_err(std::io::Error::from)?;
    }
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
