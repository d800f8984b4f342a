//! Why the controller decided what it decided, as a closed enum whose `Display` is the sentence.

use crate::time::Duration;
use crate::units::{Deciamps, Power};
use core::fmt;

/// A reading that is too old or missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stale {
    /// Which input ("grid", "wallbox", ...).
    pub input: &'static str,
    /// Its age, or `None` if it never arrived (or was withdrawn).
    pub age: Option<Duration>,
    /// The allowed maximum age.
    pub max_age: Duration,
    /// The source said the value is unavailable (`unknown`, `unavailable`, implausible).
    pub unavailable: bool,
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.age {
            _ if self.unavailable => write!(f, "{} reading is unavailable", self.input),
            Some(age) => write!(
                f,
                "{} reading is {} old (limit {})",
                self.input, age, self.max_age
            ),
            None => write!(f, "no {} reading yet", self.input),
        }
    }
}

/// The reason behind a [`Decision`](super::Decision).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Mode `off`.
    Off,
    /// No car plugged in.
    NoCar,
    /// The wallbox reports an error state.
    WallboxError,
    /// Solar charging stopped because a reading is stale or missing.
    StaleStop(Stale),
    /// `minpv` falls back to the minimum current because a reading is stale or missing.
    StaleMin(Stale),
    /// Mode `now`: maximum current.
    Now(Deciamps),
    /// Mode `fixed`.
    Fixed(Deciamps),
    /// Stopped: surplus below what the minimum current needs.
    WaitingForSurplus {
        /// Surplus available to the car, W.
        surplus_w: i32,
        /// Power at the minimum current, W.
        needed_w: i32,
        /// Phases assumed.
        phases: u8,
    },
    /// Stopped, surplus is enough; the start waits to see that it lasts.
    StartPending {
        /// Surplus available to the car, W.
        surplus_w: i32,
        /// Time left before the start.
        remaining: Duration,
    },
    /// Stopped with enough surplus, but sun like this has lately not lasted long enough to pay
    /// for a start.
    StartNotWorth {
        /// Surplus available to the car, W.
        surplus_w: i32,
    },
    /// The car was just started or stopped, and the grid and wallbox readings may not yet agree
    /// about its power: paired, they could show a dip (or a surge) that is not there, so the
    /// setpoint is kept until they do.
    Settling {
        /// The setpoint kept.
        current: Deciamps,
        /// Time since the start or stop.
        since: Duration,
    },
    /// Charging, following the surplus.
    Tracking {
        /// Surplus available to the car, W.
        surplus_w: i32,
        /// The setpoint.
        current: Deciamps,
    },
    /// Charging at the maximum current; the surplus is larger.
    AtMax {
        /// Surplus available to the car, W.
        surplus_w: i32,
        /// The setpoint (the maximum).
        current: Deciamps,
    },
    /// Surplus below the minimum; riding through on the minimum current within the import budget.
    Holding {
        /// The minimum current held.
        current: Deciamps,
        /// Surplus (sun) the car still takes, W.
        surplus_w: i32,
        /// What the car takes from the grid meanwhile, W.
        import_w: i32,
    },
    /// Stopped in a dip: riding it on the minimum current would cost more grid energy than the
    /// sun it brings and the restart it might save are worth.
    BudgetSpent {
        /// Surplus when it stopped, W.
        surplus_w: i32,
        /// Power at the minimum current, W.
        needed_w: i32,
    },
    /// Stopped in a dip because the home battery, below its priority state of charge, would feed
    /// the car on the minimum current (see [`BatteryPolicy`](super::BatteryPolicy)).
    BatteryFirst {
        /// Surplus when it stopped, W.
        surplus_w: i32,
        /// The battery's state of charge, percent.
        soc: u8,
        /// Its priority state of charge, percent.
        priority_soc: u8,
    },
    /// Charging (or holding) as the classic threshold/delay controller would, because sunfill has
    /// taken less sun in this session than it would have (see the
    /// [yardstick](super::yardstick)).
    CatchingUp {
        /// The setpoint.
        current: Deciamps,
        /// Surplus available to the car, W.
        surplus_w: i32,
        /// Solar sunfill is behind the classic controller in this session, Wh.
        behind_wh: i32,
    },
    /// Holding the minimum through a dip because sunfill has already started the car
    /// [`Tuning::start_lead`](super::Tuning::start_lead) times more than the classic controller
    /// would have in this session, and that controller would still be holding: a stop now would
    /// become a restart it does not make.
    StartLead {
        /// The minimum current held.
        current: Deciamps,
        /// Surplus (sun) the car still takes, W.
        surplus_w: i32,
        /// What the car takes from the grid meanwhile, W.
        import_w: i32,
        /// sunfill's starts in the session beyond the classic controller's.
        lead: u16,
    },
    /// `minpv`: minimum current, surplus below it.
    MinPvFloor {
        /// The minimum current.
        current: Deciamps,
        /// Surplus available to the car, W.
        surplus_w: i32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Off => f.write_str("mode off"),
            Reason::NoCar => f.write_str("no car connected"),
            Reason::WallboxError => f.write_str("wallbox reports an error; not charging"),
            Reason::StaleStop(s) => write!(f, "{}; solar charging stopped", s),
            Reason::StaleMin(s) => write!(f, "{}; minpv holds the minimum current", s),
            Reason::Now(a) => write!(f, "mode now: charging at {}", a),
            Reason::Fixed(a) => write!(f, "mode fixed: charging at {}", a),
            Reason::WaitingForSurplus {
                surplus_w,
                needed_w,
                phases,
            } => write!(
                f,
                "surplus {} below 6 A x {} phase{} ({}); staying stopped",
                Power(surplus_w),
                phases,
                if phases == 1 { "" } else { "s" },
                Power(needed_w)
            ),
            Reason::StartPending {
                surplus_w,
                remaining,
            } => write!(
                f,
                "surplus {}; starting in {} if it lasts",
                Power(surplus_w),
                remaining
            ),
            Reason::StartNotWorth { surplus_w } => write!(
                f,
                "surplus {}, but sun like this has lately been too short to pay for a start; waiting",
                Power(surplus_w)
            ),
            Reason::Tracking { surplus_w, current } => {
                write!(f, "following surplus {} at {}", Power(surplus_w), current)
            }
            Reason::AtMax { surplus_w, current } => {
                write!(
                    f,
                    "surplus {}; charging at the maximum {}",
                    Power(surplus_w),
                    current
                )
            }
            Reason::Holding {
                current,
                surplus_w,
                import_w,
            } => write!(
                f,
                "holding {} through a dip: {} of sun, {} from the grid, cheaper than a restart",
                current,
                Power(surplus_w),
                Power(import_w)
            ),
            Reason::BudgetSpent {
                surplus_w,
                needed_w,
            } => write!(
                f,
                "stopped: surplus {} is too far below the {} minimum to ride the dip on grid energy",
                Power(surplus_w),
                Power(needed_w)
            ),
            Reason::BatteryFirst {
                surplus_w,
                soc,
                priority_soc,
            } => write!(
                f,
                "stopped: surplus {} is below the minimum, and riding the dip would drain the home \
                 battery ({} %, below its priority {} %) into the car",
                Power(surplus_w),
                soc,
                priority_soc
            ),
            Reason::CatchingUp {
                current,
                surplus_w,
                behind_wh,
            } => write!(
                f,
                "catching up: {} Wh less sun this session than a classic controller would have taken; \
                 charging at {} as it would (surplus {})",
                behind_wh,
                current,
                Power(surplus_w)
            ),
            Reason::StartLead {
                current,
                surplus_w,
                import_w,
                lead,
            } => write!(
                f,
                "holding {} through a dip as a classic controller would: already {} more start{} \
                 than it this session ({} of sun, {} from the grid)",
                current,
                lead,
                if lead == 1 { "" } else { "s" },
                Power(surplus_w),
                Power(import_w)
            ),
            Reason::MinPvFloor { current, surplus_w } => write!(
                f,
                "minpv: {} minimum, surplus {}",
                current,
                Power(surplus_w)
            ),
            Reason::Settling { current, since } => write!(
                f,
                "keeping {}: the car was started or stopped {} ago; waiting until the grid and \
                 wallbox readings agree about its power",
                current, since
            ),
        }
    }
}
