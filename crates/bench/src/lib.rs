//! # tern-bench
//!
//! `tern bench`: a load generator for any MQTT broker, after emqtt-bench. Each scenario prints a progress
//! line every second (publish and delivery rates, latency, errors, CPU) and a final summary, as text or
//! JSON (`--json`).
//!
//! ```text
//! tern bench pairs    -c 100 -q 1 -d 10s          # 100 publisher/subscriber pairs, max rate, QoS 1
//! tern bench fanout   -c 1000 -r 100              # 1 publisher -> 1000 subscribers at 100 msg/s
//! tern bench fanin    -c 1000 -q 1 [--shared]     # 1000 publishers -> 1 wildcard (or $share) subscriber
//! tern bench conn     -c 19500 --hold 10s         # connection storm, then idle connections held
//! tern bench subs     --filters 100000            # routing against 100k exact / + / # filters
//! tern bench retained -c 100000                   # 100k retained messages, then time a `#` subscribe
//! ```
//!
//! Every message carries its send time, publisher and sequence number ([`payload`]): latency comes from
//! an HDR histogram of receive minus send time, and QoS 1/2 runs count lost and duplicated messages
//! exactly. The generator is its own minimal client on tokio and tern-codec: messages are encoded straight
//! into a write buffer, many per write, and read 64 KiB at a time, so that it costs less CPU than the
//! broker it measures (`--broker-pid` reports both).
//!
//! # Layout
//! - [`options`]: options common to every scenario
//! - [`scenario`]: the scenarios and their runners
//! - [`publisher`], [`subscriber`]: the two halves of a message scenario
//! - [`client`], [`transport`]: the minimal MQTT client, over TCP or TLS
//! - [`payload`], [`seqset`]: what each message carries, and exact accounting of what arrived
//! - [`metrics`], [`process`], [`summary`]: counters, latency, progress line, CPU and memory, the summary

pub mod client;
pub mod metrics;
pub mod options;
pub mod payload;
pub mod process;
pub mod publisher;
pub mod scenario;
pub mod seqset;
pub mod subscriber;
pub mod summary;
pub mod transport;

use clap::Args;

pub use options::CommonArgs;
pub use scenario::Scenario;
pub use summary::Summary;

/// `tern bench`: the scenario to run and its options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Runs a scenario on its own runtime, prints the summary (stdout) and fails if the broker misbehaved:
/// errors, lost or duplicated acknowledged messages, misrouted deliveries.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let common = args.scenario.common();
    process::raise_open_files(args.scenario.connections() + 256);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(common.threads))
        .enable_all()
        .build()?;
    let summary = runtime.block_on(args.scenario.execute())?;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{summary}");
    }
    let problems = summary.problems();
    if !problems.is_empty() {
        anyhow::bail!("the broker misbehaved: {}", problems.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser, Subcommand};

    use super::*;

    /// `tern bench` as the `tern` binary wires it: a subcommand holding [`BenchArgs`].
    #[derive(Debug, Parser)]
    struct Tern {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Debug, Subcommand)]
    enum Command {
        Bench(BenchArgs),
    }

    #[test]
    fn wired_as_a_subcommand_the_options_are_consistent() {
        Tern::command().debug_assert();
    }

    #[test]
    fn mosquitto_style_short_options_parse() {
        let Command::Bench(args) = Tern::parse_from([
            "tern",
            "bench",
            "pairs",
            "-c",
            "7",
            "-h",
            "127.0.0.2",
            "-p",
            "1884",
            "-q",
            "1",
            "-V",
            "mqttv5",
        ])
        .command;
        let Scenario::Pairs(pairs) = &args.scenario else { panic!("pairs expected") };
        assert_eq!(pairs.pairs, 7);
        let common = args.scenario.common();
        assert_eq!((common.host.as_str(), common.port), ("127.0.0.2", 1884));
        assert_eq!(
            (common.qos, common.version),
            (tern_codec::QoS::AtLeastOnce, tern_codec::ProtocolVersion::V5)
        );
        assert_eq!(args.scenario.connections(), 14);
    }

    #[test]
    fn payload_smaller_than_the_header_is_refused() {
        assert!(Tern::try_parse_from(["tern", "bench", "pairs", "-s", "19"]).is_err());
        assert!(Tern::try_parse_from(["tern", "bench", "pairs", "-s", "20"]).is_ok());
    }
}
