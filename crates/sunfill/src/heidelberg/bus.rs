//! One task owns one bus (serial port or TCP connection) and runs one transaction at a time.
//!
//! Several wallboxes on one RS-485 bus share the port through cloned [`BusHandle`]s; their
//! requests queue on a channel, so transactions never overlap. Each transaction gets a timeout,
//! retries and a pause after the previous one (slow RS-485 adapters need it). After a transport
//! error the link is reopened on the next request; on TCP also after a timeout or a garbled
//! reply, so that a late answer cannot be taken for the next one. (On a serial line
//! `tokio-modbus` clears its read buffer before each request.)

use super::error::{Action, Error, Reg};
use super::url::{Parity, PortUrl};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_modbus::client::{rtu, tcp, Client, Context};
use tokio_modbus::prelude::{Request, Response, Slave, SlaveContext};
use tokio_serial::SerialPortBuilderExt;

/// How to run a bus.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// Where the bus is.
    pub url: PortUrl,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Extra tries after a failed request (timeouts, garbled replies, transport errors).
    pub retries: u32,
    /// Pause between the end of one transaction and the start of the next.
    pub pause: Duration,
}

impl BusConfig {
    /// Defaults for `url`: 1 s timeout, 2 retries, 100 ms pause on RTU and none on TCP.
    pub fn new(url: PortUrl) -> Self {
        let pause = if url.is_rtu() {
            Duration::from_millis(100)
        } else {
            Duration::ZERO
        };
        BusConfig {
            url,
            timeout: Duration::from_secs(1),
            retries: 2,
            pause,
        }
    }
}

/// Counters of a bus, for the bench and `status`.
#[derive(Clone, Debug, Default)]
pub struct BusStats {
    /// Requests asked for by handles.
    pub requests: u64,
    /// Requests sent on the wire (including retries).
    pub attempts: u64,
    /// Attempts that got no answer in time.
    pub timeouts: u64,
    /// Attempts answered with a reply that did not match the request.
    pub garbled: u64,
    /// Attempts that failed in the transport (connection reset, port gone).
    pub transport_errors: u64,
    /// Links (re)opened.
    pub opens: u64,
    /// Round-trip time of each successful attempt, µs (only if recording was enabled).
    pub latencies_us: Vec<u32>,
    /// Whether to record `latencies_us`.
    pub record_latency: bool,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    ReadInput { start: u16, n: u16 },
    ReadHolding { start: u16, n: u16 },
    Write { reg: u16, value: u16 },
}

impl Op {
    fn action(self) -> Action {
        match self {
            Op::ReadInput { .. } => Action::ReadInput,
            Op::ReadHolding { .. } => Action::ReadHolding,
            Op::Write { .. } => Action::Write,
        }
    }

    fn reg(self) -> u16 {
        match self {
            Op::ReadInput { start, .. } | Op::ReadHolding { start, .. } => start,
            Op::Write { reg, .. } => reg,
        }
    }

    fn request(self) -> Request<'static> {
        match self {
            Op::ReadInput { start, n } => Request::ReadInputRegisters(start, n),
            Op::ReadHolding { start, n } => Request::ReadHoldingRegisters(start, n),
            Op::Write { reg, value } => Request::WriteSingleRegister(reg, value),
        }
    }
}

/// What a reply means for the request.
enum Checked {
    Words(Vec<u16>),
    /// The reply does not fit the request (wrong length, address): a garbled frame.
    Garbled(String),
    /// The echo of a write carries another value.
    EchoMismatch(u16),
}

fn check(op: Op, resp: Response) -> Checked {
    match (op, resp) {
        (Op::ReadInput { n, .. }, Response::ReadInputRegisters(w))
        | (Op::ReadHolding { n, .. }, Response::ReadHoldingRegisters(w)) => {
            if w.len() == usize::from(n) {
                Checked::Words(w)
            } else {
                Checked::Garbled(format!("{} registers in reply, asked for {n}", w.len()))
            }
        }
        (Op::Write { reg, value }, Response::WriteSingleRegister(r, v)) => {
            if r != reg {
                Checked::Garbled(format!("echo names register {r}, wrote {reg}"))
            } else if v != value {
                Checked::EchoMismatch(v)
            } else {
                Checked::Words(Vec::new())
            }
        }
        (_, other) => Checked::Garbled(format!("unexpected reply {other:?}")),
    }
}

struct Job {
    unit: u8,
    op: Op,
    reply: oneshot::Sender<Result<Vec<u16>, Error>>,
}

/// A handle to a bus task; clone it for each wallbox on the bus.
#[derive(Clone, Debug)]
pub struct BusHandle {
    tx: mpsc::Sender<Job>,
    port: Arc<str>,
    stats: Arc<Mutex<BusStats>>,
}

impl BusHandle {
    /// Starts the task that owns the bus. It runs until every handle is dropped.
    pub fn spawn(cfg: BusConfig) -> BusHandle {
        let (tx, rx) = mpsc::channel(16);
        let stats = Arc::new(Mutex::new(BusStats::default()));
        let port: Arc<str> = cfg.url.to_string().into();
        let bus = Bus {
            cfg,
            port: port.clone(),
            link: None,
            last_end: None,
            stats: stats.clone(),
        };
        tokio::spawn(bus.run(rx));
        BusHandle { tx, port, stats }
    }

    /// The port, as shown in messages.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// A copy of the bus counters.
    pub fn stats(&self) -> BusStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Starts (or stops) recording the latency of every successful attempt.
    pub fn record_latency(&self, on: bool) {
        if let Ok(mut s) = self.stats.lock() {
            s.record_latency = on;
            s.latencies_us.clear();
        }
    }

    async fn submit(&self, unit: u8, op: Op) -> Result<Vec<u16>, Error> {
        let closed = || Error::BusClosed {
            port: self.port.to_string(),
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { unit, op, reply })
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Reads `n` input registers from `start` (FC 04); the reply has exactly `n` words.
    pub async fn read_input(&self, unit: u8, start: u16, n: u16) -> Result<Vec<u16>, Error> {
        self.submit(unit, Op::ReadInput { start, n }).await
    }

    /// Reads `n` holding registers from `start` (FC 03); the reply has exactly `n` words.
    pub async fn read_holding(&self, unit: u8, start: u16, n: u16) -> Result<Vec<u16>, Error> {
        self.submit(unit, Op::ReadHolding { start, n }).await
    }

    /// Writes one holding register (FC 06). `Ok` only if the echo names the same register and
    /// value; another value is [`Error::WriteNotConfirmed`].
    pub async fn write(&self, unit: u8, reg: u16, value: u16) -> Result<(), Error> {
        self.submit(unit, Op::Write { reg, value }).await.map(drop)
    }
}

struct Bus {
    cfg: BusConfig,
    port: Arc<str>,
    link: Option<Context>,
    last_end: Option<Instant>,
    stats: Arc<Mutex<BusStats>>,
}

async fn open(url: &PortUrl) -> std::io::Result<Context> {
    match url {
        PortUrl::Tcp { addr } => {
            let s = TcpStream::connect(addr.as_str()).await?;
            s.set_nodelay(true)?;
            Ok(tcp::attach(s))
        }
        PortUrl::RtuTcp { addr } => {
            let s = TcpStream::connect(addr.as_str()).await?;
            s.set_nodelay(true)?;
            Ok(rtu::attach(s))
        }
        PortUrl::Rtu { path, baud, parity } => {
            let parity = match parity {
                Parity::Even => tokio_serial::Parity::Even,
                Parity::Odd => tokio_serial::Parity::Odd,
                Parity::None => tokio_serial::Parity::None,
            };
            let port = tokio_serial::new(path.as_str(), *baud)
                .data_bits(tokio_serial::DataBits::Eight)
                .parity(parity)
                .stop_bits(tokio_serial::StopBits::One)
                .open_native_async()
                .map_err(std::io::Error::from)?;
            Ok(rtu::attach(port))
        }
    }
}

impl Bus {
    fn stat(&self, f: impl FnOnce(&mut BusStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.recv().await {
            let result = self.transact(job.unit, job.op).await;
            // The asker may have given up (its own timeout); nothing to do then.
            let _ = job.reply.send(result);
        }
        if let Some(mut ctx) = self.link.take() {
            let _ = ctx.disconnect().await;
        }
    }

    fn open_hint(&self) -> &'static str {
        match self.cfg.url {
            PortUrl::Rtu { .. } => "check the device path, that the adapter is plugged in, that this user may open it (group dialout) and that no other program uses it",
            _ => "check the gateway's address and port, that it is powered and reachable from this host",
        }
    }

    async fn transact(&mut self, unit: u8, op: Op) -> Result<Vec<u16>, Error> {
        self.stat(|s| s.requests += 1);
        let attempts = 1 + self.cfg.retries;
        let mut last = String::from("no attempt");
        let tcp = !matches!(self.cfg.url, PortUrl::Rtu { .. });
        for attempt in 1..=attempts {
            // Only sleep when there is something to wait for: the timer has 1 ms ticks.
            if let Some(t) = self.last_end.map(|t| t + self.cfg.pause) {
                if !self.cfg.pause.is_zero() && t > Instant::now() {
                    sleep_until(t).await;
                }
            }
            if self.link.is_none() {
                match timeout(self.cfg.timeout, open(&self.cfg.url)).await {
                    Ok(Ok(ctx)) => {
                        self.stat(|s| s.opens += 1);
                        self.link = Some(ctx);
                    }
                    Ok(Err(io)) => {
                        self.last_end = Some(Instant::now());
                        return Err(Error::Open {
                            port: self.port.to_string(),
                            io,
                            hint: self.open_hint(),
                        });
                    }
                    Err(_) => {
                        self.last_end = Some(Instant::now());
                        last = format!("connecting took over {} ms", self.cfg.timeout.as_millis());
                        continue;
                    }
                }
            }
            self.stat(|s| s.attempts += 1);
            let Some(ctx) = self.link.as_mut() else {
                continue;
            };
            ctx.set_slave(Slave(unit));
            let started = Instant::now();
            let result = timeout(self.cfg.timeout, ctx.call(op.request())).await;
            let now = Instant::now();
            self.last_end = Some(now);
            match result {
                Err(_) => {
                    self.stat(|s| s.timeouts += 1);
                    last = format!("timeout after {} ms", self.cfg.timeout.as_millis());
                    if tcp {
                        self.link = None;
                    }
                }
                Ok(Err(tokio_modbus::Error::Transport(e))) => {
                    self.stat(|s| s.transport_errors += 1);
                    last = format!("transport: {e}");
                    self.link = None;
                }
                Ok(Err(tokio_modbus::Error::Protocol(e))) => {
                    self.stat(|s| s.garbled += 1);
                    last = format!("reply does not match the request: {e}");
                    if tcp {
                        self.link = None;
                    }
                }
                Ok(Ok(Err(exc))) => {
                    let code = u8::from(exc);
                    if code == 0x0A || code == 0x0B {
                        // The gateway did not reach the box: like no answer.
                        last = format!("gateway exception {code:#04x}");
                        continue;
                    }
                    return Err(Error::Exception {
                        port: self.port.to_string(),
                        unit,
                        reg: Reg(op.reg()),
                        action: op.action(),
                        code,
                    });
                }
                Ok(Ok(Ok(resp))) => match check(op, resp) {
                    Checked::Words(w) => {
                        let us = u32::try_from((now - started).as_micros()).unwrap_or(u32::MAX);
                        self.stat(|s| {
                            if s.record_latency {
                                s.latencies_us.push(us);
                            }
                        });
                        return Ok(w);
                    }
                    Checked::EchoMismatch(read) => {
                        let Op::Write { reg, value } = op else {
                            continue;
                        };
                        return Err(Error::WriteNotConfirmed {
                            port: self.port.to_string(),
                            unit,
                            reg: Reg(reg),
                            wrote: value,
                            read,
                        });
                    }
                    Checked::Garbled(why) => {
                        self.stat(|s| s.garbled += 1);
                        last = why;
                        if tcp {
                            self.link = None;
                        }
                    }
                },
            }
            tracing::debug!(port = %self.port, unit, reg = op.reg(), attempt, "{last}");
        }
        Err(Error::NoAnswer {
            port: self.port.to_string(),
            unit,
            reg: Reg(op.reg()),
            action: op.action(),
            attempts,
            last,
        })
    }
}
