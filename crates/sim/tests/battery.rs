//! Replays with a modelled home battery (`--home-battery`): the energy adds up, the baselines drain
//! the battery into the car as battery-blind controllers do, and sunfill keeps its battery policy.

use sunfill_core::control::BatteryPolicy;
use sunfill_sim::battery::{HomeBattery, EFFICIENCY};
use sunfill_sim::generate::{self, Sky};
use sunfill_sim::runner::{run, PolicyKind, RunOptions, RunPlan, RunSet};

const POWERWALL: HomeBattery = HomeBattery {
    capacity_wh: 13_500.0,
    max_power_w: 5_000.0,
    start_soc: 20.0,
    reserve_soc: 10.0,
};

/// sunfill's generated broken-clouds day (seed 1), every policy at 1 and 3 phases.
fn replay(battery: HomeBattery, policy: BatteryPolicy) -> RunSet {
    let day = [generate::day(Sky::BrokenClouds, 1)];
    let plan = RunPlan {
        scenarios: &day,
        phases: &[1, 3],
        policies: &PolicyKind::ALL,
        options: RunOptions {
            battery: Some(battery),
            battery_policy: policy,
            ..RunOptions::default()
        },
    };
    run(&plan, &|_| {}).unwrap_or_else(|e| panic!("the generated day does not run: {e}"))
}

#[test]
fn the_energy_adds_up_with_a_battery() {
    let set = replay(POWERWALL, BatteryPolicy::default());
    for r in &set.runs {
        let (m, s) = (&r.metrics, &r.site);
        let ctx = format!("{} {} ph: {m:?} {s:?}", r.policy, r.phases);
        let b = s.battery.expect("a battery was modelled");
        // The car's energy is the sun's, the battery's and the grid's.
        assert!(
            (m.solar_kwh + m.battery_kwh + m.import_kwh - m.ev_kwh).abs() < 1e-9,
            "{ctx}"
        );
        assert!(m.battery_kwh <= b.discharged_kwh + 1e-9, "{ctx}");
        // The site: PV + grid + discharge = house + car + charge.
        let balance = s.pv_kwh + s.grid_kwh + b.discharged_kwh - s.house_kwh - m.ev_kwh;
        assert!((balance - b.charged_kwh).abs() < 1e-6, "{ctx}: {balance}");
        // Stored energy: start + charged x 95 % - discharged / 95 %.
        let stored = |soc: f64| POWERWALL.capacity_wh / 1000.0 * soc / 100.0;
        let want = stored(POWERWALL.start_soc) + b.charged_kwh * EFFICIENCY
            - b.discharged_kwh / EFFICIENCY;
        assert!((stored(b.end_soc) - want).abs() < 1e-6, "{ctx}");
        assert!(b.end_soc >= POWERWALL.reserve_soc - 1e-9, "{ctx}");
    }
}

#[test]
fn below_priority_sunfill_leaves_the_battery_alone_where_threshold_delay_drains_it() {
    // Priority 100 %: the battery always charges first and must never feed the car.
    let first = BatteryPolicy {
        priority_soc: 100,
        ..BatteryPolicy::default()
    };
    let set = replay(POWERWALL, first);
    for phases in [1, 3] {
        let get = |p| {
            &set.get("generated-broken-clouds", phases, p)
                .expect("ran")
                .metrics
        };
        let (ours, td) = (get(PolicyKind::Sunfill), get(PolicyKind::ThresholdDelay));
        // Only the seconds until a lower current takes effect (5 s after each drop of the sun)
        // come from the battery: under 2 % of what the car took.
        assert!(
            ours.battery_kwh < 0.02 * ours.ev_kwh,
            "{phases} ph: {ours:?}"
        );
        // The classic controller only sees the grid meter, which the battery keeps at zero: once
        // on, it holds the car on the battery.
        assert!(
            td.battery_kwh > 10.0 * ours.battery_kwh,
            "{phases} ph: {td:?}"
        );
    }
}

#[test]
fn without_a_battery_nothing_changes() {
    let day = [generate::day(Sky::BrokenClouds, 1)];
    let plan = RunPlan {
        scenarios: &day,
        phases: &[3],
        policies: &PolicyKind::ALL,
        options: RunOptions::default(),
    };
    let plain = run(&plan, &|_| {}).expect("runs");
    for r in &plain.runs {
        assert_eq!(r.metrics.battery_kwh, 0.0);
        assert_eq!(r.site.battery, None);
        let m = &r.metrics;
        assert!(
            (m.import_kwh - (m.ev_kwh - m.solar_kwh)).abs() < 1e-12,
            "{m:?}"
        );
    }
}
