//! The replay simulator of `../shared/docs/BENCHMARK.md`: a site trace, a wallbox and a car, the
//! benchmark metrics, and the baseline policies beside sunfill's own.
//!
//! # Layout
//! - [`policy`]: the [`policy::Policy`] trait every controller under test implements.
//! - [`car`]: the car behind the wallbox: setpoint writes in, drawn current out, with delays.
//! - [`wallbox`]: a Heidelberg Energy Control with that car behind it, answering Modbus PDUs
//!   (time passed in), shared by `sunfill sim-wallbox` and the replay simulator.
//! - [`modbus`]: RTU/TCP server framing without I/O, for the simulated box.
//! - `sunfill_policy`: sunfill's core controller behind that trait.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod car;
pub mod modbus;
pub mod policy;
pub mod sunfill_policy;
pub mod wallbox;
