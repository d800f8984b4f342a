//! The hub between the daemon and its observers.
//!
//! The daemon (one task per loadpoint plus the MQTT link) is the only writer of the [`View`]: it
//! publishes a new one whenever something changes. The web server, the Prometheus metrics and
//! the store only read it. Changes from the web come back as [`UiCommand`]s with a reply
//! channel; the daemon validates them with the same parser as the MQTT `.../set` commands, so
//! both paths accept exactly the same values and answer with the same messages.

use serde::Serialize;
use sunfill_core::control::yardstick::Yardstick;
use tokio::sync::{mpsc, oneshot, watch};

/// What one loadpoint is doing, as shown to people and machines.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LoadpointView {
    /// The loadpoint's name (also its MQTT topic segment).
    pub name: String,
    /// Mode: `off`, `pv`, `minpv`, `now` or `fixed`.
    pub mode: String,
    /// The current of mode `fixed`, A.
    pub fixed_current_a: f64,
    /// Smallest charging current, A.
    pub min_current_a: f64,
    /// Largest charging current, A.
    pub max_current_a: f64,
    /// The current the wallbox was last told (0 = not charging), A.
    pub setpoint_a: f64,
    /// Phases the car charges on.
    pub phases: u8,
    /// `disconnected`, `connected`, `charging`, `error` or `unknown`.
    pub vehicle: String,
    /// Whether the wallbox answers.
    pub wallbox_online: bool,
    /// Power into the car, W.
    pub power_w: f64,
    /// Energy of the current (or last) session, kWh, from the wallbox's own counter.
    pub session_energy_kwh: f64,
    /// Of that, solar energy, kWh.
    pub session_solar_kwh: f64,
    /// The wallbox's energy counter since installation, kWh.
    pub total_energy_kwh: f64,
    /// The controller's reason, in words.
    pub reason: String,
    /// The reason as a stable code (for automations), e.g. `holding`.
    pub reason_code: String,
    /// This session in `pv` and `minpv` mode beside a classic threshold/delay controller on the
    /// same readings.
    pub vs_classic: VsClassic,
}

/// sunfill's charging session beside what a classic threshold/delay controller (start after
/// 60 s of surplus, stop after 180 s without) would have done on the same readings. Both sides
/// come from the controller's own books (10 s readings), so they compare like with like; they
/// can differ a little from the wallbox's counters. Zero until the first solar decision; a new
/// session starts when the car is unplugged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct VsClassic {
    /// Solar energy sunfill put into the car, kWh.
    pub solar_kwh: f64,
    /// Grid energy sunfill put into the car, kWh.
    pub grid_kwh: f64,
    /// Starts sunfill made.
    pub starts: u32,
    /// Solar energy the classic controller would have put into the car, kWh.
    pub classic_solar_kwh: f64,
    /// Grid energy the classic controller would have put into the car, kWh.
    pub classic_grid_kwh: f64,
    /// Starts the classic controller would have made.
    pub classic_starts: u32,
}

impl From<&Yardstick> for VsClassic {
    fn from(y: &Yardstick) -> Self {
        let (grid_wh, classic_grid_wh) = y.imports_wh();
        let (starts, classic_starts) = y.starts();
        let classic_solar_wh = y.reference_wh();
        // Whole Wh: the yardstick hands its sums out as f32, and the digits beyond a Wh that
        // widening to f64 shows are noise.
        let kwh = |wh: f32| f64::from(wh.max(0.0)).round() / 1000.0;
        VsClassic {
            solar_kwh: kwh(classic_solar_wh - y.behind_wh()),
            grid_kwh: kwh(grid_wh),
            starts: starts.max(0.0).round() as u32,
            classic_solar_kwh: kwh(classic_solar_wh),
            classic_grid_kwh: kwh(classic_grid_wh),
            classic_starts: classic_starts.max(0.0).round() as u32,
        }
    }
}

/// The site's power flows; `None` where a reading is missing or stale.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SiteView {
    /// PV production, W.
    pub pv_w: Option<f64>,
    /// House load without the car, W.
    pub house_w: Option<f64>,
    /// Grid, W, + import / - export.
    pub grid_w: Option<f64>,
    /// Home battery, W, + discharging / - charging.
    pub battery_w: Option<f64>,
    /// Home battery state of charge, %.
    pub battery_soc: Option<f64>,
}

/// Everything the daemon knows, at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct View {
    /// When this view was made, Unix milliseconds.
    pub at_unix_ms: i64,
    /// Whether the MQTT broker is connected.
    pub mqtt_connected: bool,
    /// The site.
    pub site: SiteView,
    /// The loadpoints, in configuration order.
    pub loadpoints: Vec<LoadpointView>,
}

/// A change requested from the web UI or API. `key` and `value` are exactly those of the MQTT
/// command topics (`mode` = `pv`, `max_current` = `10.5`, ...).
#[derive(Debug)]
pub struct UiCommand {
    /// The loadpoint's name.
    pub loadpoint: String,
    /// `mode`, `min_current`, `max_current`, `fixed_current` or `battery_priority_soc`.
    pub key: String,
    /// The value as text.
    pub value: String,
    /// The answer: `Ok` once applied, or why it was rejected (nothing changed then).
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// The daemon's end of the hub.
#[derive(Debug)]
pub struct DaemonSide {
    /// Publish a new [`View`] here.
    pub view: watch::Sender<View>,
    /// Receive UI commands here.
    pub commands: mpsc::Receiver<UiCommand>,
}

/// The observers' end of the hub; cheap to clone.
#[derive(Clone, Debug)]
pub struct ObserverSide {
    /// The latest view; `changed()` wakes on every new one.
    pub view: watch::Receiver<View>,
    /// Send UI commands here.
    pub commands: mpsc::Sender<UiCommand>,
}

impl ObserverSide {
    /// Sends a command and waits for the daemon's answer.
    pub async fn command(&self, loadpoint: &str, key: &str, value: &str) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        let cmd = UiCommand {
            loadpoint: loadpoint.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| "sunfill is shutting down; try again".to_string())?;
        answer
            .await
            .map_err(|_| "sunfill is shutting down; try again".to_string())?
    }
}

/// A new hub with an empty view.
pub fn hub() -> (DaemonSide, ObserverSide) {
    let (view_tx, view_rx) = watch::channel(View::default());
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    (
        DaemonSide {
            view: view_tx,
            commands: cmd_rx,
        },
        ObserverSide {
            view: view_rx,
            commands: cmd_tx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_gets_the_daemons_answer() {
        let (mut daemon, observer) = hub();
        let task = tokio::spawn(async move {
            let c = daemon.commands.recv().await.unwrap();
            assert_eq!((c.key.as_str(), c.value.as_str()), ("mode", "now"));
            c.reply.send(Err("no".into())).unwrap();
        });
        assert_eq!(
            observer.command("garage", "mode", "now").await,
            Err("no".into())
        );
        task.await.unwrap();
    }

    #[test]
    fn the_comparison_is_in_whole_watt_hours() {
        use sunfill_core::control::yardstick::Site;
        use sunfill_core::{Duration, Instant};
        let site = Site {
            min_w: 4140,
            max_w: 11_040,
            lag: Duration::from_secs(15),
            half_life: Duration::ZERO,
        };
        let mut y = Yardstick::new();
        // Ten minutes of 5.3 kW surplus, read every 10 s, sunfill's car drawing 5 kW.
        for k in 0..60 {
            y.update(Instant::from_secs(10 * k), 5_300, 5_000, &site);
        }
        let v = VsClassic::from(&y);
        for x in [
            v.solar_kwh,
            v.classic_solar_kwh,
            v.grid_kwh,
            v.classic_grid_kwh,
        ] {
            assert_eq!(x, (x * 1000.0).round() / 1000.0, "{v:?}");
        }
        assert!(v.solar_kwh > 0.7 && v.solar_kwh < 0.9, "{v:?}");
        assert!(v.classic_solar_kwh > 0.5, "{v:?}");
    }
}
