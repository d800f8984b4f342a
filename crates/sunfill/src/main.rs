//! The `sunfill` command: parses the command line and dispatches to a subcommand.
//!
//! Errors print as `sunfill: ` followed by the cause chain, and exit with code 2. A subcommand
//! may also ask for another exit code (`simulate --check-goal` exits 1 when the goal is missed).
#![forbid(unsafe_code)]

mod cli;
mod heidelberg;
mod simulate;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sunfill: {e:#}");
            ExitCode::from(2)
        }
    }
}
