//! The load generator on its own, for machines where the `tern` binary is not built with `tern bench`:
//! `cargo run --release -p tern-bench --example tern-bench -- pairs -c 10 -q 1 -d 5s`.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "tern-bench", about = "Load generator for MQTT brokers")]
struct Cli {
    #[command(flatten)]
    bench: tern_bench::BenchArgs,
}

fn main() -> std::process::ExitCode {
    match tern_bench::run(Cli::parse().bench) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
