//! # lux-precision
//!
//! Floating-point precision for lux-rs (Lux's `src/helpers/eltype_conversion.jl`,
//! `match_eltype.jl` and the DispatchDoctor preference):
//!
//! | item | what it does |
//! |---|---|
//! | [`f16`](f16()), [`bf16`], [`f32`](f32()), [`f64`](f64()), [`to_dtype`] | convert every float tensor of a [`Tensor`](lux_core::Tensor), [`Tree`](lux_core::Tree) or anything [`ToPrecision`] (a `TrainState`, pairs, vectors) |
//! | [`match_eltype`] | Lux's input/parameter element-type matching, with the modes of [`EltypeMismatch`] |
//! | [`set_stability_checks`] | the run-time stability checks (Lux's `set_dispatch_doctor_preferences!`) |
//!
//! ```
//! use lux_core::{tree, DType, Tensor};
//! use lux_precision::{f16, f32};
//! let ps = tree! { weight: Tensor::from_vec(vec![0.5f32, -1.25], &[2])?, step: 3i64 };
//! let half = f16(&ps)?;
//! assert_eq!(half.tensor("weight")?.dtype(), DType::F16);
//! assert_eq!(half.get("step")?.as_int()?, 3); // integers are untouched
//! assert_eq!(f32(&half)?, ps); // both values are exact in f16
//! # Ok::<(), lux_core::LuxError>(())
//! ```
//!
//! `docs/precision.md` describes the conversion rule, the `match_eltype`
//! table, the stability checks, low precision and mixed-precision training.
#![doc(test(attr(deny(warnings))))]

mod convert;
mod eltype;

pub use convert::{ToPrecision, bf16, f16, f32, f64, to_dtype};
pub use eltype::{
    ENV_VAR, EltypeMismatch, eltype_mismatch_handling, match_eltype, params_eltype, set_eltype_mismatch_handling,
};
pub use lux_core::stability::{CheckMode, StabilityChecks, set_stability_checks, stability_checks};
