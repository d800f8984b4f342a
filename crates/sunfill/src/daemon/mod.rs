//! `sunfill run`: the daemon. Per loadpoint, the core controller (inside a [`Service`]), an
//! MQTT link (site inputs, state, discovery, commands) and a wallbox driver task; one task per
//! bus; one event loop that owns every `Service` and publishes a [`hub::View`] on every change.
//!
//! # The loop
//! Events arrive on one channel: MQTT messages and connection changes (one link per loadpoint,
//! each with its own last will), wallbox snapshots (after every poll of a box), UI commands from
//! the hub, a timer for the controllers' deadlines ([`Service::poll_at`]) and a periodic tick
//! that notices stale readings. Every event is decided at once: the affected `Service` steps,
//! then the site limit is shared ([`share`]), setpoints go to the driver tasks (which write and
//! confirm them), state goes to MQTT and a new view to the hub.
//!
//! # Time
//! Only [`Clock`] reads a clock. With a speed factor (the demo) model time runs faster than
//! real time; the core never knows.
//!
//! # Shutdown
//! When `shutdown` completes: the driver tasks set each box to the failsafe current (the
//! watchdog stays armed), the session state is saved, `offline` is published on every status
//! topic and the links disconnect.

pub mod clock;
pub mod energy;
pub mod share;
pub mod state;

pub use clock::Clock;

use crate::config::{Config, ConfigError, DaemonConfig, LoadpointConfig, WallboxTiming};
use crate::heidelberg::bus::{BusConfig, BusHandle};
use crate::heidelberg::url::PortUrl;
use crate::heidelberg::wallbox::{self, run_loadpoint, DriverConfig, Wallbox};
use crate::hub::{self, DaemonSide, LoadpointView, SiteView, View, VsClassic};
use crate::mqtt::backoff::Backoff;
use crate::mqtt::inputs::{Inputs, Value};
use crate::mqtt::link::{Link, LinkEvent};
use crate::mqtt::outputs::ChargeState;
use crate::mqtt::Settings;
use crate::service::{publish, Cap, Service};
use anyhow::Context as _;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use sunfill_core::control::VehicleState;
use sunfill_core::{Deciamps, Input};
use tokio::sync::{mpsc, watch};

/// One loadpoint as the config file describes it, with its MQTT settings and inputs.
#[derive(Clone, Debug)]
pub struct PlannedLoadpoint {
    /// Name, port, unit, limits, mode.
    pub cfg: LoadpointConfig,
    /// Broker connection (client id and last will of this loadpoint).
    pub mqtt: Settings,
    /// Site input bindings.
    pub inputs: Inputs,
}

/// Everything `run` needs, resolved from the config file (so every error is found before
/// anything starts).
#[derive(Clone, Debug)]
pub struct Plan {
    /// The loadpoints.
    pub loadpoints: Vec<PlannedLoadpoint>,
    /// The daemon's sections.
    pub daemon: DaemonConfig,
}

impl Plan {
    /// Resolves a parsed config file.
    pub fn from_config(c: &Config) -> Result<Plan, ConfigError> {
        let daemon = c.daemon()?;
        let inputs = c.inputs()?;
        let mut loadpoints = Vec::new();
        for lp in &daemon.loadpoints {
            loadpoints.push(PlannedLoadpoint {
                mqtt: c.mqtt_settings_for(&lp.topics)?,
                inputs: inputs.clone(),
                cfg: lp.clone(),
            });
        }
        Ok(Plan { loadpoints, daemon })
    }

    /// The state file (next to the store).
    pub fn state_path(&self) -> PathBuf {
        state::path_for(&self.daemon.store_path)
    }
}

/// How to run, beyond the config file.
#[derive(Clone, Debug)]
pub struct Options {
    /// Model time (real time for `run`, faster for the demo).
    pub clock: Clock,
    /// Poll the boxes this often (real time) instead of a third of the watchdog.
    pub wallbox_poll: Option<Duration>,
    /// Re-decide at least this often, model time (stale readings are noticed then).
    pub tick: sunfill_core::Duration,
    /// Settings to apply at start like UI commands (loadpoint, key, value), e.g. those saved
    /// by the store; after the config file's mode.
    pub initial_commands: Vec<(String, String, String)>,
    /// When the process started, for the "first decision after" log line.
    pub started: std::time::Instant,
}

impl Options {
    /// Real time, default tick, nothing to apply.
    pub fn real_time() -> Options {
        Options {
            clock: Clock::real_time(),
            wallbox_poll: None,
            tick: sunfill_core::Duration::from_secs(5),
            initial_commands: Vec::new(),
            started: std::time::Instant::now(),
        }
    }
}

enum Event {
    Mqtt(usize, LinkEvent),
    Wallbox(usize, wallbox::Snapshot),
}

struct Lp {
    service: Service,
    link: Link,
    setpoint: watch::Sender<Deciamps>,
    meter: energy::Meter,
    mqtt_up: bool,
}

fn bus_config(url: &PortUrl, t: &WallboxTiming) -> BusConfig {
    let mut c = BusConfig::new(url.clone());
    c.timeout = t.timeout;
    c.retries = t.retries;
    if let Some(p) = t.pause {
        c.pause = p;
    }
    c
}

fn input_w(s: &Service, name: &str) -> Option<f64> {
    match s.site().get(name).map(|r| &r.value) {
        Some(Ok(Value::Input(
            Input::Grid(w) | Input::Pv(w) | Input::House(w) | Input::Battery(w),
        ))) => Some(f64::from(*w)),
        Some(Ok(Value::Input(Input::BatterySoc(p)))) => Some(f64::from(*p)),
        _ => None,
    }
}

fn amps(d: Deciamps) -> f64 {
    f64::from(d.0) / 10.0
}

fn build_view(lps: &[Lp], clock: &Clock) -> View {
    let loadpoints: Vec<LoadpointView> = lps
        .iter()
        .map(|lp| {
            let s = &lp.service;
            let c = s.controls();
            let (reading, online) = s.wallbox_state();
            let vehicle = reading
                .filter(|_| online)
                .map(|r| ChargeState::of(&r))
                .unwrap_or_default();
            let e = s.energy();
            LoadpointView {
                name: s.topics().loadpoint.clone(),
                mode: c.mode.name().to_string(),
                fixed_current_a: amps(c.fixed_current),
                min_current_a: amps(c.config.min_current),
                max_current_a: amps(c.config.max_current),
                setpoint_a: amps(s.output()),
                phases: s.phases(),
                vehicle: vehicle.as_str().to_string(),
                wallbox_online: online,
                power_w: reading
                    .filter(|_| online)
                    .map(|r| f64::from(r.power_w))
                    .unwrap_or(0.0),
                session_energy_kwh: e.session_wh as f64 / 1000.0,
                session_solar_kwh: e.session_solar_wh as f64 / 1000.0,
                total_energy_kwh: e.total_wh as f64 / 1000.0,
                reason: s.reason_text(),
                reason_code: s.reason_code().to_string(),
                vs_classic: VsClassic::from(s.yardstick()),
            }
        })
        .collect();
    let car_w: f64 = loadpoints.iter().map(|l| l.power_w).sum();
    let site = lps
        .first()
        .map(|lp| {
            let s = &lp.service;
            SiteView {
                pv_w: input_w(s, "pv"),
                // Home Assistant's house load includes the wallbox; show the house alone.
                house_w: input_w(s, "house").map(|h| (h - car_w).max(0.0)),
                grid_w: input_w(s, "grid"),
                battery_w: input_w(s, "battery"),
                battery_soc: input_w(s, "battery_soc"),
            }
        })
        .unwrap_or_default();
    View {
        at_unix_ms: clock.unix_ms(),
        mqtt_connected: !lps.is_empty() && lps.iter().all(|l| l.mqtt_up),
        site,
        loadpoints,
    }
}

/// Publishes `next` unless only its time differs from the current view.
fn send_view(tx: &watch::Sender<View>, next: View) {
    tx.send_if_modified(|v| {
        let same = v.mqtt_connected == next.mqtt_connected
            && v.site == next.site
            && v.loadpoints == next.loadpoints;
        if !same {
            *v = next;
        }
        !same
    });
}

/// Shares the site limit and sends each box its setpoint; publishes changed state.
fn allocate(lps: &mut [Lp], limit: Option<Deciamps>) {
    let wants: Vec<Deciamps> = lps
        .iter()
        .map(|lp| lp.service.decision().map(|d| d.current).unwrap_or_default())
        .collect();
    let got = share::share(limit, &wants);
    for ((lp, want), got) in lps.iter_mut().zip(wants).zip(got) {
        let cap = limit.filter(|_| got < want).map(|site_limit| Cap {
            current: got,
            site_limit,
        });
        let out = lp.service.set_cap(cap);
        publish(&lp.link, out);
        let setpoint = lp.service.output();
        lp.setpoint.send_if_modified(|s| {
            let changed = *s != setpoint;
            *s = setpoint;
            changed
        });
    }
}

fn save_state(path: &std::path::Path, lps: &[Lp]) {
    let mut st = state::State::default();
    for lp in lps {
        st.sessions
            .insert(lp.service.topics().loadpoint.clone(), lp.meter.saved());
    }
    if let Err(e) = state::save(path, &st) {
        tracing::warn!(
            "cannot write the state file {}: {e}; check that the directory exists and is \
             writable (StateDirectory= in the systemd unit)",
            path.display()
        );
    }
}

/// Runs the daemon until `shutdown` completes. The hub's view is published on every change;
/// UI commands are answered with the same validation as MQTT commands.
pub async fn run(
    plan: Plan,
    hub: DaemonSide,
    opts: Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let clock = opts.clock;
    let DaemonSide {
        view: view_tx,
        commands: mut ui,
    } = hub;
    let state_path = plan.state_path();
    let saved = state::load(&state_path);
    let timing = plan.daemon.wallbox.clone();
    let scaled = |real: Duration| real.div_f64(clock.speed());
    let limit = plan.daemon.site_limit;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ev_tx, mut events) = mpsc::channel::<Event>(256);
    let mut buses: HashMap<String, BusHandle> = HashMap::new();
    let mut drivers = Vec::new();
    let mut lps: Vec<Lp> = Vec::new();
    for (i, p) in plan.loadpoints.into_iter().enumerate() {
        let name = p.cfg.name.clone();
        let mut service = Service::new(p.cfg.topics.clone(), p.inputs, p.cfg.core);
        let now = clock.now();
        let mut start: Vec<(String, String)> = Vec::new();
        if let Some(f) = &p.cfg.fixed_current {
            start.push(("fixed_current".into(), f.clone()));
        }
        start.push(("mode".into(), p.cfg.mode.clone()));
        for (lp, k, v) in &opts.initial_commands {
            if *lp == name {
                start.push((k.clone(), v.clone()));
            }
        }
        for (k, v) in start {
            if let Err(e) = service.command(now, &k, &v) {
                tracing::warn!("{name}: setting {k} = {v} at start: {e}");
            }
        }
        let mut link = Link::spawn(p.mqtt, service.subscriptions(), Backoff::default())
            .with_context(|| format!("loadpoint {name}: cannot start the MQTT connection"))?;
        let mut link_events = std::mem::replace(&mut link.events, mpsc::channel(1).1);
        let tx = ev_tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = link_events.recv().await {
                if tx.send(Event::Mqtt(i, ev)).await.is_err() {
                    break;
                }
            }
        });
        let bus = buses
            .entry(p.cfg.port.to_string())
            .or_insert_with(|| BusHandle::spawn(bus_config(&p.cfg.port, &timing)))
            .clone();
        let driver = DriverConfig {
            unit: p.cfg.unit,
            watchdog_ms: timing.watchdog_ms,
            failsafe: timing.failsafe,
            // Waits for a box are model time: with a faster clock (demo, soak test) a box that
            // reboots or wakes from standby is back after as much model time as in real life.
            ready_timeout: scaled(timing.ready_timeout),
            write_tries: 3,
            offline_retry_max: scaled(Duration::from_secs(30)),
            retry: scaled(Duration::from_millis(500)).max(Duration::from_millis(20)),
            poll: opts.wallbox_poll,
        };
        let (sp_tx, sp_rx) = watch::channel(Deciamps::ZERO);
        let (snap_tx, mut snap_rx) = watch::channel(wallbox::Snapshot::default());
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        drivers.push(tokio::spawn(run_loadpoint(
            Wallbox::new(bus, driver),
            sp_rx,
            snap_tx,
            stopped,
        )));
        let tx = ev_tx.clone();
        tokio::spawn(async move {
            while snap_rx.changed().await.is_ok() {
                let s = snap_rx.borrow_and_update().clone();
                if tx.send(Event::Wallbox(i, s)).await.is_err() {
                    break;
                }
            }
        });
        tracing::info!(
            "loadpoint {name}: unit {} on {}, {}..{}, mode {}, topics {}/...",
            p.cfg.unit,
            p.cfg.port,
            p.cfg.core.min_current,
            p.cfg.core.max_current,
            service.controls().mode,
            p.cfg.topics.base
        );
        let meter = energy::Meter::new(saved.sessions.get(&name).copied().unwrap_or_default());
        lps.push(Lp {
            service,
            link,
            setpoint: sp_tx,
            meter,
            mqtt_up: false,
        });
    }
    drop(ev_tx);
    if let Some(l) = limit {
        tracing::info!("site current limit {l} per phase, shared between the loadpoints");
    }

    tokio::pin!(shutdown);
    let mut ui_open = true;
    let mut first_decision = false;
    let mut save_every = tokio::time::interval(Duration::from_secs(60));
    save_every.tick().await;
    let min_sleep = Duration::from_millis(10);
    loop {
        let now = clock.now();
        let mut next = now + opts.tick;
        for lp in &lps {
            if let Some(t) = lp.service.poll_at() {
                next = next.min(t);
            }
        }
        let deadline = clock
            .deadline(next)
            .max(tokio::time::Instant::now() + min_sleep);
        tokio::select! {
            _ = &mut shutdown => break,
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                let now = clock.now();
                match ev {
                    Event::Mqtt(i, ev) => {
                        let Some(lp) = lps.get_mut(i) else { continue };
                        let out = match ev {
                            LinkEvent::Connected => {
                                lp.mqtt_up = true;
                                lp.service.on_connected(now)
                            }
                            LinkEvent::Down(_) => {
                                lp.mqtt_up = false;
                                Vec::new()
                            }
                            LinkEvent::Message(m) => lp.service.on_message(now, &m),
                        };
                        publish(&lp.link, out);
                    }
                    Event::Wallbox(i, snap) => {
                        let Some(lp) = lps.get_mut(i) else { continue };
                        let out = match (&snap.link, snap.reading) {
                            (wallbox::Link::Online, Some(r)) => {
                                let at = snap.at.map(|t| clock.at(t)).unwrap_or(now);
                                let wr = r.to_wallbox_reading();
                                let plugged = matches!(
                                    wr.state,
                                    VehicleState::Connected | VehicleState::Charging
                                );
                                let share = energy::solar_share(
                                    f64::from(wr.power_w),
                                    input_w(&lp.service, "grid"),
                                    input_w(&lp.service, "battery"),
                                );
                                let change =
                                    lp.meter.reading(u64::from(r.energy_total_wh), plugged, share);
                                let mut out = lp.service.wallbox(at, Some(wr));
                                out.extend(lp.service.set_energy(lp.meter.energy()));
                                if let Some(c) = change {
                                    let e = lp.meter.energy();
                                    match c {
                                        energy::Change::Started => tracing::info!(
                                            "{}: session started (counter {:.3} kWh)",
                                            lp.service.topics().loadpoint,
                                            e.total_wh as f64 / 1000.0
                                        ),
                                        energy::Change::Ended => tracing::info!(
                                            "{}: session ended: {:.3} kWh, {:.3} kWh solar",
                                            lp.service.topics().loadpoint,
                                            e.session_wh as f64 / 1000.0,
                                            e.session_solar_wh as f64 / 1000.0
                                        ),
                                    }
                                    save_state(&state_path, &lps);
                                }
                                out
                            }
                            (wallbox::Link::Offline(_), _) => lp.service.wallbox(now, None),
                            _ => Vec::new(),
                        };
                        if let Some(lp) = lps.get(i) {
                            publish(&lp.link, out);
                        }
                    }
                }
            }
            cmd = ui.recv(), if ui_open => {
                let Some(cmd) = cmd else {
                    ui_open = false;
                    continue;
                };
                let now = clock.now();
                let answer = match lps
                    .iter_mut()
                    .find(|lp| lp.service.topics().loadpoint == cmd.loadpoint)
                {
                    Some(lp) => lp.service.command(now, &cmd.key, &cmd.value).map(|out| {
                        publish(&lp.link, out);
                    }),
                    None => Err(format!(
                        "no loadpoint \"{}\"; loadpoints are {}",
                        cmd.loadpoint,
                        lps.iter()
                            .map(|l| l.service.topics().loadpoint.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                // The asker may have given up; nothing to do then.
                let _ = cmd.reply.send(answer);
            }
            _ = tokio::time::sleep_until(deadline) => {
                let now = clock.now();
                for lp in &mut lps {
                    let out = lp.service.tick(now);
                    publish(&lp.link, out);
                }
            }
            _ = save_every.tick() => {
                if lps.iter().any(|l| l.meter.saved().active) {
                    save_state(&state_path, &lps);
                }
            }
        }
        allocate(&mut lps, limit);
        if !first_decision && lps.iter().any(|l| l.service.decision().is_some()) {
            first_decision = true;
            tracing::info!(
                "first decision {} ms after start",
                opts.started.elapsed().as_millis()
            );
        }
        send_view(&view_tx, build_view(&lps, &clock));
    }

    tracing::info!("shutting down: leaving the wallboxes at the failsafe current");
    let _ = stop_tx.send(true);
    for d in drivers {
        if tokio::time::timeout(Duration::from_secs(10), d)
            .await
            .is_err()
        {
            tracing::warn!("a wallbox did not confirm the failsafe current within 10 s");
        }
    }
    save_state(&state_path, &lps);
    let mut last = build_view(&lps, &clock);
    last.mqtt_connected = false;
    for l in &mut last.loadpoints {
        l.setpoint_a = amps(timing.failsafe);
    }
    view_tx.send_replace(last);
    let links: Vec<Link> = lps.into_iter().map(|lp| lp.link).collect();
    futures_join_all(links.into_iter().map(|l| l.shutdown())).await;
    tracing::info!("stopped");
    Ok(())
}

async fn futures_join_all<F: Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    for f in futs {
        f.await;
    }
}

/// The store recorder and the web server: the hub's observers, started before the daemon
/// and stopped after it (so that they see its last view).
pub struct Observers {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<anyhow::Result<()>>)>,
    /// Where the dashboard listens (the real port when bound to port 0).
    pub web_addr: Option<std::net::SocketAddr>,
}

impl Observers {
    /// Opens the store (its saved settings go into `opts.initial_commands`, applied at start
    /// like UI commands), starts recording the hub's views, and serves the dashboard if
    /// enabled. A store that cannot be opened is reported and sunfill charges without it; a
    /// dashboard address that cannot be bound is an error.
    pub async fn start(
        plan: &Plan,
        observer: &hub::ObserverSide,
        opts: &mut Options,
    ) -> anyhow::Result<Observers> {
        let (stop, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut tasks: Vec<(&'static str, tokio::task::JoinHandle<anyhow::Result<()>>)> =
            Vec::new();
        let path = plan.daemon.store_path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        match crate::store::Store::open(&path) {
            Ok(store) => {
                for lp in &plan.loadpoints {
                    match store.saved_settings(&lp.cfg.name) {
                        Ok(saved) => {
                            for (k, v) in saved {
                                tracing::info!("{}: restoring {k} = {v}", lp.cfg.name);
                                opts.initial_commands.push((lp.cfg.name.clone(), k, v));
                            }
                        }
                        Err(e) => tracing::warn!("{e}; starting with the configured settings"),
                    }
                }
                let rx = stop_rx.clone();
                let hub = observer.clone();
                tasks.push((
                    "store",
                    tokio::spawn(async move {
                        crate::store::record(store, hub, stopped(rx))
                            .await
                            .map_err(anyhow::Error::from)
                    }),
                ));
            }
            Err(e) => tracing::error!(
                "{e}; sunfill charges without recording sessions; fix the store path ([store] \
                 path) or its directory's permissions"
            ),
        }
        let mut web_addr = None;
        let w = &plan.daemon.web;
        if w.enabled {
            let listener = tokio::net::TcpListener::bind(w.bind)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {} for the dashboard; another program may use the port: \
                     set [web] bind to another address or enabled = false",
                        w.bind
                    )
                })?;
            web_addr = listener.local_addr().ok();
            // The web's "now" is the daemon's model time (the demo's runs fast, on its own date).
            let clock = opts.clock;
            let options = crate::web::Options {
                token: w.token.as_ref().map(|t| t.expose().to_string()),
                local_only: w.bind.ip().is_loopback(),
                clock: crate::web::Clock::new(clock.speed(), move || clock.unix_ms()),
            };
            if !options.local_only && options.token.is_none() {
                tracing::warn!(
                    "the dashboard listens on {} without a token: it shows everything but refuses \
                     changes; set [web] token_file to allow them",
                    w.bind
                );
            }
            let rx = stop_rx.clone();
            let hub = observer.clone();
            tasks.push((
                "web",
                tokio::spawn(async move {
                    crate::web::serve(listener, hub, path, options, stopped(rx))
                        .await
                        .map_err(anyhow::Error::from)
                }),
            ));
        }
        Ok(Observers {
            stop,
            tasks,
            web_addr,
        })
    }

    /// Stops the observers: the store writes what is pending, the web closes its streams.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        for (name, t) in self.tasks {
            match tokio::time::timeout(Duration::from_secs(10), t).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::error!("{name}: {e:#}"),
                Ok(Err(e)) => tracing::error!("{name} task failed: {e}"),
                Err(_) => tracing::warn!("{name} did not stop within 10 s"),
            }
        }
    }
}
