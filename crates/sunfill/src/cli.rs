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
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Simulate(args) => crate::simulate::run(args),
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
