//! A family of simple rules, shared by the `rules` and `experts` examples: hold a dip at the
//! minimum while its grid energy stays under a budget and the surplus above a depth; start once
//! the surplus has stayed above a margin for a delay; track the surplus in between.

// Each example compiles this module; most use none of it.
#![allow(dead_code)]

/// One rule of the family.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Grid energy a dip may cost before the car stops, Wh.
    pub budget_wh: f64,
    /// Below this share of the minimum power the car stops at once.
    pub depth: f64,
    /// How long the surplus must stay above the margin before a start, s.
    pub start_delay: u64,
    /// Share of the minimum power the surplus must reach for a start.
    pub margin: f64,
}

impl Rule {
    /// The family as the examples search it: budget x depth x start delay x margin.
    pub fn grid(budgets: &[f64], depths: &[f64], delays: &[u64], margins: &[f64]) -> Vec<Rule> {
        let mut rules = Vec::new();
        for &budget_wh in budgets {
            for &depth in depths {
                for &start_delay in delays {
                    for &margin in margins {
                        rules.push(Rule {
                            budget_wh,
                            depth,
                            start_delay,
                            margin,
                        });
                    }
                }
            }
        }
        rules
    }
}

/// The site's powers, W, and volts x phases.
#[derive(Clone, Copy, Debug)]
pub struct Site {
    pub p_min: f64,
    pub p_max: f64,
    pub volts: f64,
}

/// A rule's state: on or off, the dip's grid energy so far, since when the sun is up.
#[derive(Clone, Copy, Debug)]
pub struct RuleState {
    on: bool,
    dip_wh: f64,
    sun_since: Option<u64>,
    last: u16,
    prev_s: f64,
    /// Decide a dip's fate only at a reading whose surplus differs from the last one (a repeated
    /// reading brings no news), and then only if the next 50 s still fit the budget.
    on_change: bool,
}

impl RuleState {
    /// Off, with nothing seen.
    pub fn new(on_change: bool) -> Self {
        RuleState {
            on: false,
            dip_wh: 0.0,
            sun_since: None,
            last: 0,
            prev_s: f64::NAN,
            on_change,
        }
    }

    /// The rule `r` at a reading (every 10 s) of surplus `s`: the setpoint to write, if it
    /// changes (deciamps; 0 stops).
    pub fn decide(&mut self, r: &Rule, now_s: u64, s: f64, site: &Site) -> Option<u16> {
        let amps = |w: f64| ((w.min(site.p_max) / site.volts) * 10.0).floor() as u16;
        let want = if self.on {
            if s >= site.p_min {
                self.dip_wh = 0.0;
                amps(s)
            } else {
                let deficit = site.p_min - s.max(0.0);
                self.dip_wh += deficit * 10.0 / 3600.0;
                let ahead = if self.on_change {
                    deficit * 50.0 / 3600.0
                } else {
                    0.0
                };
                let no_news = self.on_change && s == self.prev_s;
                if no_news || (self.dip_wh + ahead <= r.budget_wh && s >= r.depth * site.p_min) {
                    60
                } else {
                    self.on = false;
                    self.sun_since = None;
                    0
                }
            }
        } else if s >= r.margin * site.p_min {
            let since = *self.sun_since.get_or_insert(now_s);
            if now_s - since >= r.start_delay {
                self.on = true;
                self.dip_wh = 0.0;
                amps(s)
            } else {
                0
            }
        } else {
            self.sun_since = None;
            0
        };
        self.prev_s = s;
        let want = if want > 0 { want.clamp(60, 160) } else { 0 };
        if want != self.last {
            self.last = want;
            Some(want)
        } else {
            None
        }
    }
}
