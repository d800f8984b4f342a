//! The seam between the simulator and the controllers it compares.

/// One measurement as the simulator hands it to a policy (every `meas_period`, default 10 s).
///
/// All powers in W. `grid_w` is `house + car - pv` (`- battery` with a home battery), positive =
/// import.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// Grid power, W, + import / - export.
    pub grid_w: f64,
    /// PV production, W.
    pub pv_w: f64,
    /// House consumption without the car, W.
    pub house_w: f64,
    /// Car power, W (phases x 230 V x effective current).
    pub car_w: f64,
    /// Per-phase car current in A (effective current on each used phase).
    pub car_current_a: f64,
    /// Home battery power, W, + discharging / - charging (only with a modelled battery).
    pub battery_w: Option<f64>,
    /// Home battery state of charge, percent (only with a modelled battery).
    pub battery_soc: Option<f64>,
}

/// A charging-current policy under test.
///
/// The simulator calls [`Policy::step`] once per simulated second, in order, with `reading` set
/// at the seconds a measurement arrives. A returned `Some(d)` is a write of `d` tenths of an
/// ampere to register 261 (0 = stop); `None` writes nothing.
pub trait Policy {
    /// The policy's name, as given to `--policy` (`sunfill`, `seed`, `threshold-delay`).
    fn name(&self) -> &'static str;

    /// Advances to `now_s` (seconds since the scenario's start).
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16>;
}
