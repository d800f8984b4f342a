//! Shared by the tuning examples: `key=value,...` to a [`Tuning`].
pub mod rules;
pub mod shadow;

use sunfill_core::control::Tuning;
use sunfill_core::{Deciamps, Duration};
use sunfill_sim::model::SiteConfig;
use sunfill_sim::runner::{site_config, RunOptions};
use sunfill_sim::scenario::Scenario;

/// Parses `key=value,...` over the defaults. The outlook policy: `outlook` (0: the budget
/// policy), `lambda` (import weight, per mille), `swh` (start price, Wh), `memory`, `horizon`
/// (s), `news` (0: decide again without news); the yardstick: `ymem` (s), `follow`, `followp`, `steer`, `steerp`, `target`, `steers`,
/// `steersp`. The budget policy: `earn`, `cap`, `grant`, `delay`, `sx`, `maxwait`, `margin`,
/// `rdelay`, `rwin`, `up`, `learn`, `dipcap`, `dipmean`, `sprice`, `carstart`.
pub fn parse(s: &str) -> Tuning {
    let mut t = Tuning::default();
    for kv in s.split(',').filter(|x| !x.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, "0"));
        let n: i64 = v.parse().unwrap_or(0);
        match k {
            "earn" => t.earn_permille = n as u32,
            "cap" => t.budget_cap_secs = n as u32,
            "grant" => t.budget_start_secs = n as u32,
            "delay" => t.start_delay = Duration::from_secs(n as u64),
            "sx" => t.start_excess_secs = n as u32,
            "maxwait" => t.start_delay_max = Duration::from_secs(n as u64),
            "learn" => t.dip_learn = n as u32,
            "dipcap" => t.dip_cap_secs = n as u32,
            "dipmean" => t.dip_mean_secs = n as u32,
            "margin" => t.start_margin_w = n as i32,
            "tmargin" => t.track_margin_w = n as i32,
            "rdelay" => t.restart_delay = Duration::from_secs(n as u64),
            "rwin" => t.restart_window = Duration::from_secs(n as u64),
            "up" => t.up_step = Deciamps(n as u16),
            "sprice" => t.start_price_secs = n as u32,
            "carstart" => t.car_start_secs = n as u32,
            "outlook" => t.outlook = n != 0,
            "ymem" => t.yardstick_memory = Duration::from_secs(n as u64),
            "follow" => t.follow_behind_wh = n as u32,
            "followp" => t.follow_behind_permille = n as u32,
            "steer" => t.steer_import_wh = n as u32,
            "steerp" => t.steer_import_permille = n as u32,
            "target" => t.steer_target_permille = n as i32,
            "news" => t.decide_on_news = n != 0,
            "steers" => t.steer_starts = n as u32,
            "lead" => t.start_lead = n as u32,
            "steersp" => t.steer_starts_permille = n as u32,
            "swh" => t.start_price_wh = n as u32,
            "lambda" => t.import_weight_permille = n as u32,
            "memory" => t.outlook_memory = Duration::from_secs(n as u64),
            "horizon" => t.outlook_horizon = Duration::from_secs(n as u64),
            _ => eprintln!("unknown key {k}"),
        }
    }
    t
}

/// The controller's configuration for a benchmark run at `phases` with `tuning`.
#[allow(dead_code)]
pub fn config(phases: u8, tuning: Tuning) -> sunfill_core::control::Config {
    use sunfill_core::control::{Config, PhaseConfig};
    Config {
        phases: if phases == 1 {
            PhaseConfig::One
        } else {
            PhaseConfig::Three
        },
        tuning,
        ..Config::default()
    }
}

/// sunfill's policy at `phases` with the variant `v` over the default tuning.
#[allow(dead_code)]
pub fn policy(phases: u8, v: &str) -> Box<dyn sunfill_sim::policy::Policy + Send> {
    Box::new(sunfill_sim::sunfill_policy::SunfillPolicy::with_config(
        config(phases, parse(v)),
        phases,
    ))
}

/// The simulator's car beside a policy under test: a copy of [`Car`](sunfill_sim::car::Car) fed
/// the same writes at the same seconds, and the scenario's surplus by minute. It tells what the
/// car really draws in each second, which the readings (every 10 s) do not show.
#[allow(dead_code)]
pub struct Replay {
    car: sunfill_sim::car::Car,
    /// The scenario's surplus (PV - house) of each minute, W.
    surplus: Vec<f64>,
}

#[allow(dead_code)]
impl Replay {
    /// A car on `phases` phases, drawing nothing, beside `scenario`.
    pub fn new(scenario: &Scenario, phases: u8) -> Self {
        Replay {
            car: sunfill_sim::car::Car::new(phases),
            surplus: scenario.rows.iter().map(|r| r.pv_w - r.house_w).collect(),
        }
    }

    /// Second `now_s`, in which the policy wrote `out` (if it wrote): the car's power and the
    /// surplus then, W.
    pub fn second(&mut self, now_s: u64, out: Option<u16>) -> (f64, f64) {
        let now_ms = now_s * 1000;
        self.car.advance(now_ms);
        if let Some(d) = out {
            self.car.write(now_ms, d);
        }
        (self.car.power_w(), self.surplus[(now_s / 60) as usize])
    }
}

/// A policy that writes `inner`'s setpoints, except 0 while `stop(now_s, reading, on)` says so
/// (`on`: the last write was not 0): a hindsight or experimental cut on top of a controller.
#[allow(dead_code)]
pub struct Override<F> {
    inner: Box<dyn sunfill_sim::policy::Policy + Send>,
    inner_sp: u16,
    written: u16,
    stop: F,
}

#[allow(dead_code)]
impl<F> Override<F>
where
    F: FnMut(u64, Option<&sunfill_sim::policy::Measurement>, bool) -> bool,
{
    /// `inner` with the cut `stop`.
    pub fn new(inner: Box<dyn sunfill_sim::policy::Policy + Send>, stop: F) -> Self {
        Override {
            inner,
            inner_sp: 0,
            written: 0,
            stop,
        }
    }
}

impl<F> sunfill_sim::policy::Policy for Override<F>
where
    F: FnMut(u64, Option<&sunfill_sim::policy::Measurement>, bool) -> bool,
{
    fn name(&self) -> &'static str {
        "override"
    }
    fn step(
        &mut self,
        now_s: u64,
        reading: Option<&sunfill_sim::policy::Measurement>,
    ) -> Option<u16> {
        if let Some(a) = self.inner.step(now_s, reading) {
            self.inner_sp = a;
        }
        let want = if (self.stop)(now_s, reading, self.written > 0) {
            0
        } else {
            self.inner_sp
        };
        (want != self.written).then(|| {
            self.written = want;
            want
        })
    }
}

/// Threshold-delay's and the seed's metrics on one run (`phases` as in `config`).
#[allow(dead_code)]
pub fn baselines(
    scenario: &sunfill_sim::scenario::Scenario,
    config: &sunfill_sim::model::SiteConfig,
    phases: u8,
) -> (sunfill_sim::model::Metrics, sunfill_sim::model::Metrics) {
    use sunfill_sim::model::simulate;
    use sunfill_sim::runner::PolicyKind;
    let run =
        |kind: PolicyKind| simulate(scenario, config, kind.build(phases).as_mut(), None).metrics;
    (run(PolicyKind::ThresholdDelay), run(PolicyKind::Seed))
}

/// Totals of a per-run choice made in hindsight (see [`hindsight`]).
#[allow(dead_code)]
pub struct Hindsight {
    /// Solar of the picks, kWh.
    pub solar: f64,
    /// Grid energy of the picks, kWh.
    pub import: f64,
    /// Starts of the picks.
    pub starts: u32,
    /// Runs with no candidate inside the no-bad-day bounds.
    pub missing: usize,
    /// The candidate picked for each run.
    pub picks: Vec<Option<usize>>,
}

/// For each run `k`, among the candidates `results[k][j]` that keep the run within the benchmark's
/// no-bad-day bounds (against `td[k]` and `seed[k]`), picks the one with the largest
/// `solar - alpha x import - beta x starts`, knowing the result.
#[allow(dead_code)]
pub fn hindsight(
    results: &[Vec<sunfill_sim::model::Metrics>],
    td: &[sunfill_sim::model::Metrics],
    seed: &[sunfill_sim::model::Metrics],
    alpha: f64,
    beta: f64,
) -> Hindsight {
    use sunfill_sim::goal::run_violations;
    let mut h = Hindsight {
        solar: 0.0,
        import: 0.0,
        starts: 0,
        missing: 0,
        picks: Vec::new(),
    };
    for (k, candidates) in results.iter().enumerate() {
        let f = |m: &sunfill_sim::model::Metrics| {
            m.solar_kwh - alpha * m.import_kwh - beta * f64::from(m.starts)
        };
        let best = candidates
            .iter()
            .enumerate()
            .filter(|(_, m)| run_violations(m, &td[k], &seed[k]).is_empty())
            .max_by(|a, b| f(a.1).total_cmp(&f(b.1)));
        match best {
            Some((j, m)) => {
                h.solar += m.solar_kwh;
                h.import += m.import_kwh;
                h.starts += m.starts;
                h.picks.push(Some(j));
            }
            None => {
                h.missing += 1;
                h.picks.push(None);
            }
        }
    }
    h
}

/// Every scenario in `dir` at 1 and 3 phases with the benchmark's site, in file order: the runs
/// every analysis example goes through. A file that does not read is left out.
#[allow(dead_code)]
pub fn runs(dir: &std::path::Path) -> Vec<(Scenario, u8, SiteConfig)> {
    let mut out = Vec::new();
    for f in Scenario::files_in(dir).expect("scenario dir") {
        let Ok(sc) = Scenario::read(&f) else { continue };
        for ph in [1u8, 3] {
            let cfg = site_config(&sc, ph, &RunOptions::default()).expect("the benchmark's site");
            out.push((sc.clone(), ph, cfg));
        }
    }
    out
}
