//! The car behind a Heidelberg wallbox, as BENCHMARK.md models it: how a written setpoint
//! becomes the current the car actually draws.
//!
//! This type knows nothing about scenarios, policies or metrics, so that a Modbus wallbox
//! simulator can drive it too: call [`Car::write`] when register 261 is written,
//! [`Car::advance`] whenever time moves on (at least at [`Car::next_change_ms`]), and read
//! [`Car::effective`] / [`Car::power_w`].
//!
//! # The response rules (BENCHMARK.md, "car response")
//! - The car follows the latest write; a write replaces any earlier write not yet in effect.
//! - A non-zero setpoint takes effect [`CHANGE_DELAY_MS`] (5 s) after its write while the car
//!   draws current.
//! - When the car draws nothing (a start), a non-zero setpoint takes effect [`START_DELAY_MS`]
//!   (15 s) after the *first* non-zero write of that start; later writes inside that window only
//!   change the value, not the time.
//! - 0 (a stop) takes effect at once, and cancels any write not yet in effect.
//!
//! # Interpretations
//! - Register 261 semantics: a written value below 6.0 A (60 dA) means 0; a value above 16.0 A
//!   is clamped to 16.0 A (the Heidelberg maximum). See [`register_261`].
//! - A car that is unplugged or full draws nothing and ignores writes, but the wallbox keeps the
//!   last setpoint. When the car is plugged in (or stops being full) while that setpoint is
//!   non-zero, this is a start: the setpoint takes effect 15 s later.

/// Delay of a setpoint change while the car draws current, in ms.
pub const CHANGE_DELAY_MS: u64 = 5_000;
/// Delay from the first non-zero write of a start until the car draws current, in ms.
pub const START_DELAY_MS: u64 = 15_000;
/// The smallest non-zero setpoint, 6.0 A, in tenths of an ampere.
pub const MIN_DECIAMPS: u16 = 60;
/// The largest setpoint, 16.0 A, in tenths of an ampere.
pub const MAX_DECIAMPS: u16 = 160;
/// The fixed voltage per phase, V.
pub const VOLTS: f64 = 230.0;

/// What the wallbox makes of a value written to register 261: below 6.0 A means 0, above
/// 16.0 A is clamped to 16.0 A.
pub const fn register_261(deciamps: u16) -> u16 {
    if deciamps < MIN_DECIAMPS {
        0
    } else if deciamps > MAX_DECIAMPS {
        MAX_DECIAMPS
    } else {
        deciamps
    }
}

/// A write not yet in effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    /// The value that will take effect, dA (never 0).
    deciamps: u16,
    /// When it takes effect, ms.
    at_ms: u64,
}

/// A car on a wallbox: setpoint in, drawn current out, with the benchmark's delays.
#[derive(Clone, Debug)]
pub struct Car {
    phases: u8,
    setpoint: u16,
    effective: u16,
    pending: Option<Pending>,
    connected: bool,
    full: bool,
}

impl Car {
    /// A plugged-in, not full car on `phases` phases (1 or 3), drawing nothing, setpoint 0.
    pub fn new(phases: u8) -> Self {
        Car {
            phases,
            setpoint: 0,
            effective: 0,
            pending: None,
            connected: true,
            full: false,
        }
    }

    /// The number of phases the car charges on.
    pub fn phases(&self) -> u8 {
        self.phases
    }

    /// The wallbox receives a write of `deciamps` to register 261 at `now_ms`.
    ///
    /// Call [`Car::advance`] with `now_ms` first, so that writes already due are in effect.
    pub fn write(&mut self, now_ms: u64, deciamps: u16) {
        let value = register_261(deciamps);
        self.setpoint = value;
        if value == 0 {
            self.effective = 0;
            self.pending = None;
            return;
        }
        if !self.can_draw() {
            return;
        }
        self.pending = Some(match self.pending {
            // A start is under way: only the value changes, not the time.
            Some(p) if self.effective == 0 => Pending {
                deciamps: value,
                at_ms: p.at_ms,
            },
            _ if self.effective == 0 => Pending {
                deciamps: value,
                at_ms: now_ms.saturating_add(START_DELAY_MS),
            },
            _ => Pending {
                deciamps: value,
                at_ms: now_ms.saturating_add(CHANGE_DELAY_MS),
            },
        });
    }

    /// Moves the car to `now_ms`: a write whose delay has passed takes effect.
    pub fn advance(&mut self, now_ms: u64) {
        if let Some(p) = self.pending {
            if now_ms >= p.at_ms {
                self.effective = p.deciamps;
                self.pending = None;
            }
        }
    }

    /// When the drawn current changes next without another write, if it will (ms).
    pub fn next_change_ms(&self) -> Option<u64> {
        self.pending.map(|p| p.at_ms)
    }

    /// Plugs the car in (`true`) or out (`false`) at `now_ms`.
    ///
    /// Plugging out stops the car at once. Plugging in with a non-zero setpoint on the wallbox
    /// is a start (the setpoint takes effect 15 s later).
    pub fn set_connected(&mut self, now_ms: u64, connected: bool) {
        if connected == self.connected {
            return;
        }
        self.connected = connected;
        self.effective = 0;
        self.pending = None;
        self.restart_if_allowed(now_ms);
    }

    /// Marks the car full (it stops drawing at once) or no longer full (a start, if the
    /// setpoint is non-zero).
    pub fn set_full(&mut self, now_ms: u64, full: bool) {
        if full == self.full {
            return;
        }
        self.full = full;
        self.effective = 0;
        self.pending = None;
        self.restart_if_allowed(now_ms);
    }

    fn restart_if_allowed(&mut self, now_ms: u64) {
        if self.can_draw() && self.setpoint != 0 {
            self.pending = Some(Pending {
                deciamps: self.setpoint,
                at_ms: now_ms.saturating_add(START_DELAY_MS),
            });
        }
    }

    fn can_draw(&self) -> bool {
        self.connected && !self.full
    }

    /// Whether the car is plugged in.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether the car is full.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// The last setpoint written (after [`register_261`]), dA.
    pub fn setpoint(&self) -> u16 {
        self.setpoint
    }

    /// The current the car draws on each of its phases, dA.
    pub fn effective(&self) -> u16 {
        self.effective
    }

    /// The current the car draws on each of its phases, A.
    pub fn current_a(&self) -> f64 {
        f64::from(self.effective) / 10.0
    }

    /// The power the car draws: phases x 230 V x effective current, W.
    pub fn power_w(&self) -> f64 {
        f64::from(self.phases) * VOLTS * self.current_a()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Advances second by second from `from_s` to `to_s` inclusive and returns the drawn
    /// current at each second.
    fn run(car: &mut Car, from_s: u64, to_s: u64) -> Vec<u16> {
        (from_s..=to_s)
            .map(|s| {
                car.advance(s * 1000);
                car.effective()
            })
            .collect()
    }

    #[test]
    fn a_start_takes_effect_15_s_after_the_first_write() {
        let mut car = Car::new(3);
        car.write(10_000, 80);
        let drawn = run(&mut car, 10, 25);
        assert_eq!(drawn[..15], [0; 15]);
        assert_eq!(drawn[15], 80);
        assert_eq!(car.power_w(), 3.0 * 230.0 * 8.0);
    }

    #[test]
    fn later_writes_in_a_start_change_only_the_value() {
        let mut car = Car::new(1);
        car.write(0, 80);
        car.advance(10_000);
        car.write(10_000, 120);
        car.advance(14_999);
        assert_eq!(car.effective(), 0);
        car.advance(15_000);
        assert_eq!(car.effective(), 120);
    }

    #[test]
    fn a_change_while_charging_takes_effect_after_5_s() {
        let mut car = Car::new(3);
        car.write(0, 60);
        car.advance(15_000);
        car.write(20_000, 100);
        car.advance(24_999);
        assert_eq!(car.effective(), 60);
        car.advance(25_000);
        assert_eq!(car.effective(), 100);
    }

    #[test]
    fn a_write_replaces_an_earlier_write_not_yet_in_effect() {
        let mut car = Car::new(3);
        car.write(0, 60);
        car.advance(15_000);
        car.write(20_000, 100);
        car.advance(22_000);
        car.write(22_000, 90);
        car.advance(25_000);
        assert_eq!(car.effective(), 60, "the 10 A write was replaced");
        car.advance(27_000);
        assert_eq!(car.effective(), 90);
    }

    #[test]
    fn zero_stops_at_once_and_cancels_pending_writes() {
        let mut car = Car::new(3);
        car.write(0, 60);
        car.advance(15_000);
        car.write(16_000, 100);
        car.write(17_000, 0);
        assert_eq!(car.effective(), 0);
        assert_eq!(car.next_change_ms(), None);
        // The next non-zero write is a start again.
        car.write(18_000, 70);
        car.advance(32_999);
        assert_eq!(car.effective(), 0);
        car.advance(33_000);
        assert_eq!(car.effective(), 70);
    }

    #[test]
    fn register_261_maps_below_6_a_to_zero_and_clamps_at_16_a() {
        assert_eq!(register_261(59), 0);
        assert_eq!(register_261(60), 60);
        assert_eq!(register_261(200), 160);
        let mut car = Car::new(3);
        car.write(0, 55);
        car.advance(60_000);
        assert_eq!((car.setpoint(), car.effective()), (0, 0));
    }

    #[test]
    fn plugging_in_with_a_setpoint_is_a_start() {
        let mut car = Car::new(3);
        car.set_connected(0, false);
        car.write(1_000, 100);
        car.advance(30_000);
        assert_eq!(car.effective(), 0);
        car.set_connected(40_000, true);
        car.advance(54_999);
        assert_eq!(car.effective(), 0);
        car.advance(55_000);
        assert_eq!(car.effective(), 100);
        car.set_full(60_000, true);
        assert_eq!(car.power_w(), 0.0);
    }
}
