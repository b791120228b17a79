//! The scenarios, after emqtt-bench: what connects, who publishes where, who subscribes to what.
//!
//! # Layout
//! - [`plans`]: topics and filters of the message scenarios (`pairs`, `fanout`, `fanin`, `subs`)
//! - [`messages`]: runs a message scenario and counts deliveries exactly
//! - [`conn`]: connection storm and idle connections
//! - [`retained`]: retained messages delivered to a `#` subscription

pub mod conn;
pub mod messages;
pub mod plans;
pub mod retained;

use clap::{Args, Subcommand};

use crate::options::CommonArgs;
use crate::summary::Summary;

/// A benchmark scenario and its options.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// N publisher/subscriber pairs, each pair on its own topic.
    #[command(disable_help_flag = true)]
    Pairs(PairsArgs),
    /// Publishers to one topic, N subscribers to it: every message is delivered N times.
    #[command(disable_help_flag = true)]
    Fanout(FanoutArgs),
    /// N publishers on their own topics, one wildcard subscriber (or a `$share` group with --shared).
    #[command(disable_help_flag = true)]
    Fanin(FaninArgs),
    /// Connection storm, then N idle connections held.
    #[command(disable_help_flag = true)]
    Conn(ConnArgs),
    /// Publish routing against a table of N exact, `+` and `#` filters held by a few subscribers.
    #[command(disable_help_flag = true)]
    Subs(SubsArgs),
    /// Store N retained messages, then time a `#` subscription until all of them arrived.
    #[command(disable_help_flag = true)]
    Retained(RetainedArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PairsArgs {
    /// Publisher/subscriber pairs.
    #[arg(short = 'c', long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub pairs: u32,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Subscribers to the topic.
    #[arg(short = 'c', long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    /// Publishers to the topic.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub publishers: u32,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct FaninArgs {
    /// Publishers, each on its own topic.
    #[arg(short = 'c', long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub publishers: u32,
    /// Subscribe through a shared subscription `$share/GROUP/...`.
    #[arg(long)]
    pub shared: bool,
    /// Subscribers (members of the shared group with --shared; otherwise each receives everything).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    /// Share name of the group.
    #[arg(long, default_value = "bench")]
    pub group: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Connections to open and hold.
    #[arg(short = 'c', long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Local addresses 127.0.0.1 .. 127.0.0.N to connect from (loopback brokers only), so that more
    /// connections than one address has ephemeral ports can be opened.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=254))]
    pub sources: u8,
    /// How long to hold the connections once all are open (default: --duration).
    #[arg(long, value_parser = crate::options::parse_duration)]
    pub hold: Option<std::time::Duration>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SubsArgs {
    /// Topic filters in the table: a third exact, a third with `+`, a third with `#`.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub filters: u32,
    /// Subscriber connections holding the filters.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    /// Publishers; each message matches exactly one filter, the topics taken in turn.
    #[arg(short = 'c', long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub publishers: u32,
    /// Filters per SUBSCRIBE packet.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_subscribe: u32,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RetainedArgs {
    /// Retained messages to store, each on its own topic.
    #[arg(short = 'c', long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Leave the retained messages on the broker (default: cleared at the end).
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Scenario {
    pub fn common(&self) -> &CommonArgs {
        match self {
            Scenario::Pairs(a) => &a.common,
            Scenario::Fanout(a) => &a.common,
            Scenario::Fanin(a) => &a.common,
            Scenario::Conn(a) => &a.common,
            Scenario::Subs(a) => &a.common,
            Scenario::Retained(a) => &a.common,
        }
    }

    /// File descriptors the run needs.
    pub fn connections(&self) -> u64 {
        u64::from(match self {
            Scenario::Pairs(a) => a.pairs * 2,
            Scenario::Fanout(a) => a.subscribers + a.publishers,
            Scenario::Fanin(a) => a.publishers + a.subscribers,
            Scenario::Conn(a) => a.connections,
            Scenario::Subs(a) => a.subscribers + a.publishers,
            Scenario::Retained(_) => 2,
        })
    }

    /// Runs the scenario to its end and returns what it measured.
    pub async fn execute(&self) -> anyhow::Result<Summary> {
        let run = run_id();
        match self {
            Scenario::Pairs(a) => {
                messages::run(&a.common, &run, plans::pairs(&a.common, &run, a.pairs)).await
            }
            Scenario::Fanout(a) => {
                messages::run(&a.common, &run, plans::fanout(&a.common, &run, a.publishers, a.subscribers))
                    .await
            }
            Scenario::Fanin(a) => {
                let group = a.shared.then_some(a.group.as_str());
                messages::run(
                    &a.common,
                    &run,
                    plans::fanin(&a.common, &run, a.publishers, a.subscribers, group),
                )
                .await
            }
            Scenario::Subs(a) => {
                let plan =
                    plans::subs(&a.common, &run, a.filters, a.subscribers, a.publishers, a.per_subscribe);
                messages::run(&a.common, &run, plan).await
            }
            Scenario::Conn(a) => conn::run(a, &run).await,
            Scenario::Retained(a) => retained::run(a, &run).await,
        }
    }
}

/// A short id unique to this run, used in client ids and topics.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16))
        .unwrap_or(0);
    format!("{:x}{:04x}", std::process::id() & 0xffff, nanos & 0xffff)
}
