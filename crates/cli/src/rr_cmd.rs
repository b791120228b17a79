//! `tern rr`: mosquitto_rr. Subscribes to the response topic (`-e`), publishes the request (`-t`, `-m`) with
//! the MQTT 5.0 Response Topic property, prints the first response and exits (or "Timed out" after `-W`).

use tern_client::{Disconnect, Event, Publish, ReasonCode};

use crate::client_opts::{ClientConfig, PubMode, Tool};
use crate::connection::{connect, err_print};
use crate::pub_cmd::{load, load_message};
use crate::sub_cmd::{interrupted, output_options, print_message, subscribe, timeout, TIMEOUT_EXIT};

pub fn run(args: &[String]) -> i32 {
    let cfg = match load(Tool::Rr, args) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    if cfg.topics.is_empty() || cfg.pub_mode == PubMode::None || cfg.response_topic.is_none() {
        eprintln!("Error: All of topic, message, and response topic must be supplied.\n\nUse 'tern rr --help' to see usage.");
        return 1;
    }
    let message = match load_message(&cfg) {
        Ok(Some(m)) => m,
        Ok(None) | Err(_) => return 1,
    };
    crate::runtime(request(cfg, message))
}

async fn request(cfg: ClientConfig, message: Vec<u8>) -> i32 {
    let (client, mut events, _) = match connect(&cfg, false).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(response_topic) = cfg.response_topic.clone() else { return 1 };
    if !subscribe(&cfg, &client, std::slice::from_ref(&response_topic)).await {
        return 1;
    }
    let mut properties = cfg.publish_props.clone();
    if cfg.version.is_v5() {
        properties.response_topic = Some(response_topic.as_str().into());
    }
    let request = Publish { qos: cfg.qos, properties, ..Publish::new(cfg.topics[0].as_str(), message) };
    if let Err(e) = client.publish_message(request).await {
        err_print(&cfg, &format!("Error: {e}"));
        return 1;
    }
    let output = output_options(&cfg);
    let deadline = timeout(cfg.timeout);
    tokio::pin!(deadline);
    let stop = interrupted();
    tokio::pin!(stop);
    let mut received = 0;
    let code = loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Message(m)) => {
                    if m.retain && cfg.no_retain {
                        continue;
                    }
                    print_message(&cfg, &output, &m);
                    received += 1;
                    if received >= cfg.msg_count.max(1) {
                        break 0;
                    }
                }
                Some(_) => {}
                None => {
                    err_print(&cfg, "Error: The connection was lost.");
                    break 1;
                }
            },
            _ = &mut deadline => {
                err_print(&cfg, "Timed out");
                break TIMEOUT_EXIT;
            }
            _ = &mut stop => break 0,
        }
    };
    let d = Disconnect {
        reason_code: ReasonCode::NORMAL_DISCONNECTION,
        properties: cfg.disconnect_props.clone(),
    };
    let _ = client.disconnect_with(d).await;
    code
}
