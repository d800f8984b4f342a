//! The yardstick: what a classic threshold/delay controller (start after 60 s above the minimum
//! power, stop after 180 s below it) would have charged from the same readings, and how sunfill
//! compares with it over the charging session (by default; or over sums that fade with
//! [`Tuning::yardstick_memory`]). A session is what a user judges a charger by: the car plugged in
//! for a day or a week, and then the solar, grid energy and starts it got. A new session (the car
//! unplugged) starts the comparison afresh.
//!
//! The [outlook](super::outlook) prices grid energy and starts by what they cost on average, and
//! learns the weather from the last hour. On a day unlike the recent ones it can be wrong for
//! hours, for example on a day of short, shallow dips where riding them is what catches the sun.
//! The yardstick keeps sunfill honest against the controller users already know:
//! - **follow**: while sunfill's solar in the session is behind the classic controller's by
//!   more than [`Tuning::follow_behind_wh`] plus [`Tuning::follow_behind_permille`] of its
//!   solar, sunfill starts and holds whenever the classic controller would, until it has caught
//!   up;
//! - **steer the price of grid energy** ([`Tuning::steer_import_wh`]): halved for every step that
//!   sunfill's solar is short of the classic controller's, doubled for every step ahead, so a day
//!   that gives plenty of sun spends less grid energy on dips;
//! - **steer the price of a start** ([`Tuning::steer_starts`]): doubled for every few starts beyond
//!   [`Tuning::steer_starts_permille`] of the classic controller's, halved below.
//!
//! The reference is a model of the classic controller: it sees the same surplus; while on, it
//! sets the current to the surplus (within the minimum and maximum) every 30 s, its control
//! interval, and holds the minimum in dips; its car follows a new current 5 s late and starts 15 s
//! late, like sunfill's. On the benchmark's scenarios its solar is within 0.2 % of the
//! threshold-delay baseline's and its starts are the same (`the_yardstick_models_threshold_delay` in `crates/sim/tests/scenarios.rs`).
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
/// The classic controller's control interval: it sets the current to the surplus this often.
const INTERVAL: Duration = Duration::from_secs(30);
/// How long the car takes to follow a new current while it charges.
const FOLLOW: Duration = Duration::from_secs(5);

/// The site as the reference sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    /// Power at the minimum current, W.
    pub min_w: i32,
    /// Power at the maximum current, W.
    pub max_w: i32,
    /// The car's delay from a start to drawing power.
    pub lag: Duration,
    /// How fast old differences fade (half-life); zero: they never fade, the sums cover the whole
    /// charging session.
    pub half_life: Duration,
}

/// See the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct Yardstick {
    on: bool,
    /// The reference car's power while on, W: the surplus at its last control interval, within
    /// the minimum and maximum power.
    car_w: i32,
    /// When the reference last set its current.
    set_at: Option<Instant>,
    /// The reference car's power before that, W, and until when the car still draws it: a car
    /// follows a new current late, and draws nothing until a start takes effect.
    was_w: i32,
    late_until: Option<Instant>,
    /// Since when the surplus has been on the side that would switch the reference.
    since: Option<Instant>,
    /// The last booking: time, surplus and sunfill's car power.
    last: Option<(Instant, i32, i32)>,
    /// Solar the reference took minus what sunfill took in the session (or fading), W*s. The
    /// energy sums are `f64`: over a session of weeks they grow past what `f32` adds a 10 s
    /// booking to without losing it.
    behind_ws: f64,
    /// Solar the reference took, W*s.
    ref_solar_ws: f64,
    /// Grid energy the reference's car took, W*s.
    ref_import_ws: f64,
    /// Grid energy sunfill's car took, W*s.
    our_import_ws: f64,
    /// Starts of the reference.
    ref_starts: f32,
    /// Starts of sunfill.
    our_starts: f32,
}

impl Yardstick {
    /// A reference that is off and has nothing booked.
    pub const fn new() -> Self {
        Yardstick {
            on: false,
            car_w: 0,
            set_at: None,
            was_w: 0,
            late_until: None,
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
            // The car draws the reference's previous power for the first seconds after a change.
            let late = self.late_until.map_or(0, |u| {
                u.saturating_since(t)
                    .total_millis()
                    .min(now.saturating_since(t).total_millis())
            }) as f32
                / 1000.0;
            let (solar_ws, import_ws) = if self.on {
                let at = |w: i32| (w.min(sun) as f32, (w - sun).max(0) as f32);
                let (s0, i0) = at(self.was_w);
                let (s1, i1) = at(self.car_w);
                (s0 * late + s1 * (dt - late), i0 * late + i1 * (dt - late))
            } else {
                (0.0, 0.0)
            };
            let ours = car.max(0).min(sun);
            self.behind_ws += f64::from(solar_ws - ours as f32 * dt);
            self.ref_solar_ws += f64::from(solar_ws);
            self.ref_import_ws += f64::from(import_ws);
            self.our_import_ws += f64::from((car.max(0) - ours) as f32 * dt);
            if half_life > Duration::ZERO {
                let hl = half_life.total_millis() as f32 / 1000.0;
                let fade = f64::from(1.0 - (core::f32::consts::LN_2 * dt / hl).min(1.0));
                self.behind_ws *= fade;
                self.ref_solar_ws *= fade;
                self.ref_import_ws *= fade;
                self.our_import_ws *= fade;
                self.ref_starts *= fade as f32;
                self.our_starts *= fade as f32;
            }
        }
        self.last = Some((now, surplus_w, car_w));
        if self.on
            && self
                .set_at
                .is_none_or(|t| now.saturating_since(t) >= INTERVAL)
        {
            self.was_w = self.car_w;
            self.car_w = surplus_w.clamp(min_w, max_w);
            self.set_at = Some(now);
            self.late_until = Some(now + FOLLOW);
        }
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
            self.set_at = None;
            if self.on {
                // The reference's car starts late too: nothing until the start takes effect.
                self.car_w = surplus_w.clamp(min_w, max_w);
                self.was_w = 0;
                self.set_at = Some(now);
                self.late_until = Some(now + lag);
                self.ref_starts += 1.0;
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

    /// Starts of sunfill and of the reference in the session (or fading counts).
    pub fn starts(&self) -> (f32, f32) {
        (self.our_starts, self.ref_starts)
    }

    /// Grid energy sunfill's car and the reference's took in the session, Wh.
    pub fn imports_wh(&self) -> (f32, f32) {
        (
            (self.our_import_ws / 3600.0) as f32,
            (self.ref_import_ws / 3600.0) as f32,
        )
    }

    /// Solar the reference took in the session, Wh.
    pub fn reference_wh(&self) -> f32 {
        (self.ref_solar_ws / 3600.0) as f32
    }

    /// How much solar sunfill is behind the reference in the session, Wh (negative: ahead).
    pub fn behind_wh(&self) -> f32 {
        (self.behind_ws / 3600.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: Site = Site {
        min_w: 4140,
        max_w: 11040,
        lag: Duration::from_secs(15),
        half_life: Duration::ZERO,
    };

    /// Feeds `surplus(t)` every 10 s from `from` to `to` (s); sunfill's car draws nothing.
    fn feed(y: &mut Yardstick, from: u64, to: u64, surplus: impl Fn(u64) -> i32) {
        for t in (from..=to).step_by(10) {
            y.update(Instant::from_secs(t), surplus(t), 0, &SITE);
        }
    }

    #[test]
    fn the_reference_starts_after_a_minute_and_its_car_a_start_delay_later() {
        let mut y = Yardstick::new();
        feed(&mut y, 0, 600, |_| 6000);
        assert!(y.reference_on());
        assert_eq!(y.starts(), (0.0, 1.0));
        // On at 60 s, drawing from 75 s: 525 s of 6 kW (the half-life is far away).
        let wh = 6000.0 * 525.0 / 3600.0;
        assert!(
            (y.reference_wh() - wh).abs() < 0.01 * wh,
            "{}",
            y.reference_wh()
        );
        assert!((y.behind_wh() - wh).abs() < 0.01 * wh);
    }

    #[test]
    fn the_reference_sets_its_current_every_30_s_and_its_car_follows_5_s_later() {
        // 6 kW, then 9 kW from `change`: the reference sets the new current at its next control
        // interval (it started at 60 s, so at 300 s, 330 s, ...) and the car draws it 5 s later.
        // A change between two of its control intervals waits for the next one.
        for (change, drawn) in [(300, 305.0), (310, 335.0)] {
            let mut y = Yardstick::new();
            feed(&mut y, 0, 600, |t| if t < change { 6000 } else { 9000 });
            let wh = (6000.0 * (drawn - 75.0) + 9000.0 * (600.0 - drawn)) / 3600.0;
            assert!(
                (y.reference_wh() - wh).abs() < 0.001 * wh,
                "change at {change} s: {} {wh}",
                y.reference_wh()
            );
        }
    }

    #[test]
    fn session_sums_never_fade_and_a_half_life_fades_them() {
        // Ten minutes of sun, then two days of night.
        let sun = |t: u64| if t < 600 { 6000 } else { 0 };
        let mut session = Yardstick::new();
        feed(&mut session, 0, 2 * 86_400, sun);
        let wh = 6000.0 * (600.0 - 75.0) / 3600.0;
        assert!((session.reference_wh() - wh).abs() < 0.01 * wh);
        let mut fading = Yardstick::new();
        let day = Site {
            half_life: Duration::from_secs(86_400),
            ..SITE
        };
        for t in (0..=2 * 86_400).step_by(10) {
            fading.update(Instant::from_secs(t), sun(t), 0, &day);
        }
        // Two half-lives later a quarter is left.
        let left = fading.reference_wh() / wh;
        assert!((left - 0.25).abs() < 0.01, "{left}");
    }

    #[test]
    fn a_month_long_session_adds_up() {
        // 30 days of 6 kW: sums of 1.6e10 W*s, to which every 10 s reading adds 6e4.
        let mut y = Yardstick::new();
        let end = 30 * 86_400;
        feed(&mut y, 0, end, |_| 6000);
        let wh = 6000.0 * (end as f64 - 75.0) / 3600.0;
        let got = f64::from(y.reference_wh());
        assert!((got - wh).abs() < 1e-4 * wh, "{got} {wh}");
        assert!((f64::from(y.behind_wh()) - wh).abs() < 1e-4 * wh);
    }

    #[test]
    fn in_a_dip_the_reference_holds_the_minimum_then_stops() {
        let dip = |t: u64| if t < 600 { 6000 } else { 2000 };
        let mut y = Yardstick::new();
        feed(&mut y, 0, 1200, dip);
        assert!(!y.reference_on());
        let (ours, reference) = y.imports_wh();
        assert_eq!(ours, 0.0);
        // The car follows the drop 5 s late, then holds the minimum until the stop 180 s after
        // the dip began.
        let wh = ((6000.0 - 2000.0) * 5.0 + (4140.0 - 2000.0) * (780.0 - 605.0)) / 3600.0;
        assert!((reference - wh).abs() < 0.01 * wh, "{reference} {wh}");
    }
}
