//! sunfill's own controller as a simulator [`Policy`]: the very same [`Controller`] the daemon runs,
//! fed the simulator's measurements as Home Assistant and the wallbox would deliver them.

use crate::policy::{Measurement, Policy};
use sunfill_core::control::{
    BatteryPolicy, Config, Controller, Input, PhaseConfig, Reason, VehicleState, WallboxReading,
};
use sunfill_core::{Deciamps, Instant};

/// The `sunfill` policy.
#[derive(Clone, Debug)]
pub struct SunfillPolicy {
    ctl: Controller,
    phases: u8,
    last_reason: Option<Reason>,
}

impl SunfillPolicy {
    /// sunfill with its default configuration, told the car's phase count as a user would be.
    pub fn new(phases: u8) -> Self {
        Self::with_battery(phases, BatteryPolicy::default())
    }

    /// The same, sharing the sun with a home battery by `battery`.
    pub fn with_battery(phases: u8, battery: BatteryPolicy) -> Self {
        let config = Config {
            phases: if phases == 1 {
                PhaseConfig::One
            } else {
                PhaseConfig::Three
            },
            battery,
            ..Config::default()
        };
        Self::with_config(config, phases)
    }

    /// sunfill with an explicit configuration (for experiments with the tuning).
    pub fn with_config(config: Config, phases: u8) -> Self {
        SunfillPolicy {
            ctl: Controller::new(config),
            phases,
            last_reason: None,
        }
    }

    /// The reason of the controller's latest decision, if it has decided yet.
    pub fn last_reason(&self) -> Option<Reason> {
        self.last_reason
    }

    /// The controller inside, for inspection in tests.
    pub fn controller(&self) -> &Controller {
        &self.ctl
    }

    /// The controller inside, to change its configuration between steps (experiments).
    pub fn controller_mut(&mut self) -> &mut Controller {
        &mut self.ctl
    }
}

fn watts(x: f64) -> i32 {
    if x.is_finite() {
        x.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
    } else {
        0
    }
}

impl Policy for SunfillPolicy {
    fn name(&self) -> &'static str {
        "sunfill"
    }

    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let now = Instant::from_secs(now_s);
        if let Some(m) = reading {
            self.ctl.update(now, Input::Grid(watts(m.grid_w)));
            self.ctl.update(now, Input::Pv(watts(m.pv_w)));
            self.ctl
                .update(now, Input::House(watts(m.house_w + m.car_w)));
            if let Some(b) = m.battery_w {
                self.ctl.update(now, Input::Battery(watts(b)));
            }
            if let Some(soc) = m.battery_soc {
                // Whole percent, as Home Assistant shows a Powerwall's charge.
                let pct = if soc.is_finite() {
                    soc.floor().clamp(0.0, 100.0)
                } else {
                    0.0
                };
                self.ctl.update(now, Input::BatterySoc(pct as u8));
            }
            let amps = Deciamps((m.car_current_a * 10.0).round().clamp(0.0, 1000.0) as u16);
            let mut currents = [Deciamps::ZERO; 3];
            for c in currents.iter_mut().take(self.phases as usize) {
                *c = amps;
            }
            self.ctl.update(
                now,
                Input::Wallbox(WallboxReading {
                    power_w: watts(m.car_w),
                    currents,
                    voltages: [230; 3],
                    state: if m.car_w > 0.0 {
                        VehicleState::Charging
                    } else {
                        VehicleState::Connected
                    },
                }),
            );
        }
        let due = self.ctl.poll_at().is_some_and(|t| t <= now);
        if reading.is_some() || due {
            let d = self.ctl.step(now);
            self.last_reason = Some(d.reason);
            if d.changed {
                return Some(d.current.0);
            }
        }
        None
    }
}
