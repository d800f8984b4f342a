//! Policy tuning harness: runs the baselines once, then sunfill variants, over every scenario in a
//! folder with 1 and 3 phases, and prints each variant's totals and goal margins.
//!
//! `cargo run --release -p sunfill-sim --example tune -- ../shared/data/scenarios`
//!
//! Variants are given as `key=value,...` strings after the folder (keys in `common/mod.rs`);
//! none means the defaults. `TUNE_DETAIL=1` prints every run; `TUNE_SEARCH=N` with
//! `TUNE_GRID="key=a|b;key2=x|y"` samples N variants and prints the best. `TUNE_HINDSIGHT=1` then
//! picks a variant per run knowing the results (see [`hindsight`]).

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::goal::run_violations;
use sunfill_sim::model::{simulate, Metrics};
use sunfill_sim::policy::Policy;
use sunfill_sim::runner::{site_config, PolicyKind, RunOptions};
use sunfill_sim::scenario::Scenario;
use sunfill_sim::sunfill_policy::SunfillPolicy;

#[derive(Default, Clone, Copy)]
struct Sum {
    solar: f64,
    import: f64,
    starts: u32,
    bound: f64,
}
impl Sum {
    fn add(&mut self, m: &Metrics) {
        self.solar += m.solar_kwh;
        self.import += m.import_kwh;
        self.starts += m.starts;
        self.bound += m.bound_zero_import_kwh;
    }
}

mod common;
use common::parse as parse_variant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or("../shared/data/scenarios".into()));
    let variants: Vec<String> = args.collect();
    let variants = if variants.is_empty() {
        vec![String::new()]
    } else {
        variants
    };
    let files: Vec<_> = Scenario::files_in(&dir)
        .expect("scenario dir")
        .into_iter()
        // TUNE_ONLY=dk-,us- keeps only the scenarios whose names start so (held-out checks).
        .filter(|p| match std::env::var("TUNE_ONLY") {
            Ok(pre) => {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                pre.split(',').any(|x| name.starts_with(x))
            }
            Err(_) => true,
        })
        .collect();
    let scenarios: Vec<Scenario> = files
        .iter()
        .map(|p| Scenario::read(p).expect("scenario"))
        .collect();
    let opts = RunOptions::default();
    let runs: Vec<(usize, u8)> = (0..scenarios.len())
        .flat_map(|i| [(i, 1u8), (i, 3u8)])
        .collect();
    let run_policy = |mk: &(dyn Fn(u8) -> Box<dyn Policy + Send> + Sync)| -> Vec<Metrics> {
        std::thread::scope(|s| {
            let hs: Vec<_> = runs
                .iter()
                .map(|&(i, ph)| {
                    let sc = &scenarios[i];
                    let cfg = site_config(sc, ph, &opts).expect("cfg");
                    s.spawn(move || {
                        let mut p = mk(ph);
                        simulate(sc, &cfg, p.as_mut(), None).metrics
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("join")).collect()
        })
    };
    let seed = run_policy(&|ph| PolicyKind::Seed.build(ph));
    let td = run_policy(&|ph| PolicyKind::ThresholdDelay.build(ph));
    let (mut ss, mut ts) = (Sum::default(), Sum::default());
    seed.iter().for_each(|m| ss.add(m));
    td.iter().for_each(|m| ts.add(m));
    println!(
        "seed: solar {:.1} import {:.2} starts {} | td: solar {:.1} import {:.2} starts {} | bound {:.1}",
        ss.solar, ss.import, ss.starts, ts.solar, ts.import, ts.starts, ts.bound
    );
    let search: usize = std::env::var("TUNE_SEARCH")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let mut variants = variants;
    if search > 0 {
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        variants.clear();
        // TUNE_GRID="key=a|b|c;key2=x|y" samples from these values; otherwise the default grid.
        let grid = std::env::var("TUNE_GRID").unwrap_or_else(|_| {
            "earn=0|100|200|330|500;cap=3|10|20|40|60|90|120|180;grant=3|10|20|40|60|90;\
             delay=10|20|30|60;sx=0|10|20|30|45|60;maxwait=0|60|90|120|180|300;\
             rdelay=30|60|90|120|180;rwin=0|300|600|1800"
                .into()
        });
        let keys: Vec<(String, Vec<String>)> = grid
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .map(|(k, v)| (k.to_string(), v.split('|').map(str::to_string).collect()))
            .collect();
        for _ in 0..search {
            let v: Vec<String> = keys
                .iter()
                .map(|(k, vs)| format!("{k}={}", vs[rnd(vs.len() as u64) as usize]))
                .collect();
            variants.push(v.join(","));
        }
        variants.sort();
        variants.dedup();
    }
    let mut scored: Vec<(f64, String)> = Vec::new();
    let mut all: Vec<Vec<Metrics>> = Vec::new();
    for v in &variants {
        let tuning = parse_variant(v);
        let ours = run_policy(&move |ph| {
            let cfg = common::config(ph, tuning);
            Box::new(SunfillPolicy::with_config(cfg, ph))
        });
        let mut os = Sum::default();
        ours.iter().for_each(|m| os.add(m));
        all.push(ours.clone());
        let mut bad = Vec::new();
        for (k, &(i, ph)) in runs.iter().enumerate() {
            let (o, t, s) = (&ours[k], &td[k], &seed[k]);
            let name = &scenarios[i].name;
            bad.extend(
                run_violations(o, t, s)
                    .into_iter()
                    .map(|w| format!("{name}/{ph} {w}")),
            );
        }
        let mut run_excess = 0.0f64;
        for (k, _) in runs.iter().enumerate() {
            let (o, t, s) = (&ours[k], &td[k], &seed[k]);
            let need = (0.97 * t.solar_kwh).max(0.98 * s.solar_kwh);
            run_excess += ((need - o.solar_kwh) / need.max(1.0)).max(0.0);
            run_excess += ((o.import_kwh - t.import_kwh - 0.1) / t.import_kwh.max(1.0)).max(0.0);
            run_excess +=
                ((o.starts as f64 - t.starts as f64 - 2.0) / (t.starts as f64).max(5.0)).max(0.0);
        }
        let score = [
            ts.solar / os.solar,
            os.import / (0.5 * ts.import),
            os.starts as f64 / (0.8 * ts.starts as f64),
            os.starts as f64 / (0.1 * ss.starts as f64),
        ]
        .into_iter()
        .fold(0.0f64, f64::max)
            + run_excess;
        scored.push((score, v.clone()));
        if search > 0 {
            continue;
        }
        println!(
            "score {score:.3} [{v}] solar {:.1} ({:.3} td) import {:.2} ({:.2} td) starts {} ({:.2} td, {:.3} seed) {}",
            os.solar,
            os.solar / ts.solar,
            os.import,
            os.import / ts.import,
            os.starts,
            os.starts as f64 / ts.starts as f64,
            os.starts as f64 / ss.starts as f64,
            if bad.is_empty() { "per-run OK".to_string() } else { format!("BAD: {}", bad.join("; ")) }
        );
        if std::env::var("TUNE_DETAIL").is_ok() {
            for (k, &(i, ph)) in runs.iter().enumerate() {
                let (o, t, s) = (&ours[k], &td[k], &seed[k]);
                println!(
                    "   {:34} {ph}ph  ours {:6.2}/{:5.2}/{:3}  td {:6.2}/{:5.2}/{:3}  seed {:6.2}/{:5.2}/{:3}",
                    scenarios[i].name, o.solar_kwh, o.import_kwh, o.starts, t.solar_kwh, t.import_kwh, t.starts,
                    s.solar_kwh, s.import_kwh, s.starts
                );
            }
        }
    }
    if std::env::var("TUNE_HINDSIGHT").is_ok() {
        let names: Vec<String> = runs
            .iter()
            .map(|&(i, ph)| format!("{}/{ph}", scenarios[i].name))
            .collect();
        hindsight(&all, &td, &seed, &variants, &names, &ts, &ss);
    }
    if search > 0 {
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (score, v) in scored.iter().take(12) {
            println!("{score:.3} {v}");
        }
        if let Some((_, best)) = scored.first() {
            println!("best: {best}");
        }
    }
}

/// Per-run hindsight choice among the variants run (`all[v][k]`: variant `v` on run `k`): for a grid
/// of weightings of grid energy (`alpha`, kWh of solar per kWh) and starts (`beta`, kWh of solar
/// per start), each run gets the variant within its no-bad-day bounds with the best
/// `solar - alpha x import - beta x starts`. Prints the totals of a coarse grid, then whether any
/// weighting on a fine grid meets all of the goal's totals. An upper bound for any policy that
/// only adapts these variants' settings per run.
fn hindsight(
    all: &[Vec<Metrics>],
    td: &[Metrics],
    seed: &[Metrics],
    variants: &[String],
    names: &[String],
    ts: &Sum,
    ss: &Sum,
) {
    let runs = td.len();
    let by_run: Vec<Vec<Metrics>> = (0..runs)
        .map(|k| all.iter().map(|v| v[k]).collect())
        .collect();
    let meets = |h: &common::Hindsight| {
        h.missing == 0
            && h.solar >= ts.solar
            && h.import <= 0.5 * ts.import
            && f64::from(h.starts) <= 0.8 * f64::from(ts.starts)
            && f64::from(h.starts) <= 0.1 * f64::from(ss.starts)
    };
    for alpha in [8.0, 12.0, 20.0, 30.0] {
        for beta in [0.3, 0.8, 1.5] {
            let h = common::hindsight(&by_run, td, seed, alpha, beta);
            println!(
                "hindsight alpha {alpha} beta {beta}: solar {:.3} td, import {:.3} td, starts {:.3} td, runs without a feasible variant {}{}",
                h.solar / ts.solar,
                h.import / ts.import,
                f64::from(h.starts) / f64::from(ts.starts),
                h.missing,
                if meets(&h) { " MEETS THE GOAL" } else { "" }
            );
        }
    }
    let mut found = None;
    'scan: for a in 10..80 {
        for b in 4..60 {
            let (alpha, beta) = (f64::from(a) * 0.5, f64::from(b) * 0.05);
            let h = common::hindsight(&by_run, td, seed, alpha, beta);
            if meets(&h) {
                found = Some((alpha, beta, h));
                break 'scan;
            }
        }
    }
    match found {
        Some((alpha, beta, h)) => {
            println!(
                "alpha {alpha} beta {beta} meets the goal's totals: solar {:.3} td, import {:.3} td, starts {:.3} td, {:.3} seed; picks:",
                h.solar / ts.solar,
                h.import / ts.import,
                f64::from(h.starts) / f64::from(ts.starts),
                f64::from(h.starts) / f64::from(ss.starts)
            );
            for (k, p) in h.picks.iter().enumerate() {
                match p {
                    Some(j) => {
                        let m = &by_run[k][*j];
                        println!(
                            "    {:32} {:6.2}/{:5.2}/{:3}  {}",
                            names[k], m.solar_kwh, m.import_kwh, m.starts, variants[*j]
                        );
                    }
                    None => println!("    {}: -", names[k]),
                }
            }
        }
        None => println!(
            "no weighting (alpha 5-39.5, beta 0.2-2.95) picks variants per run that meet the goal's totals"
        ),
    }
}
