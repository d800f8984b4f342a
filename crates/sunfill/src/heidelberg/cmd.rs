//! Commands for people at the box (`sunfill wallbox ...`), the simulator (`sunfill
//! sim-wallbox`) and the Modbus bench (`sunfill bench modbus`).

use super::bus::{BusConfig, BusHandle};
use super::error::Error;
use super::server::{self, Faults, SimHandle};
use super::url::PortUrl;
use super::wallbox::{run_loadpoint, DriverConfig, Link, Snapshot, Status, Wallbox};
use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use sunfill_core::heidelberg::{Lock, Standby, Write};
use sunfill_core::Deciamps;
use sunfill_sim::wallbox::{Event, Script, WallboxConfig};

/// Runs an async command on a single-threaded tokio runtime, with `tracing` output on stderr
/// (`RUST_LOG`-style level from `SUNFILL_LOG`: error, warn, info, debug, trace; default info).
pub fn run(
    fut: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<std::process::ExitCode> {
    let level = std::env::var("SUNFILL_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(fut)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Runs `sunfill bench modbus`; fails if a write was accepted unconfirmed or a setpoint was lost.
pub async fn bench(a: super::bench::BenchModbusArgs) -> anyhow::Result<()> {
    let r = super::bench::bench_modbus(&a).await?;
    super::bench::print_report(&a, &r);
    if r.unconfirmed_accepted > 0 || !r.final_applied {
        bail!(
            "acceptance failed: {} writes accepted unconfirmed, last setpoint applied: {}",
            r.unconfirmed_accepted,
            r.final_applied
        );
    }
    Ok(())
}

/// Where the box is: `--port URL --unit N` and bus timing.
#[derive(Args, Clone, Debug)]
pub struct PortArgs {
    /// Bus: rtu:///dev/ttyUSB0?baud=19200&parity=even, tcp://host:502 or rtutcp://host:port.
    #[arg(long, global = true, default_value = "rtu:///dev/ttyUSB0")]
    pub port: PortUrl,
    /// Modbus unit id (DIP switches on the box).
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=247))]
    pub unit: u8,
    /// Timeout of one request, ms.
    #[arg(long, global = true, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Pause between transactions, ms (default 100 on RTU, 0 on TCP).
    #[arg(long, global = true)]
    pub pause_ms: Option<u64>,
    /// Extra tries of a failed request.
    #[arg(long, global = true, default_value_t = 2)]
    pub retries: u32,
}

impl PortArgs {
    /// The bus configuration these arguments describe.
    pub fn bus_config(&self) -> BusConfig {
        let mut c = BusConfig::new(self.port.clone());
        c.timeout = Duration::from_millis(self.timeout_ms);
        c.retries = self.retries;
        if let Some(p) = self.pause_ms {
            c.pause = Duration::from_millis(p);
        }
        c
    }
}

/// `sunfill wallbox`: look at and set up a Heidelberg box.
#[derive(Args, Debug)]
pub struct WallboxArgs {
    #[command(flatten)]
    port: PortArgs,
    #[command(subcommand)]
    cmd: WallboxCmd,
}

#[derive(Subcommand, Debug)]
enum WallboxCmd {
    /// Read and decode every register.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set the charging current in A (0, or 6.0..=16.0; below 6 A means 0), confirmed.
    SetCurrent {
        /// Amperes, e.g. 8.5.
        amps: String,
    },
    /// Set the Modbus watchdog timeout in ms (0 = off; factory 15000).
    Watchdog {
        /// Milliseconds.
        ms: u16,
    },
    /// Set the failsafe current used when the watchdog expires, in A.
    Failsafe {
        /// Amperes.
        amps: String,
    },
    /// Allow (`on`) or disable (`off`) standby. In standby the box does not answer Modbus.
    Standby {
        /// on or off.
        mode: OnOff,
    },
    /// Wake a sleeping car: remote lock off, wait, on again.
    Wake {
        /// Seconds to hold the lock.
        #[arg(long, default_value_t = 10)]
        hold_s: u64,
    },
    /// Keep the box at a current as the daemon would: set it up, poll within the watchdog,
    /// re-apply the current when the box lost it, report `wallbox offline` and recover. On
    /// Ctrl-C the box is set to the failsafe current.
    Hold {
        /// Amperes, e.g. 8.5.
        amps: String,
        /// Watchdog timeout to configure, ms.
        #[arg(long, default_value_t = 15_000)]
        watchdog_ms: u16,
        /// Failsafe current to configure, A.
        #[arg(long, default_value = "0")]
        failsafe: String,
    },
    /// Find the unit ids that answer on the bus.
    Scan {
        /// First unit id.
        #[arg(long, default_value_t = 1)]
        from: u8,
        /// Last unit id.
        #[arg(long, default_value_t = 16)]
        to: u8,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OnOff {
    On,
    Off,
}

/// Parses "8.5" / "16" / "8,5" into tenths of an ampere.
pub fn parse_amps(s: &str) -> anyhow::Result<Deciamps> {
    let s = s
        .trim()
        .trim_end_matches(['A', 'a'])
        .trim()
        .replace(',', ".");
    let (w, f) = s.split_once('.').unwrap_or((&s, "0"));
    let bad = || anyhow::anyhow!("bad current `{s}`: expected amperes like 8.5 (one decimal)");
    let w: u16 = w.parse().map_err(|_| bad())?;
    let f: u16 = match f.len() {
        0 => 0,
        1 => f.parse().map_err(|_| bad())?,
        _ => bail!("bad current `{s}`: the box takes 0.1 A steps"),
    };
    w.checked_mul(10)
        .and_then(|x| x.checked_add(f))
        .map(Deciamps)
        .ok_or_else(bad)
}

/// Runs `sunfill wallbox ...`.
pub async fn wallbox(args: WallboxArgs) -> anyhow::Result<()> {
    let mut bus_cfg = args.port.bus_config();
    if let WallboxCmd::Scan { from, to } = args.cmd {
        bus_cfg.retries = 0;
        bus_cfg.timeout = bus_cfg.timeout.min(Duration::from_millis(300));
        return scan(BusHandle::spawn(bus_cfg), from, to).await;
    }
    let bus = BusHandle::spawn(bus_cfg);
    if let WallboxCmd::Hold {
        amps,
        watchdog_ms,
        failsafe,
    } = &args.cmd
    {
        let cfg = DriverConfig {
            unit: args.port.unit,
            watchdog_ms: *watchdog_ms,
            failsafe: parse_amps(failsafe)?,
            ..DriverConfig::default()
        };
        return hold(Wallbox::new(bus, cfg), parse_amps(amps)?).await;
    }
    let cfg = DriverConfig {
        unit: args.port.unit,
        ..DriverConfig::default()
    };
    let wb = Wallbox::new(bus, cfg);
    wb.wait_ready().await?;
    match args.cmd {
        WallboxCmd::Status { json } => {
            let st = wb.status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status_json(&st))?);
            } else {
                print_status(wb.bus().port(), wb.config().unit, &st);
            }
        }
        WallboxCmd::SetCurrent { amps } => {
            let want = parse_amps(&amps)?;
            // Learn the DIP-switch maximum so that set_current can respect it.
            let limits = wb.limits().await?;
            let wb = wb.with_limits(limits);
            let got = wb.set_current(want).await?;
            println!("register 261 is now {got} (confirmed by read-back)");
            let s = wb.settings().await?;
            if s.watchdog_ms != 0 {
                println!(
                    "note: the watchdog is {} ms; unless a controller polls the box, it falls back to the failsafe current {} after that",
                    s.watchdog_ms, s.failsafe_current
                );
            }
        }
        WallboxCmd::Watchdog { ms } => {
            wb.apply(Write::Watchdog(ms)).await?;
            println!("watchdog (257) is now {ms} ms (confirmed)");
        }
        WallboxCmd::Failsafe { amps } => {
            let d = parse_amps(&amps)?;
            wb.apply(Write::FailsafeCurrent(d)).await?;
            println!(
                "failsafe current (262) is now {} (confirmed)",
                sunfill_core::heidelberg::effective(d)
            );
        }
        WallboxCmd::Standby { mode } => {
            let s = match mode {
                OnOff::On => Standby::Allowed,
                OnOff::Off => Standby::Disabled,
            };
            wb.apply(Write::Standby(s)).await?;
            println!("standby (258) is now {} (confirmed)", s.to_word());
        }
        WallboxCmd::Wake { hold_s } => {
            wb.wake_car(Duration::from_secs(hold_s)).await?;
            println!("remote lock (259) toggled 0 then 1");
        }
        WallboxCmd::Scan { .. } | WallboxCmd::Hold { .. } => {}
    }
    Ok(())
}

async fn hold(wb: Wallbox, amps: Deciamps) -> anyhow::Result<()> {
    let (_set, setpoint) = tokio::sync::watch::channel(amps);
    let (tx, mut rx) = tokio::sync::watch::channel(Snapshot::default());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let run = tokio::spawn(run_loadpoint(wb, setpoint, tx, shutdown));
    let mut last_link = None;
    while rx.changed().await.is_ok() {
        let s = rx.borrow_and_update().clone();
        if last_link.as_ref() != Some(&s.link) {
            match &s.link {
                Link::Online => eprintln!("wallbox online"),
                Link::Offline(e) => eprintln!("wallbox offline: {e}"),
                Link::Connecting => {}
            }
            last_link = Some(s.link.clone());
        }
        if let (Link::Online, Some(r), Some(a)) = (&s.link, s.reading, s.applied) {
            println!(
                "{}  261 = {}  {} W  L1 {} L2 {} L3 {}",
                r.state.label(),
                a,
                r.power_w,
                r.currents[0],
                r.currents[1],
                r.currents[2]
            );
        }
    }
    run.await?;
    Ok(())
}

async fn scan(bus: BusHandle, from: u8, to: u8) -> anyhow::Result<()> {
    let mut found = 0;
    for unit in from.max(1)..=to {
        match bus
            .read_input(unit, sunfill_core::heidelberg::reg::LAYOUT_VERSION, 2)
            .await
        {
            Ok(w) => {
                found += 1;
                let layout = sunfill_core::heidelberg::LayoutVersion(w[0]);
                let state = sunfill_core::heidelberg::ChargingState::from_word(w[1])
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string());
                println!("unit {unit}: layout {layout}, state {state}");
            }
            Err(e @ Error::Exception { .. }) => {
                found += 1;
                println!("unit {unit}: answers, but not like a Heidelberg box: {e}");
            }
            Err(e @ Error::Open { .. }) => return Err(e.into()),
            Err(_) => {}
        }
    }
    if found == 0 {
        bail!(
            "no unit {from}..={to} answered on {}: check wiring A/B, baud 19200 8E1, termination and that standby is disabled (boxes in standby do not answer)",
            bus.port()
        );
    }
    Ok(())
}

fn lock_str(l: Lock) -> &'static str {
    match l {
        Lock::Locked => "locked",
        Lock::Unlocked => "unlocked",
    }
}

fn kwh(wh: u32) -> String {
    format!("{}.{:03} kWh", wh / 1000, wh % 1000)
}

fn print_status(port: &str, unit: u8, st: &Status) {
    let r = &st.reading;
    let s = &st.settings;
    let t = r.temperature_decidegc;
    println!("unit {unit} on {port}, register layout {}", r.layout);
    println!("  state          {}", r.state);
    println!(
        "  current        L1 {}  L2 {}  L3 {}",
        r.currents[0], r.currents[1], r.currents[2]
    );
    println!(
        "  voltage        L1 {} V  L2 {} V  L3 {} V",
        r.voltages[0], r.voltages[1], r.voltages[2]
    );
    println!("  power          {} W", r.power_w);
    println!(
        "  temperature    {}{}.{} degC",
        if t < 0 { "-" } else { "" },
        t.unsigned_abs() / 10,
        t.unsigned_abs() % 10
    );
    println!("  external lock  {}", lock_str(r.external_lock));
    println!(
        "  energy         {} since power-on, {} total",
        kwh(r.energy_since_power_on_wh),
        kwh(r.energy_total_wh)
    );
    println!(
        "  hardware       {}..{} A (DIP switches)",
        st.limits.min_amps, st.limits.max_amps
    );
    println!(
        "  watchdog (257) {} ms{}",
        s.watchdog_ms,
        if s.watchdog_ms == 0 { " (off)" } else { "" }
    );
    println!(
        "  standby  (258) {}",
        match s.standby {
            Standby::Allowed => "allowed (0): the box stops answering when idle",
            Standby::Disabled => "disabled (4)",
        }
    );
    println!("  remote lock (259) {}", lock_str(s.remote_lock));
    println!(
        "  max current (261) {}{}",
        s.max_current,
        if s.max_current != s.effective_current() {
            " (below 6 A: acts as 0)"
        } else {
            ""
        }
    );
    println!("  failsafe (262) {}", s.failsafe_current);
}

fn status_json(st: &Status) -> serde_json::Value {
    let r = &st.reading;
    let s = &st.settings;
    let da = |d: Deciamps| f64::from(d.0) / 10.0;
    serde_json::json!({
        "layout": r.layout.to_string(),
        "state": r.state.label(),
        "state_text": r.state.to_string(),
        "currents_a": r.currents.map(da),
        "voltages_v": r.voltages,
        "power_w": r.power_w,
        "temperature_c": f64::from(r.temperature_decidegc) / 10.0,
        "external_lock": lock_str(r.external_lock),
        "energy_since_power_on_wh": r.energy_since_power_on_wh,
        "energy_total_wh": r.energy_total_wh,
        "hw_max_a": st.limits.max_amps,
        "hw_min_a": st.limits.min_amps,
        "watchdog_ms": s.watchdog_ms,
        "standby": s.standby.to_word(),
        "remote_lock": lock_str(s.remote_lock),
        "max_current_a": da(s.max_current),
        "failsafe_current_a": da(s.failsafe_current),
    })
}

/// `sunfill sim-wallbox`: a simulated Heidelberg box behind a Modbus server.
#[derive(Args, Debug)]
pub struct SimWallboxArgs {
    /// Serve Modbus TCP on this address (e.g. 127.0.0.1:1502).
    #[arg(long, group = "transport")]
    pub tcp: Option<String>,
    /// Serve Modbus RTU on this serial device or pty.
    #[arg(long, group = "transport")]
    pub rtu: Option<PathBuf>,
    /// Serve RTU frames over TCP on this address.
    #[arg(long, group = "transport")]
    pub rtutcp: Option<String>,
    /// Unit id of a simulated box; repeat for several boxes on the bus.
    #[arg(long = "unit", default_values_t = [1u8])]
    pub units: Vec<u8>,
    /// Time after start before the boxes answer, ms (a real box needs about 10 s).
    #[arg(long, default_value_t = 10_000)]
    pub boot_ms: u64,
    /// Time without a car before a box enters standby (when allowed), s.
    #[arg(long, default_value_t = 60)]
    pub standby_after_s: u64,
    /// Hardware maximum current (DIP switches), A.
    #[arg(long, default_value_t = 16)]
    pub hw_max: u16,
    /// Script of car events for the first box (`10s plug phases=3 max=16`, `5m unplug`...).
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Plug a car into the first box this many seconds after start.
    #[arg(long)]
    pub car_at: Option<u64>,
    /// Phases of that car (1 or 3).
    #[arg(long, default_value_t = 3)]
    pub phases: u8,
    /// Maximum current of that car, A.
    #[arg(long, default_value = "16")]
    pub car_max: String,
    /// Percentage of requests or replies dropped.
    #[arg(long, default_value_t = 0.0)]
    pub drop: f64,
    /// Percentage of replies corrupted (bad CRC on RTU; wrong transaction id on TCP).
    #[arg(long, default_value_t = 0.0)]
    pub crc: f64,
    /// Extra latency before each reply, ms.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Builds the simulated bus of `sunfill sim-wallbox`.
pub fn build_sim(a: &SimWallboxArgs) -> anyhow::Result<SimHandle> {
    let mut script = match &a.script {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read script {}", p.display()))?;
            Script::parse(&text).with_context(|| format!("in {}", p.display()))?
        }
        None => Script::default(),
    };
    if let Some(at) = a.car_at {
        let max = parse_amps(&a.car_max)?;
        if a.phases != 1 && a.phases != 3 {
            bail!("--phases must be 1 or 3, got {}", a.phases);
        }
        script = Script::from_events(vec![(
            at * 1000,
            Event::Plug {
                phases: a.phases,
                max,
            },
        )]);
        if a.script.is_some() {
            bail!("use either --script or --car-at, not both");
        }
    }
    if !(6..=16).contains(&a.hw_max) {
        bail!("--hw-max must be 6..=16 A, got {}", a.hw_max);
    }
    let boxes = a
        .units
        .iter()
        .map(|&unit| WallboxConfig {
            unit,
            boot_ms: a.boot_ms,
            standby_after_ms: a.standby_after_s.saturating_mul(1000),
            hw_max_amps: a.hw_max,
            ..WallboxConfig::default()
        })
        .collect();
    let faults = Faults {
        drop_pct: a.drop.clamp(0.0, 100.0),
        corrupt_pct: a.crc.clamp(0.0, 100.0),
        latency: Duration::from_millis(a.latency_ms),
    };
    Ok(SimHandle::new(boxes, script, faults, a.seed))
}

/// Runs `sunfill sim-wallbox` until interrupted.
pub async fn sim_wallbox(a: SimWallboxArgs) -> anyhow::Result<()> {
    let sim = build_sim(&a)?;
    sim.spawn_ticker();
    let units: Vec<String> = a.units.iter().map(|u| u.to_string()).collect();
    if let Some(addr) = &a.tcp {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        eprintln!(
            "sim-wallbox: Modbus TCP on {}, units {}",
            l.local_addr()?,
            units.join(",")
        );
        server::serve_listener(l, sim, false).await?;
    } else if let Some(addr) = &a.rtutcp {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        eprintln!(
            "sim-wallbox: RTU over TCP on {}, units {}",
            l.local_addr()?,
            units.join(",")
        );
        server::serve_listener(l, sim, true).await?;
    } else if let Some(path) = &a.rtu {
        let p = path.to_string_lossy();
        eprintln!("sim-wallbox: Modbus RTU on {p}, units {}", units.join(","));
        server::serve_serial(&p, sim).await?;
    } else {
        bail!("give one of --tcp ADDR, --rtu PATH or --rtutcp ADDR");
    }
    Ok(())
}
