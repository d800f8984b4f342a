//! The yardstick: what a classic threshold/delay controller (start after 60 s above the minimum
//! power, stop after 180 s below it) would have charged from the same readings, and how sunfill
//! compares with it lately (sums that fade with [`Tuning::yardstick_memory`]).
//!
//! The [outlook](super::outlook) prices grid energy and starts by what they cost on average, and
//! learns the weather from the last hour. On a day unlike the recent ones it can be wrong for
//! hours, for example on a day of short, shallow dips where riding them is what catches the sun.
//! The yardstick keeps sunfill honest against the controller users already know:
//! - **follow**: while sunfill's solar lately is behind the classic controller's by more than
//!   [`Tuning::follow_behind_wh`] plus [`Tuning::follow_behind_permille`] of its solar, sunfill
//!   starts and holds whenever the classic controller would, until it has caught up;
//! - **steer the price of grid energy** ([`Tuning::steer_import_wh`]): halved for every step that
//!   sunfill's solar is short of the classic controller's, doubled for every step ahead, so a day
//!   that gives plenty of sun spends less grid energy on dips;
//! - **steer the price of a start** ([`Tuning::steer_starts`]): doubled for every few starts beyond
//!   [`Tuning::steer_starts_permille`] of the classic controller's, halved below.
//!
//! The reference is a model: it sees the same surplus, charges all of it up to the maximum while
//! on, and holds the minimum in dips; its car starts 15 s late like sunfill's.
//!
//! [`Tuning::yardstick_memory`]: super::Tuning::yardstick_memory
//! [`Tuning::follow_behind_wh`]: super::Tuning::follow_behind_wh
//! [`Tuning::follow_behind_permille`]: super::Tuning::follow_behind_permille
//! [`Tuning::steer_import_wh`]: super::Tuning::steer_import_wh
//! [`Tuning::steer_starts`]: super::Tuning::steer_starts
//! [`Tuning::steer_starts_permille`]: super::Tuning::steer_starts_permille

use crate::time::{Duration, Instant};

/// The classic controller's start delay.
const START_DELAY: Duration = Duration::from_secs(60);
/// The classic controller's stop delay.
const STOP_DELAY: Duration = Duration::from_secs(180);

/// The site as the reference sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    /// Power at the minimum current, W.
    pub min_w: i32,
    /// Power at the maximum current, W.
    pub max_w: i32,
    /// The car's delay from a start to drawing power.
    pub lag: Duration,
    /// How fast old differences fade (half-life).
    pub half_life: Duration,
}

/// See the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct Yardstick {
    on: bool,
    /// Since when the surplus has been on the side that would switch the reference.
    since: Option<Instant>,
    /// The last booking: time, surplus and sunfill's car power.
    last: Option<(Instant, i32, i32)>,
    /// Solar the reference took minus what sunfill took, fading, W*s.
    behind_ws: f32,
    /// Solar the reference took, fading, W*s.
    ref_solar_ws: f32,
    /// Grid energy the reference's car took, fading, W*s.
    ref_import_ws: f32,
    /// Grid energy sunfill's car took, fading, W*s.
    our_import_ws: f32,
    /// Starts of the reference, fading.
    ref_starts: f32,
    /// Starts of sunfill, fading.
    our_starts: f32,
}

impl Yardstick {
    /// A reference that is off and has nothing booked.
    pub const fn new() -> Self {
        Yardstick {
            on: false,
            since: None,
            last: None,
            behind_ws: 0.0,
            ref_solar_ws: 0.0,
            ref_import_ws: 0.0,
            our_import_ws: 0.0,
            ref_starts: 0.0,
            our_starts: 0.0,
        }
    }

    /// Books the time since the last call with the values then, and moves the reference on.
    /// `car_w` is sunfill's car power now.
    pub fn update(&mut self, now: Instant, surplus_w: i32, car_w: i32, site: &Site) {
        let Site {
            min_w,
            max_w,
            lag,
            half_life,
        } = *site;
        if let Some((t, s, car)) = self.last {
            let dt = now.saturating_since(t).total_millis().min(120_000) as f32 / 1000.0;
            let sun = s.max(0);
            let reference = if self.on { sun.min(max_w) } else { 0 };
            let ref_import = if self.on { (min_w - sun).max(0) } else { 0 };
            let ours = car.max(0).min(sun);
            self.behind_ws += (reference - ours) as f32 * dt;
            self.ref_solar_ws += reference as f32 * dt;
            self.ref_import_ws += ref_import as f32 * dt;
            self.our_import_ws += (car.max(0) - ours) as f32 * dt;
            let hl = half_life.total_millis().max(1) as f32 / 1000.0;
            let fade = 1.0 - (core::f32::consts::LN_2 * dt / hl).min(1.0);
            self.behind_ws *= fade;
            self.ref_solar_ws *= fade;
            self.ref_import_ws *= fade;
            self.our_import_ws *= fade;
            self.ref_starts *= fade;
            self.our_starts *= fade;
        }
        self.last = Some((now, surplus_w, car_w));
        let switch = if self.on {
            surplus_w < min_w
        } else {
            surplus_w >= min_w
        };
        if !switch {
            self.since = None;
            return;
        }
        let since = *self.since.get_or_insert(now);
        let delay = if self.on { STOP_DELAY } else { START_DELAY };
        if now.saturating_since(since) >= delay {
            self.on = !self.on;
            self.since = None;
            if self.on {
                self.ref_starts += 1.0;
                // The reference's car starts late too.
                self.behind_ws -=
                    surplus_w.clamp(0, max_w) as f32 * lag.total_millis() as f32 / 1000.0;
            }
        }
    }

    /// Whether the reference charges now.
    pub fn reference_on(&self) -> bool {
        self.on
    }

    /// Counts a start of sunfill's own.
    pub fn note_start(&mut self) {
        self.our_starts += 1.0;
    }

    /// Starts of sunfill and of the reference lately (fading counts).
    pub fn starts(&self) -> (f32, f32) {
        (self.our_starts, self.ref_starts)
    }

    /// Solar the reference took lately, Wh.
    pub fn reference_wh(&self) -> f32 {
        self.ref_solar_ws / 3600.0
    }

    /// How much solar sunfill is behind the reference lately, Wh (negative: ahead).
    pub fn behind_wh(&self) -> f32 {
        self.behind_ws / 3600.0
    }
}
