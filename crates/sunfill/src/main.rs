//! The `sunfill` command: parses arguments and calls into the library.

use anyhow::Context as _;
use clap::Parser;
use std::process::ExitCode;
use sunfill::cli::{CertsCommand, Cli, Command, HaCommand};
use sunfill::config::Config;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sunfill: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sunfill: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config } => {
            let c = Config::load(&config)?;
            let settings = c.mqtt_settings()?;
            let service = sunfill::service::Service::new(
                c.topics()?,
                c.inputs()?,
                sunfill_core::Config::default(),
            );
            sunfill::service::run(settings, service, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, wait } => {
            let r = sunfill::check::check_file(&config, std::time::Duration::from_secs(wait)).await;
            print!("{}", sunfill::check::render(&r));
            Ok(if r.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Certs(CertsCommand::Init(a)) => {
            let r = sunfill::certs::init(&sunfill::certs::InitOptions {
                dir: a.dir,
                host: a.host,
                ips: a.ips,
                clients: a.clients,
                days: a.days,
            })?;
            println!("wrote to {}:", r.dir.display());
            for f in &r.files {
                println!("  {}", f.display());
            }
            println!("\n--- mosquitto.conf ---\n{}", r.mosquitto_conf);
            println!("--- sunfill.toml ---\n{}", r.sunfill_toml);
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(CertsCommand::Show { file }) => {
            print!("{}", sunfill::certs::show(&file)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ha(HaCommand::Remove { config }) => {
            let c = Config::load(&config)?;
            let settings = c.mqtt_settings()?;
            let topics = c.topics()?;
            let (client, mut eventloop) = sunfill::mqtt::broker::connect_once(&settings).await?;
            let msgs = sunfill::mqtt::discovery::removal(&topics);
            let n = msgs.len();
            for m in msgs {
                client
                    .publish(m.topic, rumqttc::QoS::AtLeastOnce, true, Vec::<u8>::new())
                    .await
                    .context("queueing a removal message")?;
            }
            // Wait for the broker to acknowledge every removal before disconnecting.
            let mut acked = 0;
            while acked < n {
                match tokio::time::timeout(std::time::Duration::from_secs(10), eventloop.poll())
                    .await
                {
                    Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) => acked += 1,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => anyhow::bail!("connection lost while removing discovery: {e}"),
                    Err(_) => anyhow::bail!(
                        "the broker acknowledged only {acked} of {n} removals within 10 s"
                    ),
                }
            }
            let _ = client.disconnect().await;
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), eventloop.poll()).await;
            println!(
                "removed {n} Home Assistant discovery entries of {}",
                topics.base
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
