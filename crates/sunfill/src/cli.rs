//! The command line: one subcommand per module, each with its own arguments.
//!
//! To add a subcommand, add a module with an `Args` struct (clap `Args` derive) and a
//! `run(args) -> anyhow::Result<ExitCode>`, then a variant of [`Command`] and an arm in [`run`].

use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Charge an electric car from rooftop solar.
#[derive(Debug, Parser)]
#[command(name = "sunfill", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: site readings over MQTT in, wallbox currents over Modbus out, state,
    /// Home Assistant discovery, commands, dashboard. Stops cleanly on SIGTERM or Ctrl-C.
    Run {
        /// The config file (`sunfill config example` prints one).
        #[arg(long, short)]
        config: PathBuf,
        /// Testing only (the soak test): run model time this many times faster than real time,
        /// as the demo does, polling the boxes every 3 s of model time.
        #[arg(long, hide = true)]
        speed: Option<f64>,
        /// Testing only, with `--speed`: the Unix time (ms) model time starts at.
        #[arg(long, hide = true, requires = "speed")]
        start_unix_ms: Option<i64>,
    },
    /// Check a config file, or print a commented example with every option.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Everything in one process, nothing to install: an MQTT broker, a simulated wallbox with
    /// a car, and a generated solar day replayed faster than real time, with sunfill charging
    /// from it exactly as `run` does.
    Demo(crate::demo::Args),
    /// Check the path to the broker step by step and explain what fails.
    Check {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Seconds to wait for input values.
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Certificates for Mosquitto and its clients.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Home Assistant integration.
    #[command(subcommand)]
    Ha(HaCommand),
    /// Replay scenarios through the simulated wallbox and car (BENCHMARK.md) and compare the
    /// policies.
    Simulate(Box<crate::simulate::Args>),
    /// Talk to a Heidelberg Energy Control wallbox over Modbus (status, set-current, watchdog,
    /// standby, scan...).
    Wallbox(crate::heidelberg::cmd::WallboxArgs),
    /// Run a simulated Heidelberg wallbox as a Modbus server (TCP, RTU, RTU over TCP).
    SimWallbox(crate::heidelberg::cmd::SimWallboxArgs),
    /// Benchmarks.
    Bench(BenchArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Simulate(args) => crate::simulate::run(*args),
        Command::Wallbox(args) => {
            crate::heidelberg::cmd::run(crate::heidelberg::cmd::wallbox(args))
        }
        Command::SimWallbox(args) => {
            crate::heidelberg::cmd::run(crate::heidelberg::cmd::sim_wallbox(args))
        }
        Command::Bench(args) => match args.what {
            BenchCommand::Modbus(a) => {
                crate::heidelberg::cmd::run(crate::heidelberg::cmd::bench(a))
            }
            BenchCommand::Mqtt(a) => crate::bench_mqtt::run(crate::bench_mqtt::bench(a)),
            BenchCommand::MqttService(a) => {
                crate::bench_mqtt::run(crate::bench_mqtt::service_child(a))
            }
            BenchCommand::MqttFlood(a) => crate::bench_mqtt::run(crate::bench_mqtt::flood_child(a)),
        },
        Command::Config(ConfigCommand::Example) => {
            print!("{}", crate::config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { config }) => crate::commands::config_check(&config),
        Command::Demo(args) => crate::demo::run(args),
        command => crate::commands::run(command),
    }
}

/// `sunfill bench ...`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which bench.
    #[command(subcommand)]
    pub what: BenchCommand,
}

/// The benches.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Modbus transactions against the simulated box with injected faults (issue 4 acceptance).
    Modbus(crate::heidelberg::bench::BenchModbusArgs),
    /// MQTT against a real Mosquitto on loopback: latency from a published grid reading to the
    /// decision, and the CPU time of a flood of unrelated topics (issue 5 acceptance).
    Mqtt(crate::bench_mqtt::BenchMqttArgs),
    /// Internal to `bench mqtt`: the service in its own process.
    #[command(hide = true)]
    MqttService(crate::bench_mqtt::ServiceArgs),
    /// Internal to `bench mqtt`: the flood publisher.
    #[command(hide = true)]
    MqttFlood(crate::bench_mqtt::FloodArgs),
}

/// `sunfill certs ...`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create a CA, a broker certificate, client certificates and config snippets.
    Init(CertsInit),
    /// Describe the certificate(s) in a PEM file in plain words.
    Show {
        /// A PEM file.
        file: PathBuf,
    },
}

/// Arguments of `sunfill certs init`.
#[derive(Debug, Args)]
pub struct CertsInit {
    /// Output directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The broker's host name as clients connect to it.
    #[arg(long)]
    pub host: String,
    /// An IP address of the broker (repeatable).
    #[arg(long = "ip")]
    pub ips: Vec<IpAddr>,
    /// A client certificate to create (repeatable; default: sunfill).
    #[arg(long = "client")]
    pub clients: Vec<String>,
    /// Validity of broker and client certificates, days.
    #[arg(long, default_value_t = 825)]
    pub days: i64,
}

/// `sunfill config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file: every error names the file, line and key. Secrets are never
    /// printed.
    Check {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print a commented config file covering every option.
    Example,
}

/// `sunfill ha ...`.
#[derive(Debug, Subcommand)]
pub enum HaCommand {
    /// Delete sunfill's device from Home Assistant (empty retained discovery messages).
    Remove {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
