//! The built-in rules, by family. Each follows Optimisers.jl v0.4's
//! `apply!` formula, in the parameter's compute type, in the same order of
//! operations (so f32 results round as Julia's do).

pub mod adam;
pub mod adaptive;
pub mod sgd;
pub mod transform;

use lux_core::Real;

/// Julia's `sign`: −1, 0 or 1 (and NaN for NaN), unlike `f64::signum`,
/// which gives 1 for +0.
#[inline(always)]
pub(crate) fn sign<T: Real>(x: T) -> T {
    if x > T::c(0.0) {
        T::c(1.0)
    } else if x < T::c(0.0) {
        T::c(-1.0)
    } else {
        x
    }
}
