//! The one place where the daemon reads a clock and turns it into the core's time.
//!
//! The core takes time as an argument; `run` reads tokio's monotonic clock here and nowhere
//! else. A speed factor (the demo replays a day in minutes) scales model time against real
//! time: model durations become real sleeps through [`Clock::real`].

use std::time::Duration;
use sunfill_core::Instant;

/// Model time for the core, from tokio's clock, optionally running faster than real time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: tokio::time::Instant,
    speed: f64,
    unix_base_ms: i64,
}

impl Clock {
    /// Real time: speed 1, Unix time from the system clock.
    pub fn real_time() -> Clock {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Clock::scaled(1.0, unix)
    }

    /// Model time running `speed` times faster than real time, starting at `unix_base_ms`.
    pub fn scaled(speed: f64, unix_base_ms: i64) -> Clock {
        Clock {
            epoch: tokio::time::Instant::now(),
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            unix_base_ms,
        }
    }

    /// The speed factor.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Model time now.
    pub fn now(&self) -> Instant {
        self.at(tokio::time::Instant::now())
    }

    /// Model time of a tokio instant (earlier than the epoch: zero).
    pub fn at(&self, t: tokio::time::Instant) -> Instant {
        let real = t.saturating_duration_since(self.epoch);
        Instant::from_millis((real.as_secs_f64() * 1000.0 * self.speed) as u64)
    }

    /// Unix time of model time now, ms.
    pub fn unix_ms(&self) -> i64 {
        self.unix_base_ms + self.now().total_millis() as i64
    }

    /// The real duration of a model duration.
    pub fn real(&self, model: sunfill_core::Duration) -> Duration {
        Duration::from_secs_f64(model.total_millis() as f64 / 1000.0 / self.speed)
    }

    /// The tokio instant at which model time reaches `at` (now, if that has passed).
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let real = Duration::from_secs_f64(at.total_millis() as f64 / 1000.0 / self.speed);
        (self.epoch + real).max(tokio::time::Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn model_time_runs_speed_times_faster() {
        let c = Clock::scaled(100.0, 1_000);
        let later = c.epoch + Duration::from_secs(2);
        assert_eq!(c.at(later), Instant::from_secs(200));
        assert_eq!(c.at(c.epoch), Instant::ZERO);
        assert_eq!(
            c.real(sunfill_core::Duration::from_secs(50)),
            Duration::from_millis(500)
        );
        assert!(c.unix_ms() >= 1_000);
    }
}
