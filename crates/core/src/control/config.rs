//! Controller configuration: limits, phases, staleness, battery bands and policy tuning.

use crate::time::Duration;
use crate::units::Deciamps;

/// How many phases the car charges on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PhaseConfig {
    /// Count the phases that carry current while charging; assume `fallback` before that.
    #[default]
    Auto,
    /// Always one phase.
    One,
    /// Always three phases.
    Three,
}

/// How old each reading may be before it no longer counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxAge {
    /// Grid meter.
    pub grid: Duration,
    /// PV production.
    pub pv: Duration,
    /// House load.
    pub house: Duration,
    /// Home battery power and state of charge.
    pub battery: Duration,
    /// Wallbox reading.
    pub wallbox: Duration,
}

impl Default for MaxAge {
    fn default() -> Self {
        MaxAge {
            grid: Duration::from_secs(60),
            pv: Duration::from_secs(120),
            house: Duration::from_secs(120),
            battery: Duration::from_secs(120),
            wallbox: Duration::from_secs(30),
        }
    }
}

/// Home battery policy.
///
/// Semantics, from low to high state of charge (SoC):
/// - SoC below `priority_soc`: the battery charges first. The car gets only what the grid meter
///   still exports after the battery took its share, and never anything the battery discharges.
/// - SoC from `priority_soc` up: the car comes first. Power the battery is charging with counts as
///   surplus for the car (the battery then charges less), but battery discharge never does.
/// - SoC at or above `buffer_soc` (in `pv` and `minpv`): the car may additionally take up to
///   `max_discharge_w` from the battery, until SoC falls below `buffer_soc - 5`.
///
/// The battery is never drained into the car below `priority_soc`: in `pv`, a dip in which the
/// battery discharges is not ridden on the minimum current (the battery would feed the car), the
/// car stops instead (reason `battery_first`). What the car draws in the few seconds until a lower
/// current takes effect, the battery covers like any load. `minpv`, `now` and `fixed` draw what
/// the user asked for; a self-consumption battery covers that too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatteryPolicy {
    /// Below this SoC (percent) the battery has priority.
    pub priority_soc: u8,
    /// At or above this SoC (percent) the car may use battery discharge; 101 disables that.
    pub buffer_soc: u8,
    /// The most battery discharge the car may use, W.
    pub max_discharge_w: i32,
}

impl Default for BatteryPolicy {
    fn default() -> Self {
        BatteryPolicy {
            priority_soc: 50,
            buffer_soc: 101,
            max_discharge_w: 0,
        }
    }
}

/// Knobs of the solar policy. The defaults are what the benchmark measures; change them only with
/// a benchmark run to show why.
///
/// The import budget is a bucket of grid energy the car may use to ride through dips on the
/// minimum current. It fills by `earn_permille` of every Wh of solar energy the car takes and
/// empties by every Wh imported; it never holds more than `budget_cap_secs` seconds of the
/// minimum power. So over any stretch of charging, import <= earn x solar + one bucket.
///
/// **Restart value.** While holding through a dip the bucket also fills by `earn_permille` of the
/// *restart value rate*: what a stop now would cost when the sun returns (the solar lost while the
/// start rule waits plus the car's start delay, at the surplus seen before the dip, plus
/// `start_price_secs`), divided by `dip_mean_secs`. Dips are close to memoryless, so each second
/// of holding ends the dip with about the same chance 1/`dip_mean_secs`, and that is the chance of
/// saving the restart. Per second the rule is therefore: hold while
/// `import < earn x (solar taken + restart cost / mean dip length)`, a depth threshold that rides
/// deeper dips when a restart is dear (a large surplus before the dip, a long restart wait after a
/// recent stop) and stops deep dips fast when it is cheap. Measured over the 14 benchmark runs
/// against the plain bucket (earn 330, start excess 30 s): solar 931 -> 961 kWh, import
/// 9.8 -> 10.6 kWh, starts 265 -> 301.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Import allowed per solar energy charged, in per mille (50 = 5 %).
    pub earn_permille: u32,
    /// Bucket size, in seconds of the full minimum power (so it scales with the phases).
    pub budget_cap_secs: u32,
    /// Bucket content granted at a start when it holds less, in seconds of the minimum power.
    pub budget_start_secs: u32,
    /// How long a surplus above the minimum must last at least before a start.
    pub start_delay: Duration,
    /// A start also needs the surplus above the minimum power, integrated over time, to reach
    /// this many seconds of the minimum power: a large surplus starts soon, a marginal one
    /// (which tends to vanish again within minutes) waits. 0 disables the rule.
    pub start_excess_secs: u32,
    /// A surplus above the minimum that lasts this long starts the car whatever its excess
    /// (zero: no such limit).
    pub start_delay_max: Duration,
    /// Extra surplus (W) required to start, on top of the minimum power.
    pub start_margin_w: i32,
    /// After a stop within `restart_window`, a start needs the surplus to last this long instead
    /// of `start_delay`: a sun gap between clouds is not worth a start.
    pub restart_delay: Duration,
    /// How long after a stop the longer `restart_delay` applies.
    pub restart_window: Duration,
    /// Surplus (W) kept back while tracking, against the reaction delay.
    pub track_margin_w: i32,
    /// A setpoint increase smaller than this is not written (damped up); decreases always are.
    pub up_step: Deciamps,
    /// Expected remaining length of a dip below the minimum power, s; 0 disables the restart
    /// value (see [`Tuning`]). Dips are close to memoryless (15-23 % end per minute whatever their
    /// age) and last 6-17 min on average on the 3-phase benchmark runs: 600 s.
    pub dip_mean_secs: u32,
    /// Learn the mean dip length from the dips seen: each new dip moves the mean by 1/`dip_learn`
    /// of the difference (0: keep `dip_mean_secs`, which is then only the starting value).
    pub dip_learn: u32,
    /// A dip counts at most this long when learning (nights and long overcast spells).
    pub dip_cap_secs: u32,
    /// What one start avoided is worth, in seconds of solar at the minimum power (contactor wear,
    /// cars that refuse to resume).
    pub start_price_secs: u32,
    /// The car's delay from a start command to drawing current, s (15 s in the benchmark model).
    pub car_start_secs: u32,
    /// Decide holds and starts by the learned [outlook](super::outlook) and the
    /// [yardstick](super::yardstick) (the default) instead of the import budget and the start
    /// delays above.
    pub outlook: bool,
    /// What a Wh of grid energy in the car costs against a Wh of solar, per mille (7000: a grid
    /// Wh weighs as much as seven solar Wh), before the yardstick steers it.
    pub import_weight_permille: u32,
    /// What one start avoided is worth, Wh of solar, for the outlook (a start wears the same
    /// contactor whatever the phases), before the yardstick steers it.
    pub start_price_wh: u32,
    /// Half-life of what the outlook learned about the surplus.
    pub outlook_memory: Duration,
    /// Half-life of the future's weight when the outlook values charging.
    pub outlook_horizon: Duration,
    /// Half-life of the yardstick's sums (solar, grid energy, starts of both controllers); zero
    /// (the default): no fading, the sums cover the charging session (reset when the car is
    /// unplugged).
    pub yardstick_memory: Duration,
    /// Follow the classic controller (start and hold when it would) while sunfill's solar in the
    /// session is behind its by more than this many Wh plus `follow_behind_permille` of its
    /// solar (0: never follow).
    pub follow_behind_wh: u32,
    /// See `follow_behind_wh`.
    pub follow_behind_permille: u32,
    /// Steer the price of grid energy: for every this many Wh (plus `steer_import_permille` of
    /// the classic controller's solar) that sunfill's solar is short of the classic
    /// controller's (plus `steer_target_permille`), the price halves; for every such step ahead
    /// it doubles, at most 16 x either way (0: fixed price).
    pub steer_import_wh: u32,
    /// See `steer_import_wh`.
    pub steer_import_permille: u32,
    /// See `steer_import_wh`: how far ahead of the classic controller's solar to aim, per mille.
    pub steer_target_permille: i32,
    /// Holds and starts are decided again only when the surplus reading changes. A reading that
    /// repeats the last one brings no news: stopping then only wastes the grid energy the hold
    /// has already paid for, and starting then only loses the solar since the last reading.
    /// (Meters and inverters often report every minute or five; Home Assistant publishes a
    /// sensor only when it changes.)
    pub decide_on_news: bool,
    /// Steer the price of a start: for every this many starts sunfill made in the session beyond
    /// `steer_starts_permille` of the classic controller's, the price doubles; for every such
    /// step below, it halves, at most 8 x either way (0: fixed price).
    pub steer_starts: u32,
    /// See `steer_starts`.
    pub steer_starts_permille: u32,
    /// The most starts sunfill may be ahead of the classic controller in the session. At that
    /// lead sunfill does not stop in a dip while the classic controller would still hold it, so
    /// it never restarts where the classic controller rides through (0: no limit).
    pub start_lead: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            earn_permille: 200,
            budget_cap_secs: 3,
            budget_start_secs: 30,
            start_delay: Duration::from_secs(20),
            start_excess_secs: 0,
            start_delay_max: Duration::from_secs(300),
            start_margin_w: 0,
            restart_delay: Duration::from_secs(120),
            restart_window: Duration::from_secs(1800),
            track_margin_w: 0,
            up_step: Deciamps(1),
            dip_mean_secs: 600,
            dip_learn: 8,
            dip_cap_secs: 900,
            start_price_secs: 60,
            car_start_secs: 15,
            outlook: true,
            import_weight_permille: 7000,
            start_price_wh: 600,
            outlook_memory: Duration::from_secs(3600),
            outlook_horizon: Duration::from_secs(2400),
            yardstick_memory: Duration::ZERO,
            follow_behind_wh: 100,
            follow_behind_permille: 20,
            steer_import_wh: 300,
            steer_import_permille: 20,
            steer_target_permille: 0,
            decide_on_news: true,
            steer_starts: 2,
            steer_starts_permille: 900,
            start_lead: 1,
        }
    }
}

/// Everything the controller needs to know about the site and the user's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Smallest charging current (at least 6.0 A).
    pub min_current: Deciamps,
    /// Largest charging current (at most the wallbox's hardware limit).
    pub max_current: Deciamps,
    /// Phase count policy.
    pub phases: PhaseConfig,
    /// Phases assumed with [`PhaseConfig::Auto`] before the car has drawn current.
    pub fallback_phases: u8,
    /// Voltage per phase assumed when the wallbox measures none, V.
    pub nominal_voltage: u16,
    /// Maximum age of each reading.
    pub max_age: MaxAge,
    /// Home battery policy.
    pub battery: BatteryPolicy,
    /// Solar policy knobs.
    pub tuning: Tuning,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_current: Deciamps::MIN_CHARGING,
            max_current: Deciamps::MAX_HEIDELBERG,
            phases: PhaseConfig::Auto,
            fallback_phases: 3,
            nominal_voltage: 230,
            max_age: MaxAge::default(),
            battery: BatteryPolicy::default(),
            tuning: Tuning::default(),
        }
    }
}

/// Why a [`Config`] cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `min_current` below 6.0 A or above `max_current`.
    MinCurrent(Deciamps),
    /// `max_current` above 16.0 A or below 6.0 A.
    MaxCurrent(Deciamps),
    /// `fallback_phases` not 1 or 3.
    Phases(u8),
    /// `nominal_voltage` outside 100..=300 V.
    Voltage(u16),
    /// `priority_soc` above 100 or `buffer_soc` below `priority_soc`.
    BatteryBands,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::MinCurrent(a) => write!(
                f,
                "min_current {} must be at least 6.0 A and not above max_current",
                a
            ),
            ConfigError::MaxCurrent(a) => {
                write!(f, "max_current {} must be between 6.0 A and 16.0 A", a)
            }
            ConfigError::Phases(p) => write!(f, "phases {} must be 1 or 3", p),
            ConfigError::Voltage(v) => write!(f, "nominal voltage {} V must be 100..300 V", v),
            ConfigError::BatteryBands => f.write_str(
                "battery priority_soc must be 0..100 and buffer_soc not below priority_soc",
            ),
        }
    }
}

impl Config {
    /// Checks the limits; the controller clamps anyway, but a config file should be told.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_current > Deciamps::MAX_HEIDELBERG || self.max_current < Deciamps::MIN_CHARGING
        {
            return Err(ConfigError::MaxCurrent(self.max_current));
        }
        if self.min_current < Deciamps::MIN_CHARGING || self.min_current > self.max_current {
            return Err(ConfigError::MinCurrent(self.min_current));
        }
        if !matches!(self.fallback_phases, 1 | 3) {
            return Err(ConfigError::Phases(self.fallback_phases));
        }
        if !(100..=300).contains(&self.nominal_voltage) {
            return Err(ConfigError::Voltage(self.nominal_voltage));
        }
        if self.battery.priority_soc > 100 || self.battery.buffer_soc < self.battery.priority_soc {
            return Err(ConfigError::BatteryBands);
        }
        Ok(())
    }
}
