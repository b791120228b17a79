//! `tern broker`: run the MQTT broker, with `mosquitto`'s flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tern_broker::config::{Config, ListenerConfig};
use tern_broker::{Broker, RunningBroker};
use tracing::{info, warn};

use crate::logging::LogSinks;

/// Run the MQTT broker.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Configuration file: mosquitto.conf syntax, or Tern's TOML format if it ends in `.toml`.
    #[arg(short = 'c', long = "config-file", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen on this port instead of 1883 (loopback only unless a configuration file says otherwise).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Log every connect, subscribe and publish, like `mosquitto -v`.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Serve Prometheus /metrics, health probes and the admin API on this address (e.g. 127.0.0.1:9883).
    #[arg(long = "http", value_name = "ADDR")]
    pub http: Option<String>,
    /// Bearer token for the admin API (required for a non-loopback --http address).
    #[arg(long = "http-token", value_name = "TOKEN", env = "TERN_HTTP_TOKEN", hide_env_values = true)]
    pub http_token: Option<String>,
}

pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => {
            anyhow::bail!("reading {}: configuration files are not supported by this build", path.display())
        }
        None => Config::default(),
    };
    if let Some(port) = args.port {
        if config.listeners.is_empty() {
            config.listeners = tern_broker::listener::effective_listeners(&[])
                .into_iter()
                .map(|l| ListenerConfig { port, ..l })
                .collect();
            config.security.allow_anonymous.get_or_insert(true);
        } else {
            for l in &mut config.listeners {
                l.port = port;
            }
        }
    }
    config.log.verbose |= args.verbose;
    if let Some(listen) = args.http {
        config.http.listen = Some(listen);
    }
    if let Some(token) = args.http_token {
        config.http.token = Some(token);
    }
    let sinks = crate::logging::init(config.log.verbose, &config.log.types, &config.log.dest)
        .context("opening the log destinations")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        info!("tern version {} starting", env!("CARGO_PKG_VERSION"));
        if args.config.is_none() {
            info!("Using default config.");
        }
        let broker = Broker::new(config).start().await.context("starting the broker")?;
        serve_until_stopped(&broker, &sinks).await;
        info!("tern version {} terminating", env!("CARGO_PKG_VERSION"));
        broker.shutdown().await;
        Ok(())
    })
}

/// Runs until Ctrl-C or SIGTERM. SIGHUP reopens the log files and reloads the configuration (as
/// `systemctl reload` and logrotate expect).
async fn serve_until_stopped(broker: &RunningBroker, sinks: &LogSinks) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut hangup) = signal(SignalKind::hangup()) {
            loop {
                tokio::select! {
                    _ = wait_for_signal() => return,
                    _ = hangup.recv() => reload(broker, sinks),
                }
            }
        }
    }
    wait_for_signal().await;
}

fn reload(broker: &RunningBroker, sinks: &LogSinks) {
    sinks.reopen();
    match broker.shared().reload() {
        None => info!("Reloading: log files reopened; configuration reload is not available in this build."),
        Some(Ok(result)) => info!("Reloading config: {result}"),
        Some(Err(e)) => warn!("Reloading config failed, keeping the running one: {e}"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
