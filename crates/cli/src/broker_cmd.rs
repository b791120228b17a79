//! `tern broker`: run the MQTT broker, with `mosquitto`'s flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tern_broker::config::{Config, ListenerConfig};
use tern_broker::Broker;
use tracing::info;

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
}

pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => anyhow::bail!("reading {}: configuration files are not supported by this build", path.display()),
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
    crate::logging::init(config.log.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        info!("tern version {} starting", env!("CARGO_PKG_VERSION"));
        if args.config.is_none() {
            info!("Using default config.");
        }
        let broker = Broker::new(config).start().await.context("starting the broker")?;
        wait_for_signal().await;
        info!("tern version {} terminating", env!("CARGO_PKG_VERSION"));
        broker.shutdown().await;
        Ok(())
    })
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
