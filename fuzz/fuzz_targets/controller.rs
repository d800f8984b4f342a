//! The controller (`sunfill_core::control::Controller`) fed any sequence of readings, withdrawn
//! readings, mode changes and steps at any times, as the daemon would feed it from a broken or
//! hostile site: the learned outlook and the yardstick must cope with every value.
//!
//! Beyond "no panic": every decision's setpoint is 0 or within the configured limits; `changed`
//! says whether it differs from the previous one; a stale or missing reading that stops `pv`
//! gives 0; `off` gives 0; every reason prints a sentence; `poll_at` never lies in the past of
//! the step that set it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunfill_core::control::{PhaseConfig, Signal, VehicleState, WallboxReading};
use sunfill_core::{Config, Controller, Deciamps, Input, Instant, Mode, Reason};

// One event per 6 bytes: kind, time step (2 bytes, 100 ms units), value (3 bytes, signed W).
fuzz_target!(|data: &[u8]| {
    let Some((&head, events)) = data.split_first() else {
        return;
    };
    let config = Config {
        phases: match head % 3 {
            0 => PhaseConfig::Auto,
            1 => PhaseConfig::One,
            _ => PhaseConfig::Three,
        },
        ..Config::default()
    };
    let (min, max) = (config.min_current, config.max_current);
    let mut c = Controller::new(config);
    let mut now_ms: u64 = 0;
    let mut last = Deciamps::ZERO;
    for e in events.chunks_exact(6) {
        now_ms += u64::from(u16::from_le_bytes([e[1], e[2]])) * 100;
        let now = Instant::from_millis(now_ms);
        // A signed 24-bit value, so powers reach +-8 MW.
        let v = i32::from_le_bytes([e[3], e[4], e[5], if e[5] & 0x80 != 0 { 0xff } else { 0 }]);
        match e[0] % 10 {
            0 => c.update(now, Input::Grid(v)),
            1 => c.update(now, Input::Pv(v)),
            2 => c.update(now, Input::House(v)),
            3 => c.update(now, Input::Battery(v)),
            4 => c.update(now, Input::BatterySoc((v.unsigned_abs() % 256) as u8)),
            5 => {
                let amps = Deciamps((v.unsigned_abs() % 400) as u16);
                c.update(
                    now,
                    Input::Wallbox(WallboxReading {
                        power_w: v,
                        currents: [amps, if e[4] & 1 == 1 { amps } else { Deciamps::ZERO }, amps],
                        voltages: [e[3] as u16 + 100, 230, e[4] as u16 * 2],
                        state: match e[5] % 5 {
                            0 => VehicleState::Unknown,
                            1 => VehicleState::Disconnected,
                            2 => VehicleState::Connected,
                            3 => VehicleState::Charging,
                            _ => VehicleState::Error,
                        },
                    }),
                )
            }
            6 => c.set_mode(match e[3] % 5 {
                0 => Mode::Off,
                1 => Mode::Pv,
                2 => Mode::MinPv,
                3 => Mode::Now,
                _ => Mode::Fixed(Deciamps(u16::from_le_bytes([e[4], e[5]]))),
            }),
            7 => c.forget(match e[3] % 6 {
                0 => Signal::Grid,
                1 => Signal::Pv,
                2 => Signal::House,
                3 => Signal::Battery,
                4 => Signal::BatterySoc,
                _ => Signal::Wallbox,
            }),
            _ => {
                let d = c.step(now);
                assert!(
                    d.current.is_zero() || (min..=max).contains(&d.current),
                    "setpoint {} outside 0 or {}..{}",
                    d.current,
                    min,
                    max
                );
                assert_eq!(d.changed, d.current != last);
                last = d.current;
                if let Reason::StaleStop(_) | Reason::Off | Reason::NoCar = d.reason {
                    assert!(d.current.is_zero(), "{}", d.reason);
                }
                if c.mode() == Mode::Off {
                    assert!(d.current.is_zero());
                }
                assert!(!d.reason.to_string().is_empty());
                if let Some(at) = c.poll_at() {
                    assert!(at >= now, "poll_at {at} before {now}");
                }
            }
        }
    }
});
