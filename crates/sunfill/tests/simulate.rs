//! `sunfill simulate` end to end: the real binary on a small scenario written by the test.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A fresh folder under the system's temporary directory, unique per test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sunfill-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A day of a clear-sky-like bell of PV (peak 8 kW) over a 300 W house, from local midnight.
fn write_day(dir: &std::path::Path, name: &str) -> PathBuf {
    let mut csv = String::from("# made by the test\ntime,pv_w,house_w\n");
    for minute in 0..1440u32 {
        let (h, m) = (22 + minute / 60, minute % 60);
        let (day, h) = if h >= 24 { (10, h - 24) } else { (9, h) };
        let x = (f64::from(minute) - 780.0) / 240.0;
        let pv = (8000.0 * (-x * x).exp()).round();
        csv.push_str(&format!("2024-06-{day:02}T{h:02}:{m:02}:00Z,{pv},300\n"));
    }
    let path = dir.join(format!("{name}.csv"));
    std::fs::write(&path, csv).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

fn sunfill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sunfill"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sunfill: {e}"))
}

#[test]
fn json_has_one_object_per_scenario_phases_and_policy_with_the_spec_keys() {
    let dir = temp_dir("json");
    write_day(&dir, "dk-bell");
    let out = sunfill(&[
        "simulate",
        "--scenario",
        dir.to_str().unwrap(),
        "--phases",
        "both",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 6, "1 scenario x 2 phase counts x 3 policies");
    for key in [
        "scenario",
        "policy",
        "phases",
        "ev_kwh",
        "solar_kwh",
        "import_kwh",
        "solar_share",
        "starts",
        "writes",
        "bound_zero_import_kwh",
        "bound_all_kwh",
    ] {
        assert!(runs.iter().all(|r| r.get(key).is_some()), "missing {key}");
    }
    assert_eq!(runs[0]["scenario"], "dk-bell");
    assert_eq!(runs[0]["policy"], "sunfill");
    assert_eq!(runs[0]["phases"], 1);
    assert_eq!(runs[5]["policy"], "threshold-delay");
    assert_eq!(runs[5]["solar_vs_threshold_delay"], 1.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tables_plot_and_a_plug_window() {
    let dir = temp_dir("table");
    let file = write_day(&dir, "de-bell");
    let svg = dir.join("day.svg");
    let out = sunfill(&[
        "simulate",
        "--scenario",
        file.to_str().unwrap(),
        "--arrive",
        "09:00",
        "--leave",
        "17:00",
        "--need-kwh",
        "20",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("de-bell at 3 phases"), "{text}");
    assert!(text.contains("totals over 1 run per policy"), "{text}");
    for p in ["sunfill", "seed", "threshold-delay"] {
        assert!(text.lines().any(|l| l.starts_with(p)), "{p}: {text}");
    }
    let doc = std::fs::read_to_string(&svg).unwrap();
    assert!(doc.starts_with("<svg"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_scenario_names_file_and_line_and_exits_2() {
    let dir = temp_dir("bad");
    let file = dir.join("bad.csv");
    std::fs::write(
        &file,
        "time,pv_w,house_w\n2024-06-09T22:00:00Z,0,1\n2024-06-09T22:01:00Z,abc,1\n",
    )
    .unwrap();
    let out = sunfill(&["simulate", "--scenario", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "sunfill: {}:3: pv_w \"abc\" is not a number",
            file.display()
        )
    );
}

#[test]
fn check_goal_needs_all_three_policies() {
    let dir = temp_dir("goal");
    let file = write_day(&dir, "dk-bell");
    let out = sunfill(&[
        "simulate",
        "--scenario",
        file.to_str().unwrap(),
        "--policy",
        "sunfill,seed",
        "--check-goal",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run all three policies"));
    let _ = std::fs::remove_dir_all(&dir);
}
