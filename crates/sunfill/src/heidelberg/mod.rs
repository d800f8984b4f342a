//! The Heidelberg Energy Control driver: Modbus RTU/TCP via `tokio-modbus`.
//!
//! Register numbers live in `sunfill_core::heidelberg` (decoding and encoding) and here (which
//! blocks to read and write); nowhere else.
//!
//! # Layout
//! - [`url`]: port URLs (`rtu:///dev/ttyUSB0`, `tcp://host:502`, `rtutcp://host:port`).
//! - [`error`]: the driver's [`Error`](error::Error); each message names port, unit, register and what to check.
//! - [`bus`]: one task per bus, serialising transactions; timeouts, retries, pauses, reconnects.
//! - [`wallbox`]: one box: start-up, readings, confirmed writes, and the loadpoint loop.
//! - [`server`]: the simulated box behind a Modbus server, with fault injection.
//! - [`bench`](mod@bench): `sunfill bench modbus`, and the pty pair (socat) used by it and the tests.
//! - [`cmd`]: the `wallbox`, `sim-wallbox` and `bench modbus` commands.

pub mod bench;
pub mod bus;
pub mod cmd;
pub mod error;
pub mod server;
pub mod url;
pub mod wallbox;

#[cfg(test)]
mod tests;
