use super::*;
use crate::hub::{LoadpointView, SiteView, View};

/// 2026-06-01 10:00:00 UTC.
const T0: i64 = 1_780_308_000_000;
const MIN: i64 = 60_000;

fn temp_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sunfill.db");
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

fn garage(vehicle: &str, power_w: f64, counter_kwh: f64) -> LoadpointView {
    LoadpointView {
        name: "garage".into(),
        mode: "pv".into(),
        fixed_current_a: 6.0,
        min_current_a: 6.0,
        max_current_a: 16.0,
        setpoint_a: if power_w > 0.0 { 6.0 } else { 0.0 },
        phases: 3,
        vehicle: vehicle.into(),
        wallbox_online: true,
        power_w,
        total_energy_kwh: counter_kwh,
        ..LoadpointView::default()
    }
}

fn view(at: i64, grid_w: f64, lp: LoadpointView) -> View {
    View {
        at_unix_ms: at,
        mqtt_connected: true,
        site: SiteView {
            pv_w: Some(6000.0),
            house_w: Some(500.0),
            grid_w: Some(grid_w),
            battery_w: Some(0.0),
            battery_soc: Some(80.0),
        },
        loadpoints: vec![lp],
    }
}

// Tests for sessions.

#[test]
fn a_session_runs_from_plug_in_to_unplug_with_the_counters_energy() {
    let (_dir, _path, store) = temp_store();
    let mut r = Recorder::new();
    r.observe(
        &store,
        &view(T0, -4000.0, garage("disconnected", 0.0, 100.0)),
    )
    .unwrap();
    assert_eq!(store.sessions(Page::default(), None).unwrap().total, 0);
    r.observe(
        &store,
        &view(T0 + MIN, -4000.0, garage("connected", 0.0, 100.0)),
    )
    .unwrap();
    let open = store.open_session("garage").unwrap().unwrap();
    assert_eq!(open.end_unix_ms, None);
    // 4 kW for 15 minutes, all of it solar (the site exports).
    for i in 1..=15 {
        let t = T0 + MIN + i * MIN;
        r.observe(
            &store,
            &view(
                t,
                -1500.0,
                garage("charging", 4000.0, 100.0 + i as f64 / 15.0),
            ),
        )
        .unwrap();
    }
    r.observe(
        &store,
        &view(T0 + 20 * MIN, -4000.0, garage("disconnected", 0.0, 101.0)),
    )
    .unwrap();
    let page = store.sessions(Page::default(), None).unwrap();
    assert_eq!(page.total, 1);
    let s = &page.sessions[0];
    assert_eq!(s.end_unix_ms, Some(T0 + 20 * MIN));
    assert!((s.energy_kwh - 1.0).abs() < 1e-9, "{s:?}");
    // The first interval still had the car at 0 W (flows of the earlier view): grid.
    assert!((s.solar_kwh - 14.0 / 15.0).abs() < 1e-9, "{s:?}");
    assert!((s.solar_kwh + s.grid_kwh - s.energy_kwh).abs() < 1e-9);
    assert_eq!(s.peak_power_w, 4000.0);
    assert_eq!(s.mode, "pv");
    assert!(store.open_session("garage").unwrap().is_none());
}

#[test]
fn grid_import_and_battery_discharge_are_charged_to_the_car_first() {
    let site = |grid, battery| SiteView {
        grid_w: Some(grid),
        battery_w: Some(battery),
        ..SiteView::default()
    };
    assert_eq!(solar_fraction(&site(-500.0, 0.0), 4000.0), 1.0);
    assert_eq!(solar_fraction(&site(1000.0, 0.0), 4000.0), 0.75);
    assert_eq!(solar_fraction(&site(1000.0, 1000.0), 4000.0), 0.5);
    assert_eq!(solar_fraction(&site(1000.0, -2000.0), 4000.0), 0.75);
    assert_eq!(solar_fraction(&site(5000.0, 0.0), 4000.0), 0.0);
    assert_eq!(solar_fraction(&SiteView::default(), 4000.0), 0.0);
    assert_eq!(solar_fraction(&site(0.0, 0.0), 0.0), 0.0);
}

#[test]
fn a_crash_loses_no_energy_and_the_session_resumes() {
    let (_dir, path, store) = temp_store();
    let mut r = Recorder::new();
    r.observe(&store, &view(T0, -3000.0, garage("connected", 0.0, 200.0)))
        .unwrap();
    r.observe(
        &store,
        &view(T0 + 10_000, -3000.0, garage("charging", 4000.0, 200.0)),
    )
    .unwrap();
    r.observe(
        &store,
        &view(T0 + 20_000, -3000.0, garage("charging", 4000.0, 200.2)),
    )
    .unwrap();
    let id = store.open_session("garage").unwrap().unwrap().id;
    // kill -9: neither finish() nor a clean close.
    drop(r);
    drop(store);

    // The box charged 1.3 kWh more while sunfill was down.
    let store = Store::open(&path).unwrap();
    let mut r = Recorder::new();
    r.observe(
        &store,
        &view(T0 + 30 * MIN, -3000.0, garage("charging", 4000.0, 201.5)),
    )
    .unwrap();
    r.finish(&store).unwrap();
    let s = store.open_session("garage").unwrap().unwrap();
    assert_eq!(s.id, id, "the same session goes on");
    assert!((s.energy_kwh - 1.5).abs() < 1e-9, "{s:?}");

    r.observe(
        &store,
        &view(T0 + 31 * MIN, -3000.0, garage("disconnected", 0.0, 201.5)),
    )
    .unwrap();
    let page = store.sessions(Page::default(), None).unwrap();
    assert_eq!(page.total, 1);
    assert!((page.sessions[0].energy_kwh - 1.5).abs() < 1e-9);
    assert!(page.sessions[0].end_unix_ms.is_some());
}

#[test]
fn an_offline_wallbox_neither_ends_the_session_nor_resets_its_energy() {
    let (_dir, _path, store) = temp_store();
    let mut r = Recorder::new();
    r.observe(&store, &view(T0, 0.0, garage("charging", 4000.0, 50.0)))
        .unwrap();
    let mut offline = garage("unknown", 0.0, 0.0);
    offline.wallbox_online = false;
    r.observe(&store, &view(T0 + MIN, 0.0, offline)).unwrap();
    r.observe(
        &store,
        &view(T0 + 2 * MIN, 0.0, garage("charging", 4000.0, 50.4)),
    )
    .unwrap();
    r.finish(&store).unwrap();
    let s = store.open_session("garage").unwrap().unwrap();
    assert!((s.energy_kwh - 0.4).abs() < 1e-9, "{s:?}");
}

#[test]
fn a_mode_change_during_a_session_is_listed() {
    let (_dir, _path, store) = temp_store();
    let mut r = Recorder::new();
    r.observe(&store, &view(T0, 0.0, garage("charging", 4000.0, 50.0)))
        .unwrap();
    let mut now = garage("charging", 11000.0, 50.1);
    now.mode = "now".into();
    r.observe(&store, &view(T0 + MIN, 0.0, now)).unwrap();
    assert_eq!(
        store.open_session("garage").unwrap().unwrap().mode,
        "pv,now"
    );
}

// Tests for history.

#[test]
fn minutes_hold_time_weighted_means_and_energy() {
    let (_dir, _path, store) = temp_store();
    let mut r = Recorder::new();
    // 45 s at 1000 W, then 15 s at 3000 W: mean 1500 W.
    r.observe(&store, &view(T0, 1000.0, garage("charging", 1000.0, 10.0)))
        .unwrap();
    r.observe(
        &store,
        &view(T0 + 45_000, 3000.0, garage("charging", 3000.0, 10.1)),
    )
    .unwrap();
    r.observe(&store, &view(T0 + MIN, 0.0, garage("charging", 0.0, 10.2)))
        .unwrap();
    r.finish(&store).unwrap();
    let h = store.history(T0).unwrap();
    assert_eq!(h.site.len(), 2);
    assert_eq!(h.site[0].t, T0);
    assert_eq!(h.site[0].grid_w, Some(1500.0));
    assert_eq!(h.cars[0].power_w, 1500.0);
    assert_eq!(
        h.site[1].grid_w,
        Some(0.0),
        "a minute with one view has its values"
    );
    let e = store.energy_summary(T0 + 2 * MIN).unwrap();
    assert!((e.today.energy_kwh - 0.2).abs() < 1e-9, "{e:?}");
    assert!(e.month.energy_kwh >= e.today.energy_kwh);
    assert!(e.today.since_unix_ms <= T0 && e.today.since_unix_ms > T0 - 86_400_000);
}

#[test]
fn history_older_than_the_retention_is_pruned() {
    let (_dir, _path, store) = temp_store();
    let store = store.with_retention_days(1);
    let mut r = Recorder::new();
    r.observe(&store, &view(T0, 0.0, garage("disconnected", 0.0, 1.0)))
        .unwrap();
    r.observe(
        &store,
        &view(T0 + MIN, 0.0, garage("disconnected", 0.0, 1.0)),
    )
    .unwrap();
    assert_eq!(store.history(0).unwrap().site.len(), 1);
    // Two days later: the pruning hour has passed and the old minute is out of retention.
    let later = T0 + 2 * 86_400_000;
    r.observe(&store, &view(later, 0.0, garage("disconnected", 0.0, 1.0)))
        .unwrap();
    r.observe(
        &store,
        &view(later + MIN, 0.0, garage("disconnected", 0.0, 1.0)),
    )
    .unwrap();
    r.finish(&store).unwrap();
    let h = store.history(0).unwrap();
    assert!(h.site.iter().all(|m| m.t >= later - 86_400_000), "{h:?}");
    assert_eq!(h.site.len(), 2, "the two recent minutes stay");
}

// Tests for settings.

#[test]
fn settings_changed_at_runtime_survive_a_restart() {
    let (_dir, path, store) = temp_store();
    let mut r = Recorder::new();
    r.observe(&store, &view(T0, 0.0, garage("disconnected", 0.0, 1.0)))
        .unwrap();
    assert!(
        store.saved_settings("garage").unwrap().is_empty(),
        "the configured settings are not runtime changes"
    );
    let mut changed = garage("disconnected", 0.0, 1.0);
    changed.mode = "now".into();
    changed.max_current_a = 10.5;
    r.observe(&store, &view(T0 + 1000, 0.0, changed)).unwrap();
    store
        .save_setting("garage", "battery_priority_soc", "70", T0 + 2000)
        .unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.saved_settings("garage").unwrap(),
        vec![
            ("battery_priority_soc".to_string(), "70".to_string()),
            ("max_current".to_string(), "10.5".to_string()),
            ("mode".to_string(), "now".to_string()),
        ]
    );
    assert!(store.saved_settings("carport").unwrap().is_empty());
}

// Tests for the CSV export.

#[test]
fn csv_cells_are_quoted_and_formulas_defused() {
    assert_eq!(csv_cell("garage"), "garage");
    assert_eq!(csv_cell("a,b"), "\"a,b\"");
    assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
    assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    assert_eq!(csv_cell("-1"), "'-1");
}

#[test]
fn the_csv_export_has_a_header_and_one_escaped_line_per_session() {
    let (_dir, _path, store) = temp_store();
    let mut r = Recorder::new();
    let mut lp = garage("charging", 4000.0, 5.0);
    lp.name = "garage, \"left\"".into();
    r.observe(&store, &view(T0, -5000.0, lp.clone())).unwrap();
    lp.total_energy_kwh = 6.0;
    r.observe(&store, &view(T0 + MIN, -5000.0, lp.clone()))
        .unwrap();
    lp.vehicle = "disconnected".into();
    r.observe(&store, &view(T0 + 2 * MIN, -5000.0, lp)).unwrap();
    let csv = store.sessions_csv().unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,loadpoint,start,end,energy_kwh,solar_kwh,grid_kwh,solar_share_pct,peak_power_w,mode"
    );
    assert!(
        lines[1].starts_with("1,\"garage, \"\"left\"\"\",20"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(",1.000,1.000,0.000,100.0,4000,pv"),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 3, "header, one session, final CRLF");
}

// Tests for errors.

#[test]
fn a_damaged_file_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sunfill.db");
    std::fs::write(
        &path,
        b"this is not a database, it is a shopping list\n".repeat(200),
    )
    .unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("move the file"), "{msg}");
}

#[test]
fn a_missing_directory_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/sunfill.db");
    let e = Store::open(&path).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("directory exists"), "{msg}");
}

#[test]
fn a_file_from_a_newer_sunfill_is_refused() {
    let (_dir, path, store) = temp_store();
    store
        .conn
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    drop(store);
    let e = Store::open(&path).unwrap_err();
    assert!(e.to_string().contains("schema version 99"), "{e}");
}

#[test]
fn opening_twice_migrates_once() {
    let (_dir, path, store) = temp_store();
    drop(store);
    let store = Store::open(&path).unwrap();
    let v: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, MIGRATIONS.len() as i64);
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

// Tests for the async recorder.

#[tokio::test]
async fn record_follows_the_hub_and_flushes_on_shutdown() {
    let (_dir, path, store) = temp_store();
    let (daemon, observer) = crate::hub::hub();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(record(store, observer, async {
        let _ = stopped.await;
    }));
    daemon
        .view
        .send_replace(view(T0, -3000.0, garage("charging", 4000.0, 7.0)));
    // Wait until the recorder has seen the first view (the session exists).
    let reader = Store::open(&path).unwrap();
    for _ in 0..500 {
        if reader.open_session("garage").unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    daemon
        .view
        .send_replace(view(T0 + 5000, -3000.0, garage("charging", 4000.0, 7.25)));
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let store = Store::open(&path).unwrap();
    let s = store.open_session("garage").unwrap().unwrap();
    assert!((s.energy_kwh - 0.25).abs() < 1e-9, "{s:?}");
    assert_eq!(store.history(0).unwrap().site.len(), 1);
}
