//! The replay simulator of `../shared/docs/BENCHMARK.md`: a site trace, a wallbox and a car, the
//! benchmark metrics, and the baseline policies beside sunfill's own.
//!
//! # Layout
//! - [`policy`]: the [`policy::Policy`] trait every controller under test implements.
//! - `sunfill_policy`: sunfill's core controller behind that trait.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod policy;
pub mod sunfill_policy;
