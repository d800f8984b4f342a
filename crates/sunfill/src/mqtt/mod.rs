//! MQTT: the only part of sunfill that knows topics, payloads and brokers.
//!
//! # Layout
//! - [`broker`]: the broker address (`mqtt://host:1883`, `mqtts://host:8883`) and connection
//!   settings resolved from the config file (CA, client certificate, user, password).
//! - [`tls`]: the rustls client configuration (ring provider, TLS 1.2+), with a verifier that
//!   records *why* a broker certificate was refused so that the error can say so.
//! - [`error`]: [`Error`], one enum for the layer; each message names the broker, what went
//!   wrong and what to do.
//! - [`link`]: the connection task: connect, reconnect with backoff and jitter, last will,
//!   `online` on connect, resubscribe on every ConnAck.
//! - [`inputs`]: site readings (grid, PV, house, battery, SoC) bound to topics; pure functions.
//! - [`outputs`]: retained state topics and `.../set` commands; pure functions.
//! - [`discovery`]: Home Assistant MQTT discovery for one device.
//!
//! **Invariant:** everything except [`link`] and [`broker::connect_once`] is free of I/O and
//! tested without a broker; the integration tests in `tests/mqtt.rs` run a real Mosquitto.

pub mod backoff;
pub mod broker;
pub mod discovery;
pub mod error;
pub mod inputs;
pub mod link;
pub mod outputs;
pub mod tls;

pub use broker::{Broker, Scheme, Settings};
pub use error::{AuthFailure, Error, TlsFailure};
