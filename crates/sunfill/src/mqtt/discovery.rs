//! Home Assistant MQTT discovery: one device per loadpoint, its entities reading the state
//! topics of [`super::outputs`].
//!
//! Every entity has availability on the status topic (`online`/`offline`, the last will).
//! Options of the mode select and of enum sensors are taken from the same constants the state
//! messages are built from ([`MODES`], [`ChargeState::ALL`], [`REASON_CODES`]), so Home
//! Assistant never receives a value it was not told about. Discovery is re-published on every
//! connect and whenever Home Assistant announces `online` on `homeassistant/status`.

use super::outputs::{ChargeState, Publish, Topics, MODES, REASON_CODES};
use serde_json::{json, Value};

/// One entity: component (`sensor`, `select`, ...), object id, and its config.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// Home Assistant component.
    pub component: &'static str,
    /// Object id (unique within the device).
    pub object_id: &'static str,
    /// The discovery config payload.
    pub config: Value,
}

fn base(t: &Topics, object_id: &str, name: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(name));
    m.insert(
        "unique_id".into(),
        json!(format!("sunfill_{}_{}", t.loadpoint, object_id)),
    );
    m.insert(
        "object_id".into(),
        json!(format!("sunfill_{}_{}", t.loadpoint, object_id)),
    );
    m.insert(
        "availability".into(),
        json!([{ "topic": t.status(), "payload_available": "online", "payload_not_available": "offline" }]),
    );
    m.insert(
        "device".into(),
        json!({
            "identifiers": [format!("sunfill_{}", t.loadpoint)],
            "name": format!("sunfill {}", t.loadpoint),
            "manufacturer": "sunfill",
            "model": "solar EV charging controller",
            "sw_version": env!("CARGO_PKG_VERSION"),
        }),
    );
    m
}

fn entity(
    t: &Topics,
    component: &'static str,
    object_id: &'static str,
    name: &str,
    extra: Value,
) -> Entity {
    let mut m = base(t, object_id, name);
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Entity {
        component,
        object_id,
        config: Value::Object(m),
    }
}

/// A sensor of the session's comparison with the classic controller: a counter that starts
/// again at zero when the car is unplugged (`total_increasing` reads the drop as a new cycle).
fn session_sensor(t: &Topics, object_id: &'static str, name: &str, unit: &str) -> Entity {
    let mut extra = json!({
        "state_topic": t.state(object_id),
        "unit_of_measurement": unit,
        "state_class": "total_increasing",
    });
    // sunfill's own numbers show on the device card; the classic controller's are for comparing.
    if object_id.starts_with("classic_") {
        extra["entity_category"] = json!("diagnostic");
    }
    if unit == "kWh" {
        extra["device_class"] = json!("energy");
    } else {
        extra["icon"] = json!("mdi:restart");
    }
    entity(t, "sensor", object_id, name, extra)
}

/// The device's entities.
pub fn entities(t: &Topics) -> Vec<Entity> {
    let states: Vec<&str> = ChargeState::ALL.iter().map(|s| s.as_str()).collect();
    vec![
        entity(
            t,
            "select",
            "mode",
            "Mode",
            json!({
                "state_topic": t.state("mode"),
                "command_topic": t.set("mode"),
                "options": MODES,
                "icon": "mdi:solar-power",
            }),
        ),
        entity(
            t,
            "number",
            "min_current",
            "Minimum current",
            json!({
                "state_topic": t.state("min_current"),
                "command_topic": t.set("min_current"),
                "min": 6, "max": 16, "step": 0.1, "mode": "box",
                "unit_of_measurement": "A", "device_class": "current",
            }),
        ),
        entity(
            t,
            "number",
            "max_current",
            "Maximum current",
            json!({
                "state_topic": t.state("max_current"),
                "command_topic": t.set("max_current"),
                "min": 6, "max": 16, "step": 0.1, "mode": "box",
                "unit_of_measurement": "A", "device_class": "current",
            }),
        ),
        entity(
            t,
            "sensor",
            "power",
            "Charging power",
            json!({
                "state_topic": t.state("power"),
                "unit_of_measurement": "W", "device_class": "power", "state_class": "measurement",
            }),
        ),
        entity(
            t,
            "sensor",
            "session_energy",
            "Session energy",
            json!({
                "state_topic": t.state("session_energy"),
                "unit_of_measurement": "kWh", "device_class": "energy",
                "state_class": "total_increasing",
            }),
        ),
        entity(
            t,
            "sensor",
            "total_energy",
            "Total energy",
            json!({
                "state_topic": t.state("total_energy"),
                "unit_of_measurement": "kWh", "device_class": "energy",
                "state_class": "total_increasing",
            }),
        ),
        session_sensor(t, "session_solar", "Session solar (sunfill)", "kWh"),
        session_sensor(t, "session_grid", "Session grid energy (sunfill)", "kWh"),
        session_sensor(t, "session_starts", "Session starts (sunfill)", "starts"),
        session_sensor(
            t,
            "classic_session_solar",
            "Session solar (classic controller)",
            "kWh",
        ),
        session_sensor(
            t,
            "classic_session_grid",
            "Session grid energy (classic controller)",
            "kWh",
        ),
        session_sensor(
            t,
            "classic_session_starts",
            "Session starts (classic controller)",
            "starts",
        ),
        entity(
            t,
            "sensor",
            "setpoint",
            "Current setpoint",
            json!({
                "state_topic": t.state("setpoint"),
                "unit_of_measurement": "A", "device_class": "current", "state_class": "measurement",
            }),
        ),
        entity(
            t,
            "sensor",
            "state",
            "Charging state",
            json!({
                "state_topic": t.state("state"),
                "device_class": "enum", "options": states,
            }),
        ),
        entity(
            t,
            "sensor",
            "reason",
            "Reason",
            json!({
                "state_topic": t.state("reason"),
                "icon": "mdi:comment-question-outline",
            }),
        ),
        entity(
            t,
            "sensor",
            "reason_code",
            "Reason code",
            json!({
                "state_topic": t.state("reason_code"),
                "device_class": "enum", "options": REASON_CODES,
                "entity_category": "diagnostic",
            }),
        ),
        entity(
            t,
            "binary_sensor",
            "car_connected",
            "Car connected",
            json!({
                "state_topic": t.state("car_connected"),
                "payload_on": "ON", "payload_off": "OFF", "device_class": "plug",
            }),
        ),
        entity(
            t,
            "binary_sensor",
            "charging",
            "Charging",
            json!({
                "state_topic": t.state("charging"),
                "payload_on": "ON", "payload_off": "OFF", "device_class": "battery_charging",
            }),
        ),
        entity(
            t,
            "binary_sensor",
            "wallbox_online",
            "Wallbox online",
            json!({
                "state_topic": t.state("wallbox_online"),
                "payload_on": "ON", "payload_off": "OFF", "device_class": "connectivity",
                "entity_category": "diagnostic",
            }),
        ),
    ]
}

/// The discovery config topic of an entity.
pub fn config_topic(t: &Topics, e: &Entity) -> String {
    format!(
        "{}/{}/sunfill_{}/{}/config",
        t.discovery_prefix, e.component, t.loadpoint, e.object_id
    )
}

/// The retained discovery messages.
pub fn messages(t: &Topics) -> Vec<Publish> {
    entities(t)
        .iter()
        .map(|e| Publish {
            topic: config_topic(t, e),
            payload: e.config.to_string(),
            retain: true,
        })
        .collect()
}

/// Empty retained messages that delete the device from Home Assistant (`sunfill ha remove`).
pub fn removal(t: &Topics) -> Vec<Publish> {
    entities(t)
        .iter()
        .map(|e| Publish {
            topic: config_topic(t, e),
            payload: String::new(),
            retain: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::outputs::{state_messages, ChargeState, Controls, Snapshot};
    use super::*;
    use sunfill_core::{control::Config, Deciamps, Mode};

    fn snapshot(mode: Mode, state: ChargeState, code: &'static str) -> Snapshot {
        let mut controls = Controls::new(Config::default());
        controls.mode = mode;
        Snapshot {
            controls,
            state,
            power_w: 0,
            setpoint: Deciamps::ZERO,
            phases: 3,
            session_energy_wh: 0,
            total_energy_wh: 0,
            solar_share_pct: None,
            reason: "x".into(),
            reason_code: code,
            wallbox_online: true,
            vs_classic: Default::default(),
        }
    }

    fn options(e: &Entity) -> Vec<String> {
        e.config["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// Every value published on an enum topic is one of the options HA was told about, and
    /// every option is a value that can be published.
    #[test]
    fn enum_options_are_exactly_the_published_values() {
        let t = Topics::new("garage");
        let ents = entities(&t);
        let by_id = |id: &str| ents.iter().find(|e| e.object_id == id).unwrap().clone();
        let published = |name: &str, s: &Snapshot| {
            state_messages(&t, s)
                .into_iter()
                .find(|p| p.topic == t.state(name))
                .unwrap()
                .payload
        };
        let modes = [
            Mode::Off,
            Mode::Pv,
            Mode::MinPv,
            Mode::Now,
            Mode::Fixed(Deciamps(100)),
        ];
        let mut seen: Vec<String> = modes
            .iter()
            .map(|m| published("mode", &snapshot(*m, ChargeState::Unknown, "off")))
            .collect();
        assert_eq!(options(&by_id("mode")), seen);
        seen = ChargeState::ALL
            .iter()
            .map(|s| published("state", &snapshot(Mode::Pv, *s, "off")))
            .collect();
        assert_eq!(options(&by_id("state")), seen);
        seen = REASON_CODES
            .iter()
            .map(|c| published("reason_code", &snapshot(Mode::Pv, ChargeState::Unknown, c)))
            .collect();
        assert_eq!(options(&by_id("reason_code")), seen);
    }

    #[test]
    fn every_entity_has_availability_and_reads_a_published_topic() {
        let t = Topics::new("garage");
        let published: Vec<String> =
            state_messages(&t, &snapshot(Mode::Pv, ChargeState::Unknown, "off"))
                .into_iter()
                .map(|p| p.topic)
                .collect();
        for e in entities(&t) {
            assert_eq!(
                e.config["availability"][0]["topic"],
                "sunfill/garage/status"
            );
            let st = e.config["state_topic"].as_str().unwrap();
            assert!(published.iter().any(|p| p == st), "{st} is never published");
        }
    }

    #[test]
    fn session_energy_is_total_increasing_kwh() {
        let t = Topics::new("garage");
        let e = entities(&t)
            .into_iter()
            .find(|e| e.object_id == "session_energy")
            .unwrap();
        assert_eq!(e.config["state_class"], "total_increasing");
        assert_eq!(e.config["unit_of_measurement"], "kWh");
        assert_eq!(
            config_topic(&t, &e),
            "homeassistant/sensor/sunfill_garage/session_energy/config"
        );
    }
}
