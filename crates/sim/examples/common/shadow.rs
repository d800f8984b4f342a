//! Shadow runs: the benchmark's car model and the sums of a policy run beside the real one on
//! the same readings (the surplus does not depend on the car). Shared by the `experts` and
//! `chooser` examples.

// Each example compiles this module; most use none of it.
#![allow(dead_code)]

/// The benchmark's car, as far as a shadow needs it.
#[derive(Clone, Copy, Default)]
pub struct ShadowCar {
    eff: u16,
    pending: Option<(u16, u64)>,
    set: u16,
}

impl ShadowCar {
    /// Writes setpoint `v` (0.1 A) at `now`; true if it is a start.
    pub fn write(&mut self, v: u16, now: u64) -> bool {
        let start = self.set == 0 && v > 0;
        self.set = v;
        if v == 0 {
            self.eff = 0;
            self.pending = None;
        } else if self.eff == 0 {
            match self.pending {
                Some((_, due)) => self.pending = Some((v, due)),
                None => self.pending = Some((v, now + 15)),
            }
        } else {
            self.pending = Some((v, now + 5));
        }
        start
    }
    /// The current the car draws at `now` (0.1 A).
    pub fn at(&mut self, now: u64) -> u16 {
        if let Some((v, due)) = self.pending {
            if due <= now {
                self.eff = v;
                self.pending = None;
            }
        }
        self.eff
    }
}

/// What a policy got so far.
#[derive(Clone, Copy, Default)]
pub struct Sums {
    /// Solar, kWh.
    pub solar: f64,
    /// Grid energy, kWh.
    pub import: f64,
    /// Starts.
    pub starts: f64,
}

impl Sums {
    /// Books `secs` seconds of `car_w` at surplus `s`.
    pub fn book(&mut self, car_w: f64, s: f64, secs: f64) {
        let (solar, grid) = sunfill_sim::model::solar_and_grid_w(car_w, s);
        self.solar += solar * secs / 3.6e6;
        self.import += grid * secs / 3.6e6;
    }
    /// Multiplies every sum by `k`.
    pub fn fade(&mut self, k: f64) {
        self.solar *= k;
        self.import *= k;
        self.starts *= k;
    }
}

/// Runs the policy `make(phases, site config)` gives on every scenario in `dir` at 1 and 3 phases
/// (in parallel) beside the baselines, prints a line per run and returns the totals as text.
pub fn run_and_report<P: sunfill_sim::policy::Policy>(
    dir: &std::path::Path,
    make: impl Fn(u8, &sunfill_sim::model::SiteConfig) -> P + Sync,
) -> String {
    use sunfill_sim::goal::run_violations;
    use sunfill_sim::model::simulate;
    use sunfill_sim::runner::{site_config, RunOptions};
    use sunfill_sim::scenario::Scenario;
    let files = Scenario::files_in(dir).expect("scenario dir");
    let scenarios: Vec<Scenario> = files.iter().map(|f| Scenario::read(f).unwrap()).collect();
    let opts = RunOptions::default();
    let jobs: Vec<(&Scenario, u8)> = scenarios
        .iter()
        .flat_map(|sc| [(sc, 1u8), (sc, 3u8)])
        .collect();
    let out: Vec<_> = std::thread::scope(|scope| {
        let hs: Vec<_> = jobs
            .iter()
            .map(|&(sc, ph)| {
                let (opts, make) = (&opts, &make);
                scope.spawn(move || {
                    let cfg = site_config(sc, ph, opts).unwrap();
                    let ours = simulate(sc, &cfg, &mut make(ph, &cfg), None).metrics;
                    let (td, seed) = super::baselines(sc, &cfg, ph);
                    (sc.name.clone(), ph, ours, td, seed)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (mut s, mut i, mut n, mut ts, mut ti, mut tn, mut sn) = (0.0, 0.0, 0, 0.0, 0.0, 0, 0);
    let mut bad = Vec::new();
    for (name, ph, o, td, seed) in &out {
        s += o.solar_kwh;
        i += o.import_kwh;
        n += o.starts;
        ts += td.solar_kwh;
        ti += td.import_kwh;
        tn += td.starts;
        sn += seed.starts;
        let ok = run_violations(o, td, seed).is_empty();
        if !ok {
            bad.push(name.clone() + "/" + &ph.to_string());
        }
        println!(
            "   {name:34} {ph}ph  ours {:6.2}/{:5.2}/{:3}  td {:6.2}/{:5.2}/{:3}{}",
            o.solar_kwh,
            o.import_kwh,
            o.starts,
            td.solar_kwh,
            td.import_kwh,
            td.starts,
            if ok { "" } else { "  BAD" }
        );
    }
    format!(
        "solar {s:.1} ({:.3} td) import {i:.2} ({:.3} td) starts {n} ({:.3} td, {:.3} seed) bad {bad:?}",
        s / ts,
        i / ti,
        f64::from(n) / f64::from(tn),
        f64::from(n) / f64::from(sn)
    )
}
