//! Where each policy's grid energy goes. Each second's grid energy is split into *lag* (the car
//! above both the surplus and the minimum power: a lower setpoint not yet in effect after a drop)
//! and *hold* (the minimum power, or what is left of it, over the surplus). Each hold, from the
//! first second the car draws more than a surplus below the minimum power until the surplus is back
//! at the minimum (*bridged*: a stop and restart saved) or the car stops (*stopped*: the hold
//! saved no start), is booked with its grid energy, the solar it took and its length.
//!
//! `cargo run --release -p sunfill-sim --example split -- DIR [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod common;

use std::path::PathBuf;
use sunfill_sim::model::{simulate, solar_and_grid_w};
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::runner::PolicyKind;

/// Upper edges of the hold-length classes, s.
const LENGTHS: [u64; 5] = [60, 180, 300, 600, u64::MAX];

/// Count, grid energy and solar (kWh) of holds.
#[derive(Clone, Copy, Default)]
struct Holds {
    n: u32,
    import: f64,
    solar: f64,
}

impl Holds {
    fn add(&mut self, o: &Holds) {
        self.n += o.n;
        self.import += o.import;
        self.solar += o.solar;
    }
}

/// What one policy's grid energy went into.
#[derive(Clone, Copy, Default)]
struct Book {
    lag: f64,
    dip_lag: f64,
    hold: f64,
    /// By ending (0 bridged, 1 stopped) and length class.
    holds: [[Holds; LENGTHS.len()]; 2],
}

impl Book {
    fn add(&mut self, o: &Book) {
        self.lag += o.lag;
        self.dip_lag += o.dip_lag;
        self.hold += o.hold;
        for (a, b) in self.holds.iter_mut().zip(o.holds.iter()) {
            for (x, y) in a.iter_mut().zip(b.iter()) {
                x.add(y);
            }
        }
    }

    fn ended(&self, k: usize) -> Holds {
        let mut h = Holds::default();
        self.holds[k].iter().for_each(|x| h.add(x));
        h
    }
}

struct Split {
    inner: Box<dyn Policy + Send>,
    replay: common::Replay,
    p_min: f64,
    book: Book,
    /// The hold in progress: grid energy, solar, seconds.
    hold: Option<(f64, f64, u64)>,
}

impl Policy for Split {
    fn name(&self) -> &'static str {
        "split"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let out = self.inner.step(now_s, reading);
        let (c, s) = self.replay.second(now_s, out);
        if let Some((import, solar, secs)) = self.hold {
            if c == 0.0 || s >= self.p_min {
                let k = LENGTHS.iter().position(|&e| secs < e).unwrap();
                self.book.holds[usize::from(c == 0.0)][k].add(&Holds {
                    n: 1,
                    import,
                    solar,
                });
                self.hold = None;
            }
        }
        let (solar, grid) = solar_and_grid_w(c, s);
        if grid > 0.0 {
            // The part above the minimum power (or the surplus, if higher) is lag.
            let lag = (c - s.max(self.p_min)).max(0.0);
            self.book.lag += lag / 3.6e6;
            self.book.hold += (grid - lag) / 3.6e6;
            if s < self.p_min {
                self.book.dip_lag += lag / 3.6e6;
                let h = self.hold.get_or_insert((0.0, 0.0, 0));
                h.0 += grid / 3.6e6;
                h.1 += solar / 3.6e6;
                h.2 += 1;
            }
        }
        out
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let v = args.next().unwrap_or_default();
    let mut total = [Book::default(); 2];
    for (sc, ph, cfg) in common::runs(&dir) {
        let mut line = format!("{:<30} {ph}ph", sc.name);
        for (i, inner) in [common::policy(ph, &v), PolicyKind::ThresholdDelay.build(ph)]
            .into_iter()
            .enumerate()
        {
            let mut p = Split {
                inner,
                replay: common::Replay::new(&sc, ph),
                p_min: cfg.p_min_w(),
                book: Book::default(),
                hold: None,
            };
            let m = simulate(&sc, &cfg, &mut p, None).metrics;
            let (b, s) = (p.book.ended(0), p.book.ended(1));
            line += &format!(
                " | {} import {:.2} lag {:.2} hold {:.2} (bridged {:.2}, stopped {:.2})",
                if i == 0 { "ours" } else { "td" },
                m.import_kwh,
                p.book.lag,
                p.book.hold,
                b.import,
                s.import,
            );
            total[i].add(&p.book);
        }
        println!("{line}");
    }
    for (i, t) in total.iter().enumerate() {
        println!(
            "{}: lag {:.2} kWh ({:.2} of it in dips), hold {:.2} kWh",
            if i == 0 { "sunfill" } else { "threshold-delay" },
            t.lag,
            t.dip_lag,
            t.hold
        );
        for (k, ending) in ["bridged", "stopped"].iter().enumerate() {
            let all = t.ended(k);
            println!(
                "  {ending}: {} holds, {:.2} kWh of grid energy for {:.2} kWh of solar",
                all.n, all.import, all.solar
            );
            for (j, h) in t.holds[k].iter().enumerate().filter(|(_, h)| h.n > 0) {
                let lo = if j == 0 { 0 } else { LENGTHS[j - 1] };
                let hi = match LENGTHS[j] {
                    u64::MAX => String::new(),
                    x => x.to_string(),
                };
                println!(
                    "    {lo:>4}-{hi:<4} s: {:>3} holds, {:.2} kWh grid, {:.2} kWh solar",
                    h.n, h.import, h.solar
                );
            }
        }
    }
}
