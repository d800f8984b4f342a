//! Reconnect delays: exponential backoff with jitter, slower after a rejection.
//!
//! rumqttc reconnects on the next `poll()` after an error, immediately. Without a delay a
//! wrong password or certificate becomes a tight loop hammering the broker (and its log). The
//! delay doubles per failed attempt up to a cap; each delay is drawn uniformly from its upper
//! half ("equal jitter"), so many clients restarted together do not reconnect in lockstep.
//! Rejections (certificate, login, wrong protocol) start at `slow_base` and go up to `slow_max`:
//! they need a person to fix something, retrying fast cannot help.

use std::time::Duration;

/// Backoff state; pure apart from the random seed.
#[derive(Clone, Debug)]
pub struct Backoff {
    attempt: u32,
    rng: u64,
    /// First delay after a network failure.
    pub base: Duration,
    /// Largest delay after network failures.
    pub max: Duration,
    /// First delay after a rejection (certificate, login).
    pub slow_base: Duration,
    /// Largest delay after rejections.
    pub slow_max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::with_seed(random_seed())
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish() | 1
}

impl Backoff {
    /// A backoff with the default delays (0.5 s .. 30 s; rejections 30 s .. 5 min) and a seed.
    pub fn with_seed(seed: u64) -> Self {
        Backoff {
            attempt: 0,
            rng: seed | 1,
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
            slow_base: Duration::from_secs(30),
            slow_max: Duration::from_secs(300),
        }
    }

    /// Call after a successful connection: the next failure starts from the base delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt; `rejected` selects the slow schedule.
    pub fn next_delay(&mut self, rejected: bool) -> Duration {
        let (base, max) = if rejected {
            (self.slow_base, self.slow_max)
        } else {
            (self.base, self.max)
        };
        let factor = 1u32 << self.attempt.min(16);
        self.attempt = self.attempt.saturating_add(1);
        let full = base.saturating_mul(factor).min(max);
        let half = full / 2;
        let span = full.saturating_sub(half).as_millis() as u64;
        half + Duration::from_millis(if span == 0 {
            0
        } else {
            self.random() % (span + 1)
        })
    }

    fn random(&mut self) -> u64 {
        // xorshift64: plenty for jitter.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_bounds_and_reset() {
        let mut b = Backoff::with_seed(42);
        let mut upper = b.base;
        for _ in 0..12 {
            let d = b.next_delay(false);
            assert!(
                d >= upper / 2 && d <= upper,
                "{d:?} not in [{:?}, {upper:?}]",
                upper / 2
            );
            upper = (upper * 2).min(b.max);
        }
        b.reset();
        assert!(b.next_delay(false) <= b.base);
    }

    #[test]
    fn rejections_are_retried_slowly_never_in_a_tight_loop() {
        let mut b = Backoff::with_seed(7);
        for _ in 0..20 {
            let d = b.next_delay(true);
            assert!(d >= Duration::from_secs(15) && d <= Duration::from_secs(300));
        }
    }

    #[test]
    fn jitter_differs_between_seeds() {
        let a: Vec<_> = (0..5)
            .map({
                let mut b = Backoff::with_seed(1);
                move |_| b.next_delay(false)
            })
            .collect();
        let c: Vec<_> = (0..5)
            .map({
                let mut b = Backoff::with_seed(99);
                move |_| b.next_delay(false)
            })
            .collect();
        assert_ne!(a, c);
    }
}
