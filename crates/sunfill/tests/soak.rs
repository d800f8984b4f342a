//! The soak test (issue 7): `sunfill run` on a sped-up clock against a real Mosquitto (TLS),
//! the simulated box (RTU over TCP, so CRC errors are real CRC errors) and a site replaying
//! generated days, while faults are injected on a schedule of model time, every simulated day:
//!
//! | model time | fault |
//! |---|---|
//! | always | 5 % Modbus requests or replies dropped, 5 % replies with a bad CRC |
//! | always | 1 % of site payloads malformed (text, NaN, empty, non-UTF-8) or out of range |
//! | 06:00 / 12:00 / 12:20 / 18:00 | car plugged / unplugged / plugged / unplugged |
//! | 10:00 | broker killed, restarted 1 min later |
//! | 11:00 | `kill -9` of sunfill, restarted 1 min later |
//! | 13:00-13:10 | stale input: the grid reading is not published |
//! | 14:00 | wallbox reboot (power cycle: 10 s silent, registers back to factory) |
//! | 18:05 | standby: register 258 reset to "allowed" (as after a reboot); the box stops answering 60 s later until the next plug-in |
//!
//! Assertions: no panic in sunfill's stderr; register 261 always 0 or 60..=160; in `pv` mode the
//! car's grid import within the policy's budget (see [`budget_wh`]); every session in the store
//! equals the box's counter over the plug-in within 0.5 %, none lost across the kills; sunfill's
//! VmRSS in the last third of the run not above the first third by more than [`RSS_MARGIN`].
//!
//! `SUNFILL_SOAK_DAYS` (default 1) and `SUNFILL_SOAK_SPEED` (default 480) set the length and
//! the speed factor. The CI runs one day; the long run is
//! `SUNFILL_SOAK_DAYS=7 cargo test --release -p sunfill --test soak -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{rss_kib, start_sunfill, Mosquitto, Proc};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sunfill::heidelberg::server::{self, Faults, SimHandle};
use sunfill::mqtt::broker::{Broker, Settings};
use sunfill_core::Deciamps;
use sunfill_sim::generate::{self, Sky};
use sunfill_sim::scenario::Scenario;
use sunfill_sim::wallbox::{Script, Wallbox, WallboxConfig};

const DAY_MS: u64 = 86_400_000;
const MIN_MS: u64 = 60_000;
/// The run starts at 05:00 of the first day.
const START_MS: u64 = 5 * 60 * MIN_MS;
/// The minimum charging power of the 3-phase car: 6 A x 230 V x 3.
const MIN_W: f64 = 4_140.0;
/// The largest charging power: 16 A x 230 V x 3.
const MAX_W: f64 = 11_040.0;
/// The watchdog written to the box, model ms.
const WATCHDOG_MS: u64 = 60_000;
/// Allowed growth of VmRSS, last third over first third: the store's SQLite page cache (2 MiB
/// by default) and the allocator's arenas fill during the first hours and may keep growing a
/// little; a leak of even 100 bytes per published message (about 5 messages per 10 s) would
/// add 4 MiB a day, more than this margin.
const RSS_MARGIN_KIB: u64 = 3 * 1024;

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// The day replayed on day `d`: clear and broken clouds alternating, a seed per day.
fn day(d: u64) -> Scenario {
    let sky = if d % 2 == 0 {
        Sky::BrokenClouds
    } else {
        Sky::Clear
    };
    generate::day(sky, 100 + d)
}

/// PV and house power at model time `t`.
fn site_at(days: &[Scenario], t: u64) -> (f64, f64) {
    let d = ((t / DAY_MS) as usize).min(days.len() - 1);
    let rows = &days[d].rows;
    let m = (t % DAY_MS) as f64 / MIN_MS as f64;
    let i = (m.floor() as usize).min(rows.len() - 1);
    let j = (i + 1).min(rows.len() - 1);
    let f = m - m.floor();
    let (a, b) = (rows[i], rows[j]);
    (
        a.pv_w + (b.pv_w - a.pv_w) * f,
        a.house_w + (b.house_w - a.house_w) * f,
    )
}

/// What the site saw of the car, integrated between plug-in and unplug.
#[derive(Clone, Debug, Default)]
struct Acct {
    /// Car energy from the solar surplus, Wh.
    solar_wh: f64,
    /// Car energy the grid supplied (what the car added to the grid import), Wh.
    import_wh: f64,
    /// Model time the car charged while the surplus was below the minimum power, h.
    below_h: f64,
    /// Starts (car power from 0 to above 0).
    starts: u32,
    /// Faults during the session after which the box was not under control (kill -9, broker
    /// restart, stale input, reboot): each may cost up to a watchdog period at full power.
    faults: u32,
    /// Box counter at plug-in and unplug, Wh.
    counter: (u32, u32),
}

/// The policy's own budget for a session, from its documented rule (`control::Tuning`):
/// import <= earn x (solar taken + restart value while holding) + the bucket granted at each
/// start. earn = 20 %; the restart value rate is at most (restart delay 120 s + car start 15 s)
/// x the largest surplus + 60 s x the minimum power, over the 600 s mean dip: 2.9 kW, so holding
/// earns at most 0.2 x 2.9 kW = 580 W; a start grants 30 s of the minimum power (34.5 Wh).
/// On top, what lies outside the policy: each fault may leave the car at its last current for
/// up to a watchdog period (60 s) at full power (184 Wh), and each start and dip onset is seen
/// one site period (10 s) plus one poll (3 s model) plus the car's 5 s reaction late: 20 s at
/// full power (61 Wh) per start.
fn budget_wh(a: &Acct) -> f64 {
    0.2 * a.solar_wh
        + 580.0 * a.below_h
        + f64::from(a.starts) * (MIN_W * 30.0 / 3600.0 + MAX_W * 20.0 / 3600.0)
        + f64::from(a.faults) * MAX_W * (WATCHDOG_MS as f64 / 3_600_000.0)
}

/// A deterministic xorshift for the payload faults.
struct Rng(u64);
impl Rng {
    fn pct(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f64 / 100.0
    }
}

#[derive(Default)]
struct Shared {
    acct: Acct,
    sessions: Vec<Acct>,
    plugged: bool,
    stale_grid: bool,
    bad_payloads: u64,
    published: u64,
}

/// The site: every 10 s of model time the Powerwall statestream topics (retained, QoS 1), from
/// the day and the car's real power; 1 % of the payloads broken; no grid while `stale_grid`.
fn spawn_site(
    broker: &Mosquitto,
    sim: SimHandle,
    t0: u64,
    days: Arc<Vec<Scenario>>,
    speed: f64,
    shared: Arc<Mutex<Shared>>,
) {
    let mut s = Settings::new(
        Broker::parse(&format!("mqtts://127.0.0.1:{}", broker.port)).unwrap(),
        "soak-site",
        "soak/site/status",
    );
    s.tls.ca_file = Some(broker.ca());
    let (client, mut eventloop, _) = s.client(1024).unwrap();
    tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    tokio::spawn(async move {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let bad: [&[u8]; 10] = [
            b"",
            b"unknown",
            b"unavailable",
            b"nan",
            b"abc",
            b"1e999",
            b"-inf",
            b"250",
            b"-250",
            &[0xff, 0xfe, 0x80],
        ];
        let mut last = sim.lock().now_ms();
        let mut prev_car = 0.0;
        loop {
            let now = sim.lock().now_ms();
            let (pv, house) = site_at(&days, now - t0 + START_MS);
            let car = sim
                .with_box(1, |b, _| f64::from(b.reading().power_w))
                .unwrap_or(0.0);
            let dt_h = (now - last) as f64 / 3_600_000.0;
            last = now;
            let stale = {
                let mut g = lock(&shared);
                let surplus = (pv - house).max(0.0);
                let a = &mut g.acct;
                a.solar_wh += car.min(surplus) * dt_h;
                a.import_wh += (car - surplus).max(0.0) * dt_h;
                if car > 0.0 && pv - house < MIN_W {
                    a.below_h += dt_h;
                }
                if car > 0.0 && prev_car == 0.0 {
                    a.starts += 1;
                }
                g.stale_grid
            };
            prev_car = car;
            let load = house + car;
            let kw = |w: f64| format!("{:.3}", w / 1000.0).into_bytes();
            for (id, v) in [
                ("powerwall_solar_now", kw(pv)),
                ("powerwall_load_now", kw(load)),
                ("powerwall_site_now", kw(load - pv)),
                ("powerwall_battery_now", kw(0.0)),
                ("powerwall_charge", b"80".to_vec()),
            ] {
                if stale && id == "powerwall_site_now" {
                    continue;
                }
                let payload = if rng.pct() < 1.0 {
                    lock(&shared).bad_payloads += 1;
                    bad[(rng.pct() as usize) % bad.len()].to_vec()
                } else {
                    v
                };
                lock(&shared).published += 1;
                let _ = client.try_publish(
                    format!("homeassistant/sensor/{id}/state"),
                    rumqttc::QoS::AtLeastOnce,
                    true,
                    payload,
                );
            }
            tokio::time::sleep(Duration::from_secs_f64(10.0 / speed)).await;
        }
    });
}

fn config(dir: &Path, b: &Mosquitto, modbus: &str) -> PathBuf {
    let p = dir.join("sunfill.toml");
    std::fs::write(
        &p,
        format!(
            "[mqtt]\nbroker = \"mqtts://127.0.0.1:{}\"\nca_file = \"{}\"\n\
             [inputs]\npreset = \"powerwall-statestream\"\n\
             [[loadpoint]]\nname = \"soak\"\nport = \"{modbus}\"\nunit = 1\nmode = \"pv\"\n\
             [wallbox]\ntimeout_ms = 100\npause_ms = 1\nwatchdog_ms = {WATCHDOG_MS}\nfailsafe_current = 0\n\
             [web]\nenabled = false\n\
             [store]\npath = \"{}\"\n",
            b.port,
            b.ca().display(),
            dir.join("sunfill.db").display()
        ),
    )
    .unwrap();
    p
}

struct Sunfill {
    proc: Proc,
    cfg: PathBuf,
    log: PathBuf,
    speed: f64,
    unix_base_ms: i64,
    /// RSS samples (KiB) of each run of the process.
    rss: Vec<Vec<u64>>,
}

impl Sunfill {
    fn start(&mut self, model_now_ms: u64) {
        let args = vec![
            "run".to_string(),
            "--config".into(),
            self.cfg.display().to_string(),
            "--speed".into(),
            self.speed.to_string(),
            "--start-unix-ms".into(),
            (self.unix_base_ms + model_now_ms as i64).to_string(),
        ];
        self.proc = start_sunfill(&args, &self.log, &[("SUNFILL_LOG", "info")]);
        self.rss.push(Vec::new());
    }

    fn sample_rss(&mut self) {
        if let (Some(kib), Some(v)) = (rss_kib(self.proc.pid()), self.rss.last_mut()) {
            v.push(kib);
        }
    }
}

/// Reboots the box: a new power-on with the same counter, silent for 10 s, factory registers.
fn reboot(sim: &SimHandle, plugged: bool) {
    let mut g = sim.lock();
    let now = g.now_ms();
    let old = &g.boxes[0];
    let total = old.reading().energy_total_wh;
    let cfg = WallboxConfig {
        boot_ms: now + 10_000,
        energy_total_wh: total,
        ..old.config().clone()
    };
    let mut b = Wallbox::new(cfg);
    b.advance(now);
    if plugged {
        b.plug_in(now, 3, Deciamps(160));
    }
    g.boxes[0] = b;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_faults_on_a_schedule() {
    let n_days: u64 = env_or("SUNFILL_SOAK_DAYS", 1);
    let speed: f64 = env_or("SUNFILL_SOAK_SPEED", 480.0);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sunfill.log");
    let mut broker = Mosquitto::start(dir.path(), "allow_anonymous true");

    let sim = SimHandle::new(
        vec![WallboxConfig {
            unit: 1,
            boot_ms: 0,
            ..WallboxConfig::default()
        }],
        Script::default(),
        Faults {
            drop_pct: 5.0,
            corrupt_pct: 5.0,
            latency: Duration::ZERO,
        },
        7,
    );
    sim.spawn_ticker();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let modbus = format!("rtutcp://{}", l.local_addr().unwrap());
    tokio::spawn(server::serve_listener(l, sim.clone(), true));
    // Model time t (sim ms) is START_MS + t into the first day.
    let t0 = sim.lock().now_ms();
    let model = |sim: &SimHandle| sim.lock().now_ms() - t0 + START_MS;

    let days: Arc<Vec<Scenario>> = Arc::new((0..n_days).map(day).collect());
    let unix_day0_ms = days[0].start_unix * 1000;
    let shared = Arc::new(Mutex::new(Shared::default()));
    spawn_site(
        &broker,
        sim.clone(),
        t0,
        days.clone(),
        speed,
        shared.clone(),
    );

    let cfg = config(dir.path(), &broker, &modbus);
    let mut sunfill = Sunfill {
        proc: Proc(None),
        cfg,
        log: log.clone(),
        speed,
        unix_base_ms: unix_day0_ms,
        rss: Vec::new(),
    };
    sunfill.start(model(&sim));
    // The box runs at real speed until sunfill has set it up (standby disabled): a box without
    // a car sleeps after 60 s, which at full speed would pass before sunfill has started.
    common::until("sunfill setting up the box", &log, || {
        sim.lock().stats.requests >= 20
    })
    .await;
    sim.set_speed(speed);

    let end = START_MS + n_days * DAY_MS;
    let mut done = std::collections::HashSet::new();
    let mut regs_seen = std::collections::BTreeMap::<u16, u64>::new();
    let mut last_rss = std::time::Instant::now();
    let mut restarts = (0u32, 0u32, 0u32);
    loop {
        let t = model(&sim);
        if t >= end {
            break;
        }
        let reg = sim.with_box(1, |b, _| b.max_current()).unwrap();
        assert!(
            reg.0 == 0 || (60..=160).contains(&reg.0),
            "register 261 = {} at model {t} ms",
            reg.0
        );
        *regs_seen.entry(reg.0).or_default() += 1;
        let d = t / DAY_MS;
        let m = (t % DAY_MS) / MIN_MS;
        let mut due = |minute: u64| m >= minute && done.insert((d, minute));
        if due(6 * 60) || due(12 * 60 + 20) {
            let c = sim
                .with_box(1, |b, now| {
                    b.plug_in(now, 3, Deciamps(160));
                    b.reading().energy_total_wh
                })
                .unwrap();
            let mut g = lock(&shared);
            g.plugged = true;
            g.acct = Acct {
                counter: (c, c),
                ..Acct::default()
            };
        }
        if due(12 * 60) || due(18 * 60) {
            let c = sim
                .with_box(1, |b, now| {
                    b.unplug(now);
                    b.reading().energy_total_wh
                })
                .unwrap();
            let mut g = lock(&shared);
            if g.plugged {
                g.plugged = false;
                let mut a = std::mem::take(&mut g.acct);
                a.counter.1 = c;
                g.sessions.push(a);
            }
        }
        if due(10 * 60) {
            broker.kill();
            lock(&shared).acct.faults += 1;
            restarts.0 += 1;
        }
        if due(10 * 60 + 1) {
            broker.restart();
        }
        if due(11 * 60) {
            sunfill.sample_rss();
            sunfill.proc.kill9();
            lock(&shared).acct.faults += 1;
            restarts.1 += 1;
        }
        if due(11 * 60 + 1) {
            sunfill.start(t);
        }
        if due(13 * 60) {
            let mut g = lock(&shared);
            g.stale_grid = true;
            g.acct.faults += 1;
        }
        if due(13 * 60 + 10) {
            lock(&shared).stale_grid = false;
        }
        if due(14 * 60) {
            let plugged = lock(&shared).plugged;
            reboot(&sim, plugged);
            lock(&shared).acct.faults += 1;
            restarts.2 += 1;
        }
        if due(18 * 60 + 5) {
            // Standby allowed again (factory value), so the box sleeps without a car.
            let mut out = Vec::new();
            sim.with_box(1, |b, now| {
                b.handle_pdu(now, 1, &[0x06, 0x01, 0x02, 0x00, 0x00], &mut out)
            });
        }
        if last_rss.elapsed() >= Duration::from_millis(250) {
            last_rss = std::time::Instant::now();
            sunfill.sample_rss();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Stop sunfill cleanly, so that the store has everything.
    let exit = sunfill.proc.terminate();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    // Kept for a look after a failure.
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("soak-sunfill.log");
    let _ = std::fs::write(&kept, &text);
    println!("sunfill's log: {}", kept.display());
    assert!(!text.contains("panicked"), "sunfill panicked:\n{text}");
    assert!(exit.success(), "{exit}");
    let in_standby = sim.with_box(1, |b, _| b.in_standby()).unwrap();

    let g = lock(&shared);
    let store = sunfill::store::Store::open(&dir.path().join("sunfill.db")).unwrap();
    let mut stored = store
        .sessions(
            sunfill::store::Page {
                limit: 1000,
                offset: 0,
            },
            Some("soak"),
        )
        .unwrap()
        .sessions;
    stored.sort_by_key(|s| s.start_unix_ms);
    println!(
        "soak: {n_days} day(s) at {speed}x; broker restarts {}, kill -9 {}, reboots {}, \
         payloads {} ({} broken); bus {:?}; standby at the end: {in_standby}",
        restarts.0,
        restarts.1,
        restarts.2,
        g.published,
        g.bad_payloads,
        sim.lock().stats
    );
    println!("register 261 values seen (0.1 A: samples): {regs_seen:?}");
    for (i, a) in g.sessions.iter().enumerate() {
        let box_kwh = f64::from(a.counter.1 - a.counter.0) / 1000.0;
        let st = stored.get(i).map(|s| s.energy_kwh).unwrap_or(-1.0);
        println!(
            "session {i}: box {box_kwh:.3} kWh, store {st:.3} kWh, solar {:.0} Wh, import {:.0} Wh, \
             budget {:.0} Wh (below-min charging {:.2} h, starts {}, faults {})",
            a.solar_wh,
            a.import_wh,
            budget_wh(a),
            a.below_h,
            a.starts,
            a.faults
        );
    }
    for (i, v) in sunfill.rss.iter().enumerate() {
        println!(
            "run {i}: {} RSS samples, KiB first {:?} max {:?} last {:?}",
            v.len(),
            v.first(),
            v.iter().max(),
            v.last()
        );
    }

    // Nothing lost: one stored session per plug-in, each with the box's energy.
    assert_eq!(
        stored.len(),
        g.sessions.len(),
        "stored sessions {stored:#?}; log tail:\n{}",
        tail(&text)
    );
    let mut charged = 0.0;
    for (a, s) in g.sessions.iter().zip(&stored) {
        let box_kwh = f64::from(a.counter.1 - a.counter.0) / 1000.0;
        charged += box_kwh;
        // 0.5 %, and 1 Wh for the counter's resolution.
        assert!(
            (s.energy_kwh - box_kwh).abs() <= box_kwh * 0.005 + 0.001,
            "store {} kWh, box {box_kwh} kWh",
            s.energy_kwh
        );
        assert!(
            a.import_wh <= budget_wh(a),
            "import {:.0} Wh over the budget {:.0} Wh: {a:?}",
            a.import_wh,
            budget_wh(a)
        );
    }
    assert!(
        charged > 1.0,
        "the car hardly charged: {charged} kWh; log tail:\n{}",
        tail(&text)
    );

    // Memory: all samples in run order; the last third against the first third (medians), the
    // first minute of model time of each run (start-up) left out.
    let all: Vec<u64> = sunfill
        .rss
        .iter()
        .flat_map(|v| v.iter().skip(4).copied())
        .collect();
    assert!(all.len() >= 30, "too few RSS samples: {}", all.len());
    let third = all.len() / 3;
    let median = |s: &[u64]| {
        let mut v = s.to_vec();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (first, last) = (median(&all[..third]), median(&all[all.len() - third..]));
    println!("RSS median first third {first} KiB, last third {last} KiB");
    assert!(
        last <= first + RSS_MARGIN_KIB,
        "VmRSS grew from {first} KiB to {last} KiB"
    );
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn tail(s: &str) -> &str {
    &s[s.len().saturating_sub(4000)..]
}
