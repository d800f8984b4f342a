//! `sunfill simulate`: replays scenarios through the benchmark's wallbox and car model
//! (`sunfill_sim`) and compares sunfill's policy with the baselines.
//!
//! Output: a table per scenario and phase count with every metric and the ratios to the
//! baselines and to `bound_zero_import_kwh`, then totals; or, with `--json`, one JSON object per
//! scenario x phases x policy. `--check-goal` adds the benchmark's goal check and exits 1 when
//! the goal is missed (the report goes to stderr with `--json`, to keep stdout valid JSON).
//! Instead of scenario files, `--store` replays the days the daemon recorded in its database and
//! `--ha-history` the days of a Home Assistant history export (`sunfill_sim::recorded`,
//! `sunfill_sim::ha_history`); those runs end with what each controller would have done, in words.

use crate::store::Store;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use sunfill_core::control::BatteryPolicy;
use sunfill_sim::battery::HomeBattery;
use sunfill_sim::generate::{self, Sky};
use sunfill_sim::goal::{check_goal, Totals};
use sunfill_sim::ha_history::{Export, Load, Power, Series, Unit};
use sunfill_sim::model::{utc_offset_for, Metrics};
use sunfill_sim::plot::{svg, Panel, Plot};
use sunfill_sim::recorded;
use sunfill_sim::runner::{run as run_plan, PolicyKind, RunOptions, RunPlan, RunResult, RunSet};
use sunfill_sim::scenario::Scenario;

/// Arguments of `sunfill simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario CSV files, or folders (every *.csv in them). Without any, sunfill's own
    /// generated day is replayed (see --sky and --seed).
    #[arg(long, value_name = "FILE|DIR", num_args = 1..)]
    pub scenario: Vec<PathBuf>,

    /// The sky of the generated day used when no --scenario is given.
    #[arg(long, value_enum, default_value = "broken-clouds")]
    pub sky: SkyArg,

    /// The seed of the generated day (each seed is another, reproducible day).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Replay the days sunfill recorded: the per-minute PV and house load in its database (the
    /// `path` of `[store]` in its config). Each stretch without a gap of more than 10 minutes
    /// becomes a scenario; shorter gaps hold the last values. Only reads the file: safe while
    /// the daemon runs.
    #[arg(long, value_name = "DB", conflicts_with = "scenario")]
    pub store: Option<PathBuf>,

    /// Replay Home Assistant's history export (History, "Download data": a CSV of
    /// entity_id,state,last_changed), with --pv and --house (and --car) naming its entities. For
    /// your own days before sunfill ever ran.
    #[arg(long, value_name = "CSV", conflicts_with_all = ["scenario", "store"])]
    pub ha_history: Option<PathBuf>,

    /// With --ha-history: the PV power entity, e.g. sensor.powerwall_solar_now. Append :kW or :W
    /// unless the values say it (kW when none reaches 100).
    #[arg(long, value_name = "ENTITY[:kW|:W]", requires = "ha_history")]
    pub pv: Option<String>,

    /// With --ha-history: the house load entity, e.g. sensor.powerwall_load_now.
    #[arg(long, value_name = "ENTITY[:kW|:W]", requires = "ha_history")]
    pub house: Option<String>,

    /// With --ha-history: the wallbox's power entity, if the house load includes the car (a Tesla
    /// Powerwall's does, a grid meter's too); it is taken out of the house load.
    #[arg(long, value_name = "ENTITY[:kW|:W]", requires = "ha_history")]
    pub car: Option<String>,

    /// With --ha-history, instead of --house: the grid meter's power (+ import; write -ENTITY if
    /// it counts export as positive). The house load is then grid + PV (+ --battery) - car.
    #[arg(
        long,
        value_name = "[-]ENTITY[:kW|:W]",
        requires = "ha_history",
        conflicts_with = "house",
        allow_hyphen_values = true
    )]
    pub grid: Option<String>,

    /// With --grid: the home battery's power (+ discharging; -ENTITY if charging is positive).
    /// Without it, the battery's charging counts as house load: the surplus after the battery.
    #[arg(
        long,
        value_name = "[-]ENTITY[:kW|:W]",
        requires = "grid",
        allow_hyphen_values = true
    )]
    pub battery: Option<String>,

    /// With --ha-history and --home-battery: the home battery's state of charge entity, in
    /// percent (e.g. sensor.powerwall_charge); each day's modelled battery starts at the charge
    /// it held then, unless --home-battery-soc says otherwise.
    #[arg(long, value_name = "ENTITY", requires_all = ["ha_history", "home_battery"])]
    pub battery_soc: Option<String>,

    /// With --store: only the last N days of the recording.
    #[arg(long, value_name = "N", requires = "store",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub days: Option<u32>,

    /// Write the generated day as a scenario CSV to this file and exit. With --store or
    /// --ha-history, write those days instead: to this file if they form one scenario, or as
    /// NAME.csv into this folder.
    #[arg(long, value_name = "FILE")]
    pub write_scenario: Option<PathBuf>,

    /// Phases the car charges on.
    #[arg(long, value_enum, default_value = "3")]
    pub phases: PhaseArg,

    /// Policies to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sunfill,seed,threshold-delay"
    )]
    pub policy: Vec<PolicyArg>,

    /// Print one JSON object per scenario x phases x policy instead of tables.
    #[arg(long)]
    pub json: bool,

    /// Write an SVG of the runs: PV, house, car and grid power, what the car took beyond the sun
    /// (from the grid or a home battery) as a red area and a tick for each start, one panel per
    /// policy (one file per scenario and phase count; with several, the scenario and phases are
    /// added to the file name).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// The car arrives daily at this local time (default: plugged in all the time).
    #[arg(long, value_name = "HH:MM", value_parser = parse_hhmm, requires = "leave")]
    pub arrive: Option<u32>,

    /// The car leaves daily at this local time.
    #[arg(long, value_name = "HH:MM", value_parser = parse_hhmm, requires = "arrive")]
    pub leave: Option<u32>,

    /// Local time minus UTC for --arrive/--leave, e.g. +2 or -06:00 (default: from the
    /// scenario name: UTC+2 for dk-/de-, UTC-6 for us-; with --store or --ha-history, this
    /// machine's time zone, which also names those days by their local date).
    #[arg(long, value_name = "±HH[:MM]", value_parser = parse_offset, allow_hyphen_values = true)]
    pub utc_offset: Option<i32>,

    /// Energy the car takes per plug-in before it is full, kWh (default: never full).
    #[arg(long, value_name = "KWH", value_parser = parse_kwh)]
    pub need_kwh: Option<f64>,

    /// Seconds between two measurements reaching the policy.
    #[arg(long, value_name = "S", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub meas_period: u32,

    /// Check BENCHMARK.md's goal (sunfill against both baselines); exit 1 if it is missed.
    #[arg(long)]
    pub check_goal: bool,

    /// Add a home battery of this usable capacity, kWh (13.5 for a Powerwall 2), in
    /// self-consumption mode: it charges from any export and covers any import, the car's too.
    /// sunfill shares the sun with it by `[battery]` of --config; the baselines only see the grid
    /// meter. Not part of BENCHMARK.md's model. The tables then also show the car's energy from
    /// the battery, the site's grid import and the battery's end state of charge
    #[arg(long, value_name = "KWH", value_parser = parse_kwh)]
    pub home_battery: Option<f64>,

    /// With --home-battery: its most charging or discharging power, kW
    #[arg(long, value_name = "KW", default_value_t = 5.0, value_parser = parse_kw,
          requires = "home_battery")]
    pub home_battery_kw: f64,

    /// With --home-battery: its state of charge at the start of each day, percent [default: the
    /// recorded charge with --store, or --ha-history and --battery-soc; else 50]
    #[arg(long, value_name = "PCT", value_parser = parse_pct, requires = "home_battery")]
    pub home_battery_soc: Option<f64>,

    /// With --home-battery: the backup reserve it never discharges below, percent
    #[arg(long, value_name = "PCT", default_value_t = 20.0, value_parser = parse_pct,
          requires = "home_battery")]
    pub home_battery_reserve: f64,

    /// sunfill.toml whose `[battery]` section (priority_soc, buffer_soc, buffer_discharge_w)
    /// sunfill uses with --home-battery (default: the battery charges first below 50 %)
    #[arg(long, value_name = "FILE", requires = "home_battery")]
    pub config: Option<PathBuf>,
}

/// `--sky`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SkyArg {
    /// A cloudless day.
    Clear,
    /// A cumulus day with many short shadows.
    BrokenClouds,
}

/// `--phases`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseArg {
    /// One phase.
    #[value(name = "1")]
    One,
    /// Three phases.
    #[value(name = "3")]
    Three,
    /// One and three phases.
    Both,
}

/// `--policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// sunfill's own controller.
    Sunfill,
    /// The original Pico W algorithm.
    Seed,
    /// The threshold/delay default of common PV chargers.
    ThresholdDelay,
}

impl From<PolicyArg> for PolicyKind {
    fn from(p: PolicyArg) -> Self {
        match p {
            PolicyArg::Sunfill => PolicyKind::Sunfill,
            PolicyArg::Seed => PolicyKind::Seed,
            PolicyArg::ThresholdDelay => PolicyKind::ThresholdDelay,
        }
    }
}

fn parse_hhmm(s: &str) -> Result<u32, String> {
    let err = || format!("\"{s}\" is not a time HH:MM (00:00 to 23:59)");
    let (h, m) = s.split_once(':').ok_or_else(err)?;
    let h: u32 = h.parse().map_err(|_| err())?;
    let m: u32 = m.parse().map_err(|_| err())?;
    if h > 23 || m > 59 {
        return Err(err());
    }
    Ok(h * 60 + m)
}

fn parse_offset(s: &str) -> Result<i32, String> {
    let err = || format!("\"{s}\" is not a UTC offset like +2, -6 or +05:30");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| err())?;
    let m: i32 = m.parse().map_err(|_| err())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(err());
    }
    Ok(sign * (h * 60 + m))
}

fn parse_kw(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("\"{s}\" is not a power in kW > 0")),
    }
}

fn parse_pct(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("\"{s}\" is not a percentage within 0..=100")),
    }
}

fn parse_kwh(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("\"{s}\" is not an energy in kWh > 0")),
    }
}

/// Runs `sunfill simulate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut policies: Vec<PolicyKind> = Vec::new();
    for p in &args.policy {
        let p = PolicyKind::from(*p);
        if !policies.contains(&p) {
            policies.push(p);
        }
    }
    if args.check_goal && PolicyKind::ALL.iter().any(|p| !policies.contains(p)) {
        bail!("--check-goal compares sunfill with both baselines: run all three policies");
    }
    let phases: &[u8] = match args.phases {
        PhaseArg::One => &[1],
        PhaseArg::Three => &[3],
        PhaseArg::Both => &[1, 3],
    };
    let mut utc_offset = args.utc_offset;
    let mut start_soc = BTreeMap::new();
    let own = match (&args.store, &args.ha_history) {
        (Some(db), _) => Some(stored_days(db, args.days, args.utc_offset)?),
        (None, Some(csv)) => Some(ha_days(csv, &args)?),
        (None, None) => None,
    };
    let is_own = own.is_some();
    let scenarios = if let Some(own) = own {
        utc_offset = Some(own.utc_offset_min);
        if args.home_battery.is_some() && args.home_battery_soc.is_none() {
            say_start_charges(&own);
            start_soc = own.start_soc.clone();
        }
        if let Some(path) = &args.write_scenario {
            write_own(path, &own)?;
            return Ok(ExitCode::SUCCESS);
        }
        own.scenarios
    } else if args.scenario.is_empty() || args.write_scenario.is_some() {
        let sky = match args.sky {
            SkyArg::Clear => Sky::Clear,
            SkyArg::BrokenClouds => Sky::BrokenClouds,
        };
        let day = generate::day(sky, args.seed);
        if let Some(path) = &args.write_scenario {
            std::fs::write(path, generate::to_csv(&day, args.seed))
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} ({} rows)", path.display(), day.rows.len());
            return Ok(ExitCode::SUCCESS);
        }
        if !args.json {
            eprintln!(
                "no --scenario given: replaying sunfill's generated day \"{}\" (seed {}; a synthetic \
                 model, not measured data). Give --scenario FILE|DIR, --store DB for the days \
                 sunfill recorded, or --ha-history CSV for Home Assistant's.",
                day.name, args.seed
            );
        }
        vec![day]
    } else {
        load_scenarios(&args.scenario)?
    };
    let options = RunOptions {
        meas_period_s: args.meas_period,
        window: args.arrive.zip(args.leave),
        utc_offset_min: utc_offset,
        need_wh: args.need_kwh.map(|k| k * 1000.0),
        traces: args.plot.is_some(),
        battery: args.home_battery.map(|kwh| HomeBattery {
            capacity_wh: kwh * 1000.0,
            max_power_w: args.home_battery_kw * 1000.0,
            start_soc: args.home_battery_soc.unwrap_or(DEFAULT_START_SOC),
            reserve_soc: args.home_battery_reserve,
        }),
        battery_policy: match &args.config {
            Some(path) => crate::config::Config::load(path)?.battery_policy()?,
            None => BatteryPolicy::default(),
        },
        start_soc,
    };
    if let Some(b) = &options.battery {
        b.validate()
            .map_err(|e| anyhow::anyhow!("--home-battery: {e}"))?;
    }
    if let Some((a, l)) = options.window {
        if a == l {
            bail!("--arrive and --leave are the same time; leave them out to stay plugged in");
        }
    }
    let plan = RunPlan {
        scenarios: &scenarios,
        phases,
        policies: &policies,
        options,
    };

    let runs_total = scenarios.len() * phases.len() * policies.len();
    let minutes: usize = scenarios.iter().map(|s| s.rows.len()).sum();
    let bar = if std::io::stderr().is_terminal() && minutes * phases.len() * policies.len() > 20_000
    {
        let bar = ProgressBar::new(runs_total as u64);
        bar.set_style(
            ProgressStyle::with_template("simulating {bar:30} {pos}/{len} runs {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let set = run_plan(&plan, &|_| bar.inc(1)).context("cannot run the simulation")?;
    bar.finish_and_clear();

    if args.json {
        let rows: Vec<JsonRun> = set.runs.iter().map(|r| JsonRun::new(r, &set)).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", tables(&set, &scenarios, phases, &policies));
        if is_own {
            let days = scenarios.iter().map(|s| s.rows.len()).sum::<usize>() as f64 / 1440.0;
            print!("{}", verdict(&set, days, phases, &policies));
        }
    }

    if let Some(path) = &args.plot {
        write_plots(path, &set, &scenarios, phases, &policies, utc_offset)?;
    }

    if args.check_goal {
        let report = check_goal(&set);
        if args.json {
            eprint!("{report}");
        } else {
            print!("\n{report}");
        }
        if phases != [1, 3] {
            let note = "note: BENCHMARK.md's goal is over 1 and 3 phases; use --phases both";
            if args.json {
                eprintln!("{note}");
            } else {
                println!("{note}");
            }
        }
        if !report.passed() {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The user's own days: recorded by sunfill or exported from Home Assistant.
struct OwnDays {
    scenarios: Vec<Scenario>,
    /// Local time minus UTC, minutes: what the scenarios are named by and plug windows use.
    utc_offset_min: i32,
    /// Where they come from, for the written files' comment.
    source: String,
    /// The home battery's recorded state of charge at the start of each scenario, percent,
    /// where there is one.
    start_soc: BTreeMap<String, f64>,
}

/// A modelled home battery's charge at the start when neither the user nor a recording says.
const DEFAULT_START_SOC: f64 = 50.0;

/// The state of charge at the start of each scenario, from `soc`: (unix s, percent) samples
/// in time order. The last sample at or before a scenario's first minute and at most `max_age_s`
/// old; else the first in its first hour.
fn start_charges(
    scenarios: &[Scenario],
    soc: &[(i64, f64)],
    max_age_s: i64,
) -> BTreeMap<String, f64> {
    scenarios
        .iter()
        .filter_map(|s| {
            let start = s.start_unix;
            let before = soc
                .iter()
                .rev()
                .find(|(t, _)| *t <= start)
                .filter(|(t, _)| start - t <= max_age_s);
            let after = || soc.iter().find(|(t, _)| (start..start + 3600).contains(t));
            before.or_else(after).map(|&(_, v)| (s.name.clone(), v))
        })
        .collect()
}

/// Tells on stderr where each day's modelled home battery starts.
fn say_start_charges(own: &OwnDays) {
    let days: Vec<String> = own
        .scenarios
        .iter()
        .map(|s| match own.start_soc.get(&s.name) {
            Some(soc) => format!("{} {soc:.0} %", s.name),
            None => format!("{} {DEFAULT_START_SOC:.0} % (none recorded)", s.name),
        })
        .collect();
    eprintln!(
        "home battery: each day starts at the charge recorded then: {}",
        days.join(", ")
    );
}

/// Makes scenarios of recorded `minutes` from `source` and says what went into them.
fn own_days(
    prefix: &str,
    source: String,
    minutes: &[recorded::Minute],
    utc_offset_min: i32,
    soc: (&[(i64, f64)], i64),
) -> anyhow::Result<OwnDays> {
    let r = recorded::scenarios(prefix, minutes, utc_offset_min);
    let names: Vec<&str> = r.scenarios.iter().map(|s| s.name.as_str()).collect();
    eprintln!(
        "{source}: {} minutes, {} scenario{} ({}); {} missing minutes held (gaps of up to {} \
         min), {} minutes in stretches under {} min left out",
        minutes.len(),
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        r.held_minutes,
        recorded::MAX_HELD_GAP_MIN,
        r.short_minutes,
        recorded::MIN_STRETCH_MIN,
    );
    if r.scenarios.is_empty() {
        bail!(
            "{source}: no stretch of {} minutes or more with PV and house readings to replay",
            recorded::MIN_STRETCH_MIN
        );
    }
    Ok(OwnDays {
        start_soc: start_charges(&r.scenarios, soc.0, soc.1),
        scenarios: r.scenarios,
        utc_offset_min,
        source,
    })
}

/// The days recorded in the store `db` (the last `days` of them, if given), named by the local
/// date at `utc_offset`, or this machine's at the first recorded minute.
fn stored_days(db: &Path, days: Option<u32>, utc_offset: Option<i32>) -> anyhow::Result<OwnDays> {
    let store = Store::open_read_only(db)?;
    let mut minutes = store.site_minutes(i64::MIN)?;
    if let (Some(days), Some(last)) = (days, minutes.last().map(|m| m.t)) {
        let since = last - i64::from(days) * 86_400_000;
        minutes.retain(|m| m.t > since);
    }
    let Some(first) = minutes.first().map(|m| m.t) else {
        bail!(
            "{}: no history recorded yet; sunfill records the site's flows every minute while it \
             runs",
            db.display()
        );
    };
    let offset = match utc_offset {
        Some(o) => o,
        None => store.utc_offset_min(first)?,
    };
    let soc: Vec<(i64, f64)> = minutes
        .iter()
        .filter_map(|m| Some((m.t.div_euclid(1000), m.battery_soc?)))
        .filter(|(_, soc)| (0.0..=100.0).contains(soc))
        .collect();
    let minutes: Vec<recorded::Minute> = minutes
        .iter()
        .map(|m| recorded::Minute {
            unix_s: m.t.div_euclid(1000),
            pv_w: m.pv_w,
            house_w: m.house_w,
        })
        .collect();
    own_days(
        "store",
        format!("recorded by sunfill in {}", db.display()),
        &minutes,
        offset,
        // Only the stretch's own minutes: the charge before a gap is not the charge after it.
        (&soc, 0),
    )
}

/// `[-]ENTITY[:kW|:W]`: the entity, its unit if given, and whether to negate it.
fn entity_arg(s: &str) -> (&str, Option<Unit>, bool) {
    let (negate, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    match s.rsplit_once(':') {
        Some((id, u)) if u.eq_ignore_ascii_case("kw") => (id, Some(Unit::KW), negate),
        Some((id, u)) if u.eq_ignore_ascii_case("w") => (id, Some(Unit::W), negate),
        _ => (s, None, negate),
    }
}

/// The entities of an export with numeric states, for telling the user what to pick.
fn numeric_entities(e: &Export) -> String {
    let mut list: Vec<String> = e
        .series
        .iter()
        .filter_map(|(id, s)| {
            s.max()
                .map(|max| format!("{id} ({} states, up to {max})", s.changes.len()))
        })
        .collect();
    if list.len() > 30 {
        let more = list.len() - 30;
        list.truncate(30);
        list.push(format!("and {more} more"));
    }
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// The states of entity `id` of the export; one without numbers is an error listing those with
/// them.
fn numeric_series<'e>(
    id: &str,
    export: &'e Export,
    file: &str,
    text: &str,
) -> anyhow::Result<&'e Series> {
    match export.series.get(id).filter(|s| s.max().is_some()) {
        Some(series) => Ok(series),
        None => {
            let all = Export::parse(file, text, &[])?;
            bail!(
                "{file}: no numeric state of {id}; entities with numbers: {}",
                numeric_entities(&all)
            )
        }
    }
}

/// The entity of `arg` (`[-]ENTITY[:kW|:W]`) in the export as a power, saying on stderr what
/// was guessed or is unreadable; an entity without numbers is an error listing those with them.
fn ha_entity<'a>(
    arg: &'a str,
    export: &Export,
    file: &str,
    text: &str,
) -> anyhow::Result<Power<'a>> {
    let (id, unit, negate) = entity_arg(arg);
    let series = numeric_series(id, export, file, text)?;
    let unit = unit.unwrap_or_else(|| {
        let u = series.guess_unit();
        eprintln!(
            "{id}: values up to {}, taken as {u} (append :{} to say otherwise)",
            series.max().unwrap_or_default(),
            if u == Unit::KW { "W" } else { "kW" }
        );
        u
    });
    if series.non_numeric > 0 {
        eprintln!(
            "{id}: {} of {} states are not numbers (unavailable, unknown): no reading until the \
             next",
            series.non_numeric,
            series.changes.len()
        );
    }
    Ok(Power { id, unit, negate })
}

/// The days of a Home Assistant history export, with the entities of `args`.
fn ha_days(csv: &Path, args: &Args) -> anyhow::Result<OwnDays> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let file = csv.display().to_string();
    let (Some(pv), Some(load)) = (&args.pv, args.house.as_ref().or(args.grid.as_ref())) else {
        let all = Export::parse(&file, &text, &[])?;
        bail!(
            "--ha-history needs --pv and --house (or --grid), and --car if the house load includes \
             the wallbox, naming entities of the export; those with numbers: {}",
            numeric_entities(&all)
        );
    };
    let given = [
        Some(pv),
        Some(load),
        args.car.as_ref(),
        args.battery.as_ref(),
        args.battery_soc.as_ref(),
    ];
    let ids: Vec<&str> = given.iter().flatten().map(|s| entity_arg(s).0).collect();
    let export = Export::parse(&file, &text, &ids)?;
    let resolve = |arg| ha_entity(arg, &export, &file, &text);
    let pv = resolve(pv)?;
    let main = resolve(load)?;
    let car = args.car.as_deref().map(resolve).transpose()?;
    let battery = args.battery.as_deref().map(resolve).transpose()?;
    let load = if args.grid.is_some() {
        Load::Grid {
            grid: main,
            battery,
        }
    } else {
        Load::House(main)
    };
    let minutes = export.minutes(pv, load, car);
    let first_ms = minutes.first().map_or(0, |m| m.unix_s * 1000);
    let offset = match args.utc_offset {
        Some(o) => o,
        None => crate::store::local_utc_offset_min(first_ms)
            .context("cannot find this machine's time zone; give --utc-offset")?,
    };
    let soc = match &args.battery_soc {
        Some(id) => charge_states(&export, id, &file, &text)?,
        None => Vec::new(),
    };
    // A state holds until it changes: a charge set hours before the day began still holds.
    own_days(
        "ha",
        format!("exported from Home Assistant to {file}"),
        &minutes,
        offset,
        (&soc, i64::MAX),
    )
}

/// The states of the charge entity `id` in the export: (unix s, percent) in time order; an
/// entity without numbers, or with one outside 0-100, is an error naming it.
fn charge_states(
    export: &Export,
    id: &str,
    file: &str,
    text: &str,
) -> anyhow::Result<Vec<(i64, f64)>> {
    let mut soc: Vec<(i64, f64)> = numeric_series(id, export, file, text)?
        .changes
        .iter()
        .filter_map(|&(ms, v)| Some((ms.div_euclid(1000), v?)))
        .collect();
    if let Some((_, v)) = soc.iter().find(|(_, v)| !(0.0..=100.0).contains(v)) {
        bail!(
            "{file}: {id} holds {v}, not a state of charge in percent (0-100); give --battery-soc \
             the battery's charge entity, e.g. sensor.powerwall_charge"
        );
    }
    soc.sort_by_key(|(t, _)| *t);
    Ok(soc)
}

/// Writes the user's own days as scenario CSVs: into the folder `path` as NAME.csv, or, if
/// there is one, to the file `path`.
fn write_own(path: &Path, own: &OwnDays) -> anyhow::Result<()> {
    let comment = |s: &Scenario| {
        format!(
            "{}: PV and house load (without the car) per minute, {}; gaps of up to {} min hold \
             the last values",
            s.name,
            own.source,
            recorded::MAX_HELD_GAP_MIN
        )
    };
    let files: Vec<(PathBuf, &Scenario)> = if path.is_dir() {
        own.scenarios
            .iter()
            .map(|s| (path.join(format!("{}.csv", s.name)), s))
            .collect()
    } else if let [one] = own.scenarios.as_slice() {
        vec![(path.to_path_buf(), one)]
    } else {
        bail!(
            "these days make {} scenarios; give --write-scenario an existing folder to write \
             each as NAME.csv",
            own.scenarios.len()
        );
    };
    for (file, s) in files {
        std::fs::write(&file, s.to_csv(&comment(s)))
            .with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("wrote {} ({} rows)", file.display(), s.rows.len());
    }
    Ok(())
}

/// Reads every scenario named, expanding folders to their `*.csv` files (sorted).
fn load_scenarios(paths: &[PathBuf]) -> anyhow::Result<Vec<Scenario>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let in_dir = Scenario::files_in(path)
                .with_context(|| format!("cannot list {}", path.display()))?;
            if in_dir.is_empty() {
                bail!("{}: no *.csv scenario files in this folder", path.display());
            }
            files.extend(in_dir);
        } else {
            files.push(path.clone());
        }
    }
    let mut scenarios: Vec<Scenario> = Vec::with_capacity(files.len());
    for file in &files {
        let s = Scenario::read(file)?;
        if scenarios.iter().any(|o| o.name == s.name) {
            bail!(
                "{}: a scenario named {} was given twice (names are file stems)",
                file.display(),
                s.name
            );
        }
        scenarios.push(s);
    }
    Ok(scenarios)
}

/// Ratios of one run to the baselines of the same scenario and phases.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Ratios {
    solar_vs_seed: Option<f64>,
    solar_vs_threshold_delay: Option<f64>,
    import_vs_seed: Option<f64>,
    import_vs_threshold_delay: Option<f64>,
    starts_vs_seed: Option<f64>,
    starts_vs_threshold_delay: Option<f64>,
    solar_vs_bound_zero_import: Option<f64>,
}

/// `a / b`, unless `b` is nothing but rounding (under 1 Wh).
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b >= 0.001 && a.is_finite()).then(|| a / b)
}

impl Ratios {
    fn of(m: &Totals, seed: Option<&Totals>, td: Option<&Totals>) -> Ratios {
        let vs =
            |base: Option<&Totals>, f: fn(&Totals) -> f64| base.and_then(|b| ratio(f(m), f(b)));
        Ratios {
            solar_vs_seed: vs(seed, |t| t.solar_kwh),
            solar_vs_threshold_delay: vs(td, |t| t.solar_kwh),
            import_vs_seed: vs(seed, |t| t.import_kwh),
            import_vs_threshold_delay: vs(td, |t| t.import_kwh),
            starts_vs_seed: vs(seed, |t| t.starts as f64),
            starts_vs_threshold_delay: vs(td, |t| t.starts as f64),
            solar_vs_bound_zero_import: ratio(m.solar_kwh, m.bound_zero_import_kwh),
        }
    }
}

fn one(m: &Metrics) -> Totals {
    let mut t = Totals::default();
    t.add(m);
    t
}

fn baseline(set: &RunSet, r: &RunResult, p: PolicyKind) -> Option<Totals> {
    set.get(&r.scenario, r.phases, p).map(|b| one(&b.metrics))
}

/// One line of `--json`: the metrics under their BENCHMARK.md names, plus ratios.
#[derive(Debug, Serialize)]
struct JsonRun<'a> {
    scenario: &'a str,
    policy: &'static str,
    phases: u8,
    ev_kwh: f64,
    solar_kwh: f64,
    import_kwh: f64,
    solar_share: f64,
    starts: u32,
    writes: u32,
    bound_zero_import_kwh: f64,
    bound_all_kwh: f64,
    #[serde(flatten)]
    ratios: Ratios,
    /// With --home-battery only: what the battery did (not BENCHMARK.md metrics).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    battery: Option<JsonBattery>,
}

/// The home battery's part of a `--json` line.
#[derive(Debug, Serialize)]
struct JsonBattery {
    battery_kwh: f64,
    site_grid_import_kwh: f64,
    battery_charged_kwh: f64,
    battery_discharged_kwh: f64,
    battery_start_soc: f64,
    battery_end_soc: f64,
}

impl<'a> JsonRun<'a> {
    fn new(r: &'a RunResult, set: &RunSet) -> Self {
        let m = &r.metrics;
        let (seed, td) = (
            baseline(set, r, PolicyKind::Seed),
            baseline(set, r, PolicyKind::ThresholdDelay),
        );
        JsonRun {
            scenario: &r.scenario,
            policy: r.policy.name(),
            phases: r.phases,
            ev_kwh: m.ev_kwh,
            solar_kwh: m.solar_kwh,
            import_kwh: m.import_kwh,
            solar_share: m.solar_share,
            starts: m.starts,
            writes: m.writes,
            bound_zero_import_kwh: m.bound_zero_import_kwh,
            bound_all_kwh: m.bound_all_kwh,
            ratios: Ratios::of(&one(m), seed.as_ref(), td.as_ref()),
            battery: r.site.battery.map(|b| JsonBattery {
                battery_kwh: m.battery_kwh,
                site_grid_import_kwh: r.site.grid_import_kwh,
                battery_charged_kwh: b.charged_kwh,
                battery_discharged_kwh: b.discharged_kwh,
                battery_start_soc: b.start_soc,
                battery_end_soc: b.end_soc,
            }),
        }
    }
}

const HEADER: &str = "policy           ev_kwh solar_kwh import_kwh share starts writes \
                      | solar/seed solar/td import/seed import/td starts/seed starts/td \
                      solar/bound0";

fn fmt_ratio(r: Option<f64>, width: usize) -> String {
    match r {
        Some(v) => format!("{v:>width$.3}"),
        None => format!("{:>width$}", "-"),
    }
}

/// With --home-battery, the columns after the ratios.
const BATTERY_HEADER: &str = " | battery_kwh site_import_kwh end_soc";

/// A home battery's columns: the car's energy from it, the site's grid import, the end state of
/// charge (`None`: a sum over runs, which has none).
fn battery_cells(battery_kwh: f64, site_import_kwh: f64, end_soc: Option<f64>) -> String {
    format!(
        " | {battery_kwh:>11.2} {site_import_kwh:>15.2} {:>7}",
        end_soc.map_or("-".to_string(), |s| format!("{s:.0} %"))
    )
}

fn table_row(name: &str, t: &Totals, r: &Ratios) -> String {
    format!(
        "{name:<15} {:>8.2} {:>9.2} {:>10.2} {:>5.3} {:>6} {:>6} | {} {} {} {} {} {} {}",
        t.ev_kwh,
        t.solar_kwh,
        t.import_kwh,
        t.solar_share(),
        t.starts,
        t.writes,
        fmt_ratio(r.solar_vs_seed, 10),
        fmt_ratio(r.solar_vs_threshold_delay, 8),
        fmt_ratio(r.import_vs_seed, 11),
        fmt_ratio(r.import_vs_threshold_delay, 9),
        fmt_ratio(r.starts_vs_seed, 11),
        fmt_ratio(r.starts_vs_threshold_delay, 9),
        fmt_ratio(r.solar_vs_bound_zero_import, 12),
    )
}

/// The readable output: one table per scenario and phase count, then totals per policy.
fn tables(set: &RunSet, scenarios: &[Scenario], phases: &[u8], policies: &[PolicyKind]) -> String {
    let mut out = String::new();
    let battery = set.runs.iter().any(|r| r.site.battery.is_some());
    for s in scenarios {
        for &ph in phases {
            let Some(first) = set
                .runs
                .iter()
                .find(|r| r.scenario == s.name && r.phases == ph)
            else {
                continue;
            };
            out.push_str(&format!(
                "{} at {ph} phase{} ({:.1} days; bound_zero_import_kwh {:.2}, bound_all_kwh {:.2})\n",
                s.name,
                if ph == 1 { "" } else { "s" },
                s.rows.len() as f64 / 1440.0,
                first.metrics.bound_zero_import_kwh,
                first.metrics.bound_all_kwh,
            ));
            out.push_str(HEADER);
            if battery {
                out.push_str(BATTERY_HEADER);
            }
            out.push('\n');
            for &p in policies {
                if let Some(r) = set.get(&s.name, ph, p) {
                    let (seed, td) = (
                        baseline(set, r, PolicyKind::Seed),
                        baseline(set, r, PolicyKind::ThresholdDelay),
                    );
                    let t = one(&r.metrics);
                    out.push_str(&table_row(
                        p.name(),
                        &t,
                        &Ratios::of(&t, seed.as_ref(), td.as_ref()),
                    ));
                    if let Some(b) = r.site.battery {
                        out.push_str(&battery_cells(
                            r.metrics.battery_kwh,
                            r.site.grid_import_kwh,
                            Some(b.end_soc),
                        ));
                    }
                    out.push('\n');
                }
            }
            out.push('\n');
        }
    }
    let totals: Vec<(PolicyKind, Totals)> = policies
        .iter()
        .map(|&p| (p, sunfill_sim::goal::totals(set, p)))
        .collect();
    let find = |k: PolicyKind| totals.iter().find(|(p, _)| *p == k).map(|(_, t)| *t);
    let (seed, td) = (find(PolicyKind::Seed), find(PolicyKind::ThresholdDelay));
    let runs = totals.first().map_or(0, |(_, t)| t.runs);
    let bound0 = totals.first().map_or(0.0, |(_, t)| t.bound_zero_import_kwh);
    out.push_str(&format!(
        "totals over {runs} run{} per policy (bound_zero_import_kwh {bound0:.2})\n{HEADER}{}\n",
        if runs == 1 { "" } else { "s" },
        if battery { BATTERY_HEADER } else { "" }
    ));
    for (p, t) in &totals {
        out.push_str(&table_row(
            p.name(),
            t,
            &Ratios::of(t, seed.as_ref(), td.as_ref()),
        ));
        if battery {
            out.push_str(&battery_cells(t.battery_kwh, site_import(set, *p), None));
        }
        out.push('\n');
    }
    out
}

/// The site's grid import over the runs of `policy`, kWh.
fn site_import(set: &RunSet, policy: PolicyKind) -> f64 {
    set.runs
        .iter()
        .filter(|r| r.policy == policy)
        .map(|r| r.site.grid_import_kwh)
        .sum()
}

/// For the user's own days, the tables in words: per phase count, what each controller would
/// have charged, from the sun and from the grid, with how many starts.
fn verdict(set: &RunSet, days: f64, phases: &[u8], policies: &[PolicyKind]) -> String {
    let mut out = String::new();
    let battery = set.runs.iter().any(|r| r.site.battery.is_some());
    for &ph in phases {
        let said: Vec<String> = policies
            .iter()
            .map(|&p| {
                // The days run in order.
                let runs: Vec<&RunResult> = set
                    .runs
                    .iter()
                    .filter(|r| r.phases == ph && r.policy == p)
                    .collect();
                let mut t = Totals::default();
                for r in &runs {
                    t.add(&r.metrics);
                }
                let who = match p {
                    PolicyKind::Sunfill => "sunfill",
                    PolicyKind::Seed => "the original Pico W controller",
                    PolicyKind::ThresholdDelay => "a threshold-delay charger",
                };
                let starts = if t.starts == 1 { "" } else { "s" };
                if battery {
                    // The first day's start is where the battery was found, the last one's end
                    // where it was left.
                    let soc = |r: Option<&&RunResult>| r.and_then(|r| r.site.battery);
                    let start_soc = soc(runs.first()).map_or(0.0, |b| b.start_soc);
                    let end_soc = soc(runs.last()).map_or(0.0, |b| b.end_soc);
                    let site_import: f64 = runs.iter().map(|r| r.site.grid_import_kwh).sum();
                    format!(
                        "{who} {:.1} kWh ({:.1} from the sun, {:.1} from the home battery, {:.1} \
                         from the grid) with {} start{starts}, the whole site buying {:.1} kWh \
                         from the grid and taking the battery from {start_soc:.0} % to \
                         {end_soc:.0} %",
                        t.ev_kwh, t.solar_kwh, t.battery_kwh, t.import_kwh, t.starts, site_import,
                    )
                } else {
                    format!(
                        "{who} {:.1} kWh ({:.1} from the sun, {:.1} from the grid) with {} \
                         start{starts}",
                        t.ev_kwh, t.solar_kwh, t.import_kwh, t.starts,
                    )
                }
            })
            .collect();
        let when = if days < 0.95 {
            format!("In these {:.1} hours", days * 24.0)
        } else if days < 1.05 {
            "On this day".to_string()
        } else {
            format!("On these {days:.1} days")
        };
        out.push_str(&format!(
            "\n{when}, charging on {ph} phase{}: {}.\n",
            if ph == 1 { "" } else { "s" },
            said.join("; ")
        ));
    }
    out
}

/// The plot file of one scenario and phase count: `path` itself if there is only one,
/// else `path` with `-<scenario>-<phases>ph` before the extension.
fn plot_path(path: &Path, scenario: &str, phases: u8, single: bool) -> PathBuf {
    if single {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map_or_else(|| "plot".into(), |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(|| "svg".into(), |e| e.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}-{scenario}-{phases}ph.{ext}"))
}

fn write_plots(
    path: &Path,
    set: &RunSet,
    scenarios: &[Scenario],
    phases: &[u8],
    policies: &[PolicyKind],
    utc_offset: Option<i32>,
) -> anyhow::Result<()> {
    let single = scenarios.len() * phases.len() == 1;
    for s in scenarios {
        for &ph in phases {
            let runs: Vec<&RunResult> = policies
                .iter()
                .filter_map(|&p| set.get(&s.name, ph, p))
                .collect();
            let labels: Vec<String> = runs
                .iter()
                .map(|r| {
                    let m = &r.metrics;
                    let battery = r.site.battery.map_or(String::new(), |b| {
                        format!(
                            " {:.1} kWh from the home battery (left at {:.0} %),",
                            m.battery_kwh, b.end_soc
                        )
                    });
                    format!(
                        "{}: {:.1} kWh into the car, {:.1} kWh solar,{battery} {:.2} kWh import, \
                         {} starts",
                        r.policy, m.ev_kwh, m.solar_kwh, m.import_kwh, m.starts
                    )
                })
                .collect();
            let panels: Vec<Panel<'_>> = runs
                .iter()
                .zip(&labels)
                .filter_map(|(r, label)| {
                    r.trace.as_ref().map(|trace| Panel {
                        label: label.as_str(),
                        trace,
                    })
                })
                .collect();
            let title = format!("{}, {ph} phase{}", s.name, if ph == 1 { "" } else { "s" });
            let doc = svg(&Plot {
                title: &title,
                start_unix: s.start_unix,
                utc_offset_min: utc_offset.or_else(|| utc_offset_for(&s.name)).unwrap_or(0),
                panels: &panels,
            });
            let file = plot_path(path, &s.name, ph, single);
            std::fs::write(&file, doc)
                .with_context(|| format!("cannot write the plot {}", file.display()))?;
            eprintln!("wrote {}", file.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_offsets_parse() {
        assert_eq!(parse_hhmm("08:30"), Ok(510));
        assert!(parse_hhmm("24:00").is_err());
        assert!(parse_hhmm("8").is_err());
        assert_eq!(parse_offset("+2"), Ok(120));
        assert_eq!(parse_offset("-06:00"), Ok(-360));
        assert_eq!(parse_offset("5:30"), Ok(330));
        assert!(parse_offset("+2h").is_err());
        assert!(parse_kwh("-1").is_err());
        assert_eq!(parse_kwh("12.5"), Ok(12.5));
    }

    #[test]
    fn plot_paths_name_scenario_and_phases_when_there_are_several() {
        let p = Path::new("out/day.svg");
        assert_eq!(plot_path(p, "dk-x", 3, true), PathBuf::from("out/day.svg"));
        assert_eq!(
            plot_path(p, "dk-x", 1, false),
            PathBuf::from("out/day-dk-x-1ph.svg")
        );
    }
}
