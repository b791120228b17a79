//! `tern pub`: mosquitto_pub. Publishes one message (`-m`, `-f`, `-s`, `-n`, `--repeat`) or one message per
//! line of standard input (`-l`), waits for the acknowledgements, disconnects.

use std::time::Duration;

use tern_client::{Client, Delivery, Disconnect, Publish, ReasonCode};
use tokio::io::AsyncBufReadExt;

use crate::client_opts::{ClientConfig, ParseError, PubMode, Tool};
use crate::connection::{connect, err_print};
use crate::help::usage;

/// Parses the arguments and reports errors as mosquitto's tools do; `Err` is the exit status.
pub fn load(tool: Tool, args: &[String]) -> Result<ClientConfig, i32> {
    match ClientConfig::load(tool, args) {
        Ok(cfg) => Ok(cfg),
        Err(ParseError::Help) => {
            print!("{}", usage(tool));
            Err(1)
        }
        Err(ParseError::Invalid(m)) => {
            eprintln!("{m}\n\nUse '{} --help' to see usage.", tool.name());
            Err(1)
        }
    }
}

/// Reads the message of `-f` / `-s` / `-m` / `-n` before connecting; `None` for `-l`.
pub fn load_message(cfg: &ClientConfig) -> Result<Option<Vec<u8>>, i32> {
    match &cfg.pub_mode {
        PubMode::Message(m) => Ok(Some(m.clone())),
        PubMode::Null | PubMode::None => Ok(Some(Vec::new())),
        PubMode::File(path) => std::fs::read(path).map(Some).map_err(|_| {
            err_print(cfg, &format!("Error: Unable to open file \"{}\".", path.display()));
            err_print(cfg, &format!("Error loading input file \"{}\".", path.display()));
            1
        }),
        PubMode::StdinFile => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|_| {
                err_print(cfg, "Error loading input from stdin.");
                1
            })?;
            Ok(Some(buf))
        }
        PubMode::StdinLine => Ok(None),
    }
}

pub fn run(args: &[String]) -> i32 {
    let cfg = match load(Tool::Pub, args) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    if cfg.topics.is_empty() || cfg.pub_mode == PubMode::None {
        eprintln!("Error: Both topic and message must be supplied.");
        print!("{}", usage(Tool::Pub));
        return 1;
    }
    let message = match load_message(&cfg) {
        Ok(m) => m,
        Err(code) => return code,
    };
    crate::runtime(publish_main(cfg, message))
}

fn publish(cfg: &ClientConfig, payload: Vec<u8>) -> Publish {
    Publish {
        qos: cfg.qos,
        retain: cfg.retain,
        properties: cfg.publish_props.clone(),
        ..Publish::new(cfg.topics[0].as_str(), payload)
    }
}

/// Waits for a delivery; a refusal is reported as mosquitto_pub warns about it.
async fn settle(cfg: &ClientConfig, delivery: Delivery) -> bool {
    match delivery.await {
        Ok(_) => true,
        Err(tern_client::ClientError::Refused(code)) => {
            err_print(cfg, &format!("Warning: Publish failed: {}.", code.name().unwrap_or("Unknown reason")));
            true
        }
        Err(e) => {
            err_print(cfg, &format!("Error: {e}"));
            false
        }
    }
}

async fn publish_main(cfg: ClientConfig, message: Option<Vec<u8>>) -> i32 {
    let (client, _events, _connack) = match connect(&cfg, false).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ok = match message {
        Some(payload) => publish_repeated(&cfg, &client, payload).await,
        None => publish_lines(&cfg, &client).await,
    };
    let disconnect = Disconnect {
        reason_code: ReasonCode::NORMAL_DISCONNECTION,
        properties: cfg.disconnect_props.clone(),
    };
    let _ = client.disconnect_with(disconnect).await;
    if ok {
        0
    } else {
        1
    }
}

async fn publish_repeated(cfg: &ClientConfig, client: &Client, payload: Vec<u8>) -> bool {
    let mut pending = Vec::new();
    for n in 0..cfg.repeat_count {
        if n > 0 && cfg.repeat_delay > Duration::ZERO {
            tokio::time::sleep(cfg.repeat_delay).await;
        }
        match client.publish_message(publish(cfg, payload.clone())).await {
            Ok(d) => pending.push(d),
            Err(e) => {
                err_print(cfg, &format!("Error: {e}"));
                return false;
            }
        }
    }
    let mut ok = true;
    for d in pending {
        ok &= settle(cfg, d).await;
    }
    ok
}

/// `-l`: each line of standard input (without its `\n`) is a message; the last line needs no `\n`.
async fn publish_lines(cfg: &ClientConfig, client: &Client) -> bool {
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut pending = std::collections::VecDeque::new();
    let mut ok = true;
    loop {
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                err_print(cfg, &format!("Error: {e}"));
                return false;
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        match client.publish_message(publish(cfg, line)).await {
            Ok(d) => pending.push_back(d),
            Err(e) => {
                err_print(cfg, &format!("Error: {e}"));
                return false;
            }
        }
        // Keep the number of unsettled deliveries bounded.
        while pending.len() > usize::from(cfg.max_inflight) * 2 {
            if let Some(d) = pending.pop_front() {
                ok &= settle(cfg, d).await;
            }
        }
    }
    for d in pending {
        ok &= settle(cfg, d).await;
    }
    ok
}
