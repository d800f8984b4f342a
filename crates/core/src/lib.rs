//! The sans-IO control core of sunfill.
//!
//! Readings and the current time go in, a wallbox command and a reason come out. Nothing in this
//! crate does I/O, reads a clock, allocates or panics on input: the daemon, the replay simulator,
//! the demo and a future Pico W firmware all drive the same [`control::Controller`].
//!
//! # Layout
//! - [`time`]: the core's own [`time::Instant`] and [`time::Duration`] (milliseconds, passed in).
//! - [`units`]: [`units::Deciamps`], the wallbox's current unit, and power helpers.
//! - [`control`]: modes, configuration, the controller state machine and its [`control::Reason`]s.
//! - [`heidelberg`]: the wallbox's register map; raw words in, validated readings out.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod control;
pub mod heidelberg;
pub mod time;
pub mod units;

pub use control::{Config, Controller, Decision, Input, Mode, Reason};
pub use time::{Duration, Instant};
pub use units::Deciamps;
