//! `sunfill bench modbus`: many transactions against the simulated box with injected faults.
//!
//! Checks the acceptance of issue 4: no write reported as done unless the box holds the value,
//! every setpoint finally applied, no panic; and measures latency per transaction and
//! transactions per second against what a 19200-baud bus allows.

use super::bus::{BusConfig, BusHandle};
use super::error::Error;
use super::server::{self, Faults, SimHandle};
use super::url::PortUrl;
use super::wallbox::{DriverConfig, Wallbox};
use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use sunfill_core::Deciamps;
use sunfill_sim::wallbox::{Event, Script, WallboxConfig};
use tokio::time::Instant;

/// A pseudo-terminal pair made by `socat`: whatever is written to one end comes out of the
/// other, like two RS-485 adapters on one bus. The pair goes away when this is dropped.
#[derive(Debug)]
pub struct PtyPair {
    child: Child,
    dir: PathBuf,
    /// One end (the master's side).
    pub a: PathBuf,
    /// The other end (the box's side).
    pub b: PathBuf,
}

impl PtyPair {
    /// Starts `socat` and waits for both ends to exist.
    pub fn new() -> anyhow::Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sunfill-pty-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let a = dir.join("a");
        let b = dir.join("b");
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "cannot start socat for a pseudo-terminal pair; install it: apt-get install -y socat",
            )?;
        let pair = PtyPair { child, dir, a, b };
        for _ in 0..250 {
            if pair.a.exists() && pair.b.exists() {
                return Ok(pair);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "socat did not create {} and {}",
            pair.a.display(),
            pair.b.display()
        )
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The transport a bench or test runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Modbus TCP on loopback.
    Tcp,
    /// Modbus RTU over a pseudo-terminal pair (socat).
    Rtu,
    /// RTU frames over loopback TCP.
    Rtutcp,
}

/// A simulated bus served on a transport, and the URL to reach it.
pub struct Served {
    /// The simulated boxes.
    pub sim: SimHandle,
    /// Where the driver connects.
    pub url: PortUrl,
    /// Keeps the pty pair alive for RTU.
    pub _pty: Option<PtyPair>,
}

/// Serves `sim` on `transport` (loopback port 0, or a fresh pty pair).
pub async fn serve(sim: SimHandle, transport: Transport) -> anyhow::Result<Served> {
    sim.spawn_ticker();
    match transport {
        Transport::Tcp | Transport::Rtutcp => {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = l.local_addr()?.to_string();
            let rtu = transport == Transport::Rtutcp;
            tokio::spawn(server::serve_listener(l, sim.clone(), rtu));
            let url = if rtu {
                PortUrl::RtuTcp { addr }
            } else {
                PortUrl::Tcp { addr }
            };
            Ok(Served {
                sim,
                url,
                _pty: None,
            })
        }
        Transport::Rtu => {
            let pty = PtyPair::new()?;
            let b = pty.b.to_string_lossy().into_owned();
            let s = sim.clone();
            tokio::spawn(async move { server::serve_serial(&b, s).await });
            let url = PortUrl::parse(&format!("rtu://{}?baud=19200&parity=even", pty.a.display()))?;
            Ok(Served {
                sim,
                url,
                _pty: Some(pty),
            })
        }
    }
}

/// `sunfill bench modbus`.
#[derive(Args, Debug, Clone)]
pub struct BenchModbusArgs {
    /// Transport.
    #[arg(long, value_enum, default_value = "tcp")]
    pub transport: Transport,
    /// Number of Modbus transactions (requests asked of the bus).
    #[arg(long, default_value_t = 10_000)]
    pub n: u64,
    /// Percentage of requests/replies dropped by the simulator.
    #[arg(long, default_value_t = 5.0)]
    pub drop: f64,
    /// Percentage of replies corrupted by the simulator.
    #[arg(long, default_value_t = 1.0)]
    pub crc: f64,
    /// Request timeout, ms.
    #[arg(long, default_value_t = 100)]
    pub timeout_ms: u64,
    /// Pause between transactions, ms (the daemon's RTU default is 100).
    #[arg(long, default_value_t = 0)]
    pub pause_ms: u64,
    /// A confirmed setpoint write every this many operations (the rest read the input block).
    #[arg(long, default_value_t = 5)]
    pub write_every: u64,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What a bench run measured.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// Transactions asked of the bus.
    pub requests: u64,
    /// Attempts on the wire (with retries).
    pub attempts: u64,
    /// Timeouts, garbled replies.
    pub timeouts: u64,
    /// Garbled replies detected.
    pub garbled: u64,
    /// Attempts that ended in a transport error (on RTU: frames `tokio-modbus` gave up on).
    pub transport_errors: u64,
    /// Faults the simulator injected: dropped, corrupted.
    pub injected_drops: u64,
    /// Corrupted replies injected.
    pub injected_corrupt: u64,
    /// Setpoint writes reported done.
    pub writes_done: u64,
    /// Setpoint writes reported failed (not confirmed or no answer).
    pub writes_failed: u64,
    /// Writes reported done although the box holds another value (must be 0).
    pub unconfirmed_accepted: u64,
    /// Whether the last setpoint is in the box at the end.
    pub final_applied: bool,
    /// Reads that failed after all retries.
    pub reads_failed: u64,
    /// Wall time, s.
    pub seconds: f64,
    /// Successful round trips: p50, p99, max, µs.
    pub rtt_us: (u32, u32, u32),
    /// Reads including retries: p50, p99, µs.
    pub read_us: (u32, u32),
    /// What a 19200-baud bus allows for the same mix, transactions/s.
    pub bus_limit_tps: f64,
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Time a request/reply pair of `bytes` takes on 19200 8E1 (11 bits per byte), plus two
/// 3.5-character silences, in seconds.
fn wire_s(bytes: u32) -> f64 {
    let char_s = 11.0 / 19_200.0;
    f64::from(bytes) * char_s + 2.0 * 3.5 * char_s
}

/// Runs the bench.
pub async fn bench_modbus(a: &BenchModbusArgs) -> anyhow::Result<BenchReport> {
    let faults = Faults {
        drop_pct: a.drop,
        corrupt_pct: a.crc,
        latency: Duration::ZERO,
    };
    let cfg = WallboxConfig {
        boot_ms: 0,
        ..WallboxConfig::default()
    };
    let script = Script::from_events(vec![(
        0,
        Event::Plug {
            phases: 3,
            max: Deciamps(160),
        },
    )]);
    let served = serve(
        SimHandle::new(vec![cfg], script, faults, a.seed),
        a.transport,
    )
    .await?;
    let mut bus_cfg = BusConfig::new(served.url.clone());
    bus_cfg.timeout = Duration::from_millis(a.timeout_ms);
    bus_cfg.pause = Duration::from_millis(a.pause_ms);
    bus_cfg.retries = 2;
    let bus = BusHandle::spawn(bus_cfg);
    let mut wb = Wallbox::new(
        bus.clone(),
        DriverConfig {
            ready_timeout: Duration::from_secs(5),
            ..DriverConfig::default()
        },
    );
    let mut setup = Err(anyhow::anyhow!("not tried"));
    for _ in 0..10 {
        match wb.setup().await {
            Ok(_) => {
                setup = Ok(());
                break;
            }
            Err(e) => setup = Err(e.into()),
        }
    }
    setup.context("setting up the simulated box")?;

    let base = bus.stats();
    let sim_base = served.sim.lock().stats;
    bus.record_latency(true);
    let mut r = BenchReport::default();
    let cycle = [60u16, 80, 100, 160, 0, 125, 70, 0, 90, 160];
    let mut next = 0usize;
    let mut pending: Option<Deciamps> = None;
    let mut last_target = Deciamps::ZERO;
    let mut read_lat = Vec::new();
    let started = Instant::now();
    let mut op = 0u64;
    let box_261 = |sim: &SimHandle| sim.with_box(1, |b, _| b.max_current());
    while bus.stats().requests - base.requests < a.n {
        op += 1;
        if op % a.write_every.max(1) == 0 {
            let target = pending.unwrap_or_else(|| {
                next = (next + 1) % cycle.len();
                Deciamps(cycle[next])
            });
            last_target = target;
            match wb.set_current(target).await {
                Ok(v) => {
                    r.writes_done += 1;
                    pending = None;
                    if box_261(&served.sim) != Some(v) {
                        r.unconfirmed_accepted += 1;
                    }
                }
                Err(e) => {
                    r.writes_failed += 1;
                    pending = Some(target);
                    tracing::debug!("setpoint {target} not applied yet: {e}");
                }
            }
        } else {
            let t0 = Instant::now();
            match wb.read().await {
                Ok(_) => read_lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX)),
                Err(_) => r.reads_failed += 1,
            }
        }
    }
    r.seconds = started.elapsed().as_secs_f64();
    // Every setpoint finally applied: retry the last one until it is confirmed.
    for _ in 0..50 {
        match wb.set_current(last_target).await {
            Ok(_) => break,
            Err(Error::WriteNotConfirmed { .. } | Error::NoAnswer { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    r.final_applied = box_261(&served.sim) == Some(last_target);

    let st = bus.stats();
    let sim_st = served.sim.lock().stats;
    r.requests = st.requests - base.requests;
    r.attempts = st.attempts - base.attempts;
    r.timeouts = st.timeouts - base.timeouts;
    r.garbled = st.garbled - base.garbled;
    r.transport_errors = st.transport_errors - base.transport_errors;
    r.injected_drops = sim_st.dropped - sim_base.dropped;
    r.injected_corrupt = sim_st.corrupted - sim_base.corrupted;
    let mut rtt = st.latencies_us.clone();
    rtt.sort_unstable();
    r.rtt_us = (
        pct(&rtt, 0.5),
        pct(&rtt, 0.99),
        rtt.last().copied().unwrap_or(0),
    );
    read_lat.sort_unstable();
    r.read_us = (pct(&read_lat, 0.5), pct(&read_lat, 0.99));
    // The same mix on a real 19200 8E1 bus: an input-block read is 8 + 35 bytes, a confirmed
    // write is FC 06 (8 + 8) plus a read-back of one register (8 + 7).
    let w = a.write_every.max(1) as f64;
    let reads = (w - 1.0) / w;
    let writes = 1.0 / w;
    let per_req =
        (reads * wire_s(43) + writes * (wire_s(16) + wire_s(15))) / (reads + 2.0 * writes);
    r.bus_limit_tps = 1.0 / per_req;
    Ok(r)
}

/// Prints a report in the form used in BENCHMARKS.md.
pub fn print_report(a: &BenchModbusArgs, r: &BenchReport) {
    println!(
        "transport {:?}, {} transactions, drop {} %, corrupt {} %, timeout {} ms, pause {} ms",
        a.transport, r.requests, a.drop, a.crc, a.timeout_ms, a.pause_ms
    );
    println!(
        "  attempts {} (timeouts {}, garbled {}, transport errors {}); injected: {} dropped, {} corrupted",
        r.attempts,
        r.timeouts,
        r.garbled,
        r.transport_errors,
        r.injected_drops,
        r.injected_corrupt
    );
    println!(
        "  setpoint writes: {} confirmed, {} reported failed and retried; unconfirmed accepted as done: {}; last setpoint applied: {}",
        r.writes_done, r.writes_failed, r.unconfirmed_accepted, r.final_applied
    );
    println!("  reads failed after retries: {}", r.reads_failed);
    println!(
        "  round trip p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; block read incl. retries p50 {:.2} ms, p99 {:.2} ms",
        f64::from(r.rtt_us.0) / 1000.0,
        f64::from(r.rtt_us.1) / 1000.0,
        f64::from(r.rtt_us.2) / 1000.0,
        f64::from(r.read_us.0) / 1000.0,
        f64::from(r.read_us.1) / 1000.0
    );
    println!(
        "  {:.0} transactions/s in {:.1} s; a 19200 8E1 bus allows about {:.0}/s for this mix",
        r.requests as f64 / r.seconds.max(1e-9),
        r.seconds,
        r.bus_limit_tps
    );
}
