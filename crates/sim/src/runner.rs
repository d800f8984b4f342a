//! Runs a list of policies over a list of scenarios and phase counts, in parallel.
//!
//! Runs are independent, so they are spread over the machine's cores with
//! [`std::thread::scope`]; the results come back in a fixed order (scenario, then phases, then
//! policy, each in the order given), whatever order the threads finish in.

use crate::battery::HomeBattery;
use crate::model::{simulate, utc_offset_for, Metrics, PlugWindow, SiteConfig, SiteEnergy, Trace};
use crate::policy::Policy;
use crate::scenario::Scenario;
use crate::seed::Seed;
use crate::sunfill_policy::SunfillPolicy;
use crate::threshold_delay::ThresholdDelay;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use sunfill_core::control::BatteryPolicy;

/// The policies the simulator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// sunfill's own controller.
    Sunfill,
    /// The original Pico W algorithm.
    Seed,
    /// The threshold/delay default.
    ThresholdDelay,
}

impl PolicyKind {
    /// All policies, in the default order.
    pub const ALL: [PolicyKind; 3] = [
        PolicyKind::Sunfill,
        PolicyKind::Seed,
        PolicyKind::ThresholdDelay,
    ];

    /// The name used on the command line and in results.
    pub const fn name(self) -> &'static str {
        match self {
            PolicyKind::Sunfill => "sunfill",
            PolicyKind::Seed => "seed",
            PolicyKind::ThresholdDelay => "threshold-delay",
        }
    }

    /// The policy called `name`, if any.
    pub fn from_name(name: &str) -> Option<PolicyKind> {
        PolicyKind::ALL.into_iter().find(|p| p.name() == name)
    }

    /// A fresh policy of this kind for a car on `phases` phases.
    pub fn build(self, phases: u8) -> Box<dyn Policy + Send> {
        self.build_with(phases, BatteryPolicy::default())
    }

    /// The same, with sunfill sharing the sun with a home battery by `battery` (the baselines
    /// know nothing of batteries).
    pub fn build_with(self, phases: u8, battery: BatteryPolicy) -> Box<dyn Policy + Send> {
        match self {
            PolicyKind::Sunfill => Box::new(SunfillPolicy::with_battery(phases, battery)),
            PolicyKind::Seed => Box::new(Seed::new(phases)),
            PolicyKind::ThresholdDelay => Box::new(ThresholdDelay::new(phases)),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings shared by all runs of a [`RunPlan`].
#[derive(Clone, Debug, PartialEq)]
pub struct RunOptions {
    /// Seconds between measurements.
    pub meas_period_s: u32,
    /// Daily plug window `(arrive, leave)` in minutes after local midnight; `None` = always.
    pub window: Option<(u32, u32)>,
    /// Local time minus UTC in minutes; `None` = from the scenario name ([`utc_offset_for`]).
    pub utc_offset_min: Option<i32>,
    /// Energy per session until the car is full, Wh; `None` = never full.
    pub need_wh: Option<f64>,
    /// Record per-minute traces (for plots).
    pub traces: bool,
    /// A home battery at the site; `None` = none, as in BENCHMARK.md.
    pub battery: Option<HomeBattery>,
    /// How sunfill shares the sun with that battery.
    pub battery_policy: BatteryPolicy,
    /// The battery's state of charge at the start of named scenarios, percent, where it was
    /// recorded (`--store`, `--ha-history`); the others start at `battery`'s `start_soc`.
    pub start_soc: BTreeMap<String, f64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            meas_period_s: 10,
            window: None,
            utc_offset_min: None,
            need_wh: None,
            traces: false,
            battery: None,
            battery_policy: BatteryPolicy::default(),
            start_soc: BTreeMap::new(),
        }
    }
}

/// What to run: every policy on every scenario at every phase count.
#[derive(Clone, Debug)]
pub struct RunPlan<'a> {
    /// The scenarios.
    pub scenarios: &'a [Scenario],
    /// The phase counts (1 and/or 3).
    pub phases: &'a [u8],
    /// The policies.
    pub policies: &'a [PolicyKind],
    /// Shared settings.
    pub options: RunOptions,
}

/// Why a plan cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A plug window needs the local time, and the scenario name does not tell it.
    #[error(
        "scenario {scenario}: cannot tell its local time from the name (dk-/de-/us-); \
         give --utc-offset"
    )]
    UnknownUtcOffset {
        /// The scenario.
        scenario: String,
    },
    /// Phases other than 1 or 3.
    #[error("phases must be 1 or 3, not {0}")]
    Phases(u8),
}

/// One run's result.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// The scenario name.
    pub scenario: String,
    /// The policy.
    pub policy: PolicyKind,
    /// The phase count.
    pub phases: u8,
    /// The site configuration used.
    pub config: SiteConfig,
    /// The benchmark metrics.
    pub metrics: Metrics,
    /// Site energies.
    pub site: SiteEnergy,
    /// Per-minute averages, if asked for.
    pub trace: Option<Trace>,
}

/// All results of a plan, in plan order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSet {
    /// The runs.
    pub runs: Vec<RunResult>,
}

impl RunSet {
    /// The run of `policy` on `scenario` at `phases`, if it was made.
    pub fn get(&self, scenario: &str, phases: u8, policy: PolicyKind) -> Option<&RunResult> {
        self.runs
            .iter()
            .find(|r| r.scenario == scenario && r.phases == phases && r.policy == policy)
    }
}

/// The site configuration of `scenario` at `phases` under `options`.
pub fn site_config(
    scenario: &Scenario,
    phases: u8,
    options: &RunOptions,
) -> Result<SiteConfig, PlanError> {
    if phases != 1 && phases != 3 {
        return Err(PlanError::Phases(phases));
    }
    let plug = match options.window {
        None => PlugWindow::Always,
        Some((arrive_min, leave_min)) => PlugWindow::Daily {
            arrive_min,
            leave_min,
            utc_offset_min: options
                .utc_offset_min
                .or_else(|| utc_offset_for(&scenario.name))
                .ok_or_else(|| PlanError::UnknownUtcOffset {
                    scenario: scenario.name.clone(),
                })?,
        },
    };
    Ok(SiteConfig {
        phases,
        meas_period_s: options.meas_period_s.max(1),
        plug,
        need_wh: options.need_wh,
        battery: options.battery.map(|b| HomeBattery {
            start_soc: options
                .start_soc
                .get(&scenario.name)
                .copied()
                .unwrap_or(b.start_soc),
            ..b
        }),
    })
}

/// Runs `plan` on up to `available_parallelism` threads; `on_done` is called after each run
/// (from the worker threads), e.g. to advance a progress bar.
pub fn run(plan: &RunPlan<'_>, on_done: &(dyn Fn(&RunResult) + Sync)) -> Result<RunSet, PlanError> {
    struct Job<'s> {
        scenario: &'s Scenario,
        phases: u8,
        policy: PolicyKind,
        config: SiteConfig,
    }
    let mut jobs = Vec::new();
    for scenario in plan.scenarios {
        for &phases in plan.phases {
            let config = site_config(scenario, phases, &plan.options)?;
            for &policy in plan.policies {
                jobs.push(Job {
                    scenario,
                    phases,
                    policy,
                    config,
                });
            }
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let mut policy = job
                    .policy
                    .build_with(job.phases, plan.options.battery_policy);
                let mut trace = plan.options.traces.then(Trace::default);
                let outcome = simulate(job.scenario, &job.config, policy.as_mut(), trace.as_mut());
                let result = RunResult {
                    scenario: job.scenario.name.clone(),
                    policy: job.policy,
                    phases: job.phases,
                    config: job.config,
                    metrics: outcome.metrics,
                    site: outcome.site,
                    trace,
                };
                on_done(&result);
                // A poisoned lock only means another run panicked; keep its slot empty.
                let mut slots = results.lock().unwrap_or_else(|e| e.into_inner());
                slots[i] = Some(result);
            });
        }
    });
    let runs = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect();
    Ok(RunSet { runs })
}
