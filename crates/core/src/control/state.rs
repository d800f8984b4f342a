//! The controller state machine.

use super::config::{Config, PhaseConfig};
use super::outlook::{Outlook, Prices, TICK};
use super::reason::{Reason, Stale};
use super::yardstick::{Site, Yardstick};
use super::{Input, Mode, Sample, Signal, VehicleState, WallboxReading};
use crate::time::{Duration, Instant};
use crate::units::Deciamps;

/// How long after a start or a stop a wallbox reading that does not show the car following it is
/// taken as a car still changing over (cars take 5-30 s to start) rather than one that does
/// not follow (see [`Controller::settling`]).
const SETTLE: Duration = Duration::from_secs(60);

/// How much older than its arrival a grid reading may be (Home Assistant polls the meter or
/// inverter every few seconds; see [`Controller::settling`]).
const METER_LAG: Duration = Duration::from_secs(10);

/// What the controller wants the wallbox to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The setpoint for register 261: zero or `min_current..=max_current`.
    pub current: Deciamps,
    /// True when `current` differs from the previous decision (a write is due).
    pub changed: bool,
    /// Why.
    pub reason: Reason,
}

/// Where the solar policy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Solar {
    /// Not charging; `above_since` is when the surplus first reached the start level,
    /// `excess_ws` the surplus above the minimum power integrated since then (W*s) (both for the
    /// budget policy); `declined_at` the surplus at which the outlook last found a start not
    /// worth it (see [`Tuning::decide_on_news`]).
    Stopped {
        above_since: Option<Instant>,
        excess_ws: i64,
        declined_at: Option<i32>,
    },
    /// Charging; `held_at` is the surplus of the outlook's last hold decision, while holding
    /// (see [`Tuning::decide_on_news`]).
    Charging { held_at: Option<i32> },
}

impl Solar {
    /// Stopped, with nothing pending or remembered.
    const STOPPED: Solar = Solar::Stopped {
        above_since: None,
        excess_ws: 0,
        declined_at: None,
    };
    /// Charging, with no hold remembered.
    const CHARGING: Solar = Solar::Charging { held_at: None };
}

/// What a car drawing `car_w` takes from the grid when the surplus is `surplus_w`, W.
fn grid_w(car_w: i32, surplus_w: i32) -> i32 {
    (car_w - surplus_w.max(0)).max(0)
}

/// 2 to the power `x`, for |x| up to about 30 (no `libm` in `no_std`): exact at integers, linear
/// in between (within 6 %).
fn pow2(x: f32) -> f32 {
    // `as i32` truncates toward zero; step down for negative non-integers.
    let mut k = x as i32;
    if (k as f32) > x {
        k -= 1;
    }
    let frac = x - k as f32;
    let mut p = 1.0f32;
    while k > 0 {
        p *= 2.0;
        k -= 1;
    }
    while k < 0 {
        p *= 0.5;
        k += 1;
    }
    p * (1.0 + frac)
}

/// The sans-IO controller. See the [module docs](super).
#[derive(Clone, Debug)]
pub struct Controller {
    config: Config,
    mode: Mode,
    grid: Option<Sample<i32>>,
    pv: Option<Sample<i32>>,
    house: Option<Sample<i32>>,
    battery: Option<Sample<i32>>,
    soc: Option<Sample<u8>>,
    wallbox: Option<Sample<WallboxReading>>,
    /// The latest wallbox reading's car power when the grid was last read, W, and when the
    /// wallbox was read.
    car_at_grid: Option<Sample<i32>>,
    measured_phases: Option<u8>,
    /// Readings the source withdrew (one bit per [`Signal`]), until a value arrives again.
    withdrawn: u8,
    /// A battery reading has been seen: the site has a home battery.
    has_battery: bool,
    battery_buffer: bool,
    /// At the last surplus: the battery, below its priority state of charge, was discharging,
    /// so that power the car draws beyond the surplus would come from it: `(soc, priority)`.
    battery_first: Option<(u8, u8)>,
    solar: Solar,
    setpoint: Deciamps,
    /// When the setpoint last switched between zero and charging.
    switched_at: Option<Instant>,
    /// When the wallbox first showed the car in its current state (drawing or not; see
    /// [`Controller::car_on`]).
    car_state_since: Option<Instant>,
    last_step: Option<Instant>,
    last_surplus_w: Option<i32>,
    /// The import budget's content, W*s (see [`Tuning`](super::Tuning)).
    credit_ws: i64,
    last_stop: Option<Instant>,
    /// The learned mean length of this site's dips, ms (see [`Tuning::dip_learn`]).
    dip_mean_ms: u64,
    wake_at: Option<Instant>,
    /// Surplus (W, at most the maximum power) when last tracking at or above the minimum: the
    /// level the sun is expected to come back to after a dip.
    sun_w: i32,
    /// What the surplus is likely to do next (see [`outlook`](super::outlook)).
    outlook: Outlook,
    /// Since when the surplus has been on its current side of the minimum power, and which side
    /// (true: at or above).
    spell: Option<(Instant, bool)>,
    /// What the classic controller would have done (see [`yardstick`](super::yardstick)).
    yardstick: Yardstick,
}

impl Controller {
    /// A controller in mode `pv`, stopped, with no readings.
    pub fn new(config: Config) -> Self {
        Controller {
            config,
            mode: Mode::default(),
            grid: None,
            pv: None,
            house: None,
            battery: None,
            soc: None,
            wallbox: None,
            car_at_grid: None,
            measured_phases: None,
            withdrawn: 0,
            has_battery: false,
            battery_buffer: false,
            battery_first: None,
            solar: Solar::STOPPED,
            setpoint: Deciamps::ZERO,
            switched_at: None,
            car_state_since: None,
            last_step: None,
            last_surplus_w: None,
            credit_ws: 0,
            last_stop: None,
            dip_mean_ms: config.tuning.dip_mean_secs as u64 * 1000,
            wake_at: None,
            sun_w: 0,
            outlook: Outlook::new(),
            spell: None,
            yardstick: Yardstick::new(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the configuration (limits, battery bands, ...); takes effect at the next step.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Changes the mode; takes effect at the next step.
    pub fn set_mode(&mut self, mode: Mode) {
        if mode != self.mode {
            self.mode = mode;
            if !self.setpoint.is_zero() {
                self.solar = Solar::CHARGING;
            } else {
                self.solar = Solar::STOPPED;
            }
        }
    }

    /// The setpoint of the last decision.
    pub fn setpoint(&self) -> Deciamps {
        self.setpoint
    }

    /// Withdraws a reading whose source said it has no value (Home Assistant's `unknown`,
    /// `unavailable`, an implausible number): from now on it counts as missing, so `pv` stops at
    /// the next step instead of using the last value until it ages out. A new value restores it.
    pub fn forget(&mut self, signal: Signal) {
        match signal {
            Signal::Grid => self.grid = None,
            Signal::Pv => self.pv = None,
            Signal::House => self.house = None,
            Signal::Battery => self.battery = None,
            Signal::BatterySoc => self.soc = None,
            Signal::Wallbox => self.wallbox = None,
        }
        self.withdrawn |= signal.bit();
    }

    /// Records a reading received at `now`.
    pub fn update(&mut self, now: Instant, input: Input) {
        let signal = match input {
            Input::Grid(_) => Signal::Grid,
            Input::Pv(_) => Signal::Pv,
            Input::House(_) => Signal::House,
            Input::Battery(_) => Signal::Battery,
            Input::BatterySoc(_) => Signal::BatterySoc,
            Input::Wallbox(_) => Signal::Wallbox,
        };
        self.withdrawn &= !signal.bit();
        match input {
            Input::Grid(w) => {
                self.grid = Some(Sample { value: w, at: now });
                self.car_at_grid = self.wallbox.map(|w| Sample {
                    value: w.value.power_w,
                    at: w.at,
                });
            }
            Input::Pv(w) => self.pv = Some(Sample { value: w, at: now }),
            Input::House(w) => self.house = Some(Sample { value: w, at: now }),
            Input::Battery(w) => {
                self.has_battery = true;
                self.battery = Some(Sample { value: w, at: now });
            }
            Input::BatterySoc(p) => self.soc = Some(Sample { value: p, at: now }),
            Input::Wallbox(r) => {
                let phases = r.currents.iter().filter(|a| a.0 >= 10).count() as u8;
                if r.power_w > 0 && phases > 0 {
                    self.measured_phases = Some(if phases >= 2 { 3 } else { 1 });
                }
                let was_on = self.wallbox.map(|w| self.car_on(w.value.power_w));
                if was_on != Some(self.car_on(r.power_w)) {
                    self.car_state_since = Some(now);
                }
                self.wallbox = Some(Sample { value: r, at: now });
                // Read at the same moment as the grid: part of the same picture.
                if self.grid.is_some_and(|g| g.at == now) {
                    self.car_at_grid = Some(Sample {
                        value: r.power_w,
                        at: now,
                    });
                }
            }
        }
    }

    /// The latest time by which [`step`](Self::step) should be called again, if a timer runs.
    pub fn poll_at(&self) -> Option<Instant> {
        self.wake_at
    }

    /// Phases the car charges on (configured, measured, or the fallback).
    pub fn phases(&self) -> u8 {
        match self.config.phases {
            PhaseConfig::One => 1,
            PhaseConfig::Three => 3,
            PhaseConfig::Auto => self.measured_phases.unwrap_or(self.config.fallback_phases),
        }
    }

    /// Voltage per phase: the wallbox's measured average if plausible, else the nominal voltage.
    pub fn voltage(&self) -> u16 {
        if let Some(s) = self.wallbox {
            let (sum, n) = s
                .value
                .voltages
                .iter()
                .filter(|v| (180..=260).contains(*v))
                .fold((0u32, 0u32), |(s, n), v| (s + *v as u32, n + 1));
            if let Some(avg) = sum.checked_div(n) {
                return avg as u16;
            }
        }
        self.config.nominal_voltage
    }

    fn fresh<T: Copy>(
        &self,
        now: Instant,
        s: Option<Sample<T>>,
        max_age: Duration,
        signal: Signal,
        input: &'static str,
    ) -> Result<T, Stale> {
        match s {
            Some(s) if now.saturating_since(s.at) <= max_age => Ok(s.value),
            Some(s) => Err(Stale {
                input,
                age: Some(now.saturating_since(s.at)),
                max_age,
                unavailable: false,
            }),
            None => Err(Stale {
                input,
                age: None,
                max_age,
                unavailable: self.withdrawn & signal.bit() != 0,
            }),
        }
    }

    /// Surplus available to the car (W), after the battery policy; an error names a stale input.
    pub fn surplus(&mut self, now: Instant) -> Result<i32, Stale> {
        let ages = self.config.max_age;
        let grid = self.fresh(now, self.grid, ages.grid, Signal::Grid, "grid")?;
        let wallbox = self.fresh(now, self.wallbox, ages.wallbox, Signal::Wallbox, "wallbox")?;
        // The grid reading counts the car at what it drew then. A wallbox reading newer than the
        // grid reading would count a change of the car's power twice (just after a start, the
        // car's new draw plus the export it has not yet taken away: twice the sun), so the car
        // is taken from the wallbox reading that was the latest when the grid was read (see
        // `update`; with no wallbox reading then, from the latest).
        let car_w = self.car_at_grid.map_or(wallbox.power_w, |c| c.value);
        let raw = car_w.saturating_sub(grid);
        // A site that has shown a battery must keep showing it: without the reading, battery
        // discharge into the car would be invisible.
        let battery = if self.has_battery {
            Some(self.fresh(now, self.battery, ages.battery, Signal::Battery, "battery")?)
        } else {
            None
        };
        let soc = self
            .fresh(
                now,
                self.soc,
                ages.battery,
                Signal::BatterySoc,
                "battery SoC",
            )
            .ok();
        let policy = self.config.battery;
        self.battery_first = None;
        let Some(b) = battery else {
            return Ok(raw);
        };
        // Without a fresh SoC the battery is treated as below its priority level.
        let soc = soc.unwrap_or(0);
        // A discharge above the noise of an idle battery's reading.
        if soc < policy.priority_soc && b > 50 {
            self.battery_first = Some((soc, policy.priority_soc));
        }
        if soc >= policy.buffer_soc {
            self.battery_buffer = true;
        } else if soc < policy.buffer_soc.saturating_sub(5) || soc < policy.priority_soc {
            self.battery_buffer = false;
        }
        Ok(if soc < policy.priority_soc {
            raw.saturating_sub(b.max(0))
        } else if self.battery_buffer {
            raw.saturating_sub(b)
                .saturating_add(policy.max_discharge_w.max(0))
        } else {
            raw.saturating_sub(b)
        })
    }

    /// Decides the setpoint at `now`.
    pub fn step(&mut self, now: Instant) -> Decision {
        let dt = self
            .last_step
            .map(|t| now.saturating_since(t))
            .unwrap_or(Duration::ZERO);
        self.last_step = Some(now);
        self.wake_at = None;
        let (current, reason) = self.decide(now, dt);
        let changed = current != self.setpoint;
        if current.is_zero() != self.setpoint.is_zero() {
            self.switched_at = Some(now);
        }
        self.setpoint = current;
        Decision {
            current,
            changed,
            reason,
        }
    }

    fn clamp(&self, a: Deciamps) -> Deciamps {
        let max = self.config.max_current.min(Deciamps::MAX_HEIDELBERG);
        let min = self.config.min_current.max(Deciamps::MIN_CHARGING).min(max);
        a.max(min).min(max)
    }

    fn stop(&mut self) {
        self.solar = Solar::STOPPED;
        self.last_surplus_w = None;
    }

    /// The surplus is under the minimum current while charging: in `minpv` the minimum holds;
    /// with the home battery below its priority level feeding the car, the car stops rather
    /// than drain the battery into it. `None`: whether to hold the dip is the policy's choice.
    fn below_minimum(
        &mut self,
        now: Instant,
        surplus_w: i32,
        min: Deciamps,
    ) -> Option<(Deciamps, Reason)> {
        if self.mode == Mode::MinPv {
            return Some((
                min,
                Reason::MinPvFloor {
                    current: min,
                    surplus_w,
                },
            ));
        }
        let (soc, priority_soc) = self.battery_first?;
        self.last_stop = Some(now);
        self.stop();
        Some((
            Deciamps::ZERO,
            Reason::BatteryFirst {
                surplus_w,
                soc,
                priority_soc,
            },
        ))
    }

    fn decide(&mut self, now: Instant, dt: Duration) -> (Deciamps, Reason) {
        if self.mode == Mode::Off {
            self.stop();
            return (Deciamps::ZERO, Reason::Off);
        }
        if let Some(s) = self.wallbox {
            if now.saturating_since(s.at) <= self.config.max_age.wallbox {
                match s.value.state {
                    VehicleState::Disconnected => {
                        self.stop();
                        // The next car is a new session: the comparison starts afresh.
                        self.yardstick = Yardstick::new();
                        return (Deciamps::ZERO, Reason::NoCar);
                    }
                    VehicleState::Error => {
                        self.stop();
                        return (Deciamps::ZERO, Reason::WallboxError);
                    }
                    _ => {}
                }
            }
        }
        match self.mode {
            Mode::Now => {
                let a = self.clamp(self.config.max_current);
                self.solar = Solar::CHARGING;
                return (a, Reason::Now(a));
            }
            Mode::Fixed(a) => {
                let a = self.clamp(a);
                self.solar = Solar::CHARGING;
                return (a, Reason::Fixed(a));
            }
            _ => {}
        }
        let surplus = match self.surplus(now) {
            Ok(s) => s,
            Err(stale) => {
                return if self.mode == Mode::MinPv {
                    self.solar = Solar::CHARGING;
                    let a = self.clamp(Deciamps::ZERO);
                    (a, Reason::StaleMin(stale))
                } else {
                    self.stop();
                    (Deciamps::ZERO, Reason::StaleStop(stale))
                };
            }
        };
        if let Some(since) = self.settling(now) {
            // Keep the setpoint. Only a new reading ends this (or makes the grid reading stale);
            // look again at the outlook's pace meanwhile.
            self.wake_at = Some(now + TICK);
            return (
                self.setpoint,
                Reason::Settling {
                    current: self.setpoint,
                    since,
                },
            );
        }
        self.solar_decision(now, dt, surplus)
    }

    /// Whether the car counts as drawing power: more than half the minimum power.
    fn car_on(&self, power_w: i32) -> bool {
        let min_w = self
            .clamp(Deciamps::ZERO)
            .watts(self.voltage(), self.phases());
        power_w > min_w / 2
    }

    /// Whether the grid reading and the car's power paired with it may disagree about the car,
    /// just after the setpoint switched between zero and charging (at most [`SETTLE`] before
    /// the grid reading). The grid meter's reading reaches sunfill later than it was taken
    /// (Home Assistant polls it), and the wallbox is polled on its own schedule, so around a
    /// start or a stop one may count the car's new power and the other its old: after a start
    /// a dip that is not there (and a stop), after a stop twice the sun (and a restart). The
    /// picture is trusted again once the wallbox shows the car following the setpoint and has
    /// shown it for [`METER_LAG`] before the grid reading arrived. Readings taken at the same
    /// moment are one picture and always trusted. Returns the time since the switch.
    fn settling(&self, now: Instant) -> Option<Duration> {
        let grid = self.grid?;
        let car = self.car_at_grid?;
        let switched = self.switched_at?;
        if car.at == grid.at || switched >= grid.at || grid.at.saturating_since(switched) >= SETTLE
        {
            return None;
        }
        let follows = self.car_on(car.value) != self.setpoint.is_zero();
        let seen_long_enough = self
            .car_state_since
            .is_some_and(|since| grid.at.saturating_since(since) >= METER_LAG);
        (!follows || !seen_long_enough).then(|| now.saturating_since(switched))
    }

    /// Start requirements now: (delay, excess surplus needed in W*s), after a recent stop or not.
    fn start_rule(&self, min_w: i32, after_stop: bool) -> (Duration, i64) {
        let t = self.config.tuning;
        let delay = if after_stop {
            t.restart_delay
        } else {
            t.start_delay
        };
        (delay, min_w as i64 * t.start_excess_secs as i64)
    }

    /// What a stop now would cost (W*s of solar) if the sun came back at `sun_w`: the start rule's
    /// wait after a stop plus the car's start delay at that surplus, plus the price of a start.
    fn restart_cost_ws(&self, min_w: i32) -> i64 {
        let t = self.config.tuning;
        let (delay, excess) = self.start_rule(min_w, t.restart_window > Duration::ZERO);
        let over = self.sun_w as i64 - min_w as i64;
        let by_excess = if excess <= 0 {
            0
        } else if over > 0 {
            excess * 1000 / over
        } else {
            i64::MAX / 4
        };
        let by_excess = if t.start_delay_max > Duration::ZERO {
            by_excess.min(t.start_delay_max.total_millis() as i64)
        } else {
            by_excess
        };
        let wait_ms = (delay.total_millis() as i64).max(by_excess).min(3_600_000);
        let lost = self.sun_w.max(0) as i64 * (wait_ms + t.car_start_secs as i64 * 1000) / 1000;
        lost + t.start_price_secs as i64 * min_w as i64
    }

    /// Moves the current spell (the surplus at or above the minimum power, or a dip below it) on
    /// to `now`; returns its age. Both policies read it: the outlook as the spell's age, the
    /// budget policy's dip learning when a dip ends.
    fn spell(&mut self, now: Instant, sunny: bool) -> Duration {
        let since = match self.spell {
            Some((since, side)) if side == sunny => since,
            Some((since, false)) => {
                self.learn_dip(now.saturating_since(since));
                now
            }
            _ => now,
        };
        self.spell = Some((since, sunny));
        now.saturating_since(since)
    }

    /// Learns how long this site's dips below the minimum power last: an exponential mean over
    /// the dips seen, charging or not, each counted at most `dip_cap_secs` (a night is one long
    /// dip, not a weather statistic). Dips are memoryless within a weather regime, but their mean
    /// differs a lot between regimes (cumulus: minutes; a 5-minute meter or an overcast spell:
    /// tens of minutes), and the mean prices how likely holding is to save a restart.
    fn learn_dip(&mut self, len: Duration) {
        let t = self.config.tuning;
        if t.dip_learn > 0 {
            let len = len.total_millis().min(t.dip_cap_secs as u64 * 1000) as i64;
            let mean = self.dip_mean_ms as i64;
            self.dip_mean_ms = (mean + (len - mean) / t.dip_learn as i64).max(1000) as u64;
        }
    }

    /// What the controller has learned about the surplus.
    pub fn outlook(&self) -> &Outlook {
        &self.outlook
    }

    /// How sunfill compares with the classic controller in this charging session.
    pub fn yardstick(&self) -> &Yardstick {
        &self.yardstick
    }

    /// The learned mean dip length.
    pub fn dip_mean(&self) -> Duration {
        Duration::from_millis(self.dip_mean_ms)
    }

    fn solar_decision(&mut self, now: Instant, dt: Duration, surplus: i32) -> (Deciamps, Reason) {
        let t = self.config.tuning;
        let volts = self.voltage();
        let phases = self.phases();
        let min = self.clamp(Deciamps::ZERO);
        let max = self.clamp(Deciamps::MAX_HEIDELBERG);
        let min_w = min.watts(volts, phases);
        let target =
            Deciamps::floor_from_watts(surplus.saturating_sub(t.track_margin_w), volts, phases);
        let prev_surplus = self.last_surplus_w.unwrap_or(surplus);
        self.last_surplus_w = Some(surplus);
        let age = self.spell(now, surplus >= min_w);
        if t.outlook {
            let car_w = self.wallbox.map(|w| w.value.power_w).unwrap_or(0);
            let site = Site {
                min_w,
                max_w: max.watts(volts, phases),
                lag: Duration::from_secs(t.car_start_secs as u64),
                half_life: t.yardstick_memory,
            };
            self.yardstick.update(now, surplus, car_w, &site);
            let prices = self.prices(volts, phases);
            self.outlook.observe(now, surplus, min_w, age, &prices);
            return self.outlook_decision(now, target, surplus, min_w, age, &prices);
        }

        match self.solar {
            Solar::Stopped {
                above_since,
                excess_ws,
                ..
            } => {
                if self.mode == Mode::MinPv {
                    self.solar = Solar::CHARGING;
                    return self.charging_setpoint(target, min, max, surplus);
                }
                if surplus >= min_w.saturating_add(t.start_margin_w) {
                    let since = above_since.unwrap_or(now);
                    let waited = now.saturating_since(since);
                    let recent_stop = self
                        .last_stop
                        .is_some_and(|s| now.saturating_since(s) < t.restart_window);
                    let (delay, excess_needed) = self.start_rule(min_w, recent_stop);
                    let excess_ws = if above_since.is_some() {
                        let dms = dt.total_millis().min(120_000) as i64;
                        excess_ws + (prev_surplus as i64 - min_w as i64).max(0) * dms / 1000
                    } else {
                        0
                    };
                    let patient = t.start_delay_max > Duration::ZERO && waited >= t.start_delay_max;
                    if waited >= delay && (excess_ws >= excess_needed || patient) {
                        self.solar = Solar::CHARGING;
                        self.sun_w = surplus.min(max.watts(volts, phases));
                        let grant = min_w as i64 * t.budget_start_secs as i64;
                        self.credit_ws = self.credit_ws.max(grant);
                        return self.charging_setpoint(target, min, max, surplus);
                    }
                    self.solar = Solar::Stopped {
                        above_since: Some(since),
                        excess_ws,
                        declined_at: None,
                    };
                    self.wake_at = Some(if waited < delay {
                        since + delay
                    } else {
                        // The excess still short: look again when it would be reached.
                        let rate = (surplus as i64 - min_w as i64).max(1);
                        let left_ms = (excess_needed - excess_ws).max(0) * 1000 / rate;
                        let by_excess = now + Duration::from_millis(left_ms.max(1000) as u64);
                        if t.start_delay_max > Duration::ZERO {
                            by_excess.min(since + t.start_delay_max)
                        } else {
                            by_excess
                        }
                    });
                    let remaining = Duration::from_millis(
                        delay.total_millis().saturating_sub(waited.total_millis()),
                    );
                    (
                        Deciamps::ZERO,
                        Reason::StartPending {
                            surplus_w: surplus,
                            remaining,
                        },
                    )
                } else {
                    self.waiting(surplus, min_w, phases)
                }
            }
            Solar::Charging { .. } => {
                // Book the last interval: the previous surplus and setpoint held since then.
                let dms = dt.total_millis().min(120_000) as i64;
                let car_w = self.setpoint.watts(volts, phases) as i64;
                let solar_w = car_w.min(prev_surplus.max(0) as i64);
                let import_w = car_w - solar_w;
                // Holding through a dip also earns the restart value rate: with memoryless dips each
                // second of holding saves the restart with chance 1 / mean dip length.
                let value_w = if prev_surplus < min_w && self.dip_mean_ms > 0 {
                    self.restart_cost_ws(min_w) * 1000 / self.dip_mean_ms as i64
                } else {
                    0
                };
                let earned = (solar_w + value_w) * t.earn_permille as i64 / 1000;
                let cap_ws = min_w as i64 * t.budget_cap_secs as i64;
                self.credit_ws = (self.credit_ws + (earned - import_w) * dms / 1000).min(cap_ws);
                if target >= min {
                    self.sun_w = surplus.min(max.watts(volts, phases));
                    return self.charging_setpoint(target, min, max, surplus);
                }
                if let Some(floor) = self.below_minimum(now, surplus, min) {
                    return floor;
                }
                if self.credit_ws <= 0 {
                    self.credit_ws = 0;
                    self.last_stop = Some(now);
                    self.stop();
                    return (
                        Deciamps::ZERO,
                        Reason::BudgetSpent {
                            surplus_w: surplus,
                            needed_w: min_w,
                        },
                    );
                }
                let rate_w = min_w as i64 - surplus as i64;
                if rate_w > 0 {
                    let left_ms = self.credit_ws * 1000 / rate_w;
                    self.wake_at = Some(now + Duration::from_millis(left_ms.max(1) as u64));
                }
                (
                    min,
                    Reason::Holding {
                        current: min,
                        surplus_w: surplus,
                        import_w: grid_w(min_w, surplus),
                    },
                )
            }
        }
    }

    /// The outlook's prices for the current site (see [`outlook`](super::outlook)).
    fn prices(&self, volts: u16, phases: u8) -> Prices {
        let t = self.config.tuning;
        let min_w = self.clamp(Deciamps::ZERO).watts(volts, phases).max(1);
        let max_w = self.clamp(Deciamps::MAX_HEIDELBERG).watts(volts, phases);
        let tick = TICK.total_millis().max(1) as f32;
        let mut weight = t.import_weight_permille as f32 / 1000.0;
        if t.steer_import_wh > 0 {
            let reference = self.yardstick.reference_wh();
            let short =
                self.yardstick.behind_wh() + reference * t.steer_target_permille as f32 / 1000.0;
            let scale =
                t.steer_import_wh as f32 + reference * t.steer_import_permille as f32 / 1000.0;
            weight *= pow2((-short / scale).clamp(-4.0, 4.0));
        }
        let mut start_wh = t.start_price_wh as f32;
        if t.steer_starts > 0 {
            let (ours, reference) = self.yardstick.starts();
            let over = ours - reference * t.steer_starts_permille as f32 / 1000.0;
            start_wh *= pow2((over / t.steer_starts as f32).clamp(-3.0, 3.0));
        }
        Prices {
            import_weight: weight,
            start_secs: start_wh * 3600.0 / min_w as f32,
            start_lag_secs: t.car_start_secs as f32,
            max_ratio: max_w as f32 / min_w as f32,
            memory_ticks: t.outlook_memory.total_millis() as f32 / tick,
            horizon_ticks: t.outlook_horizon.total_millis() as f32 / tick,
        }
    }

    /// Holds and starts as the outlook values them.
    fn outlook_decision(
        &mut self,
        now: Instant,
        target: Deciamps,
        surplus: i32,
        min_w: i32,
        age: Duration,
        prices: &Prices,
    ) -> (Deciamps, Reason) {
        let min = self.clamp(Deciamps::ZERO);
        let max = self.clamp(Deciamps::MAX_HEIDELBERG);
        let phases = self.phases();
        // Look again when the outlook next learns, even without a new reading.
        self.wake_at = Some(now + TICK);
        let t = self.config.tuning;
        // Behind the classic controller lately: do as it does until caught up.
        let follow = t.follow_behind_wh > 0
            && self.yardstick.reference_on()
            && self.yardstick.behind_wh()
                > t.follow_behind_wh as f32
                    + self.yardstick.reference_wh() * t.follow_behind_permille as f32 / 1000.0;
        match self.solar {
            Solar::Stopped { declined_at, .. } => {
                // A start with no surplus at all is never worth it: no need to ask the outlook.
                let no_news = t.decide_on_news && declined_at == Some(surplus);
                let worth = !no_news && surplus > 0 && {
                    self.outlook.refresh(prices);
                    self.outlook.start(surplus, min_w, age, prices)
                };
                let follows = self.mode != Mode::MinPv && !worth && follow && surplus >= min_w;
                if self.mode == Mode::MinPv || worth || follows {
                    self.solar = Solar::CHARGING;
                    self.yardstick.note_start();
                    let (a, reason) = self.charging_setpoint(target, min, max, surplus);
                    return (
                        a,
                        if follows {
                            self.catching_up(a, surplus)
                        } else {
                            reason
                        },
                    );
                }
                let reply = if surplus >= min_w {
                    (Deciamps::ZERO, Reason::StartNotWorth { surplus_w: surplus })
                } else {
                    self.waiting(surplus, min_w, phases)
                };
                self.solar = Solar::Stopped {
                    above_since: None,
                    excess_ws: 0,
                    declined_at: Some(surplus),
                };
                reply
            }
            Solar::Charging { held_at } => {
                // The hold is forgotten unless renewed below.
                self.solar = Solar::CHARGING;
                if target >= min {
                    return self.charging_setpoint(target, min, max, surplus);
                }
                if let Some(floor) = self.below_minimum(now, surplus, min) {
                    return floor;
                }
                let no_news = t.decide_on_news && held_at == Some(surplus);
                if no_news || {
                    self.outlook.refresh(prices);
                    self.outlook.hold(surplus, min_w, age, prices)
                } {
                    self.solar = Solar::Charging {
                        held_at: Some(surplus),
                    };
                    return (
                        min,
                        Reason::Holding {
                            current: min,
                            surplus_w: surplus,
                            import_w: grid_w(min_w, surplus),
                        },
                    );
                }
                // At the lead in starts, a stop now would be a restart the classic controller
                // does not make: hold as long as it would.
                let (ours, reference) = self.yardstick.starts();
                if t.start_lead > 0
                    && self.yardstick.reference_on()
                    && ours >= reference + t.start_lead as f32
                {
                    // Asked again at the next reading, news or not: the classic controller's stop
                    // delay runs on.
                    self.solar = Solar::CHARGING;
                    return (
                        min,
                        Reason::StartLead {
                            current: min,
                            surplus_w: surplus,
                            import_w: grid_w(min_w, surplus),
                            lead: (ours - reference).clamp(0.0, u16::MAX as f32) as u16,
                        },
                    );
                }
                // Catching up is for solar: a hold without any sun gives none, only grid energy.
                if follow && surplus > 0 {
                    return (min, self.catching_up(min, surplus));
                }
                self.last_stop = Some(now);
                self.stop();
                (
                    Deciamps::ZERO,
                    Reason::BudgetSpent {
                        surplus_w: surplus,
                        needed_w: min_w,
                    },
                )
            }
        }
    }

    /// Stopped, and the surplus is below the minimum power.
    fn waiting(&mut self, surplus_w: i32, needed_w: i32, phases: u8) -> (Deciamps, Reason) {
        self.solar = Solar::STOPPED;
        (
            Deciamps::ZERO,
            Reason::WaitingForSurplus {
                surplus_w,
                needed_w,
                phases,
            },
        )
    }

    /// The reason for a start or hold that only following the yardstick asked for.
    fn catching_up(&self, current: Deciamps, surplus_w: i32) -> Reason {
        Reason::CatchingUp {
            current,
            surplus_w,
            behind_wh: self.yardstick.behind_wh() as i32,
        }
    }

    fn charging_setpoint(
        &self,
        target: Deciamps,
        min: Deciamps,
        max: Deciamps,
        surplus: i32,
    ) -> (Deciamps, Reason) {
        let mut a = target.max(min).min(max);
        // Damped up: a small increase is not worth a write; any decrease is.
        if !self.setpoint.is_zero()
            && a > self.setpoint
            && a.0 - self.setpoint.0 < self.config.tuning.up_step.0
        {
            a = self.setpoint;
        }
        if target >= max {
            (
                a,
                Reason::AtMax {
                    surplus_w: surplus,
                    current: a,
                },
            )
        } else if target < min && self.mode == Mode::MinPv {
            (
                a,
                Reason::MinPvFloor {
                    current: a,
                    surplus_w: surplus,
                },
            )
        } else if target < min {
            // A solar start or catch-up in a shallow dip: the minimum, partly from the grid.
            (
                a,
                Reason::Holding {
                    current: a,
                    surplus_w: surplus,
                    import_w: grid_w(a.watts(self.voltage(), self.phases()), surplus),
                },
            )
        } else {
            (
                a,
                Reason::Tracking {
                    surplus_w: surplus,
                    current: a,
                },
            )
        }
    }
}
