//! The command line: one subcommand per module, each with its own arguments struct.
//!
//! To add a subcommand, add a module with an `Args` struct (clap `Args` derive) and a
//! `run(args) -> anyhow::Result<ExitCode>`, then a variant of [`Command`] and an arm in [`run`].

use clap::{Parser, Subcommand};
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
    /// Replay scenarios through the simulated wallbox and car (BENCHMARK.md) and compare the
    /// policies.
    Simulate(crate::simulate::Args),
    /// Talk to a Heidelberg Energy Control wallbox over Modbus (status, set-current, watchdog,
    /// standby, scan...).
    Wallbox(crate::heidelberg::cmd::WallboxArgs),
    /// Run a simulated Heidelberg wallbox as a Modbus server (TCP, RTU, RTU over TCP).
    SimWallbox(crate::heidelberg::cmd::SimWallboxArgs),
    /// Benchmarks.
    Bench(crate::heidelberg::cmd::BenchArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Simulate(args) => crate::simulate::run(args),
        Command::Wallbox(args) => {
            crate::heidelberg::cmd::run(crate::heidelberg::cmd::wallbox(args))
        }
        Command::SimWallbox(args) => {
            crate::heidelberg::cmd::run(crate::heidelberg::cmd::sim_wallbox(args))
        }
        Command::Bench(args) => crate::heidelberg::cmd::run(crate::heidelberg::cmd::bench(args)),
    }
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
