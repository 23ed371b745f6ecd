//! Elementwise unary ops: one table row each (name, forward, derivative).
//!
//! Forward kernels are generic over the compute type (f32, f64; f16 and
//! bf16 compute in f32 and round back). Derivatives are written with tensor
//! ops, so they are differentiable again. In a derivative, `g` is the
//! incoming gradient, `x` the input and `y` the output.

use crate::autodiff::Op;
use crate::dtype::Real;
use crate::tensor::FloatData;
use crate::{Result, Tensor};

use super::map_arr;

macro_rules! unary_ops {
    ($( $(#[$doc:meta])* $Name:ident $method:ident: |$x:ident| $fwd:expr, |$g:ident, $xin:ident, $y:ident| $bwd:expr; )*) => {
        /// A unary elementwise op.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum UnaryOp { $($Name),* }

        impl UnaryOp {
            pub(crate) fn name(self) -> &'static str {
                match self { $(UnaryOp::$Name => stringify!($method)),* }
            }

            fn kernel(self, d: FloatData) -> FloatData {
                match self {
                    $(UnaryOp::$Name => {
                        #[inline(always)]
                        fn k<T: Real>($x: T) -> T { $fwd }
                        crate::map_float!(d, a => map_arr(&a, k))
                    })*
                }
            }

            #[allow(unused_variables)]
            pub(crate) fn backward(self, g: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
                match self { $(UnaryOp::$Name => { let ($g, $xin, $y) = (g, x, y); $bwd }),* }
            }

            /// The tangent `f'(x) ⊙ ẋ`. An elementwise map's Jacobian is
            /// diagonal, hence its own transpose: the pushforward is the
            /// backward rule applied to the tangent.
            pub(crate) fn tangent(self, t: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
                self.backward(t, x, y)
            }
        }

        impl Tensor {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// The tensor is not a float tensor (except `neg`, `abs`, `sign`,
                /// `floor`, `ceil` and `round`, which also take i64).
                pub fn $method(&self) -> Result<Tensor> {
                    self.unary(UnaryOp::$Name)
                }
            )*
        }
    };
}

unary_ops! {
    /// `-x`.
    Neg neg: |x| -x, |g, x, y| g.neg();
    /// `eˣ`.
    Exp exp: |x| x.exp_k(), |g, x, y| g.mul(y);
    /// Natural logarithm (`-inf` at 0, NaN below).
    Log log: |x| x.ln(), |g, x, y| g.div(x);
    /// `ln(1 + x)`, accurate near 0.
    Log1p log1p: |x| x.ln_1p(), |g, x, y| g.div(&x.add_scalar(1.0)?);
    /// `eˣ − 1`, accurate near 0.
    Expm1 expm1: |x| x.exp_m1(), |g, x, y| g.mul(&y.add_scalar(1.0)?);
    /// Square root.
    Sqrt sqrt: |x| x.sqrt(), |g, x, y| g.div(&y.mul_scalar(2.0)?);
    /// `|x|`; the derivative at 0 is 0.
    Abs abs: |x| x.abs(), |g, x, y| g.mul(&x.sign()?);
    /// −1, 0 or 1 (NaN stays NaN); derivative 0.
    Sign sign: |x| if x > T::zero() { T::one() } else if x < T::zero() { -T::one() } else { x },
        |g, x, y| Ok(g.zeros_like());
    /// Sine.
    Sin sin: |x| x.sin(), |g, x, y| g.mul(&x.cos()?);
    /// Cosine.
    Cos cos: |x| x.cos(), |g, x, y| g.mul(&x.sin()?)?.neg();
    /// Hyperbolic tangent.
    Tanh tanh: |x| x.tanh_k(), |g, x, y| g.mul(&y.mul(y)?.neg()?.add_scalar(1.0)?);
    /// Largest integer `≤ x` (identity on i64); derivative 0.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![-1.5f32, 0.5, 2.0], &[3])?;
    /// assert_eq!(x.floor()?.to_vec::<f32>()?, vec![-2.0, 0.0, 2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Floor floor: |x| x.floor(), |g, x, y| Ok(g.zeros_like());
    /// Smallest integer `≥ x` (identity on i64); derivative 0.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![-1.5f32, 0.5, 2.0], &[3])?;
    /// assert_eq!(x.ceil()?.to_vec::<f32>()?, vec![-1.0, 1.0, 2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Ceil ceil: |x| x.ceil(), |g, x, y| Ok(g.zeros_like());
    /// Nearest integer, **halves to even** (`0.5 → 0`, `1.5 → 2`, `-2.5 → -2`),
    /// as Julia's default `round`, NumPy and PyTorch do (Rust's `f64::round`
    /// rounds halves away from zero instead); identity on i64; derivative 0.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![0.5f64, 1.5, 2.5, -2.5, -0.6, 2.4], &[6])?;
    /// assert_eq!(x.round()?.to_vec::<f64>()?, vec![0.0, 2.0, 2.0, -2.0, -1.0, 2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Round round: |x| round_half_even(x), |g, x, y| Ok(g.zeros_like());
    /// The error function `erf x = 2/√π ∫₀ˣ e^{−t²} dt` (the `libm` crate's
    /// f64 `erf`, < 1 ulp; f32 computes in f64 and rounds once);
    /// derivative `2/√π · e^{−x²}`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![0.0f64, 1.0, -2.0], &[3])?;
    /// let y = x.erf()?.to_vec::<f64>()?;
    /// assert_eq!(y[0], 0.0);
    /// assert!((y[1] - 0.8427007929497149).abs() < 2e-16);
    /// assert!((y[2] + 0.9953222650189527).abs() < 2e-16);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Erf erf: |x| T::c(libm::erf(crate::Element::to_f64(x))),
        |g, x, y| g.mul(&x.square()?.neg()?.exp()?.mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)?);
    /// `1/√x` (`inf` at 0, NaN below); derivative `−y³/2`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![4.0f32, 0.25], &[2])?;
    /// assert_eq!(x.rsqrt()?.to_vec::<f32>()?, vec![0.5, 2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Rsqrt rsqrt: |x| x.sqrt().recip(), |g, x, y| g.mul(&y.mul(y)?.mul(y)?.mul_scalar(-0.5)?);
    /// `1/x` (`±inf` at ±0); derivative `−y²`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![4.0f32, -0.5], &[2])?;
    /// assert_eq!(x.reciprocal()?.to_vec::<f32>()?, vec![0.25, -2.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Reciprocal reciprocal: |x| x.recip(), |g, x, y| g.mul(&y.mul(y)?.neg()?);
    /// Tangent; derivative `1 + y²`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![0.0f64, std::f64::consts::FRAC_PI_4], &[2])?;
    /// let y = x.tan()?.to_vec::<f64>()?;
    /// assert_eq!(y[0], 0.0);
    /// assert!((y[1] - 1.0).abs() < 1e-15);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Tan tan: |x| x.tan(), |g, x, y| g.mul(&y.mul(y)?.add_scalar(1.0)?);
    /// Inverse tangent, in `(−π/2, π/2)`; derivative `1/(1 + x²)`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![0.0f64, 1.0], &[2])?;
    /// assert_eq!(x.atan()?.to_vec::<f64>()?, vec![0.0, std::f64::consts::FRAC_PI_4]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Atan atan: |x| x.atan(), |g, x, y| g.div(&x.square()?.add_scalar(1.0)?);
    /// Hyperbolic sine; derivative `cosh x`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![0.0f64, 1.0], &[2])?;
    /// let y = x.sinh()?.to_vec::<f64>()?;
    /// assert_eq!(y[0], 0.0);
    /// assert!((y[1] - (1f64.exp() - (-1f64).exp()) / 2.0).abs() < 1e-15);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Sinh sinh: |x| x.sinh(), |g, x, y| g.mul(&x.cosh()?);
    /// Hyperbolic cosine; derivative `sinh x`.
    ///
    /// ```
    /// let x = lux_core::Tensor::from_vec(vec![0.0f64, 1.0], &[2])?;
    /// let y = x.cosh()?.to_vec::<f64>()?;
    /// assert_eq!(y[0], 1.0);
    /// assert!((y[1] - (1f64.exp() + (-1f64).exp()) / 2.0).abs() < 1e-15);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    Cosh cosh: |x| x.cosh(), |g, x, y| g.mul(&x.sinh()?);
}

/// Round to nearest, ties to even: `round` sends ties away from zero, so a
/// tie that landed on an odd integer steps back one toward `x`.
#[inline(always)]
fn round_half_even<T: Real>(x: T) -> T {
    let r = x.round();
    let two = T::c(2.0);
    if (r - x).abs() == T::c(0.5) && (r / two).fract() != T::zero() { r - (r - x).signum() } else { r }
}

impl Tensor {
    fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        use crate::dtype::Data;
        let data = match (&self.data, op) {
            (Data::I64(a), UnaryOp::Neg) => Data::I64(map_arr(a, |v: i64| v.wrapping_neg())),
            (Data::I64(a), UnaryOp::Abs) => Data::I64(map_arr(a, |v: i64| v.wrapping_abs())),
            (Data::I64(a), UnaryOp::Sign) => Data::I64(map_arr(a, |v: i64| v.signum())),
            (Data::I64(a), UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round) => Data::I64(a.clone()),
            _ => op.kernel(self.compute_data(op.name())?).into_data(self.dtype()),
        };
        Tensor::from_op(data, Op::Unary(op), &[self])
    }

    /// `x²`.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let x = Tensor::from_vec(vec![-3.0f32, 0.5], &[2])?;
    /// assert_eq!(x.square()?.to_vec::<f32>()?, vec![9.0, 0.25]);
    /// let i = Tensor::from_vec(vec![-3i64, 4], &[2])?;
    /// assert_eq!(i.square()?.to_vec::<i64>()?, vec![9, 16]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn square(&self) -> Result<Tensor> {
        self.mul(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn forward_matches_std() -> crate::Result<()> {
        let xs = [0.3f64, 1.7, 2.5, 0.01];
        let t = Tensor::from_slice(&xs, &[2, 2])?;
        type Op = fn(&Tensor) -> crate::Result<Tensor>;
        type Case = (&'static str, Op, fn(f64) -> f64);
        let cases: [Case; 18] = [
            ("floor", Tensor::floor, f64::floor),
            ("ceil", Tensor::ceil, f64::ceil),
            ("round", Tensor::round, f64::round_ties_even),
            ("rsqrt", Tensor::rsqrt, |v| 1.0 / v.sqrt()),
            ("reciprocal", Tensor::reciprocal, |v| 1.0 / v),
            ("tan", Tensor::tan, f64::tan),
            ("atan", Tensor::atan, f64::atan),
            ("sinh", Tensor::sinh, f64::sinh),
            ("cosh", Tensor::cosh, f64::cosh),
            ("exp", Tensor::exp, f64::exp),
            ("log", Tensor::log, f64::ln),
            ("log1p", Tensor::log1p, f64::ln_1p),
            ("expm1", Tensor::expm1, f64::exp_m1),
            ("sqrt", Tensor::sqrt, f64::sqrt),
            ("sin", Tensor::sin, f64::sin),
            ("cos", Tensor::cos, f64::cos),
            ("tanh", Tensor::tanh, f64::tanh),
            ("neg", Tensor::neg, |v| -v),
        ];
        for (name, op, reference) in cases {
            let got = op(&t)?.to_vec::<f64>()?;
            let want: Vec<f64> = xs.iter().map(|&v| reference(v)).collect();
            assert_eq!(got.len(), 4, "{name}");
            close(&got, &want);
        }
        Ok(())
    }

    #[test]
    fn abs_sign_on_negatives_and_ints() -> crate::Result<()> {
        let t = Tensor::from_vec(vec![-2.0f32, 0.0, 3.0], &[3])?;
        assert_eq!(t.abs()?.to_vec::<f32>()?, vec![2.0, 0.0, 3.0]);
        assert_eq!(t.sign()?.to_vec::<f32>()?, vec![-1.0, 0.0, 1.0]);
        let i = Tensor::from_vec(vec![-2i64, 0, 3], &[3])?;
        assert_eq!(i.abs()?.to_vec::<i64>()?, vec![2, 0, 3]);
        assert_eq!(i.neg()?.to_vec::<i64>()?, vec![2, 0, -3]);
        assert!(i.exp().is_err());
        Ok(())
    }

    #[test]
    fn round_halves_to_even_in_f32_and_f64_and_ints_pass_through() -> crate::Result<()> {
        let xs = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999999, 2.5000001, -3.7, 1e300, f64::NAN];
        let want: Vec<f64> = xs.iter().map(|v| v.round_ties_even()).collect();
        let got = Tensor::from_slice(&xs, &[xs.len()])?.round()?.to_vec::<f64>()?;
        for (g, w) in got.iter().zip(&want) {
            assert!(g == w || (g.is_nan() && w.is_nan()), "{g} vs {w}");
        }
        let xs32: Vec<f32> = vec![0.5, 1.5, 2.5, -2.5, 8388607.5, -8388607.5, 3.5];
        let want32: Vec<f32> = xs32.iter().map(|v| v.round_ties_even()).collect();
        assert_eq!(Tensor::from_vec(xs32, &[7])?.round()?.to_vec::<f32>()?, want32);
        let i = Tensor::from_vec(vec![-3i64, 7], &[2])?;
        for op in [Tensor::floor, Tensor::ceil, Tensor::round] {
            assert_eq!(op(&i)?.to_vec::<i64>()?, vec![-3, 7]);
        }
        assert!(Tensor::from_vec(vec![true], &[1])?.floor().is_err());
        assert!(i.erf().is_err());
        Ok(())
    }

    /// `(x, erf x)` with erf x correctly rounded, from mpmath at 50 digits:
    /// a grid of k/8 over (0, 6] and points at the approximation's branch
    /// boundaries (0.84375, 1.25, 1/0.35, 6).
    const ERF_TABLE: [(f64, f64); 67] = [
        (0.125, 0.1403162048013338),
        (0.25, 0.27632639016823696),
        (0.375, 0.4041169094348223),
        (0.5, 0.5204998778130465),
        (0.625, 0.623240882188418),
        (0.75, 0.7111556336535151),
        (0.875, 0.7840750610598597),
        (1.0, 0.8427007929497149),
        (1.125, 0.8883882317017078),
        (1.25, 0.9229001282564583),
        (1.375, 0.9481700727820903),
        (1.5, 0.9661051464753108),
        (1.625, 0.9784437332399837),
        (1.75, 0.9866716712191824),
        (1.875, 0.9919900576701199),
        (2.0, 0.9953222650189527),
        (2.125, 0.9973459706405177),
        (2.25, 0.9985372834133188),
        (2.375, 0.9992170617821089),
        (2.5, 0.999593047982555),
        (2.625, 0.9997946242638588),
        (2.75, 0.9998993780778803),
        (2.875, 0.9999521451602562),
        (3.0, 0.9999779095030014),
        (3.125, 0.9999901032653747),
        (3.25, 0.9999956972205363),
        (3.375, 0.9999981847185726),
        (3.5, 0.9999992569016276),
        (3.625, 0.9999997048598075),
        (3.75, 0.9999998862727434),
        (3.875, 0.999999957486056),
        (4.0, 0.9999999845827421),
        (4.125, 0.9999999945765992),
        (4.25, 0.9999999981494259),
        (4.375, 0.9999999993875167),
        (4.5, 0.9999999998033839),
        (4.625, 0.9999999999387839),
        (4.75, 0.9999999999815149),
        (4.875, 0.9999999999945866),
        (5.0, 0.9999999999984626),
        (5.125, 0.9999999999995766),
        (5.25, 0.9999999999998869),
        (5.375, 0.9999999999999707),
        (5.5, 0.9999999999999927),
        (5.625, 0.9999999999999982),
        (5.75, 0.9999999999999996),
        (5.875, 0.9999999999999999),
        (6.0, 1.0),
        (1e-10, 1.1283791670955126e-10),
        (3.725290298461914e-09, 4.203539964167448e-09),
        (3.7252902984e-09, 4.203539964097585e-09),
        (0.8437499999990905, 0.767225661231838),
        (0.84375, 0.7672256612323416),
        (0.8437500000009095, 0.7672256612328452),
        (1.2499999999990905, 0.9229001282562431),
        (1.25, 0.9229001282564583),
        (2.857142857142857, 0.9999466876886117),
        (2.8571410179138184, 0.9999466870972787),
        (5.999999, 1.0),
        (0.3, 0.3286267594591274),
        (0.7, 0.6778011938374184),
        (1.1, 0.8802050695740817),
        (1.7, 0.9837904585907745),
        (2.3, 0.9988568234026434),
        (3.3, 0.9999969422902035),
        (4.4, 0.999999999510829),
        (5.5, 0.9999999999999927),
    ];

    /// The distance from |w| to the next larger f64: one ulp.
    fn ulp(w: f64) -> f64 {
        f64::from_bits(w.abs().to_bits() + 1) - w.abs()
    }

    #[test]
    fn erf_is_within_one_ulp_in_f64_and_rounds_once_in_f32() -> crate::Result<()> {
        let xs: Vec<f64> = ERF_TABLE.iter().flat_map(|&(x, _)| [x, -x]).collect();
        let got = Tensor::from_slice(&xs, &[xs.len()])?.erf()?.to_vec::<f64>()?;
        for (pair, &(x, w)) in got.chunks(2).zip(&ERF_TABLE) {
            assert!((pair[0] - w).abs() <= ulp(w), "erf({x}) = {}, want {w}", pair[0]);
            assert_eq!(pair[1], -pair[0], "erf is odd at {x}");
        }
        let tails = Tensor::from_vec(vec![6.5f64, -30.0, f64::INFINITY, 1e-300, 0.0], &[5])?.erf()?.to_vec::<f64>()?;
        assert_eq!(&tails[..3], &[1.0, -1.0, 1.0]);
        let tiny = 1e-300 * std::f64::consts::FRAC_2_SQRT_PI;
        assert!((tails[3] - tiny).abs() <= ulp(tiny));
        assert_eq!(tails[4], 0.0);
        assert!(Tensor::from_vec(vec![f64::NAN], &[1])?.erf()?.to_vec::<f64>()?[0].is_nan());
        // f32 computes in f64 and rounds once (the k/8 grid is exact in f32)
        let grid = &ERF_TABLE[..48];
        let x32: Vec<f32> = grid.iter().map(|&(x, _)| x as f32).collect();
        let got = Tensor::from_slice(&x32, &[48])?.erf()?.to_vec::<f32>()?;
        for (g, &(x, w)) in got.iter().zip(grid) {
            assert_eq!(*g, w as f32, "erf({x})");
        }
        Ok(())
    }

    #[test]
    fn half_types_compute_in_f32_and_round_back() -> crate::Result<()> {
        let t = Tensor::from_vec(vec![half::f16::from_f32(0.5)], &[1])?;
        let y = t.exp()?;
        assert_eq!(y.dtype(), crate::DType::F16);
        assert_eq!(y.to_vec::<half::f16>()?[0], half::f16::from_f32(0.5f32.exp()));
        Ok(())
    }
}
