//! The driver against the simulated box over real transports (loopback TCP, a socat pty pair,
//! RTU over TCP), with injected faults; and against independent peers (mbpoll, pymodbus).
//!
//! Waits have generous deadlines that only bound a failing test; no test asserts how long
//! something took.

use super::bench::{serve, Served, Transport};
use super::bus::{BusConfig, BusHandle};
use super::error::Error;
use super::server::{Faults, SimHandle};
use super::wallbox::{run_loadpoint, DriverConfig, Link, Snapshot, Wallbox};
use std::time::Duration;
use sunfill_core::heidelberg::{ChargingState, Standby, Write};
use sunfill_core::Deciamps;
use sunfill_sim::wallbox::{Event, Script, WallboxConfig};
use tokio::sync::watch;
use tokio::time::Instant;

// Fixtures.

fn box_cfg(unit: u8) -> WallboxConfig {
    WallboxConfig {
        unit,
        boot_ms: 0,
        ..WallboxConfig::default()
    }
}

fn car_at_start() -> Script {
    Script::from_events(vec![(
        0,
        Event::Plug {
            phases: 3,
            max: Deciamps(160),
        },
    )])
}

async fn sim_on(transport: Transport, faults: Faults) -> Served {
    let sim = SimHandle::new(vec![box_cfg(1)], car_at_start(), faults, 7);
    serve(sim, transport).await.unwrap()
}

fn fast_bus(served: &Served) -> BusHandle {
    let mut c = BusConfig::new(served.url.clone());
    c.timeout = Duration::from_millis(150);
    c.pause = Duration::from_millis(if served.url.is_rtu() { 5 } else { 0 });
    BusHandle::spawn(c)
}

fn quick_driver(watchdog_ms: u16, failsafe: Deciamps) -> DriverConfig {
    DriverConfig {
        unit: 1,
        watchdog_ms,
        failsafe,
        ready_timeout: Duration::from_secs(5),
        write_tries: 3,
        offline_retry_max: Duration::from_millis(300),
        retry: Duration::from_millis(500),
        poll: None,
    }
}

/// Waits until `f` holds, for at most `secs` (a bound on a failing test, not a timing check).
async fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn box_261(sim: &SimHandle, unit: u8) -> Deciamps {
    sim.with_box(unit, |b, _| b.max_current()).unwrap()
}

async fn setup_and_set(transport: Transport) {
    let served = sim_on(transport, Faults::default()).await;
    let mut wb = Wallbox::new(fast_bus(&served), quick_driver(5_000, Deciamps(60)));
    let limits = wb.setup().await.unwrap();
    assert_eq!(limits.max_amps, 16);
    let s = wb.settings().await.unwrap();
    assert_eq!(s.standby, Standby::Disabled);
    assert_eq!(s.watchdog_ms, 5_000);
    assert_eq!(s.failsafe_current, Deciamps(60));
    assert_eq!(wb.set_current(Deciamps(85)).await.unwrap(), Deciamps(85));
    assert_eq!(box_261(&served.sim, 1), Deciamps(85));
    // Below 6 A the driver sends 0, and the box holds 0.
    assert_eq!(wb.set_current(Deciamps(50)).await.unwrap(), Deciamps::ZERO);
    assert_eq!(box_261(&served.sim, 1), Deciamps::ZERO);
    let r = wb.read().await.unwrap();
    assert_eq!(r.voltages, [230; 3]);
    assert_eq!(r.state, ChargingState::C1);
}

// Tests for the three transports.

#[tokio::test]
async fn driver_sets_up_the_box_over_tcp() {
    setup_and_set(Transport::Tcp).await;
}

#[tokio::test]
async fn driver_sets_up_the_box_over_rtu_on_a_pty() {
    setup_and_set(Transport::Rtu).await;
}

#[tokio::test]
async fn driver_sets_up_the_box_over_rtu_over_tcp() {
    setup_and_set(Transport::Rtutcp).await;
}

#[tokio::test]
async fn two_boxes_share_one_bus() {
    let sim = SimHandle::new(
        vec![box_cfg(1), box_cfg(2)],
        car_at_start(),
        Faults::default(),
        3,
    );
    let served = serve(sim, Transport::Rtu).await.unwrap();
    let bus = fast_bus(&served);
    let mut a = Wallbox::new(bus.clone(), quick_driver(5_000, Deciamps::ZERO));
    let mut b = Wallbox::new(
        bus,
        DriverConfig {
            unit: 2,
            ..quick_driver(5_000, Deciamps::ZERO)
        },
    );
    let (ra, rb) = tokio::join!(
        async {
            a.setup().await?;
            a.set_current(Deciamps(100)).await
        },
        async {
            b.setup().await?;
            b.set_current(Deciamps(70)).await
        }
    );
    assert_eq!(ra.unwrap(), Deciamps(100));
    assert_eq!(rb.unwrap(), Deciamps(70));
    assert_eq!(box_261(&served.sim, 1), Deciamps(100));
    assert_eq!(box_261(&served.sim, 2), Deciamps(70));
}

// Tests for error messages.

#[tokio::test]
async fn no_answer_names_port_unit_register_and_what_to_check() {
    let served = sim_on(Transport::Tcp, Faults::default()).await;
    let bus = fast_bus(&served);
    let e = bus.read_input(9, 5, 1).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::NoAnswer { unit: 9, .. }), "{msg}");
    for needle in [
        "unit 9",
        served.url.to_string().as_str(),
        "register 5 (charging state)",
        "check wiring A/B, baud 19200 8E1",
        "standby",
    ] {
        assert!(msg.contains(needle), "`{needle}` missing in: {msg}");
    }
}

#[tokio::test]
async fn exceptions_are_reported_not_retried() {
    let served = sim_on(Transport::Rtu, Faults::default()).await;
    let bus = fast_bus(&served);
    let e = bus.write(1, 260, 1).await.unwrap_err();
    assert!(matches!(e, Error::Exception { code: 2, .. }), "{e}");
    assert!(e.to_string().contains("register 260"), "{e}");
    let e = bus.write(1, 261, 170).await.unwrap_err();
    assert!(matches!(e, Error::Exception { code: 3, .. }), "{e}");
    assert_eq!(bus.stats().attempts, 2);
}

#[tokio::test]
async fn a_wrong_value_in_the_box_is_a_write_not_confirmed() {
    // Another master keeps overwriting 261: our writes are echoed but do not stick.
    let served = sim_on(Transport::Tcp, Faults::default()).await;
    let wb = Wallbox::new(fast_bus(&served), quick_driver(0, Deciamps::ZERO));
    let sim = served.sim.clone();
    let rival = tokio::spawn(async move {
        loop {
            sim.with_box(1, |b, now| {
                let mut out = Vec::new();
                b.handle_pdu(now, 1, &[6, 1, 5, 0, 160], &mut out);
            });
            tokio::task::yield_now().await;
        }
    });
    let e = wb.apply(Write::MaxCurrent(Deciamps(60))).await;
    rival.abort();
    match e {
        Err(Error::WriteNotConfirmed {
            wrote: 60,
            read: 160,
            ..
        }) => {}
        other => panic!("expected WriteNotConfirmed, got {other:?}"),
    }
}

// Tests for faults and recovery (the loadpoint loop).

struct Loop {
    set: watch::Sender<Deciamps>,
    snap: watch::Receiver<Snapshot>,
    task: tokio::task::JoinHandle<()>,
}

fn start_loop(served: &Served, cfg: DriverConfig, want: Deciamps) -> Loop {
    let (set, rx) = watch::channel(want);
    let (tx, snap) = watch::channel(Snapshot::default());
    let wb = Wallbox::new(fast_bus(served), cfg);
    let task = tokio::spawn(run_loadpoint(wb, rx, tx, std::future::pending()));
    Loop { set, snap, task }
}

async fn faults_recovered(transport: Transport) {
    let faults = Faults {
        drop_pct: 20.0,
        corrupt_pct: 10.0,
        latency: Duration::from_millis(2),
    };
    let served = sim_on(transport, faults).await;
    let lp = start_loop(&served, quick_driver(3_000, Deciamps(60)), Deciamps(100));
    for want in [Deciamps(100), Deciamps(160), Deciamps::ZERO, Deciamps(75)] {
        lp.set.send_replace(want);
        let sim = served.sim.clone();
        let snap = lp.snap.clone();
        eventually(20, "setpoint applied under faults", || {
            let s = snap.borrow();
            s.link == Link::Online && s.applied == Some(want) && box_261(&sim, 1) == want
        })
        .await;
    }
    let st = served.sim.lock().stats;
    assert!(st.dropped > 0 && st.corrupted > 0, "{st:?}");
    lp.task.abort();
}

#[tokio::test]
async fn drops_and_corruption_are_recovered_over_tcp() {
    faults_recovered(Transport::Tcp).await;
}

#[tokio::test]
async fn drops_and_crc_errors_are_recovered_over_rtu() {
    faults_recovered(Transport::Rtu).await;
}

#[tokio::test]
async fn a_box_in_standby_is_offline_until_it_wakes_then_standby_is_disabled() {
    let cfg = WallboxConfig {
        standby_after_ms: 100,
        ..box_cfg(1)
    };
    let sim = SimHandle::new(vec![cfg], Script::default(), Faults::default(), 5);
    let served = serve(sim, Transport::Tcp).await.unwrap();
    let s2 = served.sim.clone();
    eventually(10, "box in standby", || {
        s2.with_box(1, |b, _| b.in_standby()).unwrap_or(false)
    })
    .await;
    let lp = start_loop(&served, quick_driver(3_000, Deciamps::ZERO), Deciamps(60));
    let snap = lp.snap.clone();
    eventually(20, "wallbox offline", || {
        matches!(snap.borrow().link, Link::Offline(_))
    })
    .await;
    // A car wakes the box; the loop sets it up again, with standby disabled.
    served
        .sim
        .with_box(1, |b, now| b.plug_in(now, 3, Deciamps(160)));
    eventually(20, "online with the setpoint", || {
        snap.borrow().link == Link::Online && box_261(&s2, 1) == Deciamps(60)
    })
    .await;
    let standby = served.sim.with_box(1, |b, now| {
        let mut out = Vec::new();
        b.handle_pdu(now, 1, &[3, 1, 2, 0, 1], &mut out);
        out
    });
    assert_eq!(standby, Some(vec![3, 2, 0, 4]));
    lp.task.abort();
}

#[tokio::test]
async fn after_a_watchdog_expiry_the_loop_restores_the_setpoint() {
    let served = sim_on(Transport::Rtu, Faults::default()).await;
    let lp = start_loop(&served, quick_driver(600, Deciamps(60)), Deciamps(160));
    let (sim, snap) = (served.sim.clone(), lp.snap.clone());
    eventually(20, "online at 16 A", || {
        snap.borrow().link == Link::Online && box_261(&sim, 1) == Deciamps(160)
    })
    .await;
    // The line goes dead: every request is lost, the box falls back to failsafe.
    sim.lock().faults.drop_pct = 100.0;
    eventually(20, "watchdog expired", || {
        sim.with_box(1, |b, _| b.watchdog_expiries()).unwrap_or(0) > 0
    })
    .await;
    assert_eq!(box_261(&sim, 1), Deciamps(60));
    eventually(20, "offline", || {
        matches!(snap.borrow().link, Link::Offline(_))
    })
    .await;
    sim.lock().faults.drop_pct = 0.0;
    eventually(20, "16 A again", || {
        snap.borrow().link == Link::Online && box_261(&sim, 1) == Deciamps(160)
    })
    .await;
    lp.task.abort();
}

#[tokio::test]
async fn killing_the_controller_leaves_the_box_at_the_failsafe_current() {
    let served = sim_on(Transport::Tcp, Faults::default()).await;
    let lp = start_loop(&served, quick_driver(500, Deciamps(60)), Deciamps(160));
    let (sim, snap) = (served.sim.clone(), lp.snap.clone());
    eventually(20, "charging at 16 A", || {
        snap.borrow().link == Link::Online && box_261(&sim, 1) == Deciamps(160)
    })
    .await;
    // The controller dies without any goodbye.
    lp.task.abort();
    let _ = lp.task.await;
    eventually(20, "failsafe current", || {
        sim.with_box(1, |b, _| b.watchdog_expired())
            .unwrap_or(false)
    })
    .await;
    assert_eq!(box_261(&sim, 1), Deciamps(60));
    assert_eq!(sim.with_box(1, |b, _| b.offered()), Some(Deciamps(60)));
}

// Tests against independent peers.

fn require(tool: &str, install: &str) {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is needed for this interop test; install it: {install}"
    );
}

async fn run_tool(cmd: &str, args: Vec<String>) -> std::process::Output {
    let cmd = cmd.to_string();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(&cmd)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn mbpoll_reads_and_writes_our_simulator_over_tcp() {
    require("mbpoll", "apt-get install -y mbpoll");
    let served = sim_on(Transport::Tcp, Faults::default()).await;
    let port = match &served.url {
        super::url::PortUrl::Tcp { addr } => addr.rsplit_once(':').unwrap().1.to_string(),
        _ => unreachable!(),
    };
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["-m", "tcp", "-a", "1", "-p", &port, "-0", "-1", "-o", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // Write 261 = 10.0 A (mbpoll uses FC 06 for one value).
    let out = run_tool(
        "mbpoll",
        base(&["-t", "4", "-r", "261", "127.0.0.1", "100"]),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(box_261(&served.sim, 1), Deciamps(100));
    // Read the input block 4..=18 (FC 04).
    let out = run_tool(
        "mbpoll",
        base(&["-t", "3", "-r", "4", "-c", "15", "127.0.0.1"]),
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("[4]: \t264"), "layout 0x0108 missing: {text}");
    assert!(text.contains("[10]: \t230"), "voltage missing: {text}");
    // Out of range: exception 03, mbpoll reports a failure; the box keeps 10 A.
    let out = run_tool(
        "mbpoll",
        base(&["-t", "4", "-r", "261", "127.0.0.1", "200"]),
    )
    .await;
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() || all.to_lowercase().contains("illegal data value"),
        "{all}"
    );
    assert_eq!(box_261(&served.sim, 1), Deciamps(100));
}

const PYMODBUS_SERVER: &str = r#"
import asyncio, sys
import pymodbus
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext
try:
    from pymodbus.datastore import ModbusDeviceContext as Ctx
except ImportError:
    from pymodbus.datastore import ModbusSlaveContext as Ctx
from pymodbus.server import StartAsyncTcpServer

# Registers of a Heidelberg box (the +1 offset: pymodbus blocks are 1-based by default).
ir = [0] * 120
ir[4:19] = [0x0108, 7, 100, 100, 100, 312, 231, 229, 230, 1, 6900, 0, 42, 15, 16960]
ir[100:102] = [16, 6]
hr = [0] * 300
hr[257:263] = [15000, 0, 1, 0, 0, 0]
kw = dict(ir=ModbusSequentialDataBlock(1, ir), hr=ModbusSequentialDataBlock(1, hr))
store = Ctx(**kw)
try:
    ctx = ModbusServerContext(devices={1: store}, single=False)
except TypeError:
    ctx = ModbusServerContext(slaves={1: store}, single=False)
print("ready", flush=True)
asyncio.run(StartAsyncTcpServer(context=ctx, address=("127.0.0.1", int(sys.argv[1]))))
"#;

#[tokio::test]
async fn our_driver_against_a_pymodbus_server() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import pymodbus"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "pymodbus is needed for this interop test; install it: python3 -m pip install 'pymodbus>=3.6,<4'"
    );
    // Find a free port, then let pymodbus bind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new("python3")
        .args(["-c", PYMODBUS_SERVER, &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut c = BusConfig::new(super::url::PortUrl::Tcp {
        addr: format!("127.0.0.1:{port}"),
    });
    c.timeout = Duration::from_millis(500);
    let mut wb = Wallbox::new(BusHandle::spawn(c), quick_driver(5_000, Deciamps(60)));
    // pymodbus needs a moment to start; wait_ready retries "cannot open" as well.
    let mut setup = None;
    for _ in 0..100 {
        match wb.setup().await {
            Ok(l) => {
                setup = Some(l);
                break;
            }
            Err(Error::Open { .. }) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => {
                let _ = child.kill();
                panic!("setup against pymodbus: {e}");
            }
        }
    }
    let result = async {
        let limits = setup.expect("pymodbus server did not start");
        assert_eq!(limits.max_amps, 16);
        let r = wb.read().await?;
        assert_eq!(r.state, ChargingState::C2);
        assert_eq!(r.temperature_decidegc, 312);
        assert_eq!(r.energy_since_power_on_wh, 42);
        assert_eq!(r.energy_total_wh, 15 * 65536 + 16960);
        assert_eq!(wb.set_current(Deciamps(85)).await?, Deciamps(85));
        let s = wb.settings().await?;
        assert_eq!(s.max_current, Deciamps(85));
        assert_eq!(s.standby, Standby::Disabled);
        Ok::<_, Error>(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
}
