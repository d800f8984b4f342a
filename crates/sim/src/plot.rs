//! An SVG of runs over a scenario: PV, house, car and grid power over time, one panel per
//! policy, on a shared kW scale so the panels compare at a glance. The benchmark's three numbers
//! can be seen where they arise: the car's power under the PV is solar, its power beyond the sun
//! (from the grid, or a home battery) is a red area, and each start is a tick under the panel.
//!
//! Hand-written SVG, no dependency. Each series is one `<polyline>` of at most about
//! [`MAX_POINTS`] points: the per-minute [`Trace`] is averaged over wider buckets when the
//! scenario is long, so a 7-day plot stays around 100 kB per panel.

use crate::model::{Trace, TracePoint};
use std::fmt::Write;

/// The most points per series; longer traces are averaged over buckets of whole minutes.
pub const MAX_POINTS: usize = 1500;

const WIDTH: f64 = 1200.0;
const PANEL_H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 28.0;
const TOP: f64 = 64.0;
const PANEL_GAP: f64 = 56.0;

/// One panel: a label (the policy, with a summary if wanted) and its trace.
#[derive(Clone, Copy, Debug)]
pub struct Panel<'a> {
    /// Shown above the panel.
    pub label: &'a str,
    /// Per-minute averages of the run.
    pub trace: &'a Trace,
}

/// What to draw.
#[derive(Clone, Copy, Debug)]
pub struct Plot<'a> {
    /// The title, e.g. the scenario and phase count.
    pub title: &'a str,
    /// Unix time of the first trace point.
    pub start_unix: i64,
    /// Local time minus UTC, minutes, for the hour labels.
    pub utc_offset_min: i32,
    /// The panels, top to bottom.
    pub panels: &'a [Panel<'a>],
}

/// A bucket of the trace as drawn: `[pv, house, car, grid, battery, car beyond the sun]` in W
/// (averages), and the starts in it.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    w: [f32; 6],
    starts: u32,
}

/// The series: name, colour, dash pattern, and how to read it from a point.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&[f32; 6]) -> f32,
);

/// The car's power beyond the sun, drawn as an area from zero: its legend without and with a
/// home battery, and its colour.
const BOUGHT: (&str, &str, &str) = ("car from the grid", "car from grid or battery", "#d55e00");

/// The ticks that mark starts.
const START: (&str, &str) = ("start", "#00704f");

/// The series; the last one only when the runs had a home battery.
const SERIES: [Series; 5] = [
    ("PV", "#e69f00", "", |p| p[0]),
    ("house", "#56677f", "", |p| p[1]),
    ("car", "#009e73", "", |p| p[2]),
    ("grid (+ import)", "#cc79a7", "5 3", |p| p[3]),
    ("home battery (+ discharging)", "#0072b2", "2 2", |p| p[4]),
];

/// Renders `plot` as a standalone SVG document.
pub fn svg(plot: &Plot<'_>) -> String {
    let (from, to) = span(plot);
    let minutes = (to - from).max(1);
    let bucket = minutes.div_ceil(MAX_POINTS).max(1);
    let battery = plot.panels.iter().any(|p| p.trace.has_battery);
    let series = if battery { &SERIES[..] } else { &SERIES[..4] };
    let panels: Vec<Vec<Bucket>> = plot
        .panels
        .iter()
        .map(|p| {
            let points = &p.trace.points;
            downsample(
                &points[from.min(points.len())..to.min(points.len())],
                bucket,
            )
        })
        .collect();

    let (mut lo, mut hi) = (0.0f32, 1000.0f32);
    for p in panels.iter().flatten() {
        for v in &p.w {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
    }
    let step_kw = nice_step(f64::from(hi - lo) / 1000.0, 6);
    let lo_kw = (f64::from(lo) / 1000.0 / step_kw).floor() * step_kw;
    let hi_kw = (f64::from(hi) / 1000.0 / step_kw).ceil() * step_kw;

    let height = TOP + plot.panels.len().max(1) as f64 * (PANEL_H + PANEL_GAP);
    let plot_w = WIDTH - LEFT - RIGHT;
    let x_of = |minute: f64| LEFT + minute / minutes as f64 * plot_w;

    let mut s = String::with_capacity(64 * 1024 * plot.panels.len().max(1));
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="22" font-size="16" font-weight="bold">{}</text>"##,
        escape(plot.title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="22" text-anchor="end" fill="#555">times: local, UTC{}</text>"##,
        WIDTH - RIGHT,
        offset_label(plot.utc_offset_min)
    );
    let mut lx = LEFT;
    for &(name, colour, dash, _) in series {
        let _ = writeln!(
            s,
            r##"<line x1="{lx}" y1="42" x2="{}" y2="42" stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/><text x="{}" y="46">{name}</text>"##,
            lx + 24.0,
            lx + 30.0
        );
        lx += 40.0 + 8.0 * name.len() as f64;
    }
    let bought = if battery { BOUGHT.1 } else { BOUGHT.0 };
    let _ = writeln!(
        s,
        r##"<rect x="{lx}" y="37" width="24" height="10" fill="{}" fill-opacity="0.7"/><text x="{}" y="46">{bought}</text>"##,
        BOUGHT.2,
        lx + 30.0,
    );
    lx += 40.0 + 8.0 * bought.len() as f64;
    let _ = writeln!(
        s,
        r##"<line x1="{}" y1="36" x2="{}" y2="48" stroke="{}" stroke-width="1.5"/><text x="{}" y="46">{}</text>"##,
        lx + 12.0,
        lx + 12.0,
        START.1,
        lx + 20.0,
        START.0
    );

    let hours = minutes as f64 / 60.0;
    let tick_h = [1.0, 2.0, 3.0, 6.0, 12.0, 24.0]
        .into_iter()
        .find(|h| hours / h <= 14.0)
        .unwrap_or(24.0);
    let local_start = plot.start_unix + (from as i64 + i64::from(plot.utc_offset_min)) * 60;

    for (i, (panel, points)) in plot.panels.iter().zip(&panels).enumerate() {
        let top = TOP + i as f64 * (PANEL_H + PANEL_GAP) + 20.0;
        let bottom = top + PANEL_H;
        let y_of = |kw: f64| bottom - (kw - lo_kw) / (hi_kw - lo_kw) * PANEL_H;
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"##,
            top - 8.0,
            escape(panel.label)
        );
        // Horizontal grid and kW labels.
        let mut kw = lo_kw;
        while kw <= hi_kw + step_kw / 2.0 {
            let y = y_of(kw);
            let stroke = if kw.abs() < 1e-9 { "#888" } else { "#e4e4e4" };
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="{stroke}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                fmt_kw(kw)
            );
            kw += step_kw;
        }
        let _ = writeln!(
            s,
            r##"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">kW</text>"##,
            (top + bottom) / 2.0,
            (top + bottom) / 2.0
        );
        // Vertical grid at whole local hours, labels below.
        let first_tick_s = {
            let step = (tick_h * 3600.0) as i64;
            (local_start + step - 1).div_euclid(step) * step
        };
        let mut t = first_tick_s;
        while ((t - local_start) as f64) <= minutes as f64 * 60.0 {
            let x = x_of((t - local_start) as f64 / 60.0);
            let sod = t.rem_euclid(86_400);
            let label = if sod == 0 && hours > 24.0 {
                let (_, m, d) = civil_from_days(t.div_euclid(86_400));
                format!("{m:02}-{d:02}")
            } else {
                format!("{:02}:00", sod / 3600)
            };
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="{}"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
                if sod == 0 { "#bbb" } else { "#f0f0f0" },
                bottom + 16.0
            );
            t += (tick_h * 3600.0) as i64;
        }
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}" fill="none" stroke="#444"/>"##
        );
        // A tick under the plot area for each bucket with a start.
        let _ = write!(s, r##"<path stroke="{}" stroke-width="1.2" d=""##, START.1);
        for (j, p) in points.iter().enumerate() {
            if p.starts > 0 {
                let x = x_of((j * bucket) as f64 + bucket as f64 / 2.0);
                let _ = write!(s, "M{x:.1} {:.1}v-9", bottom);
            }
        }
        let _ = writeln!(s, r##""/>"##);
        for &(_, colour, dash, get) in series {
            let _ = write!(
                s,
                r##"<polyline fill="none" stroke="{colour}" stroke-width="1.2" stroke-dasharray="{dash}" points=""##
            );
            for (j, p) in points.iter().enumerate() {
                let x = x_of((j * bucket) as f64 + bucket as f64 / 2.0);
                let y = y_of(f64::from(get(&p.w)) / 1000.0);
                let _ = write!(s, "{x:.1},{y:.1} ");
            }
            let _ = writeln!(s, r##""/>"##);
        }
        // The car's power beyond the sun: an area from zero, over the lines so that it shows
        // where the lines crowd near zero.
        let zero = y_of(0.0);
        let _ = write!(
            s,
            r##"<polygon fill="{}" fill-opacity="0.7" stroke="none" points="{LEFT:.1},{zero:.1} "##,
            BOUGHT.2
        );
        for (j, p) in points.iter().enumerate() {
            let x0 = x_of((j * bucket) as f64);
            let x1 = x_of(((j + 1) * bucket).min(minutes) as f64);
            let y = y_of(f64::from(p.w[5]) / 1000.0);
            let _ = write!(s, "{x0:.1},{y:.1} {x1:.1},{y:.1} ");
        }
        let _ = writeln!(s, r##"{:.1},{zero:.1}"/>"##, x_of(minutes as f64));
    }
    s.push_str("</svg>\n");
    s
}

/// The minutes worth drawing, `from..to`: from the whole local hour before the first minute in
/// which any panel has a surplus (PV above the house load), a car or a home battery at work, to
/// the whole hour after the last; the whole trace if there is none. A night before or after the
/// day only takes room.
fn span(plot: &Plot<'_>) -> (usize, usize) {
    let len = plot
        .panels
        .iter()
        .map(|p| p.trace.points.len())
        .max()
        .unwrap_or(0);
    let busy = |p: &TracePoint| p.pv_w > p.house_w || p.car_w > 0.0 || p.battery_w.abs() > 1.0;
    let ends = plot.panels.iter().filter_map(|p| {
        let first = p.trace.points.iter().position(busy)?;
        let last = p.trace.points.iter().rposition(busy)?;
        Some((first, last))
    });
    let Some((first, last)) = ends.reduce(|(a, b), (c, d)| (a.min(c), b.max(d))) else {
        return (0, len);
    };
    // Minutes past the local hour at the trace's first point.
    let local_min = plot.start_unix.div_euclid(60) + i64::from(plot.utc_offset_min);
    let past_hour = local_min.rem_euclid(60) as usize;
    let from = ((first + past_hour) / 60 * 60).saturating_sub(past_hour + 60);
    let to = ((last + past_hour) / 60 * 60 + 120).saturating_sub(past_hour);
    (from, to.min(len).max(from))
}

/// Averages the trace over buckets of `bucket` minutes and adds up their starts.
fn downsample(points: &[TracePoint], bucket: usize) -> Vec<Bucket> {
    points
        .chunks(bucket)
        .map(|c| {
            let n = c.len() as f32;
            let mut b = Bucket::default();
            for p in c {
                let w = [
                    p.pv_w,
                    p.house_w,
                    p.car_w,
                    p.grid_w,
                    p.battery_w,
                    p.car_bought_w,
                ];
                for (sum, v) in b.w.iter_mut().zip(w) {
                    *sum += v / n;
                }
                b.starts += p.starts;
            }
            b
        })
        .collect()
}

/// A step of 1, 2 or 5 x 10^k that cuts `range` into at most `max_ticks` parts.
fn nice_step(range: f64, max_ticks: u32) -> f64 {
    let raw = (range / f64::from(max_ticks)).max(1e-3);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn fmt_kw(kw: f64) -> String {
    if (kw - kw.round()).abs() < 1e-9 {
        format!("{kw:.0}")
    } else {
        format!("{kw:.1}")
    }
}

fn offset_label(min: i32) -> String {
    let sign = if min < 0 { '-' } else { '+' };
    let a = min.unsigned_abs();
    if a % 60 == 0 {
        format!("{sign}{}", a / 60)
    } else {
        format!("{sign}{}:{:02}", a / 60, a % 60)
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The date of a day number since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(minutes: usize) -> Trace {
        Trace {
            points: (0..minutes)
                .map(|i| TracePoint {
                    pv_w: (i % 700) as f32 * 10.0,
                    house_w: 300.0,
                    car_w: 4140.0,
                    grid_w: 4440.0 - (i % 700) as f32 * 10.0,
                    battery_w: 0.0,
                    car_bought_w: (4140.0 - (i % 700) as f32 * 10.0 + 300.0).max(0.0),
                    starts: u32::from(i % 700 == 420),
                })
                .collect(),
            has_battery: false,
        }
    }

    /// A day's plot of `a` (seed) above `b` (threshold-delay).
    fn day_of_two(a: &Trace, b: &Trace) -> String {
        let panels = [
            Panel {
                label: "seed",
                trace: a,
            },
            Panel {
                label: "threshold-delay",
                trace: b,
            },
        ];
        svg(&Plot {
            title: "dk-test, 3 phases",
            start_unix: 1_717_970_400,
            utc_offset_min: 120,
            panels: &panels,
        })
    }

    #[test]
    fn a_day_has_axes_legend_and_one_panel_per_policy() {
        let (a, b) = (trace(1440), trace(1440));
        let s = day_of_two(&a, &b);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<polyline").count(), 8);
        for text in [
            "PV",
            "house",
            "car",
            "grid (+ import)",
            "12:00",
            "kW",
            "UTC+2",
        ] {
            assert!(
                s.contains(&format!(">{text}<")) || s.contains(text),
                "{text}"
            );
        }
        assert!(s.contains(">threshold-delay<"));
        assert!(!s.contains("home battery"));
        // The car's power beyond the sun is an area per panel, each start a tick under it.
        assert!(s.contains(">car from the grid<") && s.contains(">start<"));
        assert_eq!(s.matches("<polygon").count(), 2);
        assert_eq!(
            s.matches("v-9").count(),
            2 * 2,
            "starts at 07:00 and 18:40 local"
        );
        // With a home battery its power is a fifth line in each panel.
        let (mut a, mut b) = (a, b);
        for t in [&mut a, &mut b] {
            t.has_battery = true;
            t.points[600].battery_w = 2000.0;
        }
        let s = day_of_two(&a, &b);
        assert_eq!(s.matches("<polyline").count(), 10);
        assert!(s.contains(">home battery (+ discharging)<"));
        assert!(s.contains(">car from grid or battery<"));
    }

    #[test]
    fn a_week_is_downsampled_and_labels_dates() {
        let t = trace(7 * 1440);
        let panels = [Panel {
            label: "sunfill",
            trace: &t,
        }; 3];
        let s = svg(&Plot {
            title: "week",
            start_unix: 1_717_970_400,
            utc_offset_min: 120,
            panels: &panels,
        });
        assert!(s.len() < 400_000, "{} bytes", s.len());
        assert!(s.contains(">06-11<"), "date labels at local midnight");
    }

    #[test]
    fn the_night_around_a_day_is_left_out() {
        // A surplus from 06:10 to 19:50 local (UTC+2), a car from 09:00; some PV, but under
        // the house load, from 05:30 to 20:30.
        let mut t = trace(1440);
        for (i, p) in t.points.iter_mut().enumerate() {
            p.pv_w = match i {
                370..1190 => 3000.0,
                330..1230 => 200.0,
                _ => 0.0,
            };
            p.car_w = if (540..1100).contains(&i) {
                1400.0
            } else {
                0.0
            };
        }
        let plot = Plot {
            title: "day",
            start_unix: 1_717_970_400,
            utc_offset_min: 120,
            panels: &[Panel {
                label: "sunfill",
                trace: &t,
            }],
        };
        assert_eq!(span(&plot), (5 * 60, 21 * 60));
        let s = svg(&plot);
        // Labelled every 2 h over those 16 h.
        assert!(s.contains(">06:00<") && s.contains(">20:00<"));
        assert!(!s.contains(">04:00<") && !s.contains(">22:00<"));
        // The same trace starting at 00:30 local: sun from 06:40 to 20:20, cut at whole hours.
        let late = Plot {
            start_unix: 1_717_970_400 + 1800,
            ..plot
        };
        assert_eq!(span(&late), (5 * 60 - 30, 22 * 60 - 30));
        // Nothing at work at all: the whole trace.
        let dark = Trace {
            points: vec![TracePoint::default(); 90],
            has_battery: false,
        };
        let plot = Plot {
            panels: &[Panel {
                label: "sunfill",
                trace: &dark,
            }],
            ..plot
        };
        assert_eq!(span(&plot), (0, 90));
    }

    #[test]
    fn an_empty_or_one_minute_trace_still_plots() {
        for t in [trace(0), trace(1)] {
            let s = day_of_two(&t, &t);
            assert!(s.ends_with("</svg>\n"));
            assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_884), (2024, 6, 10));
        assert_eq!(nice_step(11.0, 6), 2.0);
        assert_eq!(offset_label(-360), "-6");
        assert_eq!(escape("a<b"), "a&lt;b");
    }
}
