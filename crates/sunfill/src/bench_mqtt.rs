//! `sunfill bench mqtt`: the MQTT acceptance measurements of issue 5 against a real Mosquitto.
//!
//! The bench makes a PKI with our own `certs init` in a temporary directory, starts `mosquitto`
//! (Debian package) on a free 127.0.0.1 port with the listener snippet `certs init` wrote
//! (TLS, `require_certificate`, `use_identity_as_username`), or a plain listener without
//! `--tls`, and writes config files built from `certs init`'s `sunfill.toml` lines.
//!
//! - **Latency**: the service runs in this process on the daemon's runtime (two tokio workers),
//!   through [`drive`] ([`service::run_with`], the loop of [`service::run`], with a hook that
//!   timestamps the decision after each message). N grid readings alternating between -3.0 kW
//!   and -1.0 kW (so every reading changes the decision's surplus; both are too little to start
//!   the car) are published one at a
//!   time, first with one `mosquitto_pub` process each, then with an in-process rumqttc client,
//!   to separate the cost of starting a process and a TLS session. Latency = decision time -
//!   time right before the publish.
//! - **Ingest**: the service runs in its own process (`sunfill bench mqtt-service`, hidden) so
//!   that its CPU time (`/proc/self/stat`) is its own; a second process (`sunfill bench
//!   mqtt-flood`, hidden) publishes a flood at a fixed rate on Home Assistant topics sunfill does
//!   not use, framed by a start and an end marker on `homeassistant/status` (which sunfill
//!   subscribes to and ignores unless the payload is `online`). The service measures its CPU
//!   time and the messages it received between the markers. `--wildcard` adds a subscription to
//!   `homeassistant/#`, so that every message reaches sunfill's parser.
//!
//! Nothing here is used by the daemon; the measured code is [`Service`] and its
//! [`Link`](crate::mqtt::link::Link), unchanged.

use crate::config::Config;
use crate::mqtt::broker::{connect_once, Settings};
use crate::mqtt::inputs::Reading;
use crate::service::{self, Seen, Service};
use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use rumqttc::{Event, Packet, QoS};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sunfill_core::control::{VehicleState, WallboxReading};
use sunfill_core::{Deciamps, Reason};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;

/// Payload on `homeassistant/status` that starts the ingest window.
const START: &str = "sunfill-bench-start";
/// Payload on `homeassistant/status` that ends the ingest window.
const END: &str = "sunfill-bench-end";
/// How long any single step (connect, a decision, a child's line) may take before the bench
/// gives up with an error.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Grid readings of the latency run, kW, and the surplus each leads to (no car power), W. Both
/// are below the minimum power at 3 phases (4.1 kW), so the car is never started: the bench's
/// car never draws power, and after a start the controller would keep its setpoint until the
/// wallbox showed the car following (`Reason::Settling`) instead of deciding on each reading.
const READINGS: [(&str, i32); 2] = [("-3.0", 3000), ("-1.0", 1000)];

/// `sunfill bench mqtt`.
#[derive(Args, Debug, Clone)]
pub struct BenchMqttArgs {
    /// Grid readings for the latency run, per publisher (0 skips it).
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// TLS with client certificates (mutual TLS) made by `certs init`; plain MQTT without.
    #[arg(long)]
    pub tls: bool,
    /// Flood rate of the ingest run, messages/s.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u32,
    /// Duration of the flood, s (0 skips the ingest run).
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Distinct flood topics `homeassistant/sensor/x_N/state`.
    #[arg(long, default_value_t = 1000)]
    pub topics: u32,
    /// Pause between the latency run's readings, ms. Back to back (0), a reading can meet
    /// Nagle's algorithm on the broker's socket waiting ~40 ms for a delayed ACK; Home Assistant
    /// publishes seconds apart.
    #[arg(long, default_value_t = 0)]
    pub gap_ms: u64,
    /// Start Mosquitto with `set_tcp_nodelay true` (its default is false: Nagle's algorithm on).
    #[arg(long)]
    pub broker_nodelay: bool,
    /// Ingest run: sunfill also subscribes to `homeassistant/#`, so every flood message reaches
    /// it (the broker no longer filters them).
    #[arg(long)]
    pub wildcard: bool,
}

/// `sunfill bench mqtt-service` (internal): the service in its own process for the ingest run.
#[derive(Args, Debug, Clone)]
pub struct ServiceArgs {
    /// The service's config file.
    #[arg(long)]
    pub config: PathBuf,
    /// Also subscribe to `homeassistant/#`.
    #[arg(long)]
    pub wildcard: bool,
}

/// `sunfill bench mqtt-flood` (internal): the flood publisher for the ingest run.
#[derive(Args, Debug, Clone)]
pub struct FloodArgs {
    /// The publisher's config file (only `[mqtt]` is used).
    #[arg(long)]
    pub config: PathBuf,
    /// Messages/s.
    #[arg(long)]
    pub rate: u32,
    /// Duration, s.
    #[arg(long)]
    pub secs: f64,
    /// Distinct topics.
    #[arg(long)]
    pub topics: u32,
}

/// Runs a bench future on the daemon's runtime (`sunfill run`: two tokio workers).
pub fn run(fut: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(fut)?;
    Ok(ExitCode::SUCCESS)
}

// The service loop with a hook.

/// A car plugged in, not drawing power: the wallbox reading the Modbus side would feed.
fn car_plugged_in() -> WallboxReading {
    WallboxReading {
        power_w: 0,
        currents: [Deciamps::ZERO; 3],
        voltages: [230; 3],
        state: VehicleState::Connected,
    }
}

/// [`service::run_with`] with `extra` subscriptions and the hook `seen`. The 5 s timer feeds a
/// wallbox reading (a car plugged in), as the Modbus side of the daemon does at that rate, so
/// that the controller decides on the grid reading instead of waiting for the wallbox.
pub async fn drive(
    settings: Settings,
    service: Service,
    extra: &[String],
    shutdown: impl Future<Output = ()>,
    mut seen: impl FnMut(Seen<'_>),
) -> anyhow::Result<()> {
    let mut stopped = false;
    service::run_with(
        settings,
        service,
        extra,
        |s, now| s.wallbox(now, Some(car_plugged_in())),
        |ev| {
            stopped |= matches!(ev, Seen::LinkStopped);
            seen(ev);
        },
        shutdown,
    )
    .await?;
    if stopped {
        bail!("the MQTT link stopped");
    }
    Ok(())
}

/// The surplus a decision was based on, if it names one.
fn surplus_of(reason: &Reason) -> Option<i32> {
    match *reason {
        Reason::WaitingForSurplus { surplus_w, .. }
        | Reason::StartPending { surplus_w, .. }
        | Reason::StartNotWorth { surplus_w }
        | Reason::Tracking { surplus_w, .. }
        | Reason::AtMax { surplus_w, .. }
        | Reason::Holding { surplus_w, .. }
        | Reason::BudgetSpent { surplus_w, .. }
        | Reason::BatteryFirst { surplus_w, .. }
        | Reason::CatchingUp { surplus_w, .. }
        | Reason::StartLead { surplus_w, .. }
        | Reason::MinPvFloor { surplus_w, .. } => Some(surplus_w),
        _ => None,
    }
}

/// The service and its settings from a config file, as `sunfill run` builds them.
fn service_from(config: &Path) -> anyhow::Result<(Settings, Service, String, String)> {
    let c = Config::load(config)?;
    let topics = c.topics()?;
    let inputs = c.inputs()?;
    let grid = inputs
        .binding(Reading::Grid)
        .map(|b| b.topic.clone())
        .ok_or_else(|| anyhow!("{}: no grid reading configured", config.display()))?;
    let ha_status = topics.ha_status();
    let service = Service::new(topics, inputs, sunfill_core::Config::default());
    Ok((c.mqtt_settings()?, service, grid, ha_status))
}

// CPU time.

/// User and system CPU time of a process, from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu {
    /// User time, ms.
    pub user_ms: u64,
    /// System time, ms.
    pub sys_ms: u64,
}

impl Cpu {
    /// Reads `/proc/<pid>/stat` (`pid` may be `self`). Its times are in USER_HZ ticks, which
    /// Linux fixes at 100 per second for user space, so the resolution is 10 ms.
    pub fn of(pid: &str) -> anyhow::Result<Cpu> {
        let path = format!("/proc/{pid}/stat");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Cpu::parse(&text).with_context(|| format!("{path}: unexpected format"))
    }

    fn parse(stat: &str) -> anyhow::Result<Cpu> {
        // The command name may contain spaces and parentheses; the fields follow the last ')'.
        let rest = stat
            .rfind(')')
            .map(|i| &stat[i + 1..])
            .ok_or_else(|| anyhow!("no ')' after the command name"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15 of proc(5); the first after ')' is field 3.
        let tick = |i: usize| -> anyhow::Result<u64> {
            let f = fields
                .get(i)
                .ok_or_else(|| anyhow!("field {} missing", i + 3))?;
            f.parse::<u64>()
                .with_context(|| format!("field {} is {f:?}", i + 3))
        };
        Ok(Cpu {
            user_ms: tick(11)? * 10,
            sys_ms: tick(12)? * 10,
        })
    }

    /// The time spent since `earlier`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user_ms: self.user_ms.saturating_sub(earlier.user_ms),
            sys_ms: self.sys_ms.saturating_sub(earlier.sys_ms),
        }
    }

    /// User plus system, ms.
    pub fn total_ms(self) -> u64 {
        self.user_ms + self.sys_ms
    }
}

// The broker and the PKI.

/// A temporary directory removed on drop (tempfile is only a dev-dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sunfill-mqttbench-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `mosquitto` started by the bench on a free loopback port; killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// Whether this process runs as root: Mosquitto started by root drops to user `mosquitto` unless
/// its config says `user root`, and then cannot read our keys (mode 0600). The
/// integration tests start their brokers the same way.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl Mosquitto {
    /// Starts Mosquitto with `listener` (the listener's options, without the `listener` line).
    async fn start(dir: &Path, listener: &str, nodelay: bool) -> anyhow::Result<Mosquitto> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot find a free loopback port")?
            .port();
        let conf = dir.join("mosquitto.bench.conf");
        // As root, Mosquitto would switch to user mosquitto, who cannot read our keys.
        let user = if running_as_root() { "user root\n" } else { "" };
        let nodelay = if nodelay {
            "set_tcp_nodelay true\n"
        } else {
            ""
        };
        std::fs::write(
            &conf,
            format!(
                "{user}{nodelay}persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n\
                 listener {port} 127.0.0.1\n{listener}\n"
            ),
        )
        .with_context(|| format!("cannot write {}", conf.display()))?;
        let log = dir.join("mosquitto.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start mosquitto; install it: apt-get install -y mosquitto mosquitto-clients")?;
        let mut m = Mosquitto { child, port, log };
        let deadline = Instant::now() + STEP_TIMEOUT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = m.child.try_wait() {
                bail!("mosquitto exited ({status}): {}", m.log_text());
            }
            if Instant::now() > deadline {
                bail!("mosquitto did not listen on port {port}: {}", m.log_text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The port answered; make sure it is our Mosquitto and not someone else's.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(Some(status)) = m.child.try_wait() {
            bail!("mosquitto exited ({status}): {}", m.log_text());
        }
        Ok(m)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn cpu(&self) -> anyhow::Result<Cpu> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| anyhow!("mosquitto is no longer running: {}", self.log_text()))?;
        Cpu::of(&pid.to_string())
    }
}

/// The broker, the PKI and the config files of one bench run.
struct Setup {
    mosquitto: Mosquitto,
    /// The PKI (`certs init`), with TLS.
    pki: Option<PathBuf>,
    /// The service's config file (client certificate `sunfill`).
    service_config: PathBuf,
    /// The publishers' config file (client certificate `ha`, as Home Assistant would use).
    publisher_config: PathBuf,
    dir: TempDir,
}

impl Setup {
    async fn new(tls: bool, nodelay: bool) -> anyhow::Result<Setup> {
        let dir = TempDir::new()?;
        let pki_report = if tls {
            Some(crate::certs::init(&crate::certs::InitOptions {
                dir: dir.0.join("pki"),
                host: "localhost".into(),
                ips: vec![std::net::Ipv4Addr::LOCALHOST.into()],
                clients: vec!["sunfill".into(), "ha".into()],
                days: 2,
            })?)
        } else {
            None
        };
        let listener = match &pki_report {
            // The snippet certs init wrote, with only its port moved off 8883.
            Some(r) => r.mosquitto_conf.replace("listener 8883\n", ""),
            None => "allow_anonymous true\n".to_string(),
        };
        let mosquitto = Mosquitto::start(&dir.0, &listener, nodelay).await?;
        let config = |client: &str, loadpoint: &str| -> String {
            let mqtt = match &pki_report {
                // The lines certs init wrote, with the port and the client certificate chosen.
                Some(r) => r
                    .sunfill_toml
                    .replace(
                        "mqtts://localhost:8883",
                        &format!("mqtts://127.0.0.1:{}", mosquitto.port),
                    )
                    .replace("/sunfill.crt\"", &format!("/{client}.crt\""))
                    .replace("/sunfill.key\"", &format!("/{client}.key\"")),
                None => format!("[mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\n", mosquitto.port),
            };
            format!(
                "{mqtt}loadpoint = \"{loadpoint}\"\n[inputs]\npreset = \"powerwall-statestream\"\n"
            )
        };
        let service_config = dir.0.join("sunfill.bench.toml");
        let publisher_config = dir.0.join("publisher.bench.toml");
        for (path, text) in [
            (&service_config, config("sunfill", "garage")),
            (&publisher_config, config("ha", "benchpub")),
        ] {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(Setup {
            mosquitto,
            pki: pki_report.map(|r| r.dir),
            service_config,
            publisher_config,
            dir,
        })
    }

    /// `mosquitto_pub` arguments that connect as the publisher (`ha`).
    fn mosquitto_pub(&self, topic: &str, payload: &str) -> Command {
        let mut c = Command::new("mosquitto_pub");
        c.args(["-h", "127.0.0.1", "-p", &self.mosquitto.port.to_string()]);
        if let Some(p) = &self.pki {
            c.arg("--cafile")
                .arg(p.join("ca.crt"))
                .arg("--cert")
                .arg(p.join("ha.crt"))
                .arg("--key")
                .arg(p.join("ha.key"));
        }
        c.args(["-t", topic, "-m", payload])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// An in-process publisher connected as `ha`, with its event loop polled by a task.
    async fn publisher(&self, client_id: &str) -> anyhow::Result<rumqttc::AsyncClient> {
        let c = Config::load(&self.publisher_config)?;
        let mut s = c.mqtt_settings()?;
        s.client_id = client_id.to_string();
        let (client, mut el) = connect_once(&s).await?;
        tokio::spawn(async move { while let Ok(_ev) = el.poll().await {} });
        Ok(client)
    }
}

// Latency.

/// Decisions on the grid topic, as the hook of the in-process service saw them.
enum Decided {
    Connected,
    Down(String),
    Grid { surplus: Option<i32>, at: Instant },
}

/// Waits for a decision on `want` W of surplus; earlier decisions (other values) are skipped.
async fn decision_on(
    rx: &mut mpsc::UnboundedReceiver<Decided>,
    want: i32,
) -> anyhow::Result<Instant> {
    let wait = async {
        loop {
            match rx.recv().await {
                None => bail!("the service stopped"),
                Some(Decided::Grid { surplus, at }) if surplus == Some(want) => return Ok(at),
                Some(Decided::Down(e)) => tracing::warn!("service connection: {e}"),
                Some(_) => {}
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, wait)
        .await
        .map_err(|_| anyhow!("no decision on a surplus of {want} W within {STEP_TIMEOUT:?}"))?
}

/// Latencies of one publisher, sorted.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// The `p` quantile (nearest rank), or zero when empty.
    pub fn quantile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i]
    }

    /// Count, p50, p99, max in the form of BENCHMARKS.md.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "count {}, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.0.len(),
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.0.last().copied().unwrap_or_default())
        )
    }
}

/// Which publisher a latency run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Publisher {
    /// One `mosquitto_pub` process per reading (new process, TCP, TLS handshake, CONNECT).
    MosquittoPub,
    /// One rumqttc client in this process, connected before the run.
    Rumqttc,
}

async fn latency_run(
    setup: &Setup,
    rx: &mut mpsc::UnboundedReceiver<Decided>,
    client: &rumqttc::AsyncClient,
    grid: &str,
    n: usize,
    gap: Duration,
    publisher: Publisher,
) -> anyhow::Result<Latencies> {
    // Known state: the last reading is the second value, so the first one below changes it.
    let (payload, want) = READINGS[1];
    client
        .publish(grid, QoS::AtMostOnce, false, payload)
        .await
        .context("publishing the first reading")?;
    decision_on(rx, want).await?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let (payload, want) = READINGS[i % 2];
        tokio::time::sleep(gap).await;
        let t0 = Instant::now();
        let child = match publisher {
            Publisher::MosquittoPub => Some(setup.mosquitto_pub(grid, payload).spawn().context(
                "cannot start mosquitto_pub; install it: apt-get install -y mosquitto-clients",
            )?),
            Publisher::Rumqttc => {
                client
                    .publish(grid, QoS::AtMostOnce, false, payload)
                    .await
                    .context("publishing a reading")?;
                None
            }
        };
        let at = decision_on(rx, want).await?;
        lat.push(at.saturating_duration_since(t0));
        if let Some(child) = child {
            let out = tokio::time::timeout(STEP_TIMEOUT, child.wait_with_output())
                .await
                .context("mosquitto_pub did not exit")?
                .context("waiting for mosquitto_pub")?;
            if !out.status.success() {
                bail!(
                    "mosquitto_pub failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
    }
    lat.sort_unstable();
    Ok(Latencies(lat))
}

/// Both latency runs with the service in this process.
async fn latency(setup: &Setup, n: usize, gap: Duration) -> anyhow::Result<(Latencies, Latencies)> {
    let (settings, service, grid, _) = service_from(&setup.service_config)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let grid_topic = grid.clone();
    let task = tokio::spawn(async move {
        drive(
            settings,
            service,
            &[],
            async move {
                let _ = stopped.await;
            },
            move |s| {
                let ev = match s {
                    Seen::Connected => Decided::Connected,
                    Seen::Down(e) => Decided::Down(e),
                    Seen::Message { msg, decision, at } if msg.topic == grid_topic => {
                        Decided::Grid {
                            surplus: decision.and_then(|d| surplus_of(&d.reason)),
                            at,
                        }
                    }
                    Seen::Message { .. } | Seen::LinkStopped => return,
                };
                let _ = tx.send(ev);
            },
        )
        .await
    });
    let connected = async {
        loop {
            match rx.recv().await {
                Some(Decided::Connected) => return Ok(()),
                Some(Decided::Down(e)) => tracing::warn!("service connection: {e}"),
                Some(_) => {}
                None => bail!("the service stopped before it connected"),
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, connected)
        .await
        .map_err(|_| anyhow!("the service did not connect within {STEP_TIMEOUT:?}"))??;
    let client = setup.publisher("bench-latency").await?;
    let result = async {
        let pub_ = latency_run(
            setup,
            &mut rx,
            &client,
            &grid,
            n,
            gap,
            Publisher::MosquittoPub,
        )
        .await?;
        let inproc =
            latency_run(setup, &mut rx, &client, &grid, n, gap, Publisher::Rumqttc).await?;
        Ok((pub_, inproc))
    }
    .await;
    let _ = stop.send(());
    let _ = client.try_disconnect();
    match tokio::time::timeout(STEP_TIMEOUT, task).await {
        Ok(Ok(Err(e))) => return Err(e.context("the in-process service failed")),
        Ok(Err(e)) => bail!("the in-process service task failed: {e}"),
        _ => {}
    }
    result
}

// Ingest.

/// What the service process measured between the markers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServiceResult {
    /// Messages received between the markers.
    pub msgs: u64,
    /// CPU time spent meanwhile.
    pub cpu: Cpu,
    /// Wall time between the markers, s.
    pub secs: f64,
}

/// What the flood process did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FloodResult {
    /// Messages published.
    pub sent: u64,
    /// From the first flood message to the broker's PUBACK of the end marker, s.
    pub secs: f64,
}

/// The fields of a `key=value ...` line after `prefix`.
fn fields<'a>(line: &'a str, prefix: &str) -> Option<Vec<(&'a str, &'a str)>> {
    let rest = line.strip_prefix(prefix)?;
    Some(
        rest.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .collect(),
    )
}

fn field<T: std::str::FromStr>(fs: &[(&str, &str)], key: &str, line: &str) -> anyhow::Result<T> {
    fs.iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| anyhow!("no valid {key}= in {line:?}"))
}

impl ServiceResult {
    fn line(&self) -> String {
        format!(
            "result msgs={} user_ms={} sys_ms={} secs={:.3}",
            self.msgs, self.cpu.user_ms, self.cpu.sys_ms, self.secs
        )
    }

    fn parse(line: &str) -> anyhow::Result<Option<ServiceResult>> {
        let Some(fs) = fields(line, "result ") else {
            return Ok(None);
        };
        Ok(Some(ServiceResult {
            msgs: field(&fs, "msgs", line)?,
            cpu: Cpu {
                user_ms: field(&fs, "user_ms", line)?,
                sys_ms: field(&fs, "sys_ms", line)?,
            },
            secs: field(&fs, "secs", line)?,
        }))
    }
}

impl FloodResult {
    fn line(&self) -> String {
        format!("flood sent={} secs={:.3}", self.sent, self.secs)
    }

    fn parse(line: &str) -> anyhow::Result<Option<FloodResult>> {
        let Some(fs) = fields(line, "flood ") else {
            return Ok(None);
        };
        Ok(Some(FloodResult {
            sent: field(&fs, "sent", line)?,
            secs: field(&fs, "secs", line)?,
        }))
    }
}

/// `sunfill bench mqtt-service`: the service with a hook that prints `connected`, `grid` (the
/// first grid reading decided on), `started` and finally a `result` line on stdout.
pub async fn service_child(a: ServiceArgs) -> anyhow::Result<()> {
    let (settings, service, grid, ha_status) = service_from(&a.config)?;
    let extra = if a.wildcard {
        vec!["homeassistant/#".to_string()]
    } else {
        Vec::new()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let mut count = 0u64;
    let mut grid_seen = false;
    let mut started: Option<(Cpu, u64, Instant)> = None;
    let mut failure: Option<anyhow::Error> = None;
    drive(
        settings,
        service,
        &extra,
        async move {
            let _ = stopped.await;
        },
        |s| match s {
            Seen::Connected => println!("connected"),
            Seen::Down(_) | Seen::LinkStopped => {}
            Seen::Message { msg, .. } => {
                count += 1;
                if !grid_seen && msg.topic == grid {
                    grid_seen = true;
                    println!("grid");
                }
                if msg.topic != ha_status {
                    return;
                }
                if msg.payload == START.as_bytes() {
                    match Cpu::of("self") {
                        Ok(cpu) => {
                            started = Some((cpu, count, Instant::now()));
                            println!("started");
                        }
                        Err(e) => failure = Some(e),
                    }
                } else if msg.payload == END.as_bytes() {
                    if let Some((cpu0, count0, t0)) = started.take() {
                        match Cpu::of("self") {
                            Ok(cpu) => {
                                let r = ServiceResult {
                                    // Neither marker counts.
                                    msgs: count - count0 - 1,
                                    cpu: cpu.since(cpu0),
                                    secs: t0.elapsed().as_secs_f64(),
                                };
                                println!("{}", r.line());
                            }
                            Err(e) => failure = Some(e),
                        }
                    }
                }
                if failure.is_some() || msg.payload == END.as_bytes() {
                    if let Some(stop) = stop.take() {
                        let _ = stop.send(());
                    }
                }
            }
        },
    )
    .await?;
    match failure {
        Some(e) => Err(e.context("measuring the service's CPU time")),
        None => Ok(()),
    }
}

/// `sunfill bench mqtt-flood`: publishes `rate` messages/s for `secs` on `topics` topics
/// `homeassistant/sensor/x_N/state` (QoS 0, as `mqtt_statestream` does), between a start and an
/// end marker (QoS 1), and prints a `flood` line.
pub async fn flood_child(a: FloodArgs) -> anyhow::Result<()> {
    let c = Config::load(&a.config)?;
    let mut s = c.mqtt_settings()?;
    s.client_id = "bench-flood".into();
    let (client, mut el) = connect_once(&s).await?;
    let acks = Arc::new(AtomicU64::new(0));
    let poll_acks = acks.clone();
    let poller = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    poll_acks.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    });
    let marker = "homeassistant/status";
    client
        .publish(marker, QoS::AtLeastOnce, false, START)
        .await
        .context("publishing the start marker")?;
    let total = (f64::from(a.rate) * a.secs).round() as u64;
    let topics = u64::from(a.topics.max(1));
    let t0 = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = ((t0.elapsed().as_secs_f64() * f64::from(a.rate)) as u64).min(total);
        while sent < due {
            client
                .publish(
                    format!("homeassistant/sensor/x_{}/state", sent % topics),
                    QoS::AtMostOnce,
                    false,
                    format!("{}.{}", sent % 1000, sent % 10),
                )
                .await
                .context("queueing a flood message")?;
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    client
        .publish(marker, QoS::AtLeastOnce, false, END)
        .await
        .context("publishing the end marker")?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    while acks.load(Ordering::Relaxed) < 2 {
        if poller.is_finished() || Instant::now() > deadline {
            bail!("the broker did not acknowledge the end marker");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let r = FloodResult {
        sent,
        secs: t0.elapsed().as_secs_f64(),
    };
    println!("{}", r.line());
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(2), poller).await;
    Ok(())
}

/// A child process of this executable (`sunfill bench <sub> ...`) with its stdout as lines.
fn spawn_self(args: &[&std::ffi::OsStr]) -> anyhow::Result<(Child, Lines<BufReader<ChildStdout>>)> {
    let exe = std::env::current_exe().context("cannot find the sunfill executable")?;
    let mut child = Command::new(&exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout from {}", exe.display()))?;
    Ok((child, BufReader::new(out).lines()))
}

/// Waits for a line for which `f` returns something.
async fn line_where<T>(
    lines: &mut Lines<BufReader<ChildStdout>>,
    what: &str,
    within: Duration,
    mut f: impl FnMut(&str) -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let wait = async {
        loop {
            match lines
                .next_line()
                .await
                .context("reading a child's output")?
            {
                Some(l) => {
                    if let Some(t) = f(&l)? {
                        return Ok(t);
                    }
                }
                None => bail!("the {what} process exited early"),
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .map_err(|_| anyhow!("no {what} line within {within:?}"))?
}

/// The ingest run's numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ingest {
    /// The flood publisher's side.
    pub flood: FloodResult,
    /// The service's side.
    pub service: ServiceResult,
    /// The broker's CPU time over the whole flood.
    pub broker_cpu: Cpu,
}

async fn ingest(setup: &Setup, a: &BenchMqttArgs) -> anyhow::Result<Ingest> {
    let (_, _, grid, _) = service_from(&setup.service_config)?;
    let mut svc_args: Vec<&std::ffi::OsStr> = vec![
        "bench".as_ref(),
        "mqtt-service".as_ref(),
        "--config".as_ref(),
        setup.service_config.as_os_str(),
    ];
    if a.wildcard {
        svc_args.push("--wildcard".as_ref());
    }
    let (mut svc, mut svc_lines) = spawn_self(&svc_args)?;
    let is = |want: &'static str| move |l: &str| Ok((l == want).then_some(()));
    line_where(&mut svc_lines, "service", STEP_TIMEOUT, is("connected")).await?;
    // Subscriptions are active once a grid reading gets through.
    let client = setup.publisher("bench-ingest").await?;
    let mut tries = 0;
    loop {
        client
            .publish(&grid, QoS::AtLeastOnce, false, READINGS[0].0)
            .await
            .context("publishing a grid reading")?;
        match line_where(
            &mut svc_lines,
            "service",
            Duration::from_millis(200),
            is("grid"),
        )
        .await
        {
            Ok(()) => break,
            Err(_) if tries < 100 => tries += 1,
            Err(e) => return Err(e.context("the service never saw a grid reading")),
        }
    }
    let _ = client.try_disconnect();
    let broker0 = setup.mosquitto.cpu()?;
    let rate = a.rate.to_string();
    let secs = a.secs.to_string();
    let topics = a.topics.to_string();
    let (mut flood, mut flood_lines) = spawn_self(&[
        "bench".as_ref(),
        "mqtt-flood".as_ref(),
        "--config".as_ref(),
        setup.publisher_config.as_os_str(),
        "--rate".as_ref(),
        rate.as_ref(),
        "--secs".as_ref(),
        secs.as_ref(),
        "--topics".as_ref(),
        topics.as_ref(),
    ])?;
    let within = STEP_TIMEOUT + Duration::from_secs_f64(a.secs.max(0.0) * 2.0);
    let flood_r = line_where(&mut flood_lines, "flood", within, FloodResult::parse).await?;
    let service_r = line_where(&mut svc_lines, "service", within, ServiceResult::parse).await?;
    let broker_cpu = setup.mosquitto.cpu()?.since(broker0);
    for (child, what) in [(&mut flood, "flood"), (&mut svc, "service")] {
        match tokio::time::timeout(STEP_TIMEOUT, child.wait()).await {
            Ok(Ok(s)) if s.success() => {}
            Ok(Ok(s)) => bail!("the {what} process failed ({s})"),
            Ok(Err(e)) => bail!("waiting for the {what} process: {e}"),
            Err(_) => bail!("the {what} process did not exit"),
        }
    }
    Ok(Ingest {
        flood: flood_r,
        service: service_r,
        broker_cpu,
    })
}

/// `sunfill bench mqtt`: starts the broker, runs the latency and ingest measurements and prints
/// them.
pub async fn bench(a: BenchMqttArgs) -> anyhow::Result<()> {
    let setup = Setup::new(a.tls, a.broker_nodelay).await?;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "mosquitto on 127.0.0.1:{} ({}); sunfill on the daemon's runtime (2 tokio workers); {cpus} CPUs; temp dir {}",
        setup.mosquitto.port,
        if a.tls {
            "TLS with client certificates from certs init (mutual TLS)"
        } else {
            "plain MQTT"
        },
        setup.dir.0.display()
    );
    if a.n > 0 {
        let (pub_, inproc) = latency(&setup, a.n, Duration::from_millis(a.gap_ms)).await?;
        println!(
            "latency, grid reading published -> decision ({} readings alternating {} / {} kW, {} ms apart; broker set_tcp_nodelay {}):",
            a.n, READINGS[0].0, READINGS[1].0, a.gap_ms, a.broker_nodelay
        );
        println!(
            "  mosquitto_pub, one process per reading: {}",
            pub_.summary()
        );
        println!(
            "  rumqttc publisher in this process:      {}",
            inproc.summary()
        );
    }
    if a.secs > 0.0 {
        let r = ingest(&setup, &a).await?;
        let per_s = |n: u64, s: f64| n as f64 / s.max(1e-9);
        let pct = |c: Cpu, s: f64| c.total_ms() as f64 / (s.max(1e-9) * 10.0);
        println!(
            "ingest, flood of {} msg/s for {} s on {} topics homeassistant/sensor/x_N/state (QoS 0); sunfill subscribes to {}:",
            a.rate,
            a.secs,
            a.topics,
            if a.wildcard {
                "its own topics and homeassistant/#"
            } else {
                "its own topics only (the broker filters the flood)"
            }
        );
        println!(
            "  publisher (separate process): sent {} in {:.2} s = {:.0} msg/s",
            r.flood.sent,
            r.flood.secs,
            per_s(r.flood.sent, r.flood.secs)
        );
        let per_msg = if r.service.msgs > 0 {
            format!(
                "{:.1} us per message received",
                r.service.cpu.total_ms() as f64 * 1000.0 / r.service.msgs as f64
            )
        } else {
            "no messages received".to_string()
        };
        println!(
            "  sunfill (own process): received {} = {:.0} msg/s; CPU {} ms user + {} ms sys = {:.1} % of one core over {:.2} s; {per_msg}",
            r.service.msgs,
            per_s(r.service.msgs, r.service.secs),
            r.service.cpu.user_ms,
            r.service.cpu.sys_ms,
            pct(r.service.cpu, r.service.secs),
            r.service.secs
        );
        println!(
            "  mosquitto: CPU {} ms user + {} ms sys = {:.1} % of one core",
            r.broker_cpu.user_ms,
            r.broker_cpu.sys_ms,
            pct(r.broker_cpu, r.flood.secs)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_times_are_read_after_the_command_name() {
        let stat = "4242 (tokio (x) 1) S 1 4242 4242 0 -1 4194560 500 0 0 0 731 42 0 0 20 0 3 0";
        assert_eq!(
            Cpu::parse(stat).ok(),
            Some(Cpu {
                user_ms: 7310,
                sys_ms: 420
            })
        );
        assert!(Cpu::parse("4242 (x) S 1").is_err());
    }

    #[test]
    fn own_process_times_are_readable() {
        assert!(Cpu::of("self").is_ok());
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let l = Latencies((1..=100).map(Duration::from_millis).collect());
        assert_eq!(l.quantile(0.5), Duration::from_millis(50));
        assert_eq!(l.quantile(0.99), Duration::from_millis(99));
        assert_eq!(Latencies::default().quantile(0.5), Duration::ZERO);
    }

    #[test]
    fn result_lines_round_trip() {
        let s = ServiceResult {
            msgs: 12,
            cpu: Cpu {
                user_ms: 30,
                sys_ms: 10,
            },
            secs: 1.5,
        };
        assert_eq!(ServiceResult::parse(&s.line()).ok().flatten(), Some(s));
        let f = FloodResult {
            sent: 200,
            secs: 1.25,
        };
        assert_eq!(FloodResult::parse(&f.line()).ok().flatten(), Some(f));
        assert!(ServiceResult::parse("grid").ok().flatten().is_none());
        assert!(ServiceResult::parse("result msgs=x").is_err());
    }

    #[test]
    fn alternating_readings_name_their_surplus() {
        let r = Reason::WaitingForSurplus {
            surplus_w: READINGS[1].1,
            needed_w: 4140,
            phases: 3,
        };
        assert_eq!(surplus_of(&r), Some(1000));
        assert_eq!(surplus_of(&Reason::NoCar), None);
    }
}
