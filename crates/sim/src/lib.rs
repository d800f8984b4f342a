//! The replay simulator of `../shared/docs/BENCHMARK.md`: a site trace, a wallbox and a car, the
//! benchmark metrics, and the baseline policies beside sunfill's own.
//!
//! # Layout
//! - [`scenario`]: the scenario CSV reader (one row of PV and house power per minute).
//! - [`recorded`]: a site's own recorded minutes (the daemon's store) as scenarios.
//! - [`ha_history`]: Home Assistant's history export (CSV) as such minutes.
//! - [`battery`]: a home battery in self-consumption mode, for replays with `--home-battery`.
//! - [`car`]: the car behind the wallbox: setpoint writes in, drawn current out, with delays.
//! - [`wallbox`]: a Heidelberg Energy Control with that car behind it, answering Modbus PDUs
//!   (time passed in), shared by `sunfill sim-wallbox` and the replay simulator.
//! - [`modbus`]: RTU/TCP server framing without I/O, for the simulated box.
//! - [`model`]: the site replayed second by second, measurements to the policy, the metrics.
//! - [`policy`]: the [`policy::Policy`] trait every controller under test implements.
//! - [`seed`], [`threshold_delay`]: the two baseline policies of the benchmark.
//! - `sunfill_policy`: sunfill's core controller behind that trait.
//! - [`runner`]: many policies x scenarios x phase counts, in parallel.
//! - [`goal`]: the benchmark's goal check of sunfill against the baselines.
//! - [`plot`]: an SVG of runs (PV, house, car, grid), one panel per policy.
//!
//! **Invariant:** nothing here prints or reads a clock; the library does file I/O only in
//! [`scenario::Scenario::read`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod battery;
pub mod car;
pub mod generate;
pub mod goal;
pub mod ha_history;
pub mod modbus;
pub mod model;
pub mod plot;
pub mod policy;
pub mod recorded;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod sunfill_policy;
pub mod threshold_delay;
pub mod wallbox;
