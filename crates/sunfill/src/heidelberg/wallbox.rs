//! One wallbox on a bus: start-up, decoded readings, confirmed writes, and the loadpoint loop
//! that keeps the box at the wanted current and reports `wallbox offline` instead of failing.

use super::bus::BusHandle;
use super::error::{Error, Reg};
use std::future::Future;
use std::time::Duration;
use sunfill_core::heidelberg::{
    self, reg, HwLimits, InputBlock, Lock, Reading, Settings, Standby, Write,
};
use sunfill_core::Deciamps;
use tokio::sync::watch;
use tokio::time::Instant;

/// How sunfill configures a box.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// Modbus unit id (DIP switches), 1..=16 on a Heidelberg.
    pub unit: u8,
    /// Watchdog timeout written to 257, ms (0 = off). The loop polls at a third of it.
    pub watchdog_ms: u16,
    /// Current the box falls back to when the watchdog expires (262).
    pub failsafe: Deciamps,
    /// How long to wait for a box that does not answer yet (about 10 s after power-on).
    pub ready_timeout: Duration,
    /// Tries of a confirmed write (write, echo, read-back).
    pub write_tries: u32,
    /// Longest wait between reconnection attempts while the box is offline.
    pub offline_retry_max: Duration,
    /// First wait between reconnection attempts, and between the tries of a box that is not
    /// ready yet (0.5 s; the demo and the soak test scale it with their clock, like the other
    /// waits, or a box that was away for a moment would stay away for hours of model time).
    pub retry: Duration,
    /// Poll this often instead of a third of the watchdog (the demo, whose simulated box runs
    /// faster than real time, polls faster).
    pub poll: Option<Duration>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            unit: 1,
            watchdog_ms: 15_000,
            failsafe: Deciamps::ZERO,
            ready_timeout: Duration::from_secs(15),
            write_tries: 3,
            offline_retry_max: Duration::from_secs(30),
            retry: Duration::from_millis(500),
            poll: None,
        }
    }
}

impl DriverConfig {
    /// The polling interval: [`poll`](Self::poll) if set, else a third of the watchdog, between
    /// 0.2 s and 5 s.
    pub fn poll_interval(&self) -> Duration {
        if let Some(p) = self.poll {
            return p;
        }
        if self.watchdog_ms == 0 {
            return Duration::from_secs(5);
        }
        Duration::from_millis(u64::from(self.watchdog_ms) / 3)
            .clamp(Duration::from_millis(200), Duration::from_secs(5))
    }
}

/// Everything a box reports, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The input block.
    pub reading: Reading,
    /// Hardware limits.
    pub limits: HwLimits,
    /// Holding registers.
    pub settings: Settings,
}

/// A wallbox on a bus.
#[derive(Clone, Debug)]
pub struct Wallbox {
    bus: BusHandle,
    cfg: DriverConfig,
    limits: Option<HwLimits>,
}

impl Wallbox {
    /// A box at `cfg.unit` on `bus`; nothing is sent yet.
    pub fn new(bus: BusHandle, cfg: DriverConfig) -> Self {
        Wallbox {
            bus,
            cfg,
            limits: None,
        }
    }

    /// The same box with its hardware limits known (so that `set_current` respects them).
    pub fn with_limits(mut self, limits: HwLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &DriverConfig {
        &self.cfg
    }

    /// The bus handle.
    pub fn bus(&self) -> &BusHandle {
        &self.bus
    }

    fn unit(&self) -> u8 {
        self.cfg.unit
    }

    fn decode_err(&self, err: heidelberg::DecodeError) -> Error {
        Error::Decode {
            port: self.bus.port().to_string(),
            unit: self.unit(),
            err,
        }
    }

    /// Waits until the box answers (it needs about 10 s after power-on), up to
    /// `cfg.ready_timeout`.
    pub async fn wait_ready(&self) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            match self
                .bus
                .read_input(self.unit(), reg::LAYOUT_VERSION, 1)
                .await
            {
                Ok(_) => return Ok(()),
                Err(
                    e @ (Error::NoAnswer { .. }
                    | Error::Exception {
                        code: 0x0A | 0x0B, ..
                    }),
                ) => {
                    if start.elapsed() >= self.cfg.ready_timeout {
                        return Err(Error::NotReady {
                            port: self.bus.port().to_string(),
                            unit: self.unit(),
                            secs: start.elapsed().as_secs(),
                            last: e.to_string(),
                        });
                    }
                    tracing::debug!("waiting for unit {}: {e}", self.unit());
                    tokio::time::sleep(self.cfg.retry).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Brings the box into sunfill's configuration: waits for it, reads its hardware limits,
    /// disables standby, sets watchdog and failsafe current (all writes confirmed).
    pub async fn setup(&mut self) -> Result<HwLimits, Error> {
        self.wait_ready().await?;
        let limits = self.limits().await?;
        self.limits = Some(limits);
        self.apply(Write::Standby(Standby::Disabled)).await?;
        self.apply(Write::FailsafeCurrent(self.cfg.failsafe.min(limits.max())))
            .await?;
        self.apply(Write::Watchdog(self.cfg.watchdog_ms)).await?;
        Ok(limits)
    }

    /// Reads and decodes the input block (registers 4..=18).
    pub async fn read(&self) -> Result<Reading, Error> {
        let words = self
            .bus
            .read_input(
                self.unit(),
                heidelberg::INPUT_BLOCK_START,
                heidelberg::INPUT_BLOCK_LEN,
            )
            .await?;
        InputBlock::new_checked(&words)
            .and_then(|b| Reading::parse(&b))
            .map_err(|e| self.decode_err(e))
    }

    /// Reads the hardware limits (100, 101).
    pub async fn limits(&self) -> Result<HwLimits, Error> {
        let w = self
            .bus
            .read_input(
                self.unit(),
                heidelberg::LIMITS_START,
                heidelberg::LIMITS_LEN,
            )
            .await?;
        HwLimits::parse(&w).map_err(|e| self.decode_err(e))
    }

    /// Reads the holding registers (257..=259, 261..=262).
    pub async fn settings(&self) -> Result<Settings, Error> {
        let a = self
            .bus
            .read_holding(
                self.unit(),
                heidelberg::HOLDING_A_START,
                heidelberg::HOLDING_A_LEN,
            )
            .await?;
        let b = self
            .bus
            .read_holding(
                self.unit(),
                heidelberg::HOLDING_B_START,
                heidelberg::HOLDING_B_LEN,
            )
            .await?;
        Settings::parse(&a, &b).map_err(|e| self.decode_err(e))
    }

    /// Reads everything.
    pub async fn status(&self) -> Result<Status, Error> {
        Ok(Status {
            reading: self.read().await?,
            limits: self.limits().await?,
            settings: self.settings().await?,
        })
    }

    /// Reads register 261 (the current command).
    pub async fn current_command(&self) -> Result<Deciamps, Error> {
        let w = self
            .bus
            .read_holding(self.unit(), reg::MAX_CURRENT, 1)
            .await?;
        let v = w.first().copied().unwrap_or_default();
        heidelberg::decode_max_current(v).map_err(|e| self.decode_err(e))
    }

    /// Sets the charging current (261), confirmed. Below 6.0 A is 0; above the box's hardware
    /// maximum (once known) is lowered to it. Returns the value now in the box.
    pub async fn set_current(&self, want: Deciamps) -> Result<Deciamps, Error> {
        let mut d = want;
        if let Some(l) = self.limits {
            if d > l.max() {
                tracing::warn!(
                    "unit {} on {}: {} is above the box's DIP-switch maximum {}; using {}",
                    self.unit(),
                    self.bus.port(),
                    d,
                    l.max(),
                    l.max()
                );
                d = l.max();
            }
        }
        self.apply(Write::MaxCurrent(d)).await?;
        Ok(heidelberg::effective(d))
    }

    /// Writes a holding register and confirms it: the echo must match and reading the register
    /// back must give the value written. Only then is the write done; otherwise
    /// [`Error::WriteNotConfirmed`] (after `cfg.write_tries` tries) or the transport's error.
    pub async fn apply(&self, w: Write) -> Result<(), Error> {
        let (r, value) = w.encode().map_err(|err| Error::Encode {
            port: self.bus.port().to_string(),
            unit: self.unit(),
            err,
        })?;
        let mut last = None;
        for _ in 0..self.cfg.write_tries.max(1) {
            match self.bus.write(self.unit(), r, value).await {
                Ok(()) => {}
                Err(e @ Error::WriteNotConfirmed { .. }) => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            }
            let back = self.bus.read_holding(self.unit(), r, 1).await?;
            let read = back.first().copied().unwrap_or_default();
            if read == value {
                return Ok(());
            }
            last = Some(Error::WriteNotConfirmed {
                port: self.bus.port().to_string(),
                unit: self.unit(),
                reg: Reg(r),
                wrote: value,
                read,
            });
        }
        Err(last.unwrap_or(Error::WriteNotConfirmed {
            port: self.bus.port().to_string(),
            unit: self.unit(),
            reg: Reg(r),
            wrote: value,
            read: 0,
        }))
    }

    /// Wakes a sleeping car: remote lock (259) to 0, wait `hold`, back to 1.
    pub async fn wake_car(&self, hold: Duration) -> Result<(), Error> {
        self.apply(Write::RemoteLock(Lock::Locked)).await?;
        tokio::time::sleep(hold).await;
        self.apply(Write::RemoteLock(Lock::Unlocked)).await
    }
}

/// Whether the loop can talk to its box.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Link {
    /// Starting: no answer yet.
    #[default]
    Connecting,
    /// The box answers and holds the wanted current.
    Online,
    /// `wallbox offline`: the last error, as a sentence.
    Offline(String),
}

/// What the loadpoint loop publishes after each poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Link state.
    pub link: Link,
    /// The last reading (kept while offline, see `at`).
    pub reading: Option<Reading>,
    /// The current confirmed in register 261.
    pub applied: Option<Deciamps>,
    /// When `reading` was taken.
    pub at: Option<Instant>,
}

/// Logs errors of one kind at most once per `every`, and once when the box is back.
#[derive(Debug)]
pub struct LogLimit {
    every: Duration,
    last: Option<(&'static str, Instant)>,
    suppressed: u32,
    failures: u32,
}

impl LogLimit {
    /// A limiter that repeats a message of the same kind at most every `every`.
    pub fn new(every: Duration) -> Self {
        LogLimit {
            every,
            last: None,
            suppressed: 0,
            failures: 0,
        }
    }

    /// Logs `e` unless the same kind was logged less than `every` ago.
    pub fn error(&mut self, e: &Error) {
        self.failures += 1;
        let now = Instant::now();
        match self.last {
            Some((kind, at)) if kind == e.kind() && now - at < self.every => {
                self.suppressed += 1;
            }
            _ => {
                if self.suppressed > 0 {
                    tracing::warn!(
                        "wallbox offline: {e} ({} similar messages suppressed)",
                        self.suppressed
                    );
                } else {
                    tracing::warn!("wallbox offline: {e}");
                }
                self.suppressed = 0;
                self.last = Some((e.kind(), now));
            }
        }
    }

    /// Notes that the box answers again.
    pub fn recovered(&mut self, port: &str, unit: u8) {
        if self.failures > 0 {
            tracing::info!(
                "wallbox online again: unit {unit} on {port} after {} failed attempts",
                self.failures
            );
        }
        self.failures = 0;
        self.suppressed = 0;
        self.last = None;
    }
}

/// Runs one loadpoint until `shutdown` resolves: sets the box up, polls it at
/// [`DriverConfig::poll_interval`], applies the wanted current from `setpoint` (again whenever
/// register 261 differs, e.g. after the watchdog fell back or the box restarted), and publishes
/// a [`Snapshot`]. Errors make the link `Offline` and are retried with backoff; they never end
/// the loop. On shutdown the box is set to the failsafe current.
pub async fn run_loadpoint(
    mut wb: Wallbox,
    mut setpoint: watch::Receiver<Deciamps>,
    out: watch::Sender<Snapshot>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut log = LogLimit::new(Duration::from_secs(60));
    let mut online = false;
    let mut backoff = wb.cfg.retry;
    loop {
        let wait = if !online {
            match wb.setup().await {
                Ok(limits) => {
                    tracing::info!(
                        "wallbox unit {} on {} ready: hardware {}..{} A, watchdog {} ms, failsafe {}",
                        wb.cfg.unit,
                        wb.bus.port(),
                        limits.min_amps,
                        limits.max_amps,
                        wb.cfg.watchdog_ms,
                        wb.cfg.failsafe
                    );
                    online = true;
                    backoff = wb.cfg.retry;
                    Duration::ZERO
                }
                Err(e) => {
                    log.error(&e);
                    out.send_modify(|s| s.link = Link::Offline(e.to_string()));
                    let w = backoff;
                    backoff = (backoff * 2).min(wb.cfg.offline_retry_max);
                    w
                }
            }
        } else {
            let want = *setpoint.borrow_and_update();
            match poll_once(&wb, want).await {
                Ok((reading, applied)) => {
                    log.recovered(wb.bus.port(), wb.cfg.unit);
                    out.send_replace(Snapshot {
                        link: Link::Online,
                        reading: Some(reading),
                        applied: Some(applied),
                        at: Some(Instant::now()),
                    });
                    wb.cfg.poll_interval()
                }
                Err(e) => {
                    log.error(&e);
                    out.send_modify(|s| s.link = Link::Offline(e.to_string()));
                    // The box may have restarted (standby and watchdog back to factory).
                    online = !e.is_offline();
                    wb.cfg.retry.mul_f64(0.4)
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = setpoint.changed(), if online => {
                if r.is_err() {
                    break;
                }
            }
            _ = &mut shutdown => break,
        }
    }
    if online {
        if let Err(e) = wb.apply(Write::MaxCurrent(wb.cfg.failsafe)).await {
            tracing::warn!("could not set the failsafe current at shutdown: {e}");
        }
    }
}

async fn poll_once(wb: &Wallbox, want: Deciamps) -> Result<(Reading, Deciamps), Error> {
    let reading = wb.read().await?;
    let mut applied = wb.current_command().await?;
    let target = wb.limits.map_or(want, |l| want.min(l.max()));
    if applied != heidelberg::effective(target) {
        applied = wb.set_current(target).await?;
    }
    Ok((reading, applied))
}
