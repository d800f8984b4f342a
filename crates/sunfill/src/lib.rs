//! sunfill, the service: Home Assistant over MQTT in, wallbox commands out.
//!
//! # Layout
//! - [`mqtt`]: broker connection (TLS, client certificates), site inputs, state, commands, Home
//!   Assistant discovery. The only module that knows topics.
//! - [`heidelberg`]: the Heidelberg Energy Control driver over Modbus RTU/TCP, the simulated
//!   box as a Modbus server, and the `wallbox`, `sim-wallbox` and `bench modbus` commands.
//! - [`hub`]: the view the daemon publishes and the commands the web UI sends back.
//! - [`config`]: the TOML config file; errors name the file, line and key.
//! - [`certs`]: `sunfill certs init/show`: a small CA for Mosquitto and its clients.
//! - [`check`]: `sunfill check`: walks DNS, TCP, TLS, login and subscriptions and explains failures.
//! - [`simulate`]: `sunfill simulate`: the replay benchmark of `sunfill-sim` as a command.
//! - [`commands`]: the async subcommands (`run`, `check`, `certs`, `ha`).
//! - [`store`]: SQLite: charging sessions (energy from the wallbox counter), per-minute history,
//!   runtime settings.
//! - [`web`]: the dashboard, the REST API (OpenAPI at `/api/openapi.json`) and `/metrics`.
//! - [`service`]: the MQTT side of the daemon: readings to the controller, state and discovery out.
//! - [`bench_mqtt`]: `sunfill bench mqtt`: latency and ingest of the service against a real
//!   Mosquitto over TLS.
//! - [`daemon`]: `sunfill run`: services, MQTT links, wallbox drivers and the hub in one loop.
//! - [`logging`]: tracing output, human or JSON.
//! - [`demo`]: `sunfill demo`: broker, simulated wallbox and a replayed solar day in one process.
#![forbid(unsafe_code)]

pub mod bench_mqtt;
pub mod certs;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod heidelberg;
pub mod hub;
pub mod logging;
pub mod mqtt;
pub mod service;
pub mod simulate;
pub mod store;
pub mod web;
