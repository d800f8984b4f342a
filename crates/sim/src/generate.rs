//! A generated solar day: sunfill's own, seeded, reproducible scenario.
//!
//! Origin: entirely synthetic, made by this module; no measured data. It exists so that
//! `sunfill simulate` and `sunfill demo` run on a fresh machine with nothing else installed, and
//! so that tests have a realistic day of their own. The model:
//! - **PV**: a 9 kWp array behind an 8 kW inverter at about 56 deg N in June (sunrise 04:40,
//!   sunset 21:50 local = UTC+2); clear-sky power follows `sin(pi x)^1.4` over the day.
//! - **Clouds**: a two-state (sun/shadow) Markov chain per minute, as cumulus fields behave:
//!   a shadow lets 25..45 % through; a cloudier spell in the early afternoon; a short
//!   cloud-edge enhancement (+8 %) in the minute after a shadow ends.
//! - **House**: a base load with a slow random walk, a fridge cycling, and the appliances of a
//!   family day (kettle, coffee, washing machine, dishwasher, cooking, evening TV and light).
//!
//! Everything derives from one `u64` seed through xorshift64*, so a seed always gives the same day.

use crate::scenario::{Row, Scenario};

/// What kind of day to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sky {
    /// No clouds.
    Clear,
    /// Cumulus: many short shadows (the hard case for a controller).
    BrokenClouds,
}

/// A small deterministic PRNG (xorshift64*), so the day needs no crate and never changes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64's finaliser spreads every bit of the seed (a plain `seed ^ k | 1` made seeds
        // 2n and 2n+1 the same day); xorshift needs a non-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Minutes after local midnight.
const fn hm(h: u32, m: u32) -> u32 {
    h * 60 + m
}

/// Unix time of 2025-06-09T22:00:00Z, local midnight of 2025-06-10 at UTC+2.
const START_UNIX: i64 = 1_749_506_400;

/// Generates one day of 1440 minutes starting at local midnight (UTC+2).
pub fn day(sky: Sky, seed: u64) -> Scenario {
    let mut rng = Rng::new(seed);
    let (rise, set) = (hm(4, 40) as f64, hm(21, 50) as f64);
    let (peak_w, inverter_w) = (9_000.0 * 0.92, 8_000.0);
    let mut shadow = false;
    let mut transmit = 1.0;
    let mut after_shadow = false;
    let mut base = 160.0;
    let mut rows = Vec::with_capacity(1440);
    for minute in 0..1440u32 {
        let t = minute as f64;
        // --- PV
        let x = (t - rise) / (set - rise);
        let clear = if (0.0..=1.0).contains(&x) {
            peak_w * (std::f64::consts::PI * x).sin().powf(1.4)
        } else {
            0.0
        };
        if sky == Sky::BrokenClouds {
            let afternoon = (hm(13, 0)..hm(15, 30)).contains(&minute);
            let (p_in, p_out) = if afternoon {
                (0.22, 0.18)
            } else {
                (0.12, 0.30)
            };
            let was = shadow;
            if shadow {
                if rng.unit() < p_out {
                    shadow = false;
                }
            } else if rng.unit() < p_in {
                shadow = true;
                transmit = 0.25 + 0.20 * rng.unit();
            }
            after_shadow = was && !shadow;
        }
        let factor = if shadow {
            transmit
        } else if after_shadow {
            1.08
        } else {
            1.0
        };
        let pv_w = (clear * factor).min(inverter_w).max(0.0);
        // --- house
        base = (base + (rng.unit() - 0.5) * 8.0).clamp(120.0, 240.0);
        let mut house_w = base;
        if minute % 40 < 12 {
            house_w += 90.0; // fridge compressor
        }
        let on = |from: u32, len: u32| (from..from + len).contains(&minute);
        if on(hm(6, 45), 90) || on(hm(20, 30), 150) {
            house_w += 80.0; // light
        }
        if on(hm(7, 10), 3) {
            house_w += 2_000.0; // kettle
        }
        if on(hm(7, 30), 2) || on(hm(13, 5), 2) {
            house_w += 1_200.0; // coffee
        }
        if on(hm(10, 30), 15) {
            house_w += 2_100.0; // washing machine heating
        } else if on(hm(10, 45), 70) {
            house_w += 250.0; // washing machine drum
        }
        if on(hm(13, 40), 25) {
            house_w += 2_000.0; // dishwasher heating
        } else if on(hm(14, 5), 60) {
            house_w += 100.0;
        }
        if on(hm(18, 0), 40) && minute % 4 != 0 {
            house_w += 1_800.0; // cooking, the hob cycling
        }
        if on(hm(19, 30), 180) {
            house_w += 120.0; // TV
        }
        rows.push(Row {
            pv_w: pv_w.round(),
            house_w: house_w.round(),
        });
    }
    let name = match sky {
        Sky::Clear => "generated-clear",
        Sky::BrokenClouds => "generated-broken-clouds",
    };
    Scenario {
        name: name.to_string(),
        start_unix: START_UNIX,
        rows,
    }
}

/// The scenario as CSV in the benchmark's format, with a comment line stating its origin.
pub fn to_csv(s: &Scenario, seed: u64) -> String {
    s.to_csv(&format!(
        "{}: generated by sunfill (synthetic PV and house model, seed {seed}); not measured data",
        s.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{format_rfc3339_utc, parse_rfc3339_utc};

    #[test]
    fn the_day_is_reproducible_and_plausible() {
        let a = day(Sky::BrokenClouds, 7);
        assert_eq!(a, day(Sky::BrokenClouds, 7));
        assert_ne!(a, day(Sky::BrokenClouds, 8));
        assert_eq!(a.rows.len(), 1440);
        let pv_kwh: f64 = a.rows.iter().map(|r| r.pv_w).sum::<f64>() / 60_000.0;
        let house_kwh: f64 = a.rows.iter().map(|r| r.house_w).sum::<f64>() / 60_000.0;
        assert!((20.0..80.0).contains(&pv_kwh), "{pv_kwh}");
        assert!((4.0..12.0).contains(&house_kwh), "{house_kwh}");
        assert!(a.rows[0].pv_w == 0.0 && a.rows[hm(13, 0) as usize].pv_w > 0.0);
        // Cumulus: many crossings of the 3-phase minimum during the day.
        let crossings = a
            .rows
            .windows(2)
            .filter(|w| {
                (w[0].pv_w - w[0].house_w >= 4140.0) != (w[1].pv_w - w[1].house_w >= 4140.0)
            })
            .count();
        assert!(crossings > 20, "{crossings}");
    }

    #[test]
    fn csv_round_trips_through_the_reader() {
        let a = day(Sky::Clear, 1);
        let text = to_csv(&a, 1);
        let b = Scenario::parse("gen.csv", &a.name, &text).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rfc3339_matches_the_reader() {
        for t in [0i64, START_UNIX, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_rfc3339_utc(&format_rfc3339_utc(t)), Ok(t));
        }
    }
}
