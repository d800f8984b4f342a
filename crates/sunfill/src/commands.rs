//! The service-side subcommands (`run`, `check`, `certs`, `ha`), which need the async runtime.

use crate::cli::{CertsCommand, Command, HaCommand};
use crate::config::Config;
use anyhow::Context as _;
use std::process::ExitCode;

/// Runs `command` on a small multi-threaded tokio runtime.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(command))
}

async fn run_async(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            config,
            speed,
            start_unix_ms,
        } => {
            let mut opts = crate::daemon::Options::real_time();
            if let Some(speed) = speed {
                if !(speed.is_finite() && (0.1..=10_000.0).contains(&speed)) {
                    anyhow::bail!("--speed {speed}: use 0.1 to 10000");
                }
                let clock = crate::daemon::Clock::scaled(
                    speed,
                    start_unix_ms.unwrap_or_else(|| opts.clock.unix_ms()),
                );
                opts.clock = clock;
                // As the demo: poll every 3 s of model time.
                opts.wallbox_poll = Some(
                    clock
                        .real(sunfill_core::Duration::from_secs(3))
                        .max(std::time::Duration::from_millis(20)),
                );
            }
            let c = Config::load(&config)?;
            let plan = crate::daemon::Plan::from_config(&c)?;
            crate::logging::init(plan.daemon.log_format, &plan.daemon.log_level);
            tracing::info!(
                "sunfill {} starting with {}",
                env!("CARGO_PKG_VERSION"),
                config.display()
            );
            let (daemon_side, observer) = crate::hub::hub();
            let observers = crate::daemon::Observers::start(&plan, &observer, &mut opts).await?;
            drop(observer);
            let r = crate::daemon::run(plan, daemon_side, opts, shutdown_signal()).await;
            observers.finish().await;
            r?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, wait } => {
            let r = crate::check::check_file(&config, std::time::Duration::from_secs(wait)).await;
            print!("{}", crate::check::render(&r));
            Ok(if r.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Certs(CertsCommand::Init(a)) => {
            let r = crate::certs::init(&crate::certs::InitOptions {
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
            print!("{}", crate::certs::show(&file)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ha(HaCommand::Remove { config }) => {
            let c = Config::load(&config)?;
            let settings = c.mqtt_settings()?;
            let topics = c.topics()?;
            let (client, mut eventloop) = crate::mqtt::broker::connect_once(&settings).await?;
            let msgs = crate::mqtt::discovery::removal(&topics);
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
        Command::Simulate(_)
        | Command::Wallbox(_)
        | Command::SimWallbox(_)
        | Command::Bench(_)
        | Command::Config(_)
        | Command::Demo(_) => {
            anyhow::bail!("internal: this subcommand is not an async service command")
        }
    }
}

/// `sunfill config check`: parses and resolves every section; prints what sunfill would do,
/// never a secret.
pub fn config_check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let c = Config::load(path)?;
    let plan = crate::daemon::Plan::from_config(&c)?;
    let d = &plan.daemon;
    println!("{}: ok", path.display());
    if let Some(first) = plan.loadpoints.first() {
        let m = &first.mqtt;
        println!(
            "  mqtt       {} (CA {}, client certificate {}, login {})",
            m.broker,
            m.tls
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "system".into()),
            if m.tls.client_cert.is_some() {
                "yes"
            } else {
                "no"
            },
            match (&m.username, &m.password) {
                (Some(u), Some(_)) => format!("{u} with password"),
                (Some(u), None) => u.clone(),
                _ => "none".into(),
            }
        );
        for b in &first.inputs.bindings {
            println!("  input      {:<12} {}", b.reading.name(), b.topic);
        }
    }
    for lp in &plan.loadpoints {
        let l = &lp.cfg;
        println!(
            "  loadpoint  {}: unit {} on {}, {}..{}, mode {}, topics {}/...",
            l.name, l.unit, l.port, l.core.min_current, l.core.max_current, l.mode, l.topics.base
        );
    }
    let w = &d.wallbox;
    println!(
        "  wallbox    watchdog {} ms, failsafe {}, timeout {} ms, {} retries",
        w.watchdog_ms,
        w.failsafe,
        w.timeout.as_millis(),
        w.retries
    );
    if let Some(b) = plan.loadpoints.first().map(|lp| lp.cfg.core.battery) {
        if b.buffer_soc <= 100 {
            println!(
                "  battery    charges first below {} %; from {} % the car may take up to {} W of it",
                b.priority_soc, b.buffer_soc, b.max_discharge_w
            );
        } else {
            println!(
                "  battery    charges first below {} %; the car never takes its power",
                b.priority_soc
            );
        }
    }
    match d.site_limit {
        Some(l) => println!("  site       current limit {l} per phase, shared"),
        None => println!("  site       no current limit"),
    }
    println!(
        "  web        {}{}",
        if d.web.enabled {
            format!("http://{}/", d.web.bind)
        } else {
            "off".into()
        },
        if d.web.token.is_some() {
            ", token set"
        } else {
            ""
        }
    );
    println!("  store      {}", d.store_path.display());
    println!("  state      {}", plan.state_path().display());
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
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
