//! `sunfill sim-wallbox`: the simulated box of `sunfill_sim::wallbox` behind a Modbus server
//! (TCP, RTU on a serial port or pty, RTU over TCP), with injected faults.
//!
//! Faults are decided per request that the box would answer: a dropped request (the box never
//! sees it) or a dropped reply (the box acted, the master hears nothing), a corrupted reply
//! (one byte flipped after the CRC was computed; on Modbus TCP, which has no CRC, the
//! transaction id is flipped so that the master can still tell), and extra latency.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use sunfill_sim::modbus::{self, RtuLen, TcpLen};
use sunfill_sim::wallbox::{Handled, Script, Wallbox, WallboxConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};

/// Faults to inject.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// Percentage of requests lost (half before the box, half the reply).
    pub drop_pct: f64,
    /// Percentage of replies corrupted.
    pub corrupt_pct: f64,
    /// Extra delay before each reply.
    pub latency: Duration,
}

/// Counters of the simulated bus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests addressed to a simulated box that would answer.
    pub requests: u64,
    /// Requests or replies dropped.
    pub dropped: u64,
    /// Replies corrupted.
    pub corrupted: u64,
}

/// The boxes on the simulated bus and the faults of the line.
#[derive(Debug)]
pub struct SimBus {
    /// The boxes (the script drives the first one).
    pub boxes: Vec<Wallbox>,
    /// Scripted events for the first box.
    pub script: Script,
    /// Faults.
    pub faults: Faults,
    /// Counters.
    pub stats: SimStats,
    start: Instant,
    speed: f64,
    rng: u64,
}

impl SimBus {
    /// Model time: ms since the simulator started (the boxes' power-on).
    /// With a speed factor (the demo), model time runs that many times faster than real time.
    pub fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.speed) as u64
    }

    /// The box with unit id `unit`.
    pub fn unit(&mut self, unit: u8) -> Option<&mut Wallbox> {
        self.boxes.iter_mut().find(|b| b.config().unit == unit)
    }

    fn advance(&mut self) -> u64 {
        let now = self.now_ms();
        if let Some(first) = self.boxes.first_mut() {
            self.script.apply(now, first);
        }
        for b in &mut self.boxes {
            b.advance(now);
        }
        now
    }

    /// A percentage draw, 0.0..100.0 (xorshift; deterministic for a seed).
    fn roll(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 10_000) as f64 / 100.0
    }
}

/// A reply to send.
struct Reply {
    pdu: Vec<u8>,
    corrupt: bool,
    delay: Duration,
}

/// A shared handle to the simulated bus.
#[derive(Clone, Debug)]
pub struct SimHandle(Arc<Mutex<SimBus>>);

impl SimHandle {
    /// Powers on boxes with the given configurations now.
    pub fn new(boxes: Vec<WallboxConfig>, script: Script, faults: Faults, seed: u64) -> Self {
        SimHandle(Arc::new(Mutex::new(SimBus {
            boxes: boxes.into_iter().map(Wallbox::new).collect(),
            script,
            faults,
            stats: SimStats::default(),
            start: Instant::now(),
            speed: 1.0,
            rng: seed | 1,
        })))
    }

    /// Lets model time (car delays, energy counters, watchdog, standby) run `speed` times
    /// faster than real time, from now on. For the demo, which replays a day in minutes.
    pub fn set_speed(&self, speed: f64) {
        let mut g = self.lock();
        let now = g.advance();
        g.speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        // Keep model time continuous: start is where now_ms() gives `now` at the new speed.
        g.start = Instant::now()
            .checked_sub(std::time::Duration::from_secs_f64(
                now as f64 / 1000.0 / g.speed,
            ))
            .unwrap_or(g.start);
    }

    /// Locks the bus (never across an await).
    pub fn lock(&self) -> MutexGuard<'_, SimBus> {
        // A panic while holding the lock would be a bug in the model; keep serving anyway.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the box `unit` at the current model time.
    pub fn with_box<R>(&self, unit: u8, f: impl FnOnce(&mut Wallbox, u64) -> R) -> Option<R> {
        let mut g = self.lock();
        let now = g.advance();
        g.unit(unit).map(|b| f(b, now))
    }

    fn handle(&self, unit: u8, pdu: &[u8]) -> Option<Reply> {
        let mut g = self.lock();
        let now = g.advance();
        let faults = g.faults;
        let lost = g.roll() < faults.drop_pct;
        let before_box = g.roll() < 50.0;
        let corrupt = g.roll() < faults.corrupt_pct;
        if lost && before_box {
            // Count only requests the box would answer.
            let answers = g.unit(unit).is_some_and(|b| b.answers(now));
            if answers {
                g.stats.requests += 1;
                g.stats.dropped += 1;
            }
            return None;
        }
        let mut out = Vec::new();
        let handled = g.unit(unit)?.handle_pdu(now, unit, pdu, &mut out);
        if handled == Handled::Silent {
            return None;
        }
        g.stats.requests += 1;
        if lost {
            g.stats.dropped += 1;
            return None;
        }
        if corrupt {
            g.stats.corrupted += 1;
        }
        Some(Reply {
            pdu: out,
            corrupt,
            delay: faults.latency,
        })
    }

    /// Advances the model every 100 ms (watchdog, car, script) until the handle is dropped
    /// everywhere else.
    pub fn spawn_ticker(&self) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Some(bus) = weak.upgrade() else { break };
                SimHandle(bus).lock().advance();
            }
        });
    }
}

/// Serves Modbus RTU on a byte stream (a serial port, a pty, a TCP connection) until it ends.
pub async fn serve_rtu<S>(mut s: S, sim: SimHandle) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::new();
    let mut tmp = [0u8; 512];
    let mut out = Vec::new();
    loop {
        let frame: Vec<u8> = match modbus::rtu_request_len(&buf) {
            RtuLen::Complete(n) => buf.drain(..n).collect(),
            RtuLen::Unknown => {
                // Unknown function: the frame ends at the next silence (3.5 characters).
                match timeout(Duration::from_millis(5), s.read(&mut tmp)).await {
                    Ok(Ok(0)) => return Ok(()),
                    Ok(Ok(k)) => {
                        buf.extend_from_slice(&tmp[..k]);
                        continue;
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_) => std::mem::take(&mut buf),
                }
            }
            RtuLen::Incomplete => {
                let r = if buf.is_empty() {
                    Ok(s.read(&mut tmp).await)
                } else {
                    timeout(Duration::from_millis(100), s.read(&mut tmp)).await
                };
                match r {
                    Ok(Ok(0)) => return Ok(()),
                    Ok(Ok(k)) => buf.extend_from_slice(&tmp[..k]),
                    Ok(Err(e)) => return Err(e),
                    // A partial frame followed by silence: line noise, discard it.
                    Err(_) => buf.clear(),
                }
                continue;
            }
        };
        // A frame with a bad CRC gets no answer, as on a real bus.
        let Some((unit, pdu)) = modbus::rtu_parse(&frame) else {
            continue;
        };
        if unit == 0 {
            continue;
        }
        if let Some(reply) = sim.handle(unit, pdu) {
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            modbus::rtu_frame(unit, &reply.pdu, &mut out);
            if reply.corrupt && out.len() > 3 {
                let i = 1 + (out.len() - 3) / 2;
                out[i] ^= 0x5A;
            }
            s.write_all(&out).await?;
            s.flush().await?;
        }
    }
}

/// Serves Modbus TCP on one connection until it ends.
pub async fn serve_tcp_conn<S>(mut s: S, sim: SimHandle) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::new();
    let mut tmp = [0u8; 512];
    let mut out = Vec::new();
    loop {
        match modbus::tcp_request_len(&buf) {
            TcpLen::Invalid => return Ok(()),
            TcpLen::Incomplete => {
                let k = s.read(&mut tmp).await?;
                if k == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&tmp[..k]);
            }
            TcpLen::Complete(n) => {
                let frame: Vec<u8> = buf.drain(..n).collect();
                let Some((mut h, pdu)) = modbus::tcp_parse(&frame) else {
                    continue;
                };
                if let Some(reply) = sim.handle(h.unit, pdu) {
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    if reply.corrupt {
                        h.transaction ^= 0x5A5A;
                    }
                    modbus::tcp_frame(h, &reply.pdu, &mut out);
                    s.write_all(&out).await?;
                }
            }
        }
    }
}

/// Accepts Modbus TCP connections (or RTU-over-TCP ones with `rtu = true`) forever.
pub async fn serve_listener(listener: TcpListener, sim: SimHandle, rtu: bool) -> io::Result<()> {
    loop {
        let (conn, peer) = listener.accept().await?;
        let _ = conn.set_nodelay(true);
        let sim = sim.clone();
        tokio::spawn(async move {
            let r = if rtu {
                serve_rtu(conn, sim).await
            } else {
                serve_tcp_conn(conn, sim).await
            };
            if let Err(e) = r {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
}

/// Serves RTU on the serial device (or pty) at `path`, reopening it when it fails.
pub async fn serve_serial(path: &str, sim: SimHandle) -> io::Result<()> {
    use tokio_serial::SerialPortBuilderExt;
    let mut warned = false;
    loop {
        let port = tokio_serial::new(path, 19_200)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::Even)
            .stop_bits(tokio_serial::StopBits::One)
            .open_native_async();
        match port {
            Ok(p) => {
                warned = false;
                if let Err(e) = serve_rtu(p, sim.clone()).await {
                    tracing::debug!("serial port {path}: {e}; reopening");
                }
            }
            Err(e) if !warned => {
                tracing::warn!("cannot open {path}: {e}; retrying");
                warned = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
