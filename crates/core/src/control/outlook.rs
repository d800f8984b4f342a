//! The outlook: what this site's surplus is likely to do next, learned from what it did, and what
//! charging or waiting is worth because of it.
//!
//! The surplus, as a fraction of the car's minimum power, falls into one of [`LEVELS`] levels; the
//! current spell (sun at or above the minimum, or a dip below it) has an age, in [`AGES`] classes.
//! Every [`TICK`] the level is sampled and the step from the previous (age class, level) to the
//! new level is counted: a semi-Markov chain whose counts fade with the half-life of
//! [`Tuning::outlook_memory`], so it follows the weather of the last hour (fast cumulus, a slow
//! overcast spell) and not the whole year. Each age class's row is smoothed towards the row of all
//! ages, and that towards a weak fixed prior, so the first hours are sensible.
//!
//! From the chain, value iteration computes for each level what being on and being off is worth
//! over the next half hour or so, in ticks of the minimum power:
//! - on above the minimum: the solar taken;
//! - on below it (holding the minimum): the solar taken minus `import_weight` times the grid used;
//! - off: nothing;
//! - a start costs [`Tuning::start_price_wh`] plus the solar lost while the car starts.
//!
//! The controller then holds through a dip while being on is worth more than being off, and
//! starts when being on, after paying for the start, is worth more than waiting. A young spell
//! ends more often than an old one (in the benchmark's Danish and US days the chance that a sunny
//! spell or a dip ends within the next minute falls from about a quarter to a tenth over its first
//! ten minutes), which is why the age is part of the state.
//!
//! Everything is `f32` on fixed-size arrays: about 3 KiB of state and some 25 000 multiply-adds
//! per tick.
//!
//! [`Tuning::outlook_memory`]: super::Tuning::outlook_memory
//! [`Tuning::start_price_wh`]: super::Tuning::start_price_wh

use crate::time::{Duration, Instant};

/// Number of surplus levels.
pub const LEVELS: usize = 9;

/// Upper edges of the levels in per mille of the minimum power; the last level is open-ended.
const EDGES: [i32; LEVELS - 1] = [0, 300, 500, 650, 800, 900, 1000, 1500];

/// Typical surplus of each level before anything is learned, as a fraction of the minimum power.
const MIDS: [f32; LEVELS] = [-0.3, 0.15, 0.4, 0.575, 0.725, 0.85, 0.95, 1.25, 2.0];

/// How often the level is sampled: the chain's time step.
pub const TICK: Duration = Duration::from_secs(30);

/// Sweeps of value iteration per tick since the values were last brought up to date, starting
/// from the last values.
const SWEEPS: u32 = 24;

/// The most sweeps one refresh makes (after a long time without decisions).
const MAX_SWEEPS: u32 = 240;

/// The level of a surplus `surplus_w` when the minimum power is `min_w`.
pub fn level(surplus_w: i32, min_w: i32) -> usize {
    let permille = (surplus_w as i64 * 1000) / (min_w.max(1) as i64);
    EDGES
        .iter()
        .position(|&e| permille < e as i64)
        .unwrap_or(LEVELS - 1)
}

/// What the outlook needs to know to price decisions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prices {
    /// What a Wh from the grid costs, in Wh of solar.
    pub import_weight: f32,
    /// The price of one start, in seconds of the minimum power.
    pub start_secs: f32,
    /// Seconds from a start command until the car draws power.
    pub start_lag_secs: f32,
    /// The maximum power over the minimum power.
    pub max_ratio: f32,
    /// Half-life of the transition counts, in ticks.
    pub memory_ticks: f32,
    /// Half-life of the future's weight in the values, in ticks.
    pub horizon_ticks: f32,
}

/// Age classes of the current spell (the time since the surplus last crossed the minimum power),
/// in ticks: 0, 1, 2-3, 4-7, 8-15, 16 and more. Long spells tend to go on: the chance that a sunny
/// spell or a dip ends within the next minute falls from about a quarter in its first minute to a
/// tenth after ten minutes in the benchmark's Danish and US days.
pub const AGES: usize = 6;

/// Ticks an age class spans (the last is open).
const AGE_SPAN: [f32; AGES] = [1.0, 1.0, 2.0, 4.0, 8.0, f32::INFINITY];

/// The age class of a spell that has lasted `ticks`.
pub fn age_class(ticks: u64) -> usize {
    match ticks {
        0 => 0,
        1 => 1,
        2..=3 => 2,
        4..=7 => 3,
        8..=15 => 4,
        _ => 5,
    }
}

/// First level at or above the minimum power.
const SUN: usize = 7;

/// The learned chain and the values it gives. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Outlook {
    /// Transition counts by (age class, level) to the next level.
    counts: [[[f32; LEVELS]; LEVELS]; AGES],
    /// The same, whatever the age: the prior of each age class's row.
    pooled: [[f32; LEVELS]; LEVELS],
    /// Decayed sum and weight of the surplus ratio seen in each level.
    ratio_sum: [f32; LEVELS],
    ratio_weight: [f32; LEVELS],
    last: Option<(usize, usize)>,
    last_tick: Option<Instant>,
    /// Ticks learned since the values were last computed.
    unsolved: u32,
    q_on: [[f32; LEVELS]; AGES],
    q_off: [[f32; LEVELS]; AGES],
    /// The discounted value of what follows being on, by (age class, level).
    next_on: [[f32; LEVELS]; AGES],
    /// The same for being off.
    next_off: [[f32; LEVELS]; AGES],
}

impl Default for Outlook {
    fn default() -> Self {
        Self::new()
    }
}

/// Pseudo-counts per row of the fixed prior of the pooled chain.
const PRIOR_WEIGHT: f32 = 4.0;

/// Pseudo-counts per row with which the pooled chain smooths each age class's row.
const POOL_WEIGHT: f32 = 3.0;

fn prior(i: usize, j: usize) -> f32 {
    let d = i.abs_diff(j);
    let p = match d {
        0 => 0.90,
        1 => 0.035,
        2 => 0.01,
        _ => 0.003,
    };
    p * PRIOR_WEIGHT
}

impl Outlook {
    /// An outlook with nothing learned.
    pub const fn new() -> Self {
        Outlook {
            counts: [[[0.0; LEVELS]; LEVELS]; AGES],
            pooled: [[0.0; LEVELS]; LEVELS],
            ratio_sum: [0.0; LEVELS],
            ratio_weight: [0.0; LEVELS],
            last: None,
            last_tick: None,
            unsolved: 0,
            q_on: [[0.0; LEVELS]; AGES],
            q_off: [[0.0; LEVELS]; AGES],
            next_on: [[0.0; LEVELS]; AGES],
            next_off: [[0.0; LEVELS]; AGES],
        }
    }

    /// The typical surplus ratio of level `i`: what was seen there, or the level's middle.
    fn ratio(&self, i: usize) -> f32 {
        if self.ratio_weight[i] > 0.5 {
            self.ratio_sum[i] / self.ratio_weight[i]
        } else {
            MIDS[i]
        }
    }

    /// Records the surplus seen at `now` in a spell of age `age` (see [`AGES`]); samples the level
    /// once per [`TICK`]. The values follow at the next [`refresh`](Self::refresh).
    pub fn observe(
        &mut self,
        now: Instant,
        surplus_w: i32,
        min_w: i32,
        age: Duration,
        prices: &Prices,
    ) {
        let due = match self.last_tick {
            None => true,
            Some(t) => now.saturating_since(t) >= TICK,
        };
        if !due {
            return;
        }
        let lvl = level(surplus_w, min_w);
        let age = age_class(age.total_millis() / TICK.total_millis().max(1));
        let fade = 1.0 - core::f32::consts::LN_2 / prices.memory_ticks.max(1.0);
        let r = surplus_w as f32 / min_w.max(1) as f32;
        for a in self.counts.iter_mut() {
            for row in a.iter_mut() {
                for c in row.iter_mut() {
                    *c *= fade;
                }
            }
        }
        for row in self.pooled.iter_mut() {
            for c in row.iter_mut() {
                *c *= fade;
            }
        }
        for i in 0..LEVELS {
            self.ratio_sum[i] *= fade;
            self.ratio_weight[i] *= fade;
        }
        self.ratio_sum[lvl] += r.min(prices.max_ratio.max(1.0) + 1.0);
        self.ratio_weight[lvl] += 1.0;
        // A gap of more than two ticks (a restart, a missing reading) is not a step of the chain.
        if let (Some((pa, pl)), Some(t)) = (self.last, self.last_tick) {
            if now.saturating_since(t).total_millis() <= 2 * TICK.total_millis() {
                self.counts[pa][pl][lvl] += 1.0;
                self.pooled[pl][lvl] += 1.0;
            }
        }
        self.last = Some((age, lvl));
        self.last_tick = Some(now);
        self.unsolved = self.unsolved.saturating_add(1);
    }

    /// Brings the values up to date with what was learned and with `prices`: a few sweeps of
    /// value iteration per tick learned since the last refresh. Call it before [`hold`](Self::hold)
    /// or [`start`](Self::start); between decisions (charging in full sun, a night) nothing needs
    /// computing.
    pub fn refresh(&mut self, prices: &Prices) {
        if self.unsolved > 0 {
            let sweeps = SWEEPS.saturating_mul(self.unsolved).min(MAX_SWEEPS);
            self.solve(prices, sweeps);
            self.unsolved = 0;
        }
    }

    /// The reward of one tick on at surplus ratio `r`, in ticks of the minimum power.
    fn reward_on(r: f32, prices: &Prices) -> f32 {
        if r >= 1.0 {
            r.min(prices.max_ratio)
        } else {
            let solar = r.max(0.0);
            solar - prices.import_weight * (1.0 - solar)
        }
    }

    /// The cost of a start at surplus ratio `r`, in ticks of the minimum power.
    fn start_cost(r: f32, prices: &Prices) -> f32 {
        let tick = TICK.total_secs() as f32;
        (prices.start_secs + r.clamp(0.0, prices.max_ratio) * prices.start_lag_secs) / tick
    }

    fn solve(&mut self, prices: &Prices, sweeps: u32) {
        let gamma = 1.0 - core::f32::consts::LN_2 / prices.horizon_ticks.max(1.0);
        // The pooled chain, smoothed by the fixed prior.
        let mut pool = [[0.0f32; LEVELS]; LEVELS];
        for (i, row) in pool.iter_mut().enumerate() {
            let mut total = 0.0;
            for (j, x) in row.iter_mut().enumerate() {
                *x = self.pooled[i][j] + prior(i, j);
                total += *x;
            }
            for x in row.iter_mut() {
                *x /= total;
            }
        }
        // Each age class's chain, smoothed by the pooled one.
        let mut p = [[[0.0f32; LEVELS]; LEVELS]; AGES];
        for (a, rows) in p.iter_mut().enumerate() {
            for (i, row) in rows.iter_mut().enumerate() {
                let mut total = 0.0;
                for (j, x) in row.iter_mut().enumerate() {
                    *x = self.counts[a][i][j] + POOL_WEIGHT * pool[i][j];
                    total += *x;
                }
                for x in row.iter_mut() {
                    *x /= total;
                }
            }
        }
        let mut reward = [0.0f32; LEVELS];
        let mut cost = [0.0f32; LEVELS];
        for i in 0..LEVELS {
            let r = self.ratio(i);
            reward[i] = Self::reward_on(r, prices);
            cost[i] = Self::start_cost(r, prices);
        }
        for _ in 0..sweeps {
            let mut w_on = [[0.0f32; LEVELS]; AGES];
            let mut w_off = [[0.0f32; LEVELS]; AGES];
            for a in 0..AGES {
                for j in 0..LEVELS {
                    w_on[a][j] = self.q_on[a][j].max(self.q_off[a][j]);
                    w_off[a][j] = (self.q_on[a][j] - cost[j]).max(self.q_off[a][j]);
                }
            }
            for a in 0..AGES {
                // The spell goes on: its age class advances by one with chance 1 / span.
                let up = (a + 1).min(AGES - 1);
                let step = 1.0 / AGE_SPAN[a];
                for i in 0..LEVELS {
                    let (mut on, mut off) = (0.0, 0.0);
                    for j in 0..LEVELS {
                        let pj = p[a][i][j];
                        if pj == 0.0 {
                            continue;
                        }
                        let (von, voff) = if (i >= SUN) == (j >= SUN) {
                            (
                                w_on[a][j] * (1.0 - step) + w_on[up][j] * step,
                                w_off[a][j] * (1.0 - step) + w_off[up][j] * step,
                            )
                        } else {
                            (w_on[0][j], w_off[0][j])
                        };
                        on += pj * von;
                        off += pj * voff;
                    }
                    self.next_on[a][i] = gamma * on;
                    self.next_off[a][i] = gamma * off;
                    self.q_on[a][i] = reward[i] + self.next_on[a][i];
                    self.q_off[a][i] = self.next_off[a][i];
                }
            }
        }
    }

    /// The values of being on and off in age class `a` by level, in ticks of the minimum power
    /// (for diagnosis).
    pub fn values(&self, a: usize) -> ([f32; LEVELS], [f32; LEVELS]) {
        let a = a.min(AGES - 1);
        (self.q_on[a], self.q_off[a])
    }

    /// The learned chance of each next level from level `i` in age class `a` (counts, for
    /// diagnosis).
    pub fn counts(&self, a: usize, i: usize) -> [f32; LEVELS] {
        self.counts[a.min(AGES - 1)][i.min(LEVELS - 1)]
    }

    /// Whether holding the minimum now, at `surplus_w` below it in a dip of age `age`, is worth
    /// more than stopping.
    pub fn hold(&self, surplus_w: i32, min_w: i32, age: Duration, prices: &Prices) -> bool {
        let i = level(surplus_w, min_w);
        let a = age_class(age.total_millis() / TICK.total_millis().max(1));
        let r = surplus_w as f32 / min_w.max(1) as f32;
        Self::reward_on(r, prices) + self.next_on[a][i] >= self.next_off[a][i]
    }

    /// Whether starting now, at `surplus_w` in a spell of age `age`, is worth more than waiting.
    pub fn start(&self, surplus_w: i32, min_w: i32, age: Duration, prices: &Prices) -> bool {
        let i = level(surplus_w, min_w);
        let a = age_class(age.total_millis() / TICK.total_millis().max(1));
        let r = surplus_w as f32 / min_w.max(1) as f32;
        Self::reward_on(r, prices) + self.next_on[a][i] - Self::start_cost(r, prices)
            > self.next_off[a][i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        Prices {
            import_weight: 3.0,
            start_secs: 60.0,
            start_lag_secs: 20.0,
            max_ratio: 16.0 / 6.0,
            memory_ticks: 240.0,
            horizon_ticks: 40.0,
        }
    }

    #[test]
    fn levels_follow_the_edges() {
        assert_eq!(level(-5, 4140), 0);
        assert_eq!(level(0, 4140), 1);
        assert_eq!(level(4139, 4140), 6);
        assert_eq!(level(4140, 4140), 7);
        assert_eq!(level(100_000, 4140), 8);
    }

    /// Feeds a repeating pattern of surplus ratios, one per tick, with the spells' ages.
    fn learn(pattern: &[f32], ticks: usize) -> Outlook {
        let mut o = Outlook::new();
        let p = prices();
        let (mut since, mut sunny) = (0u64, true);
        for k in 0..ticks {
            let r = pattern[k % pattern.len()];
            if (r >= 1.0) != sunny {
                sunny = r >= 1.0;
                since = k as u64;
            }
            let now = Instant::from_secs(30 * k as u64);
            let age = Duration::from_secs(30 * (k as u64 - since));
            o.observe(now, (r * 4140.0) as i32, 4140, age, &p);
            // As the controller does: values brought up to date when a decision needs them.
            if k % 7 == 0 {
                o.refresh(&p);
            }
        }
        o.refresh(&p);
        o
    }

    #[test]
    fn a_short_shallow_dip_between_sun_is_held() {
        // Sun for 3 min, a 1 min dip at 70 %: the dip always ends soon.
        let o = learn(&[1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 0.7, 0.7], 600);
        assert!(o.hold((0.7 * 4140.0) as i32, 4140, Duration::ZERO, &prices()));
    }

    #[test]
    fn a_long_dip_is_not_held() {
        // Two hours at 70 %, then an hour of sun: holding costs more than a restart.
        let mut pat = [0.7f32; 360];
        for x in pat.iter_mut().skip(240) {
            *x = 1.8;
        }
        let o = learn(&pat, 2000);
        assert!(!o.hold((0.7 * 4140.0) as i32, 4140, Duration::ZERO, &prices()));
    }

    #[test]
    fn a_deep_dip_is_not_held_and_sun_starts() {
        let o = learn(&[1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 0.1, 0.1], 600);
        assert!(!o.hold((0.1 * 4140.0) as i32, 4140, Duration::ZERO, &prices()));
        assert!(o.start((1.8 * 4140.0) as i32, 4140, Duration::ZERO, &prices()));
        assert!(!o.start((0.1 * 4140.0) as i32, 4140, Duration::ZERO, &prices()));
    }
}
