//! Shared by the tuning examples: `key=value,...` to a [`Tuning`].
use sunfill_core::control::Tuning;
use sunfill_core::{Deciamps, Duration};

/// Parses `earn=..,cap=..,grant=..,delay=..,sx=..,maxwait=..,margin=..,rdelay=..,rwin=..,up=..,
/// dipmean=..,sprice=..,carstart=..` over the defaults.
pub fn parse(s: &str) -> Tuning {
    let mut t = Tuning::default();
    for kv in s.split(',').filter(|x| !x.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, "0"));
        let n: i64 = v.parse().unwrap_or(0);
        match k {
            "earn" => t.earn_permille = n as u32,
            "cap" => t.budget_cap_secs = n as u32,
            "grant" => t.budget_start_secs = n as u32,
            "delay" => t.start_delay = Duration::from_secs(n as u64),
            "sx" => t.start_excess_secs = n as u32,
            "maxwait" => t.start_delay_max = Duration::from_secs(n as u64),
            "learn" => t.dip_learn = n as u32,
            "dipcap" => t.dip_cap_secs = n as u32,
            "dipmean" => t.dip_mean_secs = n as u32,
            "margin" => t.start_margin_w = n as i32,
            "rdelay" => t.restart_delay = Duration::from_secs(n as u64),
            "rwin" => t.restart_window = Duration::from_secs(n as u64),
            "up" => t.up_step = Deciamps(n as u16),
            "sprice" => t.start_price_secs = n as u32,
            "carstart" => t.car_start_secs = n as u32,
            _ => eprintln!("unknown key {k}"),
        }
    }
    t
}
