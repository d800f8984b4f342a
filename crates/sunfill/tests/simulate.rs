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
    // One panel per policy, each with the car's grid energy as an area.
    assert_eq!(doc.matches("<polygon").count(), 3);
    assert!(doc.contains(">car from the grid<"));
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

/// `r`'s value, or a panic saying what failed.
fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// A store as the daemon leaves it, holding sunfill's generated day minute by minute, except the
/// minutes in `missing`; the day as a scenario CSV beside it.
fn recorded_day(dir: &std::path::Path, missing: std::ops::Range<usize>) -> (PathBuf, PathBuf) {
    use sunfill_sim::generate::{day, to_csv, Sky};
    let db = dir.join("sunfill.db");
    drop(must(sunfill::store::Store::open(&db), "creating the store"));
    let day = day(Sky::BrokenClouds, 3);
    let mut conn = must(rusqlite::Connection::open(&db), "opening the store");
    let tx = must(conn.transaction(), "a transaction");
    for (i, r) in day.rows.iter().enumerate() {
        if missing.contains(&i) {
            continue;
        }
        let t = (day.start_unix + 60 * i as i64) * 1000;
        must(
            tx.execute(
                "INSERT INTO site_minutes (minute_ms, pv_w, house_w, grid_w) \
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![t, r.pv_w, r.house_w, r.house_w - r.pv_w],
            ),
            "recording a minute",
        );
    }
    must(tx.commit(), "committing");
    let csv = dir.join("day.csv");
    must(std::fs::write(&csv, to_csv(&day, 3)), "writing the day");
    (db, csv)
}

/// The runs of a successful `simulate --json`.
fn json_runs(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = must(serde_json::from_slice(&out.stdout), "parsing the JSON");
    v.as_array().cloned().unwrap_or_default()
}

/// Asserts that two sets of runs agree on the metrics that count.
fn assert_same_runs(a: &[serde_json::Value], b: &[serde_json::Value]) {
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(b) {
        for key in [
            "policy",
            "phases",
            "solar_kwh",
            "import_kwh",
            "starts",
            "writes",
        ] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }
}

#[test]
fn recorded_days_replay_as_their_scenario_does() {
    let dir = temp_dir("store");
    let (db, csv) = recorded_day(&dir, 0..0);
    let common = ["--phases", "both", "--json", "--utc-offset", "+2"];
    let stored = sunfill(&[&["simulate", "--store", db.to_str().unwrap()][..], &common].concat());
    let stderr = String::from_utf8_lossy(&stored.stderr).into_owned();
    let from_store = json_runs(&stored);
    let from_csv = json_runs(&sunfill(
        &[
            &["simulate", "--scenario", csv.to_str().unwrap()][..],
            &common,
        ]
        .concat(),
    ));
    assert_eq!(from_store.len(), 6, "{stderr}");
    assert!(stderr.contains("1440 minutes, 1 scenario"), "{stderr}");
    assert!(from_store
        .iter()
        .all(|r| r["scenario"] == "store-2025-06-10"));
    assert_same_runs(&from_store, &from_csv);
    // Without --utc-offset, the local date is this machine's (here a POSIX TZ rule, no tzdata).
    let out = Command::new(env!("CARGO_BIN_EXE_sunfill"))
        .args([
            "simulate",
            "--store",
            db.to_str().unwrap(),
            "--policy",
            "seed",
        ])
        .env("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scenario (store-2025-06-10)"), "{stderr}");
    // Written out, the recording is a scenario file like any other.
    let written = dir.join("mine.csv");
    let out = sunfill(&[
        "simulate",
        "--store",
        db.to_str().unwrap(),
        "--write-scenario",
        written.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = json_runs(&sunfill(
        &[
            &["simulate", "--scenario", written.to_str().unwrap()][..],
            &common,
        ]
        .concat(),
    ));
    assert_eq!(again[0]["solar_kwh"], from_csv[0]["solar_kwh"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_long_gap_splits_a_recording_and_days_keeps_the_last() {
    let dir = temp_dir("store-gap");
    // Sunfill down from 12:00 to 12:30 local time (10:00-10:30 UTC, rows 720-750).
    let (db, _) = recorded_day(&dir, 720..750);
    // And two hours recorded three days before.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let day_start_ms: i64 = conn
        .query_row("SELECT min(minute_ms) FROM site_minutes", [], |r| r.get(0))
        .unwrap();
    for k in 0..120i64 {
        let t = day_start_ms - 3 * 86_400_000 + 600 * 60_000 + k * 60_000;
        conn.execute(
            "INSERT INTO site_minutes (minute_ms, pv_w, house_w) VALUES (?1, 5000, 300)",
            [t],
        )
        .unwrap();
    }
    drop(conn);
    let db = db.to_str().unwrap();
    let names = |extra: &[&str]| -> Vec<String> {
        let args = [
            &["simulate", "--store", db, "--policy", "sunfill"][..],
            &["--json", "--utc-offset", "+2"],
            extra,
        ]
        .concat();
        json_runs(&sunfill(&args))
            .iter()
            .filter_map(|r| r["scenario"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        names(&[]),
        ["store-2025-06-07", "store-2025-06-10", "store-2025-06-10-2"]
    );
    assert_eq!(
        names(&["--days", "1"]),
        ["store-2025-06-10", "store-2025-06-10-2"]
    );
    // Each into a folder.
    let folder = dir.join("out");
    std::fs::create_dir_all(&folder).unwrap();
    let out = sunfill(&[
        "simulate",
        "--store",
        db,
        "--write-scenario",
        folder.to_str().unwrap(),
        "--utc-offset",
        "+2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(folder.join("store-2025-06-10-2.csv").is_file());
    // Into one file, it cannot go.
    let out = sunfill(&[
        "simulate",
        "--store",
        db,
        "--write-scenario",
        dir.join("one.csv").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("existing folder"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_or_foreign_store_is_named_with_what_to_give() {
    let dir = temp_dir("store-bad");
    let missing = dir.join("nope.db");
    let out = sunfill(&["simulate", "--store", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no database at {}", missing.display())),
        "{err}"
    );
    assert!(err.contains("[store]"), "{err}");
    assert!(!missing.exists(), "reading must not create the file");
    let foreign = dir.join("other.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER)")
        .unwrap();
    let out = sunfill(&["simulate", "--store", foreign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without sunfill's tables"));
    let empty = dir.join("empty.db");
    drop(sunfill::store::Store::open(&empty).unwrap());
    let out = sunfill(&["simulate", "--store", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no history recorded yet"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Home Assistant's history export of sunfill's generated day, as the History panel writes it:
/// a row per change, PV and the house load (which includes the car, as a Powerwall's does) in
/// W, the wallbox in kW, another entity between them; and the day as a scenario CSV.
fn ha_export(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    use sunfill_sim::generate::{day, to_csv, Sky};
    use sunfill_sim::scenario::format_rfc3339_utc;
    let day = day(Sky::BrokenClouds, 4);
    let mut csv = String::from("entity_id,state,last_changed\n");
    let mut last: [Option<String>; 4] = [None, None, None, None];
    for (i, r) in day.rows.iter().enumerate() {
        let t = format_rfc3339_utc(day.start_unix + 60 * i as i64).replace('Z', ".000Z");
        // The car charges 2 or 3.5 kW from 10:00 to 14:00 local time (08:00-12:00 UTC).
        let car_kw = match i {
            600..=719 => 2.0,
            720..=839 => 3.5,
            _ => 0.0,
        };
        let states = [
            ("sensor.powerwall_solar_now", format!("{}", r.pv_w)),
            (
                "sensor.powerwall_load_now",
                format!("{}", r.house_w + car_kw * 1000.0),
            ),
            ("sensor.wallbox_power", format!("{car_kw}")),
            (
                "sensor.grid_power",
                format!("{}", r.house_w + car_kw * 1000.0 - r.pv_w),
            ),
        ];
        for (k, (id, state)) in states.into_iter().enumerate() {
            if last[k].as_deref() != Some(&state) {
                csv.push_str(&format!("{id},{state},{t}\n"));
                last[k] = Some(state);
            }
        }
        if i % 97 == 0 {
            csv.push_str(&format!("sensor.note,\"on, off\",{t}\n"));
        }
        // The Powerwall's charge: 35 % all night, then 1 % more every 10 minutes from 08:00 UTC.
        if i == 0 || (i >= 480 && i % 10 == 0 && i < 1080) {
            let soc = 35 + i.saturating_sub(470) / 10;
            csv.push_str(&format!("sensor.powerwall_charge,{soc},{t}\n"));
        }
    }
    let end = format_rfc3339_utc(day.start_unix + 60 * day.rows.len() as i64);
    csv.push_str(&format!("sensor.powerwall_solar_now,0,{end}\n"));
    let export = dir.join("history.csv");
    must(std::fs::write(&export, csv), "writing the export");
    let scenario = dir.join("day.csv");
    must(
        std::fs::write(&scenario, to_csv(&day, 4)),
        "writing the day",
    );
    (export, scenario)
}

/// `sunfill simulate --ha-history EXPORT ARGS... --utc-offset +2`.
fn replay_ha(export: &std::path::Path, args: &[&str]) -> Output {
    let export = export.to_str().unwrap_or_default();
    sunfill(
        &[
            &["simulate", "--ha-history", export][..],
            args,
            &["--utc-offset", "+2"],
        ]
        .concat(),
    )
}

#[test]
fn a_home_assistant_export_replays_as_its_day_does() {
    let dir = temp_dir("ha");
    let (export, scenario) = ha_export(&dir);
    let pv = ["--pv", "sensor.powerwall_solar_now:W"];
    let house = ["--house", "sensor.powerwall_load_now"];
    let car = ["--car", "sensor.wallbox_power"];
    let json = ["--phases", "both", "--json"];
    let out = replay_ha(&export, &[&pv[..], &house, &car, &json].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for said in [
        "sensor.wallbox_power: values up to 3.5, taken as kW",
        "sensor.powerwall_load_now: values up to",
        "1440 minutes, 1 scenario (ha-2025-06-10)",
    ] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    let from_csv = json_runs(&sunfill(
        &[
            &["simulate", "--scenario", scenario.to_str().unwrap()][..],
            &json,
            &["--utc-offset", "+2"],
        ]
        .concat(),
    ));
    assert_same_runs(&json_runs(&out), &from_csv);
    // From the grid meter instead of the house load: the same.
    let grid = ["--grid", "sensor.grid_power:W"];
    let out = replay_ha(&export, &[&pv[..], &grid, &car, &json].concat());
    assert_same_runs(&json_runs(&out), &from_csv);
    // The tables end with the same in words.
    let out = replay_ha(&export, &[&pv[..], &house, &car].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("On this day, charging on 3 phases: sunfill "),
        "{text}"
    );
    assert!(text.contains("; a threshold-delay charger "), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_home_assistant_export_without_its_entities_lists_them() {
    let dir = temp_dir("ha-bad");
    let (export, _) = ha_export(&dir);
    let export = export.to_str().unwrap();
    let out = sunfill(&["simulate", "--ha-history", export]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ha-history needs --pv and --house"), "{err}");
    assert!(err.contains("sensor.powerwall_solar_now ("), "{err}");
    assert!(!err.contains("sensor.note"), "not a number: {err}");
    let out = sunfill(&[
        "simulate",
        "--ha-history",
        export,
        "--pv",
        "sensor.pv_typo",
        "--house",
        "sensor.powerwall_load_now",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no numeric state of sensor.pv_typo"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_replayed_day_s_home_battery_starts_at_the_charge_recorded_then() {
    let dir = temp_dir("battery-soc");
    let num = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let starts_at = |runs: &[serde_json::Value]| -> Vec<f64> {
        runs.iter().map(|r| num(r, "battery_start_soc")).collect()
    };
    // Home Assistant: the charge entity's state when the day began.
    let (export, _) = ha_export(&dir);
    let site = [
        "--pv",
        "sensor.powerwall_solar_now:W",
        "--house",
        "sensor.powerwall_load_now",
        "--car",
        "sensor.wallbox_power",
        "--json",
        "--home-battery",
        "13.5",
    ];
    let soc = ["--battery-soc", "sensor.powerwall_charge"];
    let out = replay_ha(&export, &[&site[..], &soc].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("starts at the charge recorded then: ha-2025-06-10 35 %"),
        "{stderr}"
    );
    assert_eq!(starts_at(&json_runs(&out)), [35.0; 3]);
    let out = replay_ha(&export, &[&site[..6], &site[7..], &soc].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("taking the battery from 35 % to "), "{text}");
    // The user's --home-battery-soc wins; without --battery-soc a Home Assistant day starts at 50 %.
    let out = replay_ha(
        &export,
        &[&site[..], &soc, &["--home-battery-soc", "80"]].concat(),
    );
    assert_eq!(starts_at(&json_runs(&out)), [80.0; 3]);
    let out = replay_ha(&export, &site);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ha-2025-06-10 50 % (none recorded)"));
    assert_eq!(starts_at(&json_runs(&out)), [50.0; 3]);
    // A power for a charge, or a charge without a battery, is named.
    let out = replay_ha(
        &export,
        &[&site[..], &["--battery-soc", "sensor.powerwall_solar_now"]].concat(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sensor.powerwall_solar_now holds") && err.contains("not a state of charge"),
        "{err}"
    );
    let out = replay_ha(&export, &[&site[..6], &soc].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--home-battery <KWH>"));

    // sunfill's own store: the charge of the day's first recorded minute that holds one; a
    // sensor's nonsense (250 %) in the very first is passed over.
    let (db, _) = recorded_day(&dir, 0..0);
    let conn = must(rusqlite::Connection::open(&db), "opening the store");
    must(
        conn.execute(
            "UPDATE site_minutes SET battery_soc = CASE \
             WHEN minute_ms = (SELECT MIN(minute_ms) FROM site_minutes) THEN 250 \
             ELSE 64 + minute_ms % 7 END",
            [],
        ),
        "recording the charge",
    );
    drop(conn);
    let out = sunfill(&[
        "simulate",
        "--store",
        db.to_str().unwrap_or_default(),
        "--json",
        "--utc-offset",
        "+2",
        "--home-battery",
        "13.5",
    ]);
    let start_ms =
        sunfill_sim::generate::day(sunfill_sim::generate::Sky::BrokenClouds, 3).start_unix * 1000;
    let first = 64.0 + ((start_ms + 60_000) % 7) as f64;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains(&format!("store-2025-06-10 {first:.0} %")),
        "{stderr}"
    );
    assert_eq!(starts_at(&json_runs(&out)), [first; 3]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_home_battery_shows_in_tables_and_json_with_its_policy_from_the_config() {
    let dir = temp_dir("battery");
    let day = write_day(&dir, "dk-bell");
    let day = day.to_str().unwrap_or_default();
    let plain = json_runs(&sunfill(&["simulate", "--scenario", day, "--json"]));
    assert!(plain.iter().all(|r| r.get("battery_kwh").is_none()));

    // The battery charges first up to 100 %: sunfill must leave it alone.
    let config = dir.join("sunfill.toml");
    must(
        std::fs::write(&config, "[battery]\npriority_soc = 100\n"),
        "writing the config",
    );
    let config = config.to_str().unwrap_or_default();
    let battery = [
        "--home-battery",
        "13.5",
        "--home-battery-soc",
        "20",
        "--config",
        config,
    ];
    let runs = json_runs(&sunfill(
        &[&["simulate", "--scenario", day, "--json"], &battery[..]].concat(),
    ));
    assert_eq!(runs.len(), 3);
    let num = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    for r in &runs {
        let sum = num(r, "solar_kwh") + num(r, "battery_kwh") + num(r, "import_kwh");
        assert!((sum - num(r, "ev_kwh")).abs() < 1e-6, "{r}");
        assert!(num(r, "battery_end_soc") > 20.0, "the sun charged it: {r}");
        assert!(
            num(r, "site_grid_import_kwh") >= num(r, "import_kwh") - 1e-9,
            "{r}"
        );
    }
    let ours = &runs[0];
    assert_eq!(ours["policy"], "sunfill");
    assert!(
        num(ours, "battery_kwh") < 0.01 * num(ours, "ev_kwh"),
        "{ours}"
    );

    let out = sunfill(&[&["simulate", "--scenario", day], &battery[..]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("| battery_kwh site_import_kwh end_soc"));

    // Battery settings without a battery, and a bad [battery], are named.
    let out = sunfill(&["simulate", "--scenario", day, "--home-battery-kw", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--home-battery <KWH>"));
    must(
        std::fs::write(
            dir.join("sunfill.toml"),
            "[battery]\n\npriority_soc = 150\n",
        ),
        "writing the config",
    );
    let out = sunfill(&[&["simulate", "--scenario", day], &battery[..]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sunfill.toml:3: battery.priority_soc: 150 % is outside 0..=100 %"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
