//! The `sunfill` command.
//!
//! `main` parses arguments, runs one subcommand on a single-threaded tokio runtime and prints
//! `sunfill: ` followed by the cause chain on error (exit code 2).

mod heidelberg;

use clap::{Parser, Subcommand};

/// Charge an EV from rooftop solar.
#[derive(Parser, Debug)]
#[command(name = "sunfill", version, about)]
struct Cli {
    /// Log more (repeat for debug output).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Talk to a Heidelberg Energy Control wallbox over Modbus.
    Wallbox(heidelberg::cmd::WallboxArgs),
    /// Run a simulated Heidelberg wallbox as a Modbus server.
    SimWallbox(heidelberg::cmd::SimWallboxArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// Modbus transactions against the simulated box with injected faults.
    Modbus(heidelberg::bench::BenchModbusArgs),
}

fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => tracing::Level::INFO,
        1 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sunfill: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let result = rt.block_on(async {
        match cli.cmd {
            Cmd::Wallbox(a) => heidelberg::cmd::wallbox(a).await,
            Cmd::SimWallbox(a) => heidelberg::cmd::sim_wallbox(a).await,
            Cmd::Bench {
                what: BenchCmd::Modbus(a),
            } => {
                let r = heidelberg::bench::bench_modbus(&a).await?;
                heidelberg::bench::print_report(&a, &r);
                if r.unconfirmed_accepted > 0 || !r.final_applied {
                    anyhow::bail!("acceptance failed: {r:?}");
                }
                Ok(())
            }
        }
    });
    if let Err(e) = result {
        eprintln!("sunfill: {e:#}");
        std::process::exit(2);
    }
}
