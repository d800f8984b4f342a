//! The scenario CSV reader (`sunfill_sim::scenario::Scenario::parse`) and its RFC 3339 times.
//!
//! Beyond "no panic": a parsed scenario has at least one row, every power finite and >= 0, one
//! row per data line and a start time that is the first row's time; errors name the file and a
//! line that exists; every accepted time prints back (by an independent civil-date conversion)
//! to the text it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunfill_sim::scenario::{
    format_rfc3339_utc as format_utc, parse_rfc3339_utc, Scenario, ScenarioError,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let data_lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    match Scenario::parse("fuzz.csv", "fuzz", text) {
        Ok(s) => {
            assert_eq!(s.name, "fuzz");
            assert!(!s.rows.is_empty());
            assert_eq!(s.rows.len() + 1, data_lines.len(), "one row per data line");
            for r in &s.rows {
                assert!(r.pv_w.is_finite() && r.pv_w >= 0.0, "{r:?}");
                assert!(r.house_w.is_finite() && r.house_w >= 0.0, "{r:?}");
            }
            assert_eq!(s.duration_s(), s.rows.len() as u64 * 60);
            let first = data_lines[1].split(',').next().unwrap_or("").trim();
            assert_eq!(format_utc(s.start_unix), first.to_ascii_uppercase());
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz.csv:"), "{msg}");
            if let ScenarioError::Line { line, .. } = e {
                let lines = text.lines().count();
                assert!((1..=lines).contains(&line), "line {line} of {lines}");
            }
        }
    }
    for line in text.lines() {
        let field = line.split(',').next().unwrap_or("").trim();
        if let Ok(t) = parse_rfc3339_utc(field) {
            assert_eq!(format_utc(t), field.to_ascii_uppercase(), "{t}");
        }
    }
});
