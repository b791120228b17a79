//! # tern
//!
//! One binary for the broker and its tools, each a drop-in for its Mosquitto counterpart:
//!
//! | command | replaces |
//! |---|---|
//! | `tern broker` | `mosquitto` |
//! | `tern pub` | `mosquitto_pub` |
//! | `tern sub` | `mosquitto_sub` |
//! | `tern rr` | `mosquitto_rr` |
//! | `tern passwd` | `mosquitto_passwd` |
//! | `tern bench` | `emqtt-bench` (load generator) |
//!
//! # Layout
//! - `broker_cmd`: `tern broker`, with mosquitto's flags
//! - `logging`: the broker's log output
//! - `client_opts`: the options shared by pub, sub and rr, and their defaults files
//! - `connection`: connecting, refusal messages and exit codes, `-d`
//! - `pub_cmd`, `sub_cmd`, `rr_cmd`, `passwd_cmd`: the commands
//! - `format`, `json`: how sub and rr print messages (`-v`, `-F`, `%j`)
//! - `password_prompt`: reading a password without echo, as mosquitto_passwd does
//! - `props`: `-D` MQTT 5.0 properties
//! - `help`: usage texts

mod broker_cmd;
mod client_opts;
mod connection;
mod format;
mod help;
mod json;
mod logging;
mod passwd_cmd;
mod password_prompt;
mod privileges;
mod props;
mod pub_cmd;
mod rr_cmd;
mod sub_cmd;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "tern", version, about = "Tern: an MQTT broker and its tools, compatible with Mosquitto")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Each command parses its own arguments, as the Mosquitto program it replaces does (`-h` is the host, not
/// help; `--help` prints the usage).
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the MQTT broker (like mosquitto)
    Broker(broker_cmd::BrokerArgs),
    /// Publish a message (like mosquitto_pub); see `tern pub --help`
    #[command(disable_help_flag = true)]
    Pub {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Subscribe and print messages (like mosquitto_sub); see `tern sub --help`
    #[command(disable_help_flag = true)]
    Sub {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Request/response (like mosquitto_rr); see `tern rr --help`
    #[command(disable_help_flag = true)]
    Rr {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Manage a password file (like mosquitto_passwd); see `tern passwd --help`
    #[command(disable_help_flag = true)]
    Passwd {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Load-test any MQTT broker (pairs, fanout, fanin, conn, subs, retained)
    Bench(Box<tern_bench::BenchArgs>),
}

/// Runs a command's async part on a single-threaded runtime; returns its exit status.
pub(crate) fn runtime(fut: impl std::future::Future<Output = i32>) -> i32 {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Bench(args) => match tern_bench::run(*args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("Error: {}", error_chain(&e));
                1
            }
        },
        Command::Broker(args) => match broker_cmd::run(args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("Error: {}", error_chain(&e));
                1
            }
        },
        Command::Pub { args } => pub_cmd::run(&args),
        Command::Sub { args } => sub_cmd::run(&args),
        Command::Rr { args } => rr_cmd::run(&args),
        Command::Passwd { args } => passwd_cmd::run(&args),
    };
    std::process::exit(code);
}

/// An error and its causes, `: `-separated, leaving out causes the message above already spells out.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}
