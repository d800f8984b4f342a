//! `sunfill demo`: the whole system in one process, with nothing else installed.
//!
//! - An MQTT broker on loopback ([`broker`], plain TCP; nothing leaves the machine).
//! - A simulated Heidelberg wallbox (`sunfill_sim::wallbox` behind [`heidelberg::server`]) on
//!   loopback Modbus TCP, with a 3-phase car plugged in.
//! - A site replaying a generated solar day ([`sunfill_sim::generate::day`]: synthetic, made by
//!   the project, no measured data) faster than real time, publishing Home Assistant
//!   `mqtt_statestream` topics of the Powerwall preset (kW as text) every 10 s of model time:
//!   PV and house from the day, the car's power read from the simulated box, grid = house + car
//!   - PV (no home battery in the demo).
//! - sunfill itself, started from a generated config file through the same
//!   [`daemon::run`] as `sunfill run`, with a [`Clock`] running `--speed`
//!   times faster than real time, starting today (local time) at `--start`. The simulated box
//!   runs on the same model time, so its car delays, energy counter and watchdog behave as
//!   they would in a real day; the dashboard reads that clock too.
//!
//! [`heidelberg::server`]: crate::heidelberg::server

pub mod broker;

use crate::config::Config;
use crate::daemon::{self, Clock, Options, Plan};
use crate::heidelberg::server::{self, Faults, SimHandle};
use crate::hub::View;
use crate::mqtt::broker::{Broker, Settings};
use crate::mqtt::inputs::{presets, Reading};
use anyhow::Context as _;
use clap::ValueEnum;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use sunfill_core::Deciamps;
use sunfill_sim::generate::{self, Sky};
use sunfill_sim::wallbox::{Event, Script, WallboxConfig};

/// The fastest `--speed` at which readings still arrive fresh.
const MAX_SPEED: f64 = 1000.0;

/// `sunfill demo` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How much faster than real time the day runs (144: a day in 10 minutes; at most 1000).
    #[arg(long, default_value_t = 144.0)]
    pub speed: f64,
    /// Time of day to start at, HH:MM (the generated day's local time).
    #[arg(long, default_value = "07:00")]
    pub start: String,
    /// Kind of day.
    #[arg(long, value_enum, default_value_t = DemoSky::Clouds)]
    pub sky: DemoSky,
    /// Seed of the generated day.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Dashboard address.
    #[arg(long, default_value = crate::config::DEFAULT_WEB_BIND)]
    pub web: SocketAddr,
    /// Stop after this many seconds of real time (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_s: Option<u64>,
    /// When the demo stops, keep its database (the minutes it recorded, the session) in this
    /// file, to replay with `sunfill simulate --store FILE`.
    #[arg(long, value_name = "FILE")]
    pub keep_store: Option<std::path::PathBuf>,
}

/// The demo's sky.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DemoSky {
    /// No clouds.
    Clear,
    /// Broken cumulus clouds: many short shadows.
    Clouds,
}

/// Runs `sunfill demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(demo(args))?;
    Ok(ExitCode::SUCCESS)
}

fn parse_start(s: &str) -> anyhow::Result<u32> {
    let bad = || anyhow::anyhow!("--start {s}: expected a time of day like 07:00");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Unix ms of `minute` minutes after the local midnight of the day of `now_unix_ms`, in the
/// local time of this machine as SQLite sees it: the local time the store's "today" uses.
fn local_time_today(now_unix_ms: i64, minute: u32) -> anyhow::Result<i64> {
    let db = rusqlite::Connection::open_in_memory().context("cannot open SQLite in memory")?;
    let s: Option<i64> = db
        .query_row(
            "SELECT CAST(strftime('%s', ?1 / 1000, 'unixepoch', 'localtime', 'start of day', \
             ?2, 'utc') AS INTEGER)",
            rusqlite::params![now_unix_ms, format!("+{minute} minutes")],
            |r| r.get(0),
        )
        .context("cannot find today's local midnight")?;
    s.map(|s| s * 1000)
        .ok_or_else(|| anyhow::anyhow!("cannot find today's local midnight"))
}

/// The demo's config file: the same format and the same code path as `sunfill run`.
fn config_text(mqtt_port: u16, modbus: SocketAddr, web: SocketAddr, store: &Path) -> String {
    format!(
        "# Written by sunfill demo.\n\
         [mqtt]\nbroker = \"mqtt://127.0.0.1:{mqtt_port}\"\n\n\
         [inputs]\npreset = \"powerwall-statestream\"\n\n\
         [[loadpoint]]\nname = \"demo\"\nport = \"tcp://{modbus}\"\nunit = 1\nmode = \"pv\"\n\n\
         [wallbox]\ntimeout_ms = 1000\nwatchdog_ms = 15000\nfailsafe_current = 0\n\n\
         [web]\nbind = \"{web}\"\n\n\
         [store]\npath = \"{}\"\n",
        store.display()
    )
}

async fn demo(args: Args) -> anyhow::Result<()> {
    crate::logging::init(crate::config::LogFormat::Human, "info");
    if let Some(to) = args.keep_store.as_ref().filter(|to| to.exists()) {
        anyhow::bail!(
            "--keep-store {}: the file exists; give a new file name",
            to.display()
        );
    }
    let speed = args.speed;
    // Above about 1000 x, a few milliseconds of real time are whole seconds of model time:
    // readings cannot cross MQTT and Modbus fast enough, go stale, and the demo shows solar
    // charging stopped for stale readings (measured: none at 600 x, 12 % of decisions at 1500 x).
    if !(speed.is_finite() && (0.1..=MAX_SPEED).contains(&speed)) {
        anyhow::bail!(
            "--speed {speed}: use 0.1 to {MAX_SPEED} (144 runs a day in 10 minutes; faster, the \
             readings cannot keep up and go stale)"
        );
    }
    let start_min = parse_start(&args.start)?;
    let sky = match args.sky {
        DemoSky::Clear => Sky::Clear,
        DemoSky::Clouds => Sky::BrokenClouds,
    };
    let day = generate::day(sky, args.seed);
    if day.rows.is_empty() {
        anyhow::bail!("internal: the generated day has no rows");
    }

    // The broker.
    let mqtt_port = broker::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot start the demo's MQTT broker on loopback")?
        .addr
        .port();

    // The simulated wallbox with a car plugged in, on model time.
    let sim = SimHandle::new(
        vec![WallboxConfig {
            unit: 1,
            boot_ms: 0,
            standby_after_ms: u64::MAX / 4,
            ..WallboxConfig::default()
        }],
        Script::from_events(vec![(
            0,
            Event::Plug {
                phases: 3,
                max: Deciamps::MAX_HEIDELBERG,
            },
        )]),
        Faults::default(),
        args.seed,
    );
    sim.set_speed(speed);
    sim.spawn_ticker();
    let modbus = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen for the simulated wallbox on loopback")?;
    let modbus_addr = modbus.local_addr()?;
    tokio::spawn(server::serve_listener(modbus, sim.clone(), false));

    // sunfill, through the same config file and code path as `sunfill run`.
    let dir = tempfile_dir()?;
    let store = dir.join("sunfill.db");
    let text = config_text(mqtt_port, modbus_addr, args.web, &store);
    let conf_path = dir.join("sunfill.toml");
    std::fs::write(&conf_path, &text)
        .with_context(|| format!("cannot write {}", conf_path.display()))?;
    let plan = Plan::from_config(&Config::parse(&conf_path, &text)?)?;
    // The generated day is dated 2025-06-10; the model clock starts today instead, so the
    // dashboard's "today", its chart and the sessions show current dates.
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let start_unix_ms = local_time_today(wall_ms, start_min)?;
    let clock = Clock::scaled(speed, start_unix_ms);
    let mut opts = Options {
        clock,
        // Poll the box every 3 s of model time (a real box: every 5 s).
        wallbox_poll: Some(
            clock
                .real(sunfill_core::Duration::from_secs(3))
                .max(Duration::from_millis(20)),
        ),
        ..Options::real_time()
    };
    let (daemon_side, observer) = crate::hub::hub();
    let observers = daemon::Observers::start(&plan, &observer, &mut opts).await?;

    println!(
        "sunfill demo: a generated {} day (seed {}, synthetic: see sunfill_sim::generate), \
         from {} at {speed}x real time",
        match args.sky {
            DemoSky::Clear => "clear",
            DemoSky::Clouds => "broken-clouds",
        },
        args.seed,
        args.start
    );
    println!("  MQTT broker   mqtt://127.0.0.1:{mqtt_port}  (in this process; try mosquitto_sub -p {mqtt_port} -t 'sunfill/#' -v)");
    println!("  wallbox       tcp://{modbus_addr} unit 1  (simulated Heidelberg, 3-phase car plugged in; try sunfill wallbox --port tcp://{modbus_addr} status)");
    println!("  config        {}", conf_path.display());
    match observers.web_addr {
        Some(a) => println!("  dashboard     http://{a}/"),
        None => println!("  dashboard     off"),
    }
    println!("Ctrl-C stops.");

    let site = tokio::spawn(site(mqtt_port, day, start_min, clock, sim.clone()));
    let printer = tokio::spawn(print_status(observer.view.clone(), clock, start_min));
    let _observer = observer;
    let duration = args.duration_s;
    let shutdown = async move {
        match duration {
            Some(s) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(s)) => {}
                    _ = crate::commands::shutdown_signal() => {}
                }
            }
            None => crate::commands::shutdown_signal().await,
        }
    };
    let r = daemon::run(plan, daemon_side, opts, shutdown).await;
    observers.finish().await;
    site.abort();
    printer.abort();
    let kept = match &args.keep_store {
        Some(to) => keep_store(&store, to),
        None => Ok(()),
    };
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::debug!("cannot remove {}: {e}", dir.display());
    }
    r?;
    kept
}

/// Copies the demo's database `from` (with what its write-ahead log holds) to the new file `to`.
fn keep_store(from: &Path, to: &Path) -> anyhow::Result<()> {
    rusqlite::Connection::open(from)
        .and_then(|c| c.execute("VACUUM INTO ?1", [to.to_string_lossy()]))
        .with_context(|| format!("cannot keep the demo's database as {}", to.display()))?;
    println!(
        "kept the demo's database as {}; replay its day with: sunfill simulate --store {}",
        to.display(),
        to.display()
    );
    Ok(())
}

/// A private directory for the demo's config, store and state (removed at exit).
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("sunfill-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Replays the day: every 10 s of model time, the Powerwall statestream topics.
async fn site(
    mqtt_port: u16,
    day: sunfill_sim::scenario::Scenario,
    start_min: u32,
    clock: Clock,
    sim: SimHandle,
) {
    let broker = match Broker::parse(&format!("mqtt://127.0.0.1:{mqtt_port}")) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("demo site: {e}");
            return;
        }
    };
    let settings = Settings::new(broker, "demo-site", "demo/site/status");
    let (client, mut eventloop, _) = match settings.client(256) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("demo site: {e}");
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            if let Err(e) = eventloop.poll().await {
                tracing::debug!("demo site: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let inputs = presets::powerwall_statestream("homeassistant");
    let topic = |r: Reading| {
        inputs
            .binding(r)
            .map(|b| b.topic.clone())
            .unwrap_or_default()
    };
    let (t_pv, t_load, t_grid, t_bat, t_soc) = (
        topic(Reading::Pv),
        topic(Reading::House),
        topic(Reading::Grid),
        topic(Reading::Battery),
        topic(Reading::BatterySoc),
    );
    let step = sunfill_core::Duration::from_secs(10);
    let mut next = clock.now();
    loop {
        let t = clock.now();
        let minutes = f64::from(start_min) + t.total_millis() as f64 / 60_000.0;
        let (pv, house) = at(&day, minutes);
        let car = sim
            .with_box(1, |b, _| f64::from(b.reading().power_w))
            .unwrap_or(0.0);
        let load = house + car;
        let grid = load - pv;
        let kw = |w: f64| format!("{:.3}", w / 1000.0);
        for (topic, payload) in [
            (&t_pv, kw(pv)),
            (&t_load, kw(load)),
            (&t_grid, kw(grid)),
            (&t_bat, kw(0.0)),
            (&t_soc, "80".to_string()),
        ] {
            // Retained, as mqtt_statestream publishes.
            let _ = client.try_publish(topic.as_str(), rumqttc::QoS::AtLeastOnce, true, payload);
        }
        next = next + step;
        tokio::time::sleep_until(clock.deadline(next)).await;
    }
}

/// PV and house power at `minutes` after the day's first row, linearly between the minutes;
/// the day repeats.
fn at(day: &sunfill_sim::scenario::Scenario, minutes: f64) -> (f64, f64) {
    let n = day.rows.len();
    let m = minutes.rem_euclid(n as f64);
    let i = m.floor() as usize % n;
    let j = (i + 1) % n;
    let f = m - m.floor();
    let (a, b) = (day.rows[i], day.rows[j]);
    (
        a.pv_w + (b.pv_w - a.pv_w) * f,
        a.house_w + (b.house_w - a.house_w) * f,
    )
}

/// One line per half hour of model time, for people without the dashboard.
async fn print_status(mut view: tokio::sync::watch::Receiver<View>, clock: Clock, start_min: u32) {
    let mut next_print = 0u64;
    while view.changed().await.is_ok() {
        let t = clock.now().total_millis();
        if t < next_print {
            continue;
        }
        next_print = (t / 1_800_000 + 1) * 1_800_000;
        let v = view.borrow_and_update().clone();
        let minute = (u64::from(start_min) + t / 60_000) % 1440;
        let w = |x: Option<f64>| {
            x.map(|w| format!("{:5.1}", w / 1000.0))
                .unwrap_or_else(|| "    -".into())
        };
        if let Some(lp) = v.loadpoints.first() {
            println!(
                "{:02}:{:02}  pv {} kW  house {} kW  grid {} kW  car {:5.1} kW {:4.1} A  session {:6.2} kWh  {}",
                minute / 60,
                minute % 60,
                w(v.site.pv_w),
                w(v.site.house_w),
                w(v.site.grid_w),
                lp.power_w / 1000.0,
                lp.setpoint_a,
                lp.session_energy_kwh,
                lp.reason
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_parses_through_the_run_path() {
        let text = config_text(
            1883,
            "127.0.0.1:1502".parse().unwrap(),
            "127.0.0.1:7070".parse().unwrap(),
            Path::new("/tmp/x/sunfill.db"),
        );
        let plan =
            Plan::from_config(&Config::parse(Path::new("demo.toml"), &text).unwrap()).unwrap();
        assert_eq!(plan.loadpoints.len(), 1);
        assert_eq!(plan.loadpoints[0].inputs.bindings.len(), 5);
    }

    #[test]
    fn the_model_day_starts_today_at_the_start_time() {
        let now = 1_781_000_000_000; // 2026-06-09
        let midnight = local_time_today(now, 0).unwrap();
        assert!(midnight <= now && now - midnight < 25 * 3_600_000);
        assert_eq!(midnight % 60_000, 0);
        let seven = local_time_today(now, 420).unwrap();
        assert!((6 * 3_600_000..=8 * 3_600_000).contains(&(seven - midnight)));
    }

    #[test]
    fn start_times() {
        assert_eq!(parse_start("07:30").unwrap(), 450);
        assert!(parse_start("25:00").is_err());
        assert!(parse_start("7").is_err());
    }
}
