//! `GET /metrics`: the current view in the Prometheus text format.
//!
//! The registry is built from the view on every scrape, so a loadpoint or a reading that
//! disappears leaves no stale series behind. A missing or stale site reading has no sample.

use crate::hub::View;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn family() -> Family<Labels, FloatGauge> {
    Family::default()
}

fn gauge(v: f64) -> FloatGauge {
    let g = FloatGauge::default();
    g.set(v);
    g
}

/// The view as Prometheus text (exposition format 0.0.4 / OpenMetrics text).
pub fn render(view: &View) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::with_prefix("sunfill");

    let site = family();
    for (flow, v) in [
        ("pv", view.site.pv_w),
        ("house", view.site.house_w),
        ("grid", view.site.grid_w),
        ("battery", view.site.battery_w),
    ] {
        if let Some(v) = v {
            site.get_or_create(&vec![("flow".into(), flow.into())])
                .set(v);
        }
    }
    reg.register_with_unit(
        "site_power",
        "Site power flows: pv production, house load without the car, grid (+ import), home \
         battery (+ discharging)",
        Unit::Other("watts".into()),
        site,
    );
    if let Some(soc) = view.site.battery_soc {
        reg.register(
            "battery_soc_percent",
            "Home battery state of charge",
            gauge(soc),
        );
    }
    reg.register(
        "mqtt_connected",
        "1 when the MQTT broker is connected",
        gauge(f64::from(u8::from(view.mqtt_connected))),
    );

    let car = family();
    let setpoint = family();
    let session = family();
    let total = family();
    let online = family();
    // This session beside the classic threshold/delay controller on the same readings.
    let (vs_solar, vs_grid, vs_starts) = (family(), family(), family());
    for lp in &view.loadpoints {
        let l = vec![("loadpoint".to_string(), lp.name.clone())];
        car.get_or_create(&l).set(lp.power_w);
        setpoint.get_or_create(&l).set(lp.setpoint_a);
        session.get_or_create(&l).set(lp.session_energy_kwh);
        total.get_or_create(&l).set(lp.total_energy_kwh);
        online
            .get_or_create(&l)
            .set(f64::from(u8::from(lp.wallbox_online)));
        let v = &lp.vs_classic;
        for (controller, solar, grid, starts) in [
            ("sunfill", v.solar_kwh, v.grid_kwh, v.starts),
            (
                "classic",
                v.classic_solar_kwh,
                v.classic_grid_kwh,
                v.classic_starts,
            ),
        ] {
            let mut l = l.clone();
            l.push(("controller".to_string(), controller.to_string()));
            vs_solar.get_or_create(&l).set(solar);
            vs_grid.get_or_create(&l).set(grid);
            vs_starts.get_or_create(&l).set(f64::from(starts));
        }
    }
    reg.register_with_unit(
        "car_power",
        "Power into the car",
        Unit::Other("watts".into()),
        car,
    );
    reg.register_with_unit(
        "setpoint",
        "Charging current the wallbox was last told (0 = not charging)",
        Unit::Amperes,
        setpoint,
    );
    reg.register_with_unit(
        "session_energy",
        "Energy of the current (or last) session, from the wallbox counter",
        Unit::Other("kilowatt_hours".into()),
        session,
    );
    reg.register_with_unit(
        "wallbox_energy",
        "The wallbox's energy counter since installation",
        Unit::Other("kilowatt_hours".into()),
        total,
    );
    reg.register("wallbox_online", "1 when the wallbox answers", online);
    reg.register_with_unit(
        "session_solar",
        "Solar energy into the car this session (pv and minpv mode), from the controller's books: \
         sunfill's, and a classic threshold/delay controller's on the same readings",
        Unit::Other("kilowatt_hours".into()),
        vs_solar,
    );
    reg.register_with_unit(
        "session_grid",
        "Grid energy into the car this session, as session_solar",
        Unit::Other("kilowatt_hours".into()),
        vs_grid,
    );
    reg.register(
        "session_starts",
        "Charging starts this session, as session_solar",
        vs_starts,
    );
    let mut out = String::new();
    encode(&mut out, &reg)?;
    Ok(out)
}
