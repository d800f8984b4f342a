//! Shadow runs: the benchmark's car model and the sums of a policy run beside the real one on
//! the same readings (the surplus does not depend on the car). Shared by the `experts` and
//! `chooser` examples.

// Each example compiles this module; most use none of it.
#![allow(dead_code)]

/// The benchmark's car, as far as a shadow needs it.
#[derive(Clone, Copy, Default)]
pub struct ShadowCar {
    eff: u16,
    pending: Option<(u16, u64)>,
    set: u16,
}

impl ShadowCar {
    /// Writes setpoint `v` (0.1 A) at `now`; true if it is a start.
    pub fn write(&mut self, v: u16, now: u64) -> bool {
        let start = self.set == 0 && v > 0;
        self.set = v;
        if v == 0 {
            self.eff = 0;
            self.pending = None;
        } else if self.eff == 0 {
            match self.pending {
                Some((_, due)) => self.pending = Some((v, due)),
                None => self.pending = Some((v, now + 15)),
            }
        } else {
            self.pending = Some((v, now + 5));
        }
        start
    }
    /// The current the car draws at `now` (0.1 A).
    pub fn at(&mut self, now: u64) -> u16 {
        if let Some((v, due)) = self.pending {
            if due <= now {
                self.eff = v;
                self.pending = None;
            }
        }
        self.eff
    }
}

/// What a policy got so far.
#[derive(Clone, Copy, Default)]
pub struct Sums {
    /// Solar, kWh.
    pub solar: f64,
    /// Grid energy, kWh.
    pub import: f64,
    /// Starts.
    pub starts: f64,
}

impl Sums {
    /// Books `secs` seconds of `car_w` at surplus `s`.
    pub fn book(&mut self, car_w: f64, s: f64, secs: f64) {
        let sol = car_w.min(s.max(0.0));
        self.solar += sol * secs / 3.6e6;
        self.import += (car_w - sol) * secs / 3.6e6;
    }
    /// Multiplies every sum by `k`.
    pub fn fade(&mut self, k: f64) {
        self.solar *= k;
        self.import *= k;
        self.starts *= k;
    }
}
