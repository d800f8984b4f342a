//! The controller: what current should the car draw right now, and why.
//!
//! [`Controller`] is a pure state machine. The caller feeds it [`Input`]s stamped with the time
//! they were received, asks for a [`Decision`] with [`Controller::step`], and calls again no later
//! than [`Controller::poll_at`]. A decision carries the setpoint and a [`Reason`] whose `Display`
//! is the sentence shown to people.

mod config;
pub mod outlook;
mod reason;
mod state;
pub mod yardstick;

pub use config::{BatteryPolicy, Config, ConfigError, MaxAge, PhaseConfig, Tuning};
pub use reason::{Reason, Stale};
pub use state::{Controller, Decision};

use crate::time::Instant;
use crate::units::Deciamps;
use core::fmt;

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Never charge.
    Off,
    /// Charge from solar surplus only (the default).
    #[default]
    Pv,
    /// Charge at least at the minimum current, more when there is surplus.
    MinPv,
    /// Charge at the maximum current now.
    Now,
    /// Charge at this fixed current (clamped to the configured limits).
    Fixed(Deciamps),
}

impl Mode {
    /// The mode's name as published and accepted by commands (`off`, `pv`, `minpv`, `now`, `fixed`).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Pv => "pv",
            Mode::MinPv => "minpv",
            Mode::Now => "now",
            Mode::Fixed(_) => "fixed",
        }
    }

    /// Whether this mode depends on fresh site readings (grid, PV) to decide.
    pub const fn needs_site(self) -> bool {
        matches!(self, Mode::Pv | Mode::MinPv)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Fixed(a) => write!(f, "fixed {}", a),
            m => f.write_str(m.name()),
        }
    }
}

/// The wallbox's charging state, as far as the controller cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VehicleState {
    /// Unknown (no reading yet).
    #[default]
    Unknown,
    /// No car plugged in (IEC 61851 state A).
    Disconnected,
    /// Car plugged in, not requesting power (state B).
    Connected,
    /// Car requesting power (state C, also derating).
    Charging,
    /// The wallbox reports an error (states E, F, error).
    Error,
}

/// What the wallbox measured: power, per-phase currents and voltages, state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WallboxReading {
    /// Active power into the car, W.
    pub power_w: i32,
    /// RMS current per phase L1..L3, in 0.1 A.
    pub currents: [Deciamps; 3],
    /// RMS voltage per phase L1..L3, V (0 where not measured).
    pub voltages: [u16; 3],
    /// The charging state.
    pub state: VehicleState,
}

/// One reading, as it arrives from the site or the wallbox.
///
/// Powers are in watts with these signs: grid `+` import / `-` export; battery `+` discharging /
/// `-` charging (the Tesla convention); PV and house `>= 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Grid meter power.
    Grid(i32),
    /// PV production.
    Pv(i32),
    /// House load (including the wallbox, as Home Assistant reports it).
    House(i32),
    /// Home battery power.
    Battery(i32),
    /// Home battery state of charge, whole percent.
    BatterySoc(u8),
    /// A wallbox reading.
    Wallbox(WallboxReading),
}

/// Which reading, for [`Controller::forget`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Grid meter power.
    Grid,
    /// PV production.
    Pv,
    /// House load.
    House,
    /// Home battery power.
    Battery,
    /// Home battery state of charge.
    BatterySoc,
    /// The wallbox reading.
    Wallbox,
}

impl Signal {
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A value together with the time it was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample<T> {
    /// The value.
    pub value: T,
    /// When it arrived.
    pub at: Instant,
}

#[cfg(test)]
mod tests;
