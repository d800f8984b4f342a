//! Units the core works in: currents in tenths of an ampere, power in watts.
//!
//! Integer arithmetic throughout, so the core needs no floating-point library on a Cortex-M0+.

use core::fmt;

/// A charging current in tenths of an ampere, the unit of Heidelberg register 261.
///
/// `Deciamps(0)` means "do not charge"; a charging current is 6.0..=16.0 A, i.e. 60..=160.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deciamps(pub u16);

impl Deciamps {
    /// Zero: the car must not charge.
    pub const ZERO: Deciamps = Deciamps(0);
    /// The smallest current IEC 61851 allows a car to draw: 6.0 A.
    pub const MIN_CHARGING: Deciamps = Deciamps(60);
    /// The largest current a Heidelberg Energy Control offers: 16.0 A.
    pub const MAX_HEIDELBERG: Deciamps = Deciamps(160);

    /// Builds a current from whole amperes.
    pub const fn from_amps(amps: u16) -> Self {
        Deciamps(amps.saturating_mul(10))
    }

    /// True for zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Power in watts that this current gives at `volts` per phase on `phases` phases.
    pub const fn watts(self, volts: u16, phases: u8) -> i32 {
        (self.0 as i32) * (volts as i32) * (phases as i32) / 10
    }

    /// The largest current whose power at `volts` x `phases` does not exceed `watts`
    /// (rounded down to 0.1 A; zero for zero or negative power).
    pub const fn floor_from_watts(watts: i32, volts: u16, phases: u8) -> Self {
        let per_deciamp = (volts as i32) * (phases as i32);
        if watts <= 0 || per_deciamp <= 0 {
            return Deciamps(0);
        }
        let d = (watts as i64) * 10 / (per_deciamp as i64);
        if d > u16::MAX as i64 {
            Deciamps(u16::MAX)
        } else {
            Deciamps(d as u16)
        }
    }
}

impl fmt::Display for Deciamps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} A", self.0 / 10, self.0 % 10)
    }
}

/// Formats watts as kW with one decimal ("3.1 kW"), or W below 1 kW, for reasons and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Power(pub i32);

impl fmt::Display for Power {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.0;
        if w.unsigned_abs() >= 1000 {
            let sign = if w < 0 { "-" } else { "" };
            let a = w.unsigned_abs();
            let tenths = (a + 50) / 100;
            write!(f, "{}{}.{} kW", sign, tenths / 10, tenths % 10)
        } else {
            write!(f, "{} W", w)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_power_round_trip() {
        assert_eq!(Deciamps(60).watts(230, 3), 4140);
        assert_eq!(Deciamps::floor_from_watts(4140, 230, 3), Deciamps(60));
        assert_eq!(Deciamps::floor_from_watts(4139, 230, 3), Deciamps(59));
        assert_eq!(Deciamps::floor_from_watts(-5, 230, 1), Deciamps(0));
    }

    #[test]
    fn display() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(Deciamps(85).to_string(), "8.5 A");
        assert_eq!(Power(3125).to_string(), "3.1 kW");
        assert_eq!(Power(-450).to_string(), "-450 W");
    }
}
