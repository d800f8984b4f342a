//! The `sunfill` command: parses the command line and dispatches to a subcommand.
//!
//! Errors print as `sunfill: ` followed by the cause chain, and exit with code 2. A subcommand
//! may also ask for another exit code (`simulate --check-goal` exits 1 when the goal is missed).
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = sunfill::cli::Cli::parse();
    // `run` sets up logging from its config file ([log] format and level), `demo` its own.
    if !matches!(
        cli.command,
        sunfill::cli::Command::Run { .. } | sunfill::cli::Command::Demo(_)
    ) {
        sunfill::logging::init(sunfill::config::LogFormat::Human, "info");
    }
    match sunfill::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sunfill: {e:#}");
            ExitCode::from(2)
        }
    }
}
