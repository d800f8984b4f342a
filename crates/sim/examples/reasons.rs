//! Which decisions does sunfill's grid energy and solar come from? Books every second of a run to
//! the reason of the decision in effect (per reason kind), per scenario and phases; with
//! `REASONS_DEPTH=1` holds are split by the surplus as a share of the minimum power (bucket 0:
//! none, then 0-0.3, 0.3-0.5, 0.5-0.7, 0.7-0.85, 0.85-1). Each line ends with the starts, by the
//! reason of the decision that started the car.
//!
//! The seconds are booked with what the car really draws then ([`common::Replay`]: a copy of the
//! simulator's car fed the same writes) at the scenario's surplus of that second, so the parts add
//! up to the run's `solar_kwh` and `import_kwh`.
//! (The `split` example splits the same grid energy by lag and holds, and the holds by how they
//! ended.)
//!
//! `cargo run --release -p sunfill-sim --example reasons -- ../shared/data/scenarios [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use sunfill_core::control::Reason;
use sunfill_sim::model::{simulate, solar_and_grid_w};
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::sunfill_policy::SunfillPolicy;

mod common;

/// Solar and grid energy, W*s.
type Energy = (f64, f64);

struct Probe {
    inner: SunfillPolicy,
    replay: common::Replay,
    p_min: f64,
    /// Split holds by depth (`REASONS_DEPTH`).
    depth: bool,
    /// Reason kind -> energy.
    book: BTreeMap<String, Energy>,
    /// Reason kind of the decision that started the car -> starts.
    starts: BTreeMap<String, u32>,
    on: bool,
}

/// The reason's variant name, e.g. `Holding`.
fn kind(r: &Reason) -> String {
    let debug = format!("{r:?}");
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or("")
        .to_string()
}

impl Policy for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let out = self.inner.step(now_s, reading);
        let (car_w, surplus) = self.replay.second(now_s, out);
        let reason = self.inner.last_reason();
        if let (Some(a), Some(r)) = (out, reason) {
            if a > 0 && !self.on {
                *self.starts.entry(kind(&r)).or_default() += 1;
            }
            self.on = a > 0;
        }
        let e = solar_and_grid_w(car_w, surplus);
        let Some(r) = reason else { return out };
        let kind = kind(&r);
        let kind = if self.depth && matches!(kind.as_str(), "Holding" | "CatchingUp") {
            let x = surplus / self.p_min;
            let b = [0.0, 0.3, 0.5, 0.7, 0.85, 1.0]
                .iter()
                .filter(|&&e| x >= e)
                .count();
            format!("{kind}@{b}")
        } else {
            kind
        };
        let x = self.book.entry(kind).or_default();
        x.0 += e.0;
        x.1 += e.1;
        out
    }
}

fn kwh(book: &BTreeMap<String, Energy>) -> Vec<String> {
    book.iter()
        .filter(|(_, v)| v.0 + v.1 > 0.005 * 3.6e6)
        .map(|(k, v)| format!("{k} {:.2}/{:.2}", v.0 / 3.6e6, v.1 / 3.6e6))
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let tuning = common::parse(&args.next().unwrap_or_default());
    for (sc, ph, cfg) in common::runs(&dir) {
        let mut p = Probe {
            inner: SunfillPolicy::with_config(common::config(ph, tuning), ph),
            replay: common::Replay::new(&sc, ph),
            p_min: cfg.p_min_w(),
            depth: std::env::var("REASONS_DEPTH").is_ok(),
            book: BTreeMap::new(),
            starts: BTreeMap::new(),
            on: false,
        };
        let m = simulate(&sc, &cfg, &mut p, None).metrics;
        let starts: Vec<String> = p.starts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "{:28} {ph}ph {:.2}/{:.2}/{} | {} | starts: {}",
            sc.name,
            m.solar_kwh,
            m.import_kwh,
            m.starts,
            kwh(&p.book).join(", "),
            starts.join(", ")
        );
    }
}
