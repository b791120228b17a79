//! `tern sub`: mosquitto_sub. Subscribes, prints each message (payload, `-v`, or `-F`), until `-C` messages,
//! `-W` seconds, `-E` (after SUBACK), `--retained-only`'s first live message, or SIGINT/SIGTERM.

use std::io::Write;
use std::time::Duration;

use rand::Rng;
use tern_client::{
    Client, Disconnect, Event, Properties, Publish, QoS, ReasonCode, RetainHandling, SubscriptionOptions,
    SubscriptionRequest,
};
use tern_codec::topic::matches;

use crate::client_opts::{ClientConfig, Tool};
use crate::connection::{connect, err_print};
use crate::format::{format_message, OutputOptions};
use crate::pub_cmd::load;

/// Exit status of a `-W` timeout (mosquitto's MOSQ_ERR_TIMEOUT), printed as "Timed out".
pub const TIMEOUT_EXIT: i32 = 27;

pub fn run(args: &[String]) -> i32 {
    let cfg = match load(Tool::Sub, args) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    if cfg.no_retain && cfg.retained_only {
        eprintln!("\nError: Combining '-R' and '--retained-only' makes no sense.");
        return 1;
    }
    crate::runtime(subscribe_main(cfg))
}

pub fn output_options(cfg: &ClientConfig) -> OutputOptions {
    OutputOptions { format: cfg.format.clone(), verbose: cfg.verbose, eol: cfg.eol, pretty: cfg.pretty }
}

/// Subscribes to `-t` topics in one SUBSCRIBE; with `-d`, `tern sub` prints the granted QoS as mosquitto_sub
/// does (mosquitto_rr prints nothing of it).
pub async fn subscribe(cfg: &ClientConfig, client: &Client, topics: &[String]) -> bool {
    if topics.is_empty() {
        return true;
    }
    let options = SubscriptionOptions {
        qos: cfg.qos,
        no_local: false,
        retain_as_published: cfg.retain_as_published,
        retain_handling: if cfg.no_retain {
            RetainHandling::DoNotSend
        } else {
            RetainHandling::SendAtSubscribe
        },
    };
    let filters =
        topics.iter().map(|t| SubscriptionRequest { filter: t.as_str().into(), options }).collect::<Vec<_>>();
    match client.subscribe_many(filters, cfg.subscribe_props.clone()).await {
        Ok(suback) => {
            if cfg.debug && !cfg.quiet && cfg.tool == Tool::Sub {
                let granted =
                    suback.reason_codes.iter().map(|c| c.0.to_string()).collect::<Vec<_>>().join(", ");
                println!("Subscribed (mid: {}): {granted}", suback.packet_id);
            }
            true
        }
        Err(e) => {
            err_print(cfg, &format!("Error: {e}"));
            false
        }
    }
}

/// Prints one message to stdout (flushed) and its formatting errors to stderr.
pub fn print_message(cfg: &ClientConfig, output: &OutputOptions, message: &Publish) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    format_message(output, message, &chrono::Local::now(), &mut out, &mut errors);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&out);
    let _ = stdout.flush();
    for e in errors {
        err_print(cfg, &e);
    }
}

/// SIGINT or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A deadline for `-W`, or never.
pub async fn timeout(secs: u32) {
    if secs == 0 {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_secs(u64::from(secs))).await;
}

async fn disconnect(cfg: &ClientConfig, client: &Client, reason: ReasonCode) {
    let d = Disconnect { reason_code: reason, properties: cfg.disconnect_props.clone() };
    let _ = client.disconnect_with(d).await;
}

async fn subscribe_main(cfg: ClientConfig) -> i32 {
    let (client, mut events, _) = match connect(&cfg, true).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let topics = cfg.topics.clone();
    // As mosquitto_sub: the SUBSCRIBE and one UNSUBSCRIBE per -U go out together, before any answer.
    let unsubscribes = cfg
        .unsub_topics
        .iter()
        .map(|t| client.unsubscribe(vec![t.as_str().into()], cfg.unsubscribe_props.clone()));
    let (subscribed, _) =
        tokio::join!(subscribe(&cfg, &client, &topics), futures_util::future::join_all(unsubscribes));
    if !subscribed {
        return 1;
    }
    if cfg.exit_after_sub {
        disconnect(&cfg, &client, ReasonCode::NORMAL_DISCONNECTION).await;
        return 0;
    }
    let output = output_options(&cfg);
    let deadline = timeout(cfg.timeout);
    tokio::pin!(deadline);
    let stop = interrupted();
    tokio::pin!(stop);
    let mut count = 0u32;
    let mut pending_removals = Vec::new();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Message(m)) => {
                    match handle(&cfg, &client, &output, &m, &mut count).await {
                        Handled::Continue(removal) => pending_removals.extend(removal),
                        Handled::Done => break,
                    }
                }
                Some(Event::Reconnected(connack)) => {
                    if !connack.session_present && !subscribe(&cfg, &client, &topics).await {
                        return 1;
                    }
                }
                Some(Event::Disconnected(_)) => {}
                None => {
                    err_print(&cfg, "Error: The connection was lost.");
                    return 1;
                }
            },
            _ = &mut deadline => {
                err_print(&cfg, "Timed out");
                disconnect(&cfg, &client, ReasonCode::NORMAL_DISCONNECTION).await;
                return TIMEOUT_EXIT;
            }
            _ = &mut stop => {
                // As mosquitto_sub: an interrupted subscriber's will is still published (MQTT 5.0).
                disconnect(&cfg, &client, ReasonCode::DISCONNECT_WITH_WILL_MESSAGE).await;
                return 0;
            }
        }
    }
    for d in pending_removals {
        let _ = d.await;
    }
    disconnect(&cfg, &client, ReasonCode::NORMAL_DISCONNECTION).await;
    0
}

enum Handled {
    Continue(Option<tern_client::Delivery>),
    Done,
}

async fn handle(
    cfg: &ClientConfig,
    client: &Client,
    output: &OutputOptions,
    m: &Publish,
    count: &mut u32,
) -> Handled {
    if cfg.retained_only && !m.retain {
        return Handled::Done;
    }
    if m.retain && cfg.no_retain {
        return Handled::Continue(None);
    }
    if cfg.filter_outs.iter().any(|f| matches(f, &m.topic)) {
        return Handled::Continue(None);
    }
    let mut removal = None;
    if cfg.remove_retained && m.retain {
        let clear = Publish {
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
            ..Publish::new(m.topic.clone(), "")
        };
        removal = client.publish_message(clear).await.ok();
    }
    if cfg.random_filter >= 10_000 || rand::thread_rng().gen_range(0..10_000) < cfg.random_filter {
        print_message(cfg, output, m);
    }
    if cfg.msg_count > 0 {
        *count += 1;
        if *count >= cfg.msg_count {
            if let Some(d) = removal {
                let _ = d.await;
            }
            return Handled::Done;
        }
    }
    Handled::Continue(removal)
}
