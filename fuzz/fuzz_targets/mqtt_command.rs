//! MQTT commands (`mqtt::outputs::command`): a session of `.../set` messages, one per line
//! (`<command> <payload>`; a line starting with `!` is a raw topic), applied in order as the
//! daemon applies them.
//!
//! Beyond "no panic": accepted commands always leave valid controls (the core config validates,
//! the fixed current lies within min..=max and mode `fixed` carries it) and change exactly what
//! they name; the error message is valid JSON on `<base>/error`; and everything published
//! (mode, currents, battery priority) is accepted back unchanged when sent as a command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunfill::mqtt::outputs::{
    command, state_messages, ChargeState, Command, Controls, Snapshot, Topics, MODES,
};
use sunfill_core::control::Config;
use sunfill_core::Mode;

fuzz_target!(|data: &[u8]| {
    let topics = Topics::new("garage");
    let mut controls = Controls::new(Config::default());
    published_values_round_trip(&topics, &controls);
    for line in data.split(|b| *b == b'\n') {
        let (name, payload) = match line.iter().position(|b| *b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        let name = String::from_utf8_lossy(name);
        let topic = match name.strip_prefix('!') {
            Some(raw) => raw.to_string(),
            None => topics.set(&name),
        };
        let is_command_topic = topic
            .strip_prefix("sunfill/garage/")
            .is_some_and(|rest| rest.ends_with("/set"));
        match command(&topics, &controls, &topic, payload) {
            None => assert!(!is_command_topic, "{topic} ignored"),
            Some(Ok((cmd, next))) => {
                assert!(is_command_topic);
                check_applied(cmd, &next, payload);
                check_valid(&next);
                controls = next;
                // Only an accepted command changes what is published.
                published_values_round_trip(&topics, &controls);
            }
            Some(Err(e)) => {
                assert!(is_command_topic);
                assert_eq!(e.topic, topic);
                let p = e.publish(&topics);
                assert_eq!(p.topic, "sunfill/garage/error");
                assert!(!p.retain);
                let json: serde_json::Value =
                    serde_json::from_str(&p.payload).expect("error payload is JSON");
                assert_eq!(json["topic"], topic.as_str());
            }
        }
    }
});

fn check_valid(c: &Controls) {
    assert_eq!(c.config.validate(), Ok(()), "{c:?}");
    assert!(c.config.min_current <= c.fixed_current && c.fixed_current <= c.config.max_current);
    if let Mode::Fixed(a) = c.mode {
        assert_eq!(a, c.fixed_current);
    }
}

/// The number the payload spells, for currents.
fn amps(payload: &[u8]) -> f64 {
    String::from_utf8_lossy(payload)
        .trim()
        .parse::<f64>()
        .expect("an accepted current is a number")
}

fn check_applied(cmd: Command, next: &Controls, payload: &[u8]) {
    let deciamps = |a: sunfill_core::Deciamps| {
        let v = amps(payload);
        assert!(
            (v * 10.0 - f64::from(a.0)).abs() < 1e-6,
            "{payload:?} -> {a}"
        );
        a
    };
    match cmd {
        Command::Mode(m) => {
            assert_eq!(
                core::mem::discriminant(&m),
                core::mem::discriminant(&next.mode)
            )
        }
        Command::MinCurrent(a) => assert_eq!(next.config.min_current, deciamps(a)),
        Command::MaxCurrent(a) => assert_eq!(next.config.max_current, deciamps(a)),
        Command::FixedCurrent(a) => assert_eq!(next.fixed_current, deciamps(a)),
        Command::BatteryPrioritySoc(p) => {
            assert_eq!(next.config.battery.priority_soc, p);
            assert_eq!(String::from_utf8_lossy(payload).trim().parse::<u8>(), Ok(p));
        }
    }
}

/// Home Assistant echoes what sunfill publishes: each published value sent back as a command is
/// accepted and changes nothing.
fn published_values_round_trip(topics: &Topics, controls: &Controls) {
    let snapshot = Snapshot {
        controls: *controls,
        state: ChargeState::Connected,
        power_w: 0,
        setpoint: controls.fixed_current,
        phases: 3,
        session_energy_wh: 0,
        total_energy_wh: 0,
        solar_share_pct: None,
        reason: String::new(),
        reason_code: "off",
        wallbox_online: true,
        vs_classic: Default::default(),
    };
    for p in state_messages(topics, &snapshot) {
        let Some(name) = p.topic.strip_prefix("sunfill/garage/") else {
            panic!("{} outside the base", p.topic)
        };
        if name == "mode" {
            assert!(MODES.contains(&p.payload.as_str()), "{}", p.payload);
        }
        if matches!(
            name,
            "mode" | "min_current" | "max_current" | "fixed_current" | "battery_priority_soc"
        ) {
            let back = command(topics, controls, &topics.set(name), p.payload.as_bytes());
            match back {
                Some(Ok((_, next))) => assert_eq!(&next, controls, "{name} {}", p.payload),
                other => panic!("published {name} {} is refused: {other:?}", p.payload),
            }
        }
    }
}
