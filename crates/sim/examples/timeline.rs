//! One run as text, a character per minute: the surplus (relative to the minimum power) over what
//! each policy's car drew. Shows where a policy waits, holds or stops.
//!
//! `cargo run --release -p sunfill-sim --example timeline -- FILE PHASES [variant]`
//!
//! Surplus: `.` none, `_` < 50 %, `-` < 80 %, `=` < 100 %, `#` < 200 %, `@` more, of the minimum
//! power. Car: ` ` off, `h` on with import (a hold), `c` on from solar alone, `s` part of the
//! minute (a start or a stop).

// A developer tool: a bad path or argument may abort it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::model::{simulate, Trace};
use sunfill_sim::runner::{site_config, PolicyKind, RunOptions};
use sunfill_sim::scenario::Scenario;

mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(args.next().expect("scenario file"));
    let phases: u8 = args.next().and_then(|p| p.parse().ok()).unwrap_or(3);
    let variant = args.next().unwrap_or_default();
    let sc = Scenario::read(&file).expect("scenario");
    let opts = RunOptions::default();
    let cfg = site_config(&sc, phases, &opts).expect("cfg");
    let p_min = cfg.p_min_w() as f32;
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut surplus = String::new();
    for kind in [PolicyKind::ThresholdDelay, PolicyKind::Sunfill] {
        let mut p = if kind == PolicyKind::Sunfill {
            common::policy(phases, &variant)
        } else {
            kind.build(phases)
        };
        let mut trace = Trace::default();
        let out = simulate(&sc, &cfg, p.as_mut(), Some(&mut trace));
        let m = out.metrics;
        println!(
            "{:16} solar {:6.2} import {:5.2} starts {}",
            p.name(),
            m.solar_kwh,
            m.import_kwh,
            m.starts
        );
        surplus = trace
            .points
            .iter()
            .map(|t| {
                let r = (t.pv_w - t.house_w) / p_min;
                match r {
                    r if r < 0.0 => '.',
                    r if r < 0.5 => '_',
                    r if r < 0.8 => '-',
                    r if r < 1.0 => '=',
                    r if r < 2.0 => '#',
                    _ => '@',
                }
            })
            .collect();
        let car: String = trace
            .points
            .iter()
            .map(|t| {
                if t.car_w <= 0.0 {
                    ' '
                } else if t.car_w < p_min * 0.98 {
                    's'
                } else if t.grid_w > 1.0 {
                    'h'
                } else {
                    'c'
                }
            })
            .collect();
        lines.push((p.name().to_string(), car));
    }
    let n = surplus.chars().count();
    let chars: Vec<char> = surplus.chars().collect();
    let rows: Vec<Vec<char>> = lines.iter().map(|(_, l)| l.chars().collect()).collect();
    for start in (0..n).step_by(120) {
        let end = (start + 120).min(n);
        let seg: String = chars[start..end].iter().collect();
        if seg.chars().all(|c| c == '.' || c == '_')
            && rows.iter().all(|r| r[start..end].iter().all(|c| *c == ' '))
        {
            continue;
        }
        println!("{:5} sun  {seg}", start / 60);
        for (k, r) in rows.iter().enumerate() {
            let s: String = r[start..end].iter().collect();
            println!("      {:4} {s}", &lines[k].0[..4.min(lines[k].0.len())]);
        }
    }
}
