//! The `sunfill` command: parses the command line and dispatches to a subcommand.
//!
//! Errors print as `sunfill: ` followed by the cause chain, and exit with code 2. A subcommand
//! may also ask for another exit code (`simulate --check-goal` exits 1 when the goal is missed).
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = sunfill::cli::Cli::parse();
    match sunfill::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sunfill: {e:#}");
            ExitCode::from(2)
        }
    }
}
