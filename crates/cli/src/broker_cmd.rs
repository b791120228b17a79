//! `tern broker`: run the MQTT broker, with `mosquitto`'s flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use tern_broker::config::{Config, ListenerConfig, Places};
use tern_broker::{Broker, RunningBroker};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::logging::LogSinks;

/// Run the MQTT broker.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Configuration file: mosquitto.conf syntax, or Tern's TOML format if the name ends in `.toml`.
    #[arg(short = 'c', long = "config-file", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen on this port instead of 1883 (on loopback only, unless the configuration has listeners).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Log every connect, subscribe and publish, like `mosquitto -v`.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Print the effective configuration in Tern's TOML format and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Check the configuration as start-up would, short of binding (the password, ACL, certificate, key
    /// and CRL files it names are read) and exit: 0 if it is usable, 1 with the problems otherwise.
    #[arg(long)]
    pub test_config: bool,
    /// Serve Prometheus /metrics, health probes and the admin API on this address (e.g. 127.0.0.1:9883).
    #[arg(long = "http", value_name = "ADDR")]
    pub http: Option<String>,
    /// Bearer token for the admin API (required for a non-loopback --http address).
    #[arg(long = "http-token", value_name = "TOKEN", env = "TERN_HTTP_TOKEN", hide_env_values = true)]
    pub http_token: Option<String>,
}

/// The configuration the arguments describe.
fn configuration(args: &BrokerArgs) -> anyhow::Result<(Config, Vec<String>)> {
    configuration_with_places(args).map(|(config, notices, _)| (config, notices))
}

/// [`configuration`], with where the file's directives are.
fn configuration_with_places(args: &BrokerArgs) -> anyhow::Result<(Config, Vec<String>, Places)> {
    let (mut config, notices, places) = match &args.config {
        Some(path) => {
            let (config, notices, places) = Config::load_with_places(path)?;
            (config, notices.iter().map(ToString::to_string).collect(), places)
        }
        None => (Config::default(), Vec::new(), Places::default()),
    };
    if let Some(port) = args.port {
        if config.listeners.is_empty() {
            // Mosquitto: `-p` without listeners keeps the local-only mode, on the given port.
            config.listeners =
                Config::local_only_listeners().into_iter().map(|l| ListenerConfig { port, ..l }).collect();
            config.security.allow_anonymous.get_or_insert(true);
        } else {
            for listener in &mut config.listeners {
                listener.port = port;
            }
        }
    }
    config.log.verbose |= args.verbose;
    if let Some(listen) = &args.http {
        config.http.listen = Some(listen.clone());
    }
    if let Some(token) = &args.http_token {
        config.http.token = Some(token.clone());
    }
    Ok((config, notices, places))
}

/// `--test-config`: the file parses, and start-up would find every file it names usable.
fn test_config(args: &BrokerArgs) -> anyhow::Result<()> {
    let (config, _, places) = configuration_with_places(args)?;
    let name = args.config.as_ref().map_or("default".into(), |p| p.display().to_string());
    let problems = tern_broker::preflight::check(&config, Path::new(&name), &places);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::bail!("{}", lines.join("\n"));
    }
    println!("{name}: configuration OK");
    Ok(())
}

pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    if args.test_config {
        return test_config(&args);
    }
    let (config, notices) = configuration(&args)?;
    if args.print_config {
        print!("{}", config.to_toml()?);
        return Ok(());
    }
    let sinks = crate::logging::init(&config.log).context("opening the log destinations")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Handlers first: a SIGHUP (say from logrotate) arriving while the broker starts must not kill it.
        let signals = Signals::new()?;
        info!("tern version {} starting", env!("CARGO_PKG_VERSION"));
        match &args.config {
            Some(path) => info!("Config loaded from {}.", path.display()),
            None => info!("Using default config."),
        }
        for notice in &notices {
            warn!("{notice}");
        }
        if let Some(pid_file) = &config.pid_file {
            std::fs::write(pid_file, format!("{}\n", std::process::id()))
                .with_context(|| format!("writing pid_file {}", pid_file.display()))?;
        }
        let pid_file = config.pid_file.clone();
        let user = config.user.clone();
        let store = config.persistence.enabled().then(|| config.persistence.location.clone());
        let broker = Broker::new(config).start().await.context("starting the broker")?;
        if let Some(user) = &user {
            crate::privileges::drop_to(user, store.as_deref())?;
        }
        sinks.publish_to(broker.shared().clone());
        serve_signals(&broker, &args, &sinks, signals).await?;
        info!("tern version {} terminating", env!("CARGO_PKG_VERSION"));
        broker.shutdown().await;
        if let Some(pid_file) = pid_file {
            let _ = std::fs::remove_file(pid_file);
        }
        Ok(())
    })
}

/// The signals the broker handles, listened to from before it starts.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals { term: signal(SignalKind::terminate())?, hup: signal(SignalKind::hangup())? })
    }
}

/// A reload asked for through the admin API, with where to send its outcome.
type ReloadRequest = oneshot::Sender<Result<String, String>>;

/// Runs until Ctrl-C or SIGTERM. SIGHUP (and `POST /api/v1/reload`) reopens the log files and reloads the
/// configuration file's security settings.
async fn serve_signals(
    broker: &RunningBroker,
    args: &BrokerArgs,
    sinks: &LogSinks,
    mut signals: Signals,
) -> anyhow::Result<()> {
    let (requests, mut requested) = mpsc::channel::<ReloadRequest>(4);
    broker.shared().set_reload_hook(std::sync::Arc::new(move || {
        let requests = requests.clone();
        Box::pin(async move {
            let (reply, outcome) = oneshot::channel();
            requests.send(reply).await.map_err(|_| "the broker is stopping".to_owned())?;
            outcome.await.map_err(|_| "the broker is stopping".to_owned())?
        })
    }));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = signals.term.recv() => return Ok(()),
            _ = signals.hup.recv() => {
                let _ = reload(broker, args, sinks);
            }
            Some(reply) = requested.recv() => {
                let _ = reply.send(reload(broker, args, sinks));
            }
        }
    }
}

/// Reopens the log files and re-reads the configuration file. Any problem keeps the settings in force and
/// is logged with its place.
fn reload(broker: &RunningBroker, args: &BrokerArgs, sinks: &LogSinks) -> Result<String, String> {
    sinks.reopen();
    info!("Reloading config.");
    let result =
        configuration(args).and_then(|(config, _)| broker.reload(&config).map_err(anyhow::Error::from));
    match result {
        Ok(reloaded) if reloaded.needs_restart.is_empty() => Ok("configuration reloaded".to_owned()),
        Ok(reloaded) => Ok(format!(
            "configuration reloaded; needs a restart to take effect: {}",
            reloaded.needs_restart.join(", ")
        )),
        Err(e) => {
            let why = crate::error_chain(&e);
            tracing::error!("Reload failed, previous configuration stays in force: {why}");
            Err(why)
        }
    }
}
