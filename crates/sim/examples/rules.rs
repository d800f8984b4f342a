//! How far can simple rules go if the right one is picked for each run in hindsight? A family of
//! rules (hold a dip at the minimum while its grid energy stays under a budget and the surplus
//! above a depth; start after the surplus stayed above a margin for a delay) is run over every
//! scenario and phase count; then, for several weightings of grid energy and starts, the best rule
//! per run that keeps the run within the benchmark's no-bad-day bounds is picked and the totals
//! printed. An upper bound for any policy that only adapts such rules per day.
//!
//! `cargo run --release -p sunfill-sim --example rules -- ../shared/data/scenarios`
//!
//! `RULES_PICKS=1` lists the rule picked for each run; `RULES_ON_CHANGE=1` lets a held dip be
//! stopped only at a reading whose surplus differs from the last one (and then only if the next
//! 50 s still fit the budget): a repeated reading brings no news.

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::goal::run_violations;
use sunfill_sim::model::{simulate, Metrics};
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::runner::{site_config, RunOptions};
use sunfill_sim::scenario::Scenario;

mod common;
use common::rules::{Rule, RuleState, Site};

struct RulePolicy {
    rule: Rule,
    state: RuleState,
    site: Site,
}

impl Policy for RulePolicy {
    fn name(&self) -> &'static str {
        "rule"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let m = reading?;
        self.state
            .decide(&self.rule, now_s, m.pv_w - m.house_w, &self.site)
    }
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or("../shared/data/scenarios".into()),
    );
    let files = Scenario::files_in(&dir).expect("scenario dir");
    let scenarios: Vec<Scenario> = files.iter().map(|f| Scenario::read(f).unwrap()).collect();
    let rules = Rule::grid(
        &[
            0.0, 5.0, 10.0, 20.0, 40.0, 70.0, 100.0, 150.0, 250.0, 400.0, 700.0,
        ],
        &[0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9],
        &[0, 10, 20, 30, 60, 90, 120, 180, 300],
        &[1.0, 1.1, 1.25],
    );
    let on_change = std::env::var("RULES_ON_CHANGE").is_ok();
    let opts = RunOptions::default();
    // Runs: (scenario, phases) with the baselines' metrics.
    let mut runs = Vec::new();
    for sc in &scenarios {
        for ph in [1u8, 3] {
            let cfg = site_config(sc, ph, &opts).unwrap();
            let (td, seed) = common::baselines(sc, &cfg, ph);
            runs.push((sc, ph, cfg, td, seed));
        }
    }
    let threads = 2;
    let results: Vec<Vec<Metrics>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let rules = &rules;
                let runs = &runs;
                scope.spawn(move || {
                    runs.iter()
                        .enumerate()
                        .filter(|(i, _)| i % threads == k)
                        .map(|(i, (sc, ph, cfg, _, _))| {
                            let res: Vec<Metrics> = rules
                                .iter()
                                .map(|r| {
                                    let mut p = RulePolicy {
                                        rule: *r,
                                        state: RuleState::new(on_change),
                                        site: Site {
                                            p_min: cfg.p_min_w(),
                                            p_max: cfg.p_max_w(),
                                            volts: 230.0 * f64::from(*ph),
                                        },
                                    };
                                    simulate(sc, cfg, &mut p, None).metrics
                                })
                                .collect();
                            (i, res)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Vec<Metrics>)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_by_key(|x| x.0);
        all.into_iter().map(|x| x.1).collect()
    });
    let (td_s, td_i, td_n, seed_n) = runs.iter().fold((0.0, 0.0, 0u32, 0u32), |a, r| {
        (
            a.0 + r.3.solar_kwh,
            a.1 + r.3.import_kwh,
            a.2 + r.3.starts,
            a.3 + r.4.starts,
        )
    });
    println!("td: solar {td_s:.1} import {td_i:.2} starts {td_n}; seed starts {seed_n}");
    // One fixed rule for all runs: the best few by a simple score, with their bad-run counts.
    let ok = |m: &Metrics, td: &Metrics, seed: &Metrics| run_violations(m, td, seed).is_empty();
    let weights: Vec<(f64, f64)> = [3.0, 5.0, 8.0, 12.0, 20.0]
        .iter()
        .flat_map(|&a| [0.05, 0.1, 0.2, 0.4, 0.8, 1.5].iter().map(move |&b| (a, b)))
        .collect();
    let tds: Vec<Metrics> = runs.iter().map(|r| r.3).collect();
    let seeds: Vec<Metrics> = runs.iter().map(|r| r.4).collect();
    for &(alpha, beta) in &weights {
        let h = common::hindsight(&results, &tds, &seeds, alpha, beta);
        let (s, i, n, missing) = (h.solar, h.import, h.starts, h.missing);
        println!(
            "per-run hindsight alpha {alpha} beta {beta}: solar {s:.1} ({:.3} td) import {i:.2} ({:.3} td) starts {n} ({:.3} td, {:.3} seed), runs without a feasible rule {missing}",
            s / td_s, i / td_i, f64::from(n) / f64::from(td_n), f64::from(n) / f64::from(seed_n)
        );
        if std::env::var("RULES_PICKS").is_ok() {
            for (k, pick) in h.picks.iter().enumerate() {
                let Some(j) = *pick else { continue };
                let (run, m) = (&runs[k], &results[k][j]);
                println!(
                    "    {}/{}: b{} d{} t{} m{} -> {:.2}/{:.2}/{}",
                    run.0.name,
                    run.1,
                    rules[j].budget_wh,
                    rules[j].depth,
                    rules[j].start_delay,
                    rules[j].margin,
                    m.solar_kwh,
                    m.import_kwh,
                    m.starts
                );
            }
        }
    }
    // Best single rule for all runs.
    let mut scored: Vec<(f64, usize, f64, f64, u32, usize)> = (0..rules.len())
        .map(|j| {
            let (mut s, mut i, mut n, mut bad) = (0.0, 0.0, 0u32, 0);
            for (k, run) in runs.iter().enumerate() {
                let m = &results[k][j];
                s += m.solar_kwh;
                i += m.import_kwh;
                n += m.starts;
                if !ok(m, &run.3, &run.4) {
                    bad += 1;
                }
            }
            let score = (i / td_i / 0.5)
                .max(f64::from(n) / f64::from(td_n) / 0.8)
                .max(td_s / s);
            (score, j, s, i, n, bad)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    for &(score, j, s, i, n, bad) in scored.iter().take(8) {
        println!(
            "fixed rule {:?}: score {score:.3} solar {s:.1} ({:.3}) import {i:.2} ({:.3}) starts {n} ({:.3}) bad runs {bad}",
            rules[j], s / td_s, i / td_i, f64::from(n) / f64::from(td_n)
        );
    }
}
