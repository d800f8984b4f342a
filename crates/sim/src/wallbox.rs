//! A simulated Heidelberg Energy Control: registers, standby, watchdog and a [`Car`] behind it.
//!
//! [`Wallbox`] is sans-IO: the caller passes the time (ms since power-on) to every call. A
//! Modbus server (the `sunfill sim-wallbox` command) feeds it request PDUs with
//! [`Wallbox::handle_pdu`]; the replay simulator can drive the same model directly. Register
//! numbers and value ranges come from `sunfill_core::heidelberg`.
//!
//! # Behaviour (SYSTEM.md section 3)
//! - No answer during the first [`WallboxConfig::boot_ms`] after power-on.
//! - Standby: with 258 = 0 and no car for [`WallboxConfig::standby_after_ms`], the box stops
//!   answering until a car is plugged in.
//! - Watchdog: with 257 != 0 and no request addressed to this box for 257 ms, register 261
//!   falls back to the failsafe current (262) until the master writes it again.
//! - 261/262: values below 6.0 A are stored as 0; above 16.0 A is exception 03.
//! - FC 03/04/06/16 only (others: exception 01); unknown registers: exception 02.
//! - The car draws what the box offers (capped at the car's maximum), with the delays of
//!   [`Car`]; the energy counters integrate its power.

use crate::car::Car;
use crate::modbus::{exception, fc};
use sunfill_core::heidelberg::{self, reg, ChargingState, LayoutVersion, Lock, Reading};
use sunfill_core::Deciamps;

/// Fixed properties of a simulated box.
#[derive(Clone, Debug)]
pub struct WallboxConfig {
    /// Modbus unit id (DIP switches).
    pub unit: u8,
    /// Time after power-on before the box answers, ms (about 10 s on a real box).
    pub boot_ms: u64,
    /// Time without a car before the box enters standby when allowed, ms.
    pub standby_after_ms: u64,
    /// Register-layout version (register 4).
    pub layout: u16,
    /// Hardware maximum current, A (register 100).
    pub hw_max_amps: u16,
    /// Hardware minimum current, A (register 101).
    pub hw_min_amps: u16,
    /// Voltage on each phase, V.
    pub volts: u16,
    /// Energy counted before this power-on, Wh (register 17/18 starts here).
    pub energy_total_wh: u32,
}

impl Default for WallboxConfig {
    fn default() -> Self {
        WallboxConfig {
            unit: 1,
            boot_ms: 10_000,
            standby_after_ms: 60_000,
            layout: 0x0108,
            hw_max_amps: 16,
            hw_min_amps: 6,
            volts: 230,
            energy_total_wh: 1_234_567,
        }
    }
}

/// What the box does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// The reply PDU is in the output buffer.
    Reply,
    /// No reply: booting, in standby, or addressed to another unit.
    Silent,
}

/// The simulated wallbox.
#[derive(Clone, Debug)]
pub struct Wallbox {
    cfg: WallboxConfig,
    now_ms: u64,
    watchdog_ms: u16,
    standby: u16,
    remote_lock: u16,
    max_current: u16,
    failsafe: u16,
    external_lock: u16,
    last_traffic_ms: u64,
    watchdog_expired: bool,
    watchdog_expiries: u32,
    no_car_since_ms: Option<u64>,
    in_standby: bool,
    car: Car,
    car_max: u16,
    offered: u16,
    energy_on_mwh: u64,
    energy_total_mwh: u64,
    writes_261: u64,
}

impl Wallbox {
    /// A box powered on at time 0 with factory settings (watchdog 15 s, standby allowed,
    /// unlocked, current 0, failsafe 0) and no car.
    pub fn new(cfg: WallboxConfig) -> Self {
        let mut car = Car::new(3);
        car.set_connected(0, false);
        let total = u64::from(cfg.energy_total_wh) * 1000;
        Wallbox {
            cfg,
            now_ms: 0,
            watchdog_ms: 15_000,
            standby: 0,
            remote_lock: 1,
            max_current: 0,
            failsafe: 0,
            external_lock: 1,
            last_traffic_ms: 0,
            watchdog_expired: false,
            watchdog_expiries: 0,
            no_car_since_ms: Some(0),
            in_standby: false,
            car,
            car_max: 160,
            offered: 0,
            energy_on_mwh: 0,
            energy_total_mwh: total,
            writes_261: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WallboxConfig {
        &self.cfg
    }

    /// The car behind the box.
    pub fn car(&self) -> &Car {
        &self.car
    }

    /// Plugs a car in at `now_ms`: `phases` (1 or 3), drawing at most `max` (0.1 A).
    pub fn plug_in(&mut self, now_ms: u64, phases: u8, max: Deciamps) {
        self.advance(now_ms);
        let mut car = Car::new(phases.clamp(1, 3));
        car.set_connected(now_ms, false);
        self.car = car;
        self.car_max = max.0;
        self.offered = 0;
        self.car.set_connected(now_ms, true);
        self.no_car_since_ms = None;
        // Plugging in wakes the box from standby.
        self.in_standby = false;
        self.update_offer(now_ms);
    }

    /// Unplugs the car at `now_ms`.
    pub fn unplug(&mut self, now_ms: u64) {
        self.advance(now_ms);
        self.car.set_connected(now_ms, false);
        self.no_car_since_ms = Some(now_ms);
    }

    /// Marks the car full (or not) at `now_ms`.
    pub fn set_car_full(&mut self, now_ms: u64, full: bool) {
        self.advance(now_ms);
        self.car.set_full(now_ms, full);
    }

    /// Sets the external lock input (register 13) at `now_ms`.
    pub fn set_external_lock(&mut self, now_ms: u64, lock: Lock) {
        self.advance(now_ms);
        self.external_lock = lock.to_word();
        self.update_offer(now_ms);
    }

    /// The value of register 261 (the current command), 0.1 A.
    pub fn max_current(&self) -> Deciamps {
        Deciamps(self.max_current)
    }

    /// The current the box offers the car now (0 when locked), 0.1 A.
    pub fn offered(&self) -> Deciamps {
        Deciamps(self.offered)
    }

    /// Whether the watchdog has expired and not been cleared by traffic.
    pub fn watchdog_expired(&self) -> bool {
        self.watchdog_expired
    }

    /// How often the watchdog has expired since power-on.
    pub fn watchdog_expiries(&self) -> u32 {
        self.watchdog_expiries
    }

    /// How many writes to register 261 the box accepted.
    pub fn writes_261(&self) -> u64 {
        self.writes_261
    }

    /// Whether the box answers Modbus at `now_ms` (not booting, not in standby).
    pub fn answers(&mut self, now_ms: u64) -> bool {
        self.advance(now_ms);
        self.now_ms >= self.cfg.boot_ms && !self.in_standby
    }

    /// Whether the box is in standby.
    pub fn in_standby(&self) -> bool {
        self.in_standby
    }

    /// When the model next changes by itself (car delay, watchdog, standby), ms.
    pub fn poll_at(&self) -> Option<u64> {
        [
            self.car.next_change_ms(),
            self.watchdog_deadline(),
            self.standby_deadline(),
        ]
        .into_iter()
        .flatten()
        .filter(|&t| t > self.now_ms)
        .min()
    }

    fn watchdog_deadline(&self) -> Option<u64> {
        (self.watchdog_ms != 0 && !self.watchdog_expired)
            .then(|| self.last_traffic_ms + u64::from(self.watchdog_ms))
    }

    fn standby_deadline(&self) -> Option<u64> {
        match (self.standby, self.no_car_since_ms, self.in_standby) {
            (0, Some(t), false) => Some(t.max(self.cfg.boot_ms) + self.cfg.standby_after_ms),
            _ => None,
        }
    }

    /// Moves the model to `now_ms` (earlier times are ignored).
    pub fn advance(&mut self, now_ms: u64) {
        while self.now_ms < now_ms {
            let next = self.poll_at().map_or(now_ms, |t| t.min(now_ms));
            let dt = next - self.now_ms;
            // Power in W x dt in ms = mWh x 3600.
            let mwh = u64::from(self.power_w()) * dt / 3600;
            self.energy_on_mwh += mwh;
            self.energy_total_mwh += mwh;
            self.now_ms = next;
            self.car.advance(next);
            if self.watchdog_deadline().is_some_and(|d| next >= d) {
                self.watchdog_expired = true;
                self.watchdog_expiries += 1;
                self.max_current = heidelberg::effective(Deciamps(self.failsafe)).0;
                self.update_offer(next);
            }
            if self.standby_deadline().is_some_and(|d| next >= d) {
                self.in_standby = true;
            }
        }
    }

    fn update_offer(&mut self, now_ms: u64) {
        let unlocked = self.remote_lock == 1 && self.external_lock == 1;
        let offer = if unlocked {
            heidelberg::effective(Deciamps(self.max_current.min(self.car_max))).0
        } else {
            0
        };
        if offer != self.offered {
            self.offered = offer;
            self.car.write(now_ms, offer);
        }
    }

    fn phases_drawing(&self) -> u16 {
        if self.car.effective() > 0 {
            u16::from(self.car.phases())
        } else {
            0
        }
    }

    fn power_w(&self) -> u32 {
        u32::from(self.car.effective())
            * u32::from(self.cfg.volts)
            * u32::from(self.phases_drawing())
            / 10
    }

    /// The charging state the box reports (register 5).
    pub fn charging_state(&self) -> ChargingState {
        let allowed = self.offered >= heidelberg::MIN_CHARGING.0;
        match (self.car.is_connected(), self.car.is_full(), allowed) {
            (false, _, false) => ChargingState::A1,
            (false, _, true) => ChargingState::A2,
            (true, true, false) => ChargingState::B1,
            (true, true, true) => ChargingState::B2,
            (true, false, false) => ChargingState::C1,
            (true, false, true) => ChargingState::C2,
        }
    }

    /// The input block (registers 4..=18) as the box would answer it now.
    pub fn reading(&self) -> Reading {
        let i = self.car.effective();
        let n = self.car.phases();
        let cur = |p: u8| Deciamps(if p < n { i } else { 0 });
        let v = self.cfg.volts;
        Reading {
            layout: LayoutVersion(self.cfg.layout),
            state: self.charging_state(),
            currents: [cur(0), cur(1), cur(2)],
            temperature_decidegc: 250 + (self.power_w() / 1000) as i16 * 5,
            voltages: [v, v, v],
            external_lock: if self.external_lock == 1 {
                Lock::Unlocked
            } else {
                Lock::Locked
            },
            power_w: u16::try_from(self.power_w()).unwrap_or(u16::MAX),
            energy_since_power_on_wh: (self.energy_on_mwh / 1000) as u32,
            energy_total_wh: (self.energy_total_mwh / 1000) as u32,
        }
    }

    fn input_register(&self, r: u16) -> Option<u16> {
        match r {
            heidelberg::INPUT_BLOCK_START..=18 => {
                let mut words = [0u16; heidelberg::INPUT_BLOCK_LEN as usize];
                self.reading().emit(&mut words);
                words
                    .get(usize::from(r - heidelberg::INPUT_BLOCK_START))
                    .copied()
            }
            reg::HW_MAX_CURRENT => Some(self.cfg.hw_max_amps),
            reg::HW_MIN_CURRENT => Some(self.cfg.hw_min_amps),
            _ => None,
        }
    }

    fn holding_register(&self, r: u16) -> Option<u16> {
        match r {
            reg::WATCHDOG => Some(self.watchdog_ms),
            reg::STANDBY => Some(self.standby),
            reg::REMOTE_LOCK => Some(self.remote_lock),
            reg::MAX_CURRENT => Some(self.max_current),
            reg::FAILSAFE_CURRENT => Some(self.failsafe),
            _ => None,
        }
    }

    /// Checks a write; `Err(code)` is the Modbus exception.
    fn check_write(r: u16, v: u16) -> Result<(), u8> {
        let ok = match r {
            reg::WATCHDOG => true,
            reg::STANDBY => v == 0 || v == 4,
            reg::REMOTE_LOCK => v <= 1,
            reg::MAX_CURRENT | reg::FAILSAFE_CURRENT => v <= heidelberg::MAX_CURRENT_LIMIT.0,
            _ => return Err(exception::ILLEGAL_DATA_ADDRESS),
        };
        if ok {
            Ok(())
        } else {
            Err(exception::ILLEGAL_DATA_VALUE)
        }
    }

    fn write(&mut self, now_ms: u64, r: u16, v: u16) {
        match r {
            reg::WATCHDOG => self.watchdog_ms = v,
            reg::STANDBY => self.standby = v,
            reg::REMOTE_LOCK => self.remote_lock = v,
            reg::MAX_CURRENT => {
                self.max_current = heidelberg::effective(Deciamps(v)).0;
                self.writes_261 += 1;
            }
            reg::FAILSAFE_CURRENT => self.failsafe = heidelberg::effective(Deciamps(v)).0,
            _ => {}
        }
        if r == reg::STANDBY && v == 4 {
            self.in_standby = false;
        }
        self.update_offer(now_ms);
    }

    /// Handles one request PDU addressed to `unit` at `now_ms`; a reply PDU goes to `out`.
    pub fn handle_pdu(&mut self, now_ms: u64, unit: u8, pdu: &[u8], out: &mut Vec<u8>) -> Handled {
        out.clear();
        if unit != self.cfg.unit || !self.answers(now_ms) {
            return Handled::Silent;
        }
        // Any request addressed to us feeds the watchdog.
        self.last_traffic_ms = now_ms;
        self.watchdog_expired = false;
        let Some((&function, data)) = pdu.split_first() else {
            return Handled::Silent;
        };
        let word = |i: usize| -> Option<u16> {
            Some(u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?]))
        };
        let result = match function {
            fc::READ_HOLDING | fc::READ_INPUT => match (word(0), word(2)) {
                (Some(start), Some(n)) if data.len() == 4 => self.read(function, start, n, out),
                _ => Err(exception::ILLEGAL_DATA_VALUE),
            },
            fc::WRITE_SINGLE => match (word(0), word(2)) {
                (Some(r), Some(v)) if data.len() == 4 => Self::check_write(r, v).map(|()| {
                    self.write(now_ms, r, v);
                    out.push(function);
                    out.extend_from_slice(&data[..4]);
                }),
                _ => Err(exception::ILLEGAL_DATA_VALUE),
            },
            fc::WRITE_MULTIPLE => self.write_multiple(now_ms, data, out),
            _ => Err(exception::ILLEGAL_FUNCTION),
        };
        if let Err(code) = result {
            out.clear();
            out.push(function | 0x80);
            out.push(code);
        }
        Handled::Reply
    }

    fn read(&mut self, function: u8, start: u16, n: u16, out: &mut Vec<u8>) -> Result<(), u8> {
        if n == 0 || n > 125 {
            return Err(exception::ILLEGAL_DATA_VALUE);
        }
        if u32::from(start) + u32::from(n) > 0x1_0000 {
            return Err(exception::ILLEGAL_DATA_ADDRESS);
        }
        out.push(function);
        out.push((n * 2) as u8);
        // Register by register from `start`: no overflow (checked above), and the last register
        // 0xFFFF is read too (a `start..start + n` range would have to end past it).
        for r in (0..n).map(|i| start + i) {
            let v = if function == fc::READ_INPUT {
                self.input_register(r)
            } else {
                self.holding_register(r)
            };
            let v = v.ok_or(exception::ILLEGAL_DATA_ADDRESS)?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        Ok(())
    }

    fn write_multiple(&mut self, now_ms: u64, data: &[u8], out: &mut Vec<u8>) -> Result<(), u8> {
        let [s0, s1, n0, n1, count, values @ ..] = data else {
            return Err(exception::ILLEGAL_DATA_VALUE);
        };
        let start = u16::from_be_bytes([*s0, *s1]);
        let n = u16::from_be_bytes([*n0, *n1]);
        if n == 0
            || n > 123
            || usize::from(*count) != usize::from(n) * 2
            || values.len() != 2 * usize::from(n)
        {
            return Err(exception::ILLEGAL_DATA_VALUE);
        }
        let pairs = || {
            values.chunks_exact(2).enumerate().map(move |(i, c)| {
                (
                    start.wrapping_add(i as u16),
                    u16::from_be_bytes([c[0], c[1]]),
                )
            })
        };
        // All or nothing: check every register before writing any.
        for (r, v) in pairs() {
            Self::check_write(r, v)?;
        }
        for (r, v) in pairs() {
            self.write(now_ms, r, v);
        }
        out.push(fc::WRITE_MULTIPLE);
        out.extend_from_slice(&data[..4]);
        Ok(())
    }
}

/// One scripted event for a simulated box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Plug a car in: phases, maximum current.
    Plug {
        /// Phases the car charges on (1 or 3).
        phases: u8,
        /// The car's maximum current.
        max: Deciamps,
    },
    /// Unplug the car.
    Unplug,
    /// The car is full (or no longer full).
    Full(bool),
    /// External lock input (register 13).
    ExternalLock(Lock),
}

/// A script: events at times after power-on, applied in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    events: Vec<(u64, Event)>,
    next: usize,
}

/// A line of a script that cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("script line {line}: {msg} (expected e.g. `10s plug phases=3 max=16`, `5m unplug`, `90s full`, `2m notfull`, `0s lock`, `1s unlock`)")]
pub struct ScriptError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

fn parse_time_ms(s: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (s, 1000)
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn parse_amps(s: &str) -> Option<Deciamps> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    let w: u16 = whole.parse().ok()?;
    let f: u16 = frac.get(..1)?.parse().ok()?;
    Some(Deciamps(w.checked_mul(10)?.checked_add(f)?))
}

impl Script {
    /// Parses a script: one event per line, `TIME ACTION [key=value...]`; `#` starts a comment.
    ///
    /// Times are `90`, `90s`, `1500ms`, `5m`, `1h` after power-on. Actions: `plug [phases=N]
    /// [max=A]`, `unplug`, `full`, `notfull`, `lock`, `unlock`.
    pub fn parse(text: &str) -> Result<Self, ScriptError> {
        let mut events = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |msg: String| ScriptError { line: i + 1, msg };
            let mut parts = line.split_whitespace();
            let t = parts.next().unwrap_or("");
            let at = parse_time_ms(t).ok_or_else(|| err(format!("bad time `{t}`")))?;
            let action = parts.next().ok_or_else(|| err("missing action".into()))?;
            let ev = match action {
                "plug" => {
                    let mut phases = 3;
                    let mut max = Deciamps(160);
                    for kv in parts.by_ref() {
                        match kv.split_once('=') {
                            Some(("phases", v)) => {
                                phases = v.parse().ok().filter(|p| *p == 1 || *p == 3).ok_or_else(
                                    || err(format!("phases must be 1 or 3, got `{v}`")),
                                )?
                            }
                            Some(("max", v)) => {
                                max = parse_amps(v)
                                    .ok_or_else(|| err(format!("bad current `{v}` (amperes)")))?
                            }
                            _ => return Err(err(format!("unknown option `{kv}`"))),
                        }
                    }
                    Event::Plug { phases, max }
                }
                "unplug" => Event::Unplug,
                "full" => Event::Full(true),
                "notfull" => Event::Full(false),
                "lock" => Event::ExternalLock(Lock::Locked),
                "unlock" => Event::ExternalLock(Lock::Unlocked),
                other => return Err(err(format!("unknown action `{other}`"))),
            };
            if let Some(extra) = parts.next() {
                return Err(err(format!("unexpected `{extra}`")));
            }
            events.push((at, ev));
        }
        events.sort_by_key(|(t, _)| *t);
        Ok(Script { events, next: 0 })
    }

    /// A script from a list of events.
    pub fn from_events(mut events: Vec<(u64, Event)>) -> Self {
        events.sort_by_key(|(t, _)| *t);
        Script { events, next: 0 }
    }

    /// When the next event is due, ms.
    pub fn poll_at(&self) -> Option<u64> {
        self.events.get(self.next).map(|(t, _)| *t)
    }

    /// Applies every event due at `now_ms` to `wb`.
    pub fn apply(&mut self, now_ms: u64, wb: &mut Wallbox) {
        while let Some(&(t, ev)) = self.events.get(self.next) {
            if t > now_ms {
                break;
            }
            self.next += 1;
            match ev {
                Event::Plug { phases, max } => wb.plug_in(t, phases, max),
                Event::Unplug => wb.unplug(t),
                Event::Full(f) => wb.set_car_full(t, f),
                Event::ExternalLock(l) => wb.set_external_lock(t, l),
            }
        }
        wb.advance(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::exception::*;

    const BOOTED: u64 = 10_000;

    fn wallbox_booted() -> Wallbox {
        let mut wb = Wallbox::new(WallboxConfig::default());
        assert!(wb.answers(BOOTED));
        wb
    }

    fn req(wb: &mut Wallbox, now: u64, pdu: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match wb.handle_pdu(now, 1, pdu, &mut out) {
            Handled::Reply => Some(out),
            Handled::Silent => None,
        }
    }

    fn write(wb: &mut Wallbox, now: u64, r: u16, v: u16) -> Option<Vec<u8>> {
        let [r0, r1] = r.to_be_bytes();
        let [v0, v1] = v.to_be_bytes();
        req(wb, now, &[6, r0, r1, v0, v1])
    }

    fn read_holding(wb: &mut Wallbox, now: u64, r: u16) -> u16 {
        let [r0, r1] = r.to_be_bytes();
        let out = req(wb, now, &[3, r0, r1, 0, 1]).unwrap();
        assert_eq!(out[..2], [3, 2]);
        u16::from_be_bytes([out[2], out[3]])
    }

    // Tests for power-on and standby.

    #[test]
    fn silent_while_booting() {
        let mut wb = Wallbox::new(WallboxConfig::default());
        assert_eq!(req(&mut wb, 9_999, &[4, 0, 4, 0, 15]), None);
        assert!(req(&mut wb, 10_000, &[4, 0, 4, 0, 15]).is_some());
    }

    #[test]
    fn standby_without_car_stops_answers_until_a_car_comes() {
        let mut wb = wallbox_booted();
        write(&mut wb, BOOTED, 257, 0).unwrap();
        assert!(wb.answers(BOOTED + 59_999));
        assert!(!wb.answers(BOOTED + 60_000));
        assert_eq!(req(&mut wb, BOOTED + 61_000, &[4, 0, 4, 0, 1]), None);
        wb.plug_in(BOOTED + 70_000, 3, Deciamps(160));
        assert!(wb.answers(BOOTED + 70_000));
    }

    #[test]
    fn standby_disabled_keeps_answering() {
        let mut wb = wallbox_booted();
        write(&mut wb, BOOTED, 257, 0).unwrap();
        write(&mut wb, BOOTED, 258, 4).unwrap();
        assert!(wb.answers(BOOTED + 3_600_000));
    }

    // Tests for the watchdog.

    #[test]
    fn watchdog_falls_back_to_failsafe_without_traffic() {
        let mut wb = wallbox_booted();
        write(&mut wb, BOOTED, 258, 4).unwrap();
        write(&mut wb, BOOTED, 262, 60).unwrap();
        write(&mut wb, BOOTED, 257, 1000).unwrap();
        write(&mut wb, BOOTED, 261, 160).unwrap();
        wb.advance(BOOTED + 999);
        assert_eq!(wb.max_current(), Deciamps(160));
        wb.advance(BOOTED + 1000);
        assert!(wb.watchdog_expired());
        assert_eq!(wb.max_current(), Deciamps(60));
        // Traffic clears the flag; the register stays at failsafe until written.
        assert_eq!(read_holding(&mut wb, BOOTED + 5000, 261), 60);
        assert!(!wb.watchdog_expired());
        assert_eq!(wb.watchdog_expiries(), 1);
    }

    #[test]
    fn traffic_within_the_timeout_feeds_the_watchdog() {
        let mut wb = wallbox_booted();
        write(&mut wb, BOOTED, 258, 4).unwrap();
        write(&mut wb, BOOTED, 257, 1000).unwrap();
        write(&mut wb, BOOTED, 261, 100).unwrap();
        for k in 1..100 {
            read_holding(&mut wb, BOOTED + k * 900, 261);
        }
        assert_eq!(wb.watchdog_expiries(), 0);
        assert_eq!(wb.max_current(), Deciamps(100));
    }

    // Tests for registers and exceptions.

    #[test]
    fn current_below_six_amps_is_stored_as_zero() {
        let mut wb = wallbox_booted();
        assert_eq!(
            write(&mut wb, BOOTED, 261, 50).unwrap(),
            vec![6, 1, 5, 0, 50]
        );
        assert_eq!(read_holding(&mut wb, BOOTED, 261), 0);
    }

    #[test]
    fn exceptions_for_bad_function_address_value() {
        let mut wb = wallbox_booted();
        assert_eq!(
            req(&mut wb, BOOTED, &[1, 0, 0, 0, 1]).unwrap(),
            [0x81, ILLEGAL_FUNCTION]
        );
        assert_eq!(
            req(&mut wb, BOOTED, &[3, 1, 4, 0, 1]).unwrap(),
            [0x83, ILLEGAL_DATA_ADDRESS]
        );
        assert_eq!(
            req(&mut wb, BOOTED, &[3, 1, 1, 0, 6]).unwrap(),
            [0x83, ILLEGAL_DATA_ADDRESS]
        );
        assert_eq!(
            req(&mut wb, BOOTED, &[4, 0, 4, 0, 0]).unwrap(),
            [0x84, ILLEGAL_DATA_VALUE]
        );
        assert_eq!(
            write(&mut wb, BOOTED, 261, 161).unwrap(),
            [0x86, ILLEGAL_DATA_VALUE]
        );
        assert_eq!(
            write(&mut wb, BOOTED, 258, 2).unwrap(),
            [0x86, ILLEGAL_DATA_VALUE]
        );
        assert_eq!(
            write(&mut wb, BOOTED, 5, 2).unwrap(),
            [0x86, ILLEGAL_DATA_ADDRESS]
        );
        // FC 16 is all or nothing.
        let out = req(&mut wb, BOOTED, &[16, 1, 5, 0, 2, 4, 0, 100, 0, 200]).unwrap();
        assert_eq!(out, [0x90, ILLEGAL_DATA_VALUE]);
        assert_eq!(read_holding(&mut wb, BOOTED, 261), 0);
        let out = req(&mut wb, BOOTED, &[16, 1, 5, 0, 2, 4, 0, 100, 0, 60]).unwrap();
        assert_eq!(out, [16, 1, 5, 0, 2]);
        assert_eq!(read_holding(&mut wb, BOOTED, 262), 60);
    }

    #[test]
    fn reading_the_last_register_is_an_address_error_not_an_empty_reply() {
        // Found by fuzz target modbus_rtu: start 0xFFFF, 1 register gave `[3, 2]` without data.
        let mut wb = wallbox_booted();
        for function in [3, 4] {
            assert_eq!(
                req(&mut wb, BOOTED, &[function, 0xFF, 0xFF, 0, 1]).unwrap(),
                [function | 0x80, ILLEGAL_DATA_ADDRESS]
            );
        }
        assert_eq!(
            req(&mut wb, BOOTED, &[4, 0xFF, 0xFF, 0, 2]).unwrap(),
            [0x84, ILLEGAL_DATA_ADDRESS]
        );
    }

    #[test]
    fn other_units_get_no_answer() {
        let mut wb = wallbox_booted();
        let mut out = Vec::new();
        assert_eq!(
            wb.handle_pdu(BOOTED, 2, &[4, 0, 4, 0, 1], &mut out),
            Handled::Silent
        );
    }

    // Tests for the car.

    #[test]
    fn car_draws_the_set_current_after_the_start_delay() {
        let mut wb = wallbox_booted();
        write(&mut wb, BOOTED, 257, 0).unwrap();
        wb.plug_in(BOOTED, 3, Deciamps(160));
        assert_eq!(wb.charging_state(), ChargingState::C1);
        write(&mut wb, BOOTED, 261, 100).unwrap();
        assert_eq!(wb.charging_state(), ChargingState::C2);
        wb.advance(BOOTED + 15_000);
        let r = wb.reading();
        assert_eq!(r.currents, [Deciamps(100); 3]);
        assert_eq!(r.power_w, 6900);
        // One hour at 6.9 kW.
        wb.advance(BOOTED + 15_000 + 3_600_000);
        assert_eq!(wb.reading().energy_since_power_on_wh, 6900);
        let parsed = Reading::parse(
            &heidelberg::InputBlock::new_checked(&{
                let mut w = [0; 15];
                wb.reading().emit(&mut w);
                w
            })
            .unwrap(),
        );
        assert!(parsed.is_ok());
    }

    #[test]
    fn car_max_caps_the_offer_and_one_phase_draws_on_l1() {
        let mut wb = wallbox_booted();
        write(&mut wb, BOOTED, 257, 0).unwrap();
        wb.plug_in(BOOTED, 1, Deciamps(100));
        write(&mut wb, BOOTED, 261, 160).unwrap();
        wb.advance(BOOTED + 20_000);
        let r = wb.reading();
        assert_eq!(r.currents, [Deciamps(100), Deciamps(0), Deciamps(0)]);
        wb.unplug(BOOTED + 30_000);
        assert_eq!(wb.reading().power_w, 0);
        assert_eq!(wb.charging_state(), ChargingState::A2);
    }

    #[test]
    fn script_parses_and_applies() {
        let mut s = Script::parse("# demo\n10s plug phases=1 max=10.5\n2m full\n3m unplug # bye\n")
            .unwrap();
        assert_eq!(s.poll_at(), Some(10_000));
        let mut wb = wallbox_booted();
        s.apply(11_000, &mut wb);
        assert!(wb.car().is_connected());
        assert_eq!(wb.car().phases(), 1);
        s.apply(200_000, &mut wb);
        assert!(!wb.car().is_connected());
        assert!(Script::parse("10s plug phases=2").is_err());
        assert!(Script::parse("x plug").is_err());
        let e = Script::parse("\n5s fly").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
