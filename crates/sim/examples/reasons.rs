//! Which decisions does sunfill's grid energy and solar come from? Books every second of a run to
//! the reason of the decision in effect (per reason kind), per scenario and phases; with
//! `REASONS_DEPTH=1` holds are split by the surplus as a share of the minimum power (bucket 0:
//! none, then 0-0.3, 0.3-0.5, 0.5-0.7, 0.7-0.85, 0.85-1). Each line ends with the starts, by the
//! reason of the decision that started the car.
//!
//! `cargo run --release -p sunfill-sim --example reasons -- ../shared/data/scenarios [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use sunfill_core::control::Reason;
use sunfill_sim::model::simulate;
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::sunfill_policy::SunfillPolicy;

mod common;

struct Probe {
    inner: SunfillPolicy,
    last: Option<Measurement>,
    p_min: f64,
    /// Reason kind -> (solar kWh, import kWh).
    book: BTreeMap<String, (f64, f64)>,
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
        if let Some(m) = reading {
            self.last = Some(*m);
        }
        let out = self.inner.step(now_s, reading);
        if let (Some(a), Some(r)) = (out, self.inner.last_reason()) {
            if a > 0 && !self.on {
                *self.starts.entry(kind(&r)).or_default() += 1;
            }
            self.on = a > 0;
        }
        if let (Some(m), Some(r)) = (self.last, self.inner.last_reason()) {
            let kind = kind(&r);
            let kind = if std::env::var("REASONS_DEPTH").is_ok()
                && matches!(kind.as_str(), "Holding" | "CatchingUp")
            {
                let x = (m.pv_w - m.house_w) / self.p_min;
                let b = [0.0, 0.3, 0.5, 0.7, 0.85, 1.0]
                    .iter()
                    .filter(|&&e| x >= e)
                    .count();
                format!("{kind}@{b}")
            } else {
                kind
            };
            let (solar, import) = common::second_kwh(&m);
            let e = self.book.entry(kind).or_default();
            e.0 += solar;
            e.1 += import;
        }
        out
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let tuning = common::parse(&args.next().unwrap_or_default());
    for (sc, ph, cfg) in common::runs(&dir) {
        let mut p = Probe {
            inner: SunfillPolicy::with_config(common::config(ph, tuning), ph),
            last: None,
            p_min: cfg.p_min_w(),
            book: BTreeMap::new(),
            starts: BTreeMap::new(),
            on: false,
        };
        let m = simulate(&sc, &cfg, &mut p, None).metrics;
        let parts: Vec<String> = p
            .book
            .iter()
            .filter(|(_, v)| v.0 + v.1 > 0.005)
            .map(|(k, v)| format!("{k} {:.2}/{:.2}", v.0, v.1))
            .collect();
        let starts: Vec<String> = p.starts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "{:28} {ph}ph {:.2}/{:.2}/{} | {} | starts: {}",
            sc.name,
            m.solar_kwh,
            m.import_kwh,
            m.starts,
            parts.join(", "),
            starts.join(", ")
        );
    }
}
