//! The "Goal" of BENCHMARK.md: is sunfill's policy better than both baselines?
//!
//! Totals over all runs (each metric summed over every scenario and phase count):
//! - `solar_kwh` >= threshold-delay's;
//! - `import_kwh` <= 0.5 x threshold-delay's;
//! - `starts` <= 0.8 x threshold-delay's and <= 0.1 x seed's.
//!
//! Every single run (scenario x phases):
//! - `solar_kwh` >= 0.97 x threshold-delay's and >= 0.98 x seed's;
//! - `import_kwh` <= threshold-delay's + 0.1 kWh;
//! - `starts` <= threshold-delay's + 2.
//!
//! Interpretations: a (scenario, phases) pair without all three policies is itself a violation
//! (the goal compares runs made side by side). Comparisons of energies allow 1e-9 kWh of
//! floating-point noise. The goal is defined over 1 and 3 phases; [`check_goal`] checks whatever
//! runs it is given and reports the phase counts it saw in [`GoalReport::phases`].

use crate::model::Metrics;
use crate::runner::{PolicyKind, RunSet};
use std::fmt;

const EPS: f64 = 1e-9;

/// A metric summed over runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Number of runs summed.
    pub runs: usize,
    /// Sum of `ev_kwh`.
    pub ev_kwh: f64,
    /// Sum of `solar_kwh`.
    pub solar_kwh: f64,
    /// Sum of `import_kwh`.
    pub import_kwh: f64,
    /// Sum of `battery_kwh` (0 without a home battery).
    pub battery_kwh: f64,
    /// Sum of `starts`.
    pub starts: u64,
    /// Sum of `writes`.
    pub writes: u64,
    /// Sum of `bound_zero_import_kwh`.
    pub bound_zero_import_kwh: f64,
    /// Sum of `bound_all_kwh`.
    pub bound_all_kwh: f64,
}

impl Totals {
    /// Adds one run's metrics.
    pub fn add(&mut self, m: &Metrics) {
        self.runs += 1;
        self.ev_kwh += m.ev_kwh;
        self.solar_kwh += m.solar_kwh;
        self.import_kwh += m.import_kwh;
        self.battery_kwh += m.battery_kwh;
        self.starts += u64::from(m.starts);
        self.writes += u64::from(m.writes);
        self.bound_zero_import_kwh += m.bound_zero_import_kwh;
        self.bound_all_kwh += m.bound_all_kwh;
    }

    /// `solar_kwh / ev_kwh` of the totals (0 without charging).
    pub fn solar_share(&self) -> f64 {
        if self.ev_kwh > 0.0 {
            self.solar_kwh / self.ev_kwh
        } else {
            0.0
        }
    }
}

/// Sums the metrics of every run of `policy` in `set`.
pub fn totals(set: &RunSet, policy: PolicyKind) -> Totals {
    let mut t = Totals::default();
    for r in set.runs.iter().filter(|r| r.policy == policy) {
        t.add(&r.metrics);
    }
    t
}

/// One way sunfill misses the goal.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// `None` for the totals, else `(scenario, phases)`.
    pub run: Option<(String, u8)>,
    /// What is wrong, with the numbers.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.run {
            None => write!(f, "totals: {}", self.what),
            Some((s, p)) => write!(f, "{s} ({p} ph): {}", self.what),
        }
    }
}

/// The goal check's result.
#[derive(Clone, Debug, PartialEq)]
pub struct GoalReport {
    /// sunfill's totals.
    pub sunfill: Totals,
    /// seed's totals.
    pub seed: Totals,
    /// threshold-delay's totals.
    pub threshold_delay: Totals,
    /// The phase counts of the runs checked.
    pub phases: Vec<u8>,
    /// Everything that misses the goal; empty if the goal is met.
    pub violations: Vec<Violation>,
}

impl GoalReport {
    /// Whether the goal is met.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for GoalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, seed, td) = (&self.sunfill, &self.seed, &self.threshold_delay);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let phases: Vec<String> = self.phases.iter().map(u8::to_string).collect();
        writeln!(
            f,
            "goal check over {} runs per policy (phases {}):",
            s.runs,
            phases.join(" and ")
        )?;
        writeln!(
            f,
            "  solar_kwh  sunfill {:8.2}  threshold-delay {:8.2}  seed {:8.2}  \
             (x{:.3} TD, need >= 1; x{:.3} bound_zero_import)",
            s.solar_kwh,
            td.solar_kwh,
            seed.solar_kwh,
            ratio(s.solar_kwh, td.solar_kwh),
            ratio(s.solar_kwh, s.bound_zero_import_kwh),
        )?;
        writeln!(
            f,
            "  import_kwh sunfill {:8.2}  threshold-delay {:8.2}  seed {:8.2}  \
             (x{:.3} TD, need <= 0.5)",
            s.import_kwh,
            td.import_kwh,
            seed.import_kwh,
            ratio(s.import_kwh, td.import_kwh),
        )?;
        writeln!(
            f,
            "  starts     sunfill {:8}  threshold-delay {:8}  seed {:8}  \
             (x{:.3} TD, need <= 0.8; x{:.3} seed, need <= 0.1)",
            s.starts,
            td.starts,
            seed.starts,
            ratio(s.starts as f64, td.starts as f64),
            ratio(s.starts as f64, seed.starts as f64),
        )?;
        if self.violations.is_empty() {
            writeln!(f, "goal met")
        } else {
            writeln!(f, "goal NOT met, {} violation(s):", self.violations.len())?;
            for v in &self.violations {
                writeln!(f, "  - {v}")?;
            }
            Ok(())
        }
    }
}

/// The "no bad day" bounds for one run: what sunfill's metrics `s` break against
/// threshold-delay's `td` and the seed's `seed` on the same run (nothing: the run is within).
pub fn run_violations(s: &Metrics, td: &Metrics, seed: &Metrics) -> Vec<String> {
    let mut v = Vec::new();
    if s.solar_kwh < 0.97 * td.solar_kwh - EPS {
        v.push(format!(
            "solar_kwh {:.3} < 0.97 x threshold-delay's {:.3} = {:.3}",
            s.solar_kwh,
            td.solar_kwh,
            0.97 * td.solar_kwh
        ));
    }
    if s.solar_kwh < 0.98 * seed.solar_kwh - EPS {
        v.push(format!(
            "solar_kwh {:.3} < 0.98 x seed's {:.3} = {:.3}",
            s.solar_kwh,
            seed.solar_kwh,
            0.98 * seed.solar_kwh
        ));
    }
    if s.import_kwh > td.import_kwh + 0.1 + EPS {
        v.push(format!(
            "import_kwh {:.3} > threshold-delay's {:.3} + 0.1 = {:.3}",
            s.import_kwh,
            td.import_kwh,
            td.import_kwh + 0.1
        ));
    }
    if s.starts > td.starts + 2 {
        v.push(format!(
            "starts {} > threshold-delay's {} + 2 = {}",
            s.starts,
            td.starts,
            td.starts + 2
        ));
    }
    v
}

/// Checks the goal of BENCHMARK.md on `set`.
pub fn check_goal(set: &RunSet) -> GoalReport {
    let mut violations = Vec::new();
    let mut phases: Vec<u8> = set.runs.iter().map(|r| r.phases).collect();
    phases.sort_unstable();
    phases.dedup();

    let mut seen: Vec<(&str, u8)> = Vec::new();
    for r in &set.runs {
        if !seen.contains(&(r.scenario.as_str(), r.phases)) {
            seen.push((r.scenario.as_str(), r.phases));
        }
    }
    for &(scenario, ph) in &seen {
        let run = Some((scenario.to_string(), ph));
        let get = |p| set.get(scenario, ph, p).map(|r| r.metrics);
        let (Some(s), Some(seed), Some(td)) = (
            get(PolicyKind::Sunfill),
            get(PolicyKind::Seed),
            get(PolicyKind::ThresholdDelay),
        ) else {
            violations.push(Violation {
                run,
                what: "needs runs of sunfill, seed and threshold-delay side by side".into(),
            });
            continue;
        };
        violations.extend(
            run_violations(&s, &td, &seed)
                .into_iter()
                .map(|what| Violation {
                    run: run.clone(),
                    what,
                }),
        );
    }

    let (s, seed, td) = (
        totals(set, PolicyKind::Sunfill),
        totals(set, PolicyKind::Seed),
        totals(set, PolicyKind::ThresholdDelay),
    );
    let mut v = |what: String| violations.push(Violation { run: None, what });
    if s.solar_kwh < td.solar_kwh - EPS {
        v(format!(
            "solar_kwh {:.3} < threshold-delay's {:.3}",
            s.solar_kwh, td.solar_kwh
        ));
    }
    if s.import_kwh > 0.5 * td.import_kwh + EPS {
        v(format!(
            "import_kwh {:.3} > 0.5 x threshold-delay's {:.3} = {:.3}",
            s.import_kwh,
            td.import_kwh,
            0.5 * td.import_kwh
        ));
    }
    if s.starts as f64 > 0.8 * td.starts as f64 {
        v(format!(
            "starts {} > 0.8 x threshold-delay's {} = {:.1}",
            s.starts,
            td.starts,
            0.8 * td.starts as f64
        ));
    }
    if s.starts as f64 > 0.1 * seed.starts as f64 {
        v(format!(
            "starts {} > 0.1 x seed's {} = {:.1}",
            s.starts,
            seed.starts,
            0.1 * seed.starts as f64
        ));
    }
    GoalReport {
        sunfill: s,
        seed,
        threshold_delay: td,
        phases,
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteConfig;
    use crate::runner::RunResult;

    fn run(policy: PolicyKind, solar: f64, import: f64, starts: u32) -> RunResult {
        RunResult {
            scenario: "s".into(),
            policy,
            phases: 3,
            config: SiteConfig::new(3),
            metrics: Metrics {
                ev_kwh: solar + import,
                solar_kwh: solar,
                import_kwh: import,
                starts,
                ..Metrics::default()
            },
            site: Default::default(),
            trace: None,
        }
    }

    #[test]
    fn a_policy_better_than_both_baselines_meets_the_goal() {
        let set = RunSet {
            runs: vec![
                run(PolicyKind::Sunfill, 30.0, 0.5, 2),
                run(PolicyKind::Seed, 25.0, 5.0, 110),
                run(PolicyKind::ThresholdDelay, 29.0, 2.0, 25),
            ],
        };
        let report = check_goal(&set);
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn each_violation_is_reported_with_numbers() {
        let set = RunSet {
            runs: vec![
                run(PolicyKind::Sunfill, 28.0, 2.5, 28),
                run(PolicyKind::Seed, 25.0, 5.0, 110),
                run(PolicyKind::ThresholdDelay, 29.0, 2.0, 25),
            ],
        };
        let report = check_goal(&set);
        let text: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "s (3 ph): solar_kwh 28.000 < 0.97 x threshold-delay's 29.000 = 28.130",
                "s (3 ph): import_kwh 2.500 > threshold-delay's 2.000 + 0.1 = 2.100",
                "s (3 ph): starts 28 > threshold-delay's 25 + 2 = 27",
                "totals: solar_kwh 28.000 < threshold-delay's 29.000",
                "totals: import_kwh 2.500 > 0.5 x threshold-delay's 2.000 = 1.000",
                "totals: starts 28 > 0.8 x threshold-delay's 25 = 20.0",
                "totals: starts 28 > 0.1 x seed's 110 = 11.0",
            ]
        );
    }

    #[test]
    fn a_missing_baseline_is_a_violation() {
        let set = RunSet {
            runs: vec![run(PolicyKind::Sunfill, 30.0, 0.5, 2)],
        };
        assert!(!check_goal(&set).passed());
    }
}
