//! Element types and NumPy-style type promotion.

use half::{bf16, f16};
use ndarray::{ArcArray, IxDyn};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The element type of a [`Tensor`](crate::Tensor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// Booleans (masks, comparison results).
    Bool,
    /// 64-bit signed integers (labels, indices).
    I64,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE single precision (the default).
    F32,
    /// IEEE double precision.
    F64,
}

impl DType {
    /// `true` for f16, bf16, f32 and f64.
    ///
    /// ```
    /// use lux_core::DType;
    /// assert!(DType::BF16.is_float() && DType::F64.is_float());
    /// assert!(!DType::I64.is_float() && !DType::Bool.is_float());
    /// ```
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    /// Bytes per element.
    ///
    /// ```
    /// use lux_core::DType;
    /// assert_eq!(DType::Bool.size_in_bytes(), 1);
    /// assert_eq!(DType::BF16.size_in_bytes(), 2);
    /// assert_eq!(DType::I64.size_in_bytes(), 8);
    /// ```
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::F16 | DType::BF16 => 2,
            DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// The short name used in messages and files: `f32`, `bf16`, `i64`, …
    ///
    /// ```
    /// use lux_core::DType;
    /// assert_eq!(DType::BF16.name(), "bf16");
    /// assert_eq!(DType::I64.to_string(), "i64"); // `Display` writes the name
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I64 => "i64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// The dtype of `a ∘ b` for mixed-dtype arithmetic between two tensors
    /// of the same standing (both n-d with n ≥ 1, or both 0-d).
    ///
    /// Floats win over integers and booleans and keep their own width
    /// (`i64 + f32 → f32`, as in PyTorch and JAX); two floats give the wider
    /// one (`f16 + f32 → f32`, as in NumPy); f16 and bf16 meet at f32 (as in
    /// JAX); `bool + i64 → i64`.
    ///
    /// A 0-d tensor or a Rust scalar meeting an n-d tensor is *weak* and
    /// follows [`promote_weak`](DType::promote_weak) instead.
    ///
    /// ```
    /// use lux_core::DType;
    /// assert_eq!(DType::promote(DType::F16, DType::F32), DType::F32);
    /// assert_eq!(DType::promote(DType::F16, DType::BF16), DType::F32);
    /// assert_eq!(DType::promote(DType::I64, DType::F16), DType::F16);
    /// ```
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        match (a, b) {
            _ if a == b => a,
            (F16, BF16) | (BF16, F16) => F32,
            _ => a.max(b),
        }
    }

    /// The dtype of `strong ∘ weak`, where `weak` is the dtype of a 0-d
    /// tensor (or a Rust scalar) and `strong` that of an n-d tensor (n ≥ 1),
    /// as in PyTorch and JAX: only the weak operand's *category* (bool <
    /// integer < float) counts, never its width.
    ///
    /// * same or lower category: `strong` wins (`f32 [n] · f64 0-d → f32`,
    ///   `f16 [n] + i64 0-d → f16`, `i64 [n] + bool 0-d → i64`), so a 0-d
    ///   f64 constant never widens an f32 model;
    /// * a float weak operand with an integer or bool `strong`: the default
    ///   float dtype, f32 (`i64 [n] · 0.5 → f32`, as `int_tensor * 0.5` in
    ///   PyTorch);
    /// * an integer weak operand with a bool `strong`: i64.
    ///
    /// ```
    /// use lux_core::DType;
    /// assert_eq!(DType::promote_weak(DType::F32, DType::F64), DType::F32);
    /// assert_eq!(DType::promote_weak(DType::BF16, DType::F32), DType::BF16);
    /// assert_eq!(DType::promote_weak(DType::I64, DType::F64), DType::F32);
    /// assert_eq!(DType::promote_weak(DType::Bool, DType::I64), DType::I64);
    /// assert_eq!(DType::promote_weak(DType::I64, DType::Bool), DType::I64);
    /// ```
    pub fn promote_weak(strong: DType, weak: DType) -> DType {
        fn category(d: DType) -> u8 {
            match d {
                DType::Bool => 0,
                DType::I64 => 1,
                _ => 2,
            }
        }
        match category(weak) {
            c if c <= category(strong) => strong,
            2 => DType::F32,
            _ => DType::I64,
        }
    }
}

/// `x` as an i64 if it is an integer in i64's range (`-2⁶³ ≤ x < 2⁶³`), so
/// the conversion is exact; `None` for fractions, NaN, ±∞ and values beyond.
pub(crate) fn exact_i64(x: f64) -> Option<i64> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    (x.fract() == 0.0 && (-TWO_63..TWO_63).contains(&x)).then_some(x as i64)
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Storage of a tensor: a shared, possibly strided ndarray of one dtype.
#[derive(Clone, Debug)]
pub(crate) enum Data {
    Bool(ArcArray<bool, IxDyn>),
    I64(ArcArray<i64, IxDyn>),
    F16(ArcArray<f16, IxDyn>),
    BF16(ArcArray<bf16, IxDyn>),
    F32(ArcArray<f32, IxDyn>),
    F64(ArcArray<f64, IxDyn>),
}

/// Applies `$body` to the array inside any `Data`, binding it as `$a`.
macro_rules! with_data {
    ($data:expr, $a:ident => $body:expr) => {
        match $data {
            $crate::dtype::Data::Bool($a) => $body,
            $crate::dtype::Data::I64($a) => $body,
            $crate::dtype::Data::F16($a) => $body,
            $crate::dtype::Data::BF16($a) => $body,
            $crate::dtype::Data::F32($a) => $body,
            $crate::dtype::Data::F64($a) => $body,
        }
    };
}
pub(crate) use with_data;

impl Data {
    pub(crate) fn dtype(&self) -> DType {
        match self {
            Data::Bool(_) => DType::Bool,
            Data::I64(_) => DType::I64,
            Data::F16(_) => DType::F16,
            Data::BF16(_) => DType::BF16,
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
        }
    }

    pub(crate) fn shape(&self) -> &[usize] {
        with_data!(self, a => a.shape())
    }
}

pub(crate) mod sealed {
    use super::Data;
    use ndarray::{ArcArray, IxDyn};
    /// Storage plumbing, kept out of the public API.
    #[allow(private_interfaces)]
    pub trait Sealed: Sized {
        fn wrap(a: ArcArray<Self, IxDyn>) -> Data;
        fn unwrap(d: &Data) -> Option<&ArcArray<Self, IxDyn>>;
        fn unwrap_mut(d: &mut Data) -> Option<&mut ArcArray<Self, IxDyn>>;
    }
}
pub(crate) use sealed::Sealed;

/// A Rust type that can be a tensor element: `bool`, `i64`, `f16`, `bf16`,
/// `f32`, `f64`.
pub trait Element: Copy + Send + Sync + fmt::Debug + PartialEq + 'static + sealed::Sealed {
    /// The matching [`DType`].
    const DTYPE: DType;
    /// Converts to f64 (`true` → 1).
    fn to_f64(self) -> f64;
    /// Converts from f64, rounding to nearest (`bool`: non-zero → `true`;
    /// `i64`: truncation toward zero, saturating).
    fn from_f64(x: f64) -> Self;
}

macro_rules! element {
    ($t:ty, $variant:ident, |$x:ident| $to:expr, |$y:ident| $from:expr) => {
        #[allow(private_interfaces)] // Sealed is unnameable outside the crate
        impl sealed::Sealed for $t {
            fn wrap(a: ArcArray<Self, IxDyn>) -> Data {
                Data::$variant(a)
            }
            fn unwrap(d: &Data) -> Option<&ArcArray<Self, IxDyn>> {
                match d {
                    Data::$variant(a) => Some(a),
                    _ => None,
                }
            }
            fn unwrap_mut(d: &mut Data) -> Option<&mut ArcArray<Self, IxDyn>> {
                match d {
                    Data::$variant(a) => Some(a),
                    _ => None,
                }
            }
        }
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn to_f64(self) -> f64 {
                let $x = self;
                $to
            }
            fn from_f64($y: f64) -> Self {
                $from
            }
        }
    };
}
element!(bool, Bool, |x| if x { 1.0 } else { 0.0 }, |y| y != 0.0);
element!(i64, I64, |x| x as f64, |y| y as i64);
// Not `f16::from_f64`/`bf16::from_f64`: half rounds those through f32 (x86
// F16C) or truncates the low mantissa first (bf16), which double-rounds.
element!(f16, F16, |x| x.to_f64(), |y| f16::from_f32(f32_round_to_odd(y)));
element!(bf16, BF16, |x| x.to_f64(), |y| bf16::from_f32(f32_round_to_odd(y)));

/// `x` rounded to f32 *to odd* (truncated, with the last bit set when
/// inexact): rounding that once more to nearest-even in a type of ≤ 22
/// significant bits (f16, bf16) equals rounding `x` there directly.
fn f32_round_to_odd(x: f64) -> f32 {
    let t = x as f32;
    if t.is_nan() || t as f64 == x {
        return t;
    }
    let mut bits = t.to_bits();
    if (t as f64).abs() > x.abs() {
        bits -= 1; // rounded away from zero: step back (sign-magnitude bits)
    }
    f32::from_bits(bits | 1)
}
element!(f32, F32, |x| x as f64, |y| y as f32);
element!(f64, F64, |x| x, |y| y);

/// The array inside `d` if it has the element type of `like`; used where
/// operands were cast to one dtype and one of them was matched on.
pub(crate) fn same_type<'a, T: Element>(_like: &ArcArray<T, IxDyn>, d: &'a Data) -> Option<&'a ArcArray<T, IxDyn>> {
    T::unwrap(d)
}

/// The float types kernels compute in: `f32` (also for f16/bf16 tensors) and
/// `f64`. Sealed (through [`Element`]); write kernels generic over it.
///
/// ```
/// use lux_core::Real;
/// fn softsign<T: Real>(x: T) -> T { x / (T::one() + x.abs()) }
/// assert_eq!(softsign(1.0f32), 0.5);
/// assert_eq!(f64::c(0.5), 0.5);
/// assert!((0.0f32.sigmoid_k() - 0.5).abs() < 1e-7);
/// ```
pub trait Real:
    num_traits::Float
    + num_traits::FloatConst
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + Element
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::MulAssign
    + Send
    + Sync
    + crate::ops::matmul::Gemm
{
    /// The constant `x` in this type.
    fn c(x: f64) -> Self;
    /// The array inside `d` if it holds this type (see [`FloatData::array`](crate::FloatData::array)).
    #[doc(hidden)]
    fn float_array(d: &crate::FloatData) -> Option<&ArcArray<Self, IxDyn>>;
    /// `eˣ`; for f32 the branch-free, vectorisable kernel of `ops::math`.
    fn exp_k(self) -> Self;
    /// `tanh x`; for f32 the branch-free, vectorisable kernel of `ops::math`.
    fn tanh_k(self) -> Self;
    /// The logistic sigmoid `1/(1 + e⁻ˣ)`, stable for either sign; for f32
    /// the branch-free ≤1 ulp kernel of `ops::math`.
    fn sigmoid_k(self) -> Self;
}
impl Real for f32 {
    #[inline(always)]
    fn c(x: f64) -> Self {
        x as f32
    }
    fn float_array(d: &crate::FloatData) -> Option<&ArcArray<Self, IxDyn>> {
        match d {
            crate::FloatData::F32(a) => Some(a),
            crate::FloatData::F64(_) => None,
        }
    }
    #[inline(always)]
    fn exp_k(self) -> Self {
        crate::ops::math::exp_f32(self)
    }
    #[inline(always)]
    fn tanh_k(self) -> Self {
        crate::ops::math::tanh_f32(self)
    }
    #[inline(always)]
    fn sigmoid_k(self) -> Self {
        crate::ops::math::sigmoid_f32(self)
    }
}
impl Real for f64 {
    #[inline(always)]
    fn c(x: f64) -> Self {
        x
    }
    fn float_array(d: &crate::FloatData) -> Option<&ArcArray<Self, IxDyn>> {
        match d {
            crate::FloatData::F64(a) => Some(a),
            crate::FloatData::F32(_) => None,
        }
    }
    #[inline(always)]
    fn exp_k(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn tanh_k(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn sigmoid_k(self) -> Self {
        // e^{-|x|} never overflows; pick the form without cancellation.
        let e = (-self.abs()).exp();
        if self >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) }
    }
}
