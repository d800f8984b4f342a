//! How long does each start keep the car charging, and what does it bring? Splits a policy's
//! charging into on-periods (from a start to the next stop) and books each period's solar and grid
//! energy by its length, for sunfill and threshold-delay side by side. Each second is booked with
//! what the car really draws then ([`common::Replay`]).
//!
//! `cargo run --release -p sunfill-sim --example onruns -- ../shared/data/scenarios [variant]`

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::model::{simulate, solar_and_grid_w};
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::runner::PolicyKind;

mod common;

/// Upper edges of the length classes, minutes.
const EDGES: [u64; 5] = [3, 6, 15, 60, u64::MAX];

struct Probe {
    inner: Box<dyn Policy + Send>,
    replay: common::Replay,
    on_since: Option<u64>,
    setpoint: u16,
    acc: (f64, f64),
    /// By class: count, solar kWh, import kWh.
    book: [(u32, f64, f64); 5],
    /// Power at the minimum current, W.
    p_min: f64,
    /// Since the last stop: what holding the minimum would have cost (grid kWh) and given (solar
    /// kWh), and the seconds.
    gap: Option<(f64, f64, u64)>,
    /// Each stop that was followed by a restart: that hold's grid energy, solar and length.
    gaps: Vec<(f64, f64, u64)>,
}

impl Probe {
    fn close(&mut self, now: u64) {
        if let Some(t) = self.on_since.take() {
            let mins = (now - t) / 60;
            let c = EDGES.iter().position(|&e| mins < e).unwrap_or(4);
            self.book[c].0 += 1;
            self.book[c].1 += self.acc.0;
            self.book[c].2 += self.acc.1;
        }
        self.acc = (0.0, 0.0);
    }
}

impl Policy for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let out = self.inner.step(now_s, reading);
        if let Some(w) = out {
            if self.setpoint == 0 && w != 0 {
                self.close(now_s);
                self.on_since = Some(now_s);
                if let Some(g) = self.gap.take() {
                    self.gaps.push(g);
                }
            } else if self.setpoint != 0 && w == 0 {
                self.close(now_s);
                self.gap = Some((0.0, 0.0, 0));
            }
            self.setpoint = w;
        }
        let (car_w, s) = self.replay.second(now_s, out);
        let (solar, import) = solar_and_grid_w(car_w, s);
        self.acc.0 += solar / 3.6e6;
        self.acc.1 += import / 3.6e6;
        if let Some(g) = self.gap.as_mut() {
            let (sun, grid) = solar_and_grid_w(self.p_min, s);
            g.0 += grid / 3.6e6;
            g.1 += sun / 3.6e6;
            g.2 += 1;
        }
        out
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let variant = args.next().unwrap_or_default();
    let mut totals = [[(0u32, 0.0f64, 0.0f64); 5]; 2];
    let mut gaps = Vec::new();
    for (sc, ph, cfg) in common::runs(&dir) {
        for (k, inner) in [
            common::policy(ph, &variant),
            PolicyKind::ThresholdDelay.build(ph),
        ]
        .into_iter()
        .enumerate()
        {
            let mut p = Probe {
                inner,
                replay: common::Replay::new(&sc, ph),
                on_since: None,
                setpoint: 0,
                acc: (0.0, 0.0),
                book: Default::default(),
                p_min: cfg.p_min_w(),
                gap: None,
                gaps: Vec::new(),
            };
            simulate(&sc, &cfg, &mut p, None);
            if k == 0 {
                gaps.extend(p.gaps.iter().map(|&g| (g, sc.name.clone(), ph)));
            }
            p.close(sc.duration_s());
            let line: Vec<String> = p
                .book
                .iter()
                .map(|b| format!("{:3} {:6.2}/{:5.2}", b.0, b.1, b.2))
                .collect();
            for (t, b) in totals[k].iter_mut().zip(p.book) {
                t.0 += b.0;
                t.1 += b.1;
                t.2 += b.2;
            }
            let who = if k == 0 { "ours" } else { "td  " };
            println!("{:28} {ph}ph {who} | {}", sc.name, line.join(" | "));
        }
    }
    // With hindsight: the restarts that holding the minimum through the gap before them would
    // have saved most cheaply (least grid energy first).
    gaps.sort_by(|a, b| a.0 .0.total_cmp(&b.0 .0));
    let (mut import, mut solar) = (0.0, 0.0);
    println!(
        "restarts saved by holding the gaps before them, cheapest first (n: grid kWh / solar kWh):"
    );
    let marks: Vec<String> = gaps
        .iter()
        .enumerate()
        .filter_map(|(n, (g, _, _))| {
            import += g.0;
            solar += g.1;
            [5, 10, 15, 20, 25, 30, 40, 50]
                .contains(&(n + 1))
                .then(|| format!("{}: {import:.2} / {solar:.2}", n + 1))
        })
        .collect();
    println!("  {} (of {} restarts)", marks.join(", "), gaps.len());
    if std::env::var("ONRUNS_GAPS").is_ok() {
        for (g, name, ph) in gaps.iter().take(40) {
            println!(
                "  gap {:4} s  grid {:.3} kWh  solar {:.3} kWh  {name} {ph}ph",
                g.2, g.0, g.1
            );
        }
    }
    println!("on-period length classes (min): <3 | <6 | <15 | <60 | longer; count solar/import");
    for (k, t) in totals.iter().enumerate() {
        let line: Vec<String> = t
            .iter()
            .map(|b| format!("{:3} {:6.2}/{:5.2}", b.0, b.1, b.2))
            .collect();
        println!(
            "total {} | {}",
            if k == 0 { "ours" } else { "td  " },
            line.join(" | ")
        );
    }
}
