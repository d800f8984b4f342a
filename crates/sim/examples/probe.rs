//! Prints the outlook's values and decisions around a time of one run (diagnosis).
//!
//! `cargo run --release -p sunfill-sim --example probe -- FILE PHASES FROM_MIN TO_MIN [variant]`
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use sunfill_sim::model::simulate;
use sunfill_sim::policy::{Measurement, Policy};
use sunfill_sim::runner::{site_config, RunOptions};
use sunfill_sim::scenario::Scenario;
use sunfill_sim::sunfill_policy::SunfillPolicy;

mod common;

struct Probe {
    inner: SunfillPolicy,
    from: u64,
    to: u64,
}

impl Policy for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn step(&mut self, now_s: u64, reading: Option<&Measurement>) -> Option<u16> {
        let out = self.inner.step(now_s, reading);
        if let Some(m) = reading {
            if now_s >= self.from * 60 && now_s < self.to * 60 && now_s % 30 == 0 {
                let o = self.inner.controller().outlook();
                let (on, off) = o.values(0);
                let (on3, off3) = o.values(3);
                let f = |v: [f32; sunfill_core::control::outlook::LEVELS]| {
                    v.iter()
                        .map(|x| format!("{x:6.1}"))
                        .collect::<Vec<_>>()
                        .join("")
                };
                println!(
                    "{:4}:{:02} s {:6.0} car {:5.0} | {}",
                    now_s / 3600,
                    now_s / 60 % 60,
                    m.pv_w - m.house_w,
                    m.car_w,
                    self.inner
                        .last_reason()
                        .map(|r| r.to_string())
                        .unwrap_or_default()
                );
                if now_s % 300 == 0 {
                    println!(
                        "   on0  {}\n   off0 {}\n   on3  {}\n   off3 {}",
                        f(on),
                        f(off),
                        f(on3),
                        f(off3)
                    );
                    for i in 6..sunfill_core::control::outlook::LEVELS {
                        println!(
                            "   cnt a0 l{i} {:?}",
                            o.counts(0, i).map(|x| (x * 10.0).round() / 10.0)
                        );
                        println!(
                            "   cnt a3 l{i} {:?}",
                            o.counts(3, i).map(|x| (x * 10.0).round() / 10.0)
                        );
                    }
                }
            }
        }
        out
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(args.next().expect("file"));
    let ph: u8 = args.next().unwrap().parse().unwrap();
    let from: u64 = args.next().unwrap().parse().unwrap();
    let to: u64 = args.next().unwrap().parse().unwrap();
    let v = args.next().unwrap_or_default();
    let sc = Scenario::read(&file).expect("scenario");
    let cfg = site_config(&sc, ph, &RunOptions::default()).expect("cfg");
    let config = common::config(ph, common::parse(&v));
    let mut p = Probe {
        inner: SunfillPolicy::with_config(config, ph),
        from,
        to,
    };
    let out = simulate(&sc, &cfg, &mut p, None);
    println!("{:?}", out.metrics);
}
