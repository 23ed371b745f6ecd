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
        }

        impl Tensor {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// The tensor is not a float tensor (except `neg`, `abs` and `sign`,
                /// which also take i64).
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
}

impl Tensor {
    fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        use crate::dtype::Data;
        let data = match (&self.data, op) {
            (Data::I64(a), UnaryOp::Neg) => Data::I64(map_arr(a, |v: i64| v.wrapping_neg())),
            (Data::I64(a), UnaryOp::Abs) => Data::I64(map_arr(a, |v: i64| v.wrapping_abs())),
            (Data::I64(a), UnaryOp::Sign) => Data::I64(map_arr(a, |v: i64| v.signum())),
            _ => op.kernel(self.compute_data(op.name())?).into_data(self.dtype()),
        };
        Tensor::from_op(data, Op::Unary(op), &[self])
    }

    /// `x²`.
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
        let cases: [Case; 9] = [
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
    fn half_types_compute_in_f32_and_round_back() -> crate::Result<()> {
        let t = Tensor::from_vec(vec![half::f16::from_f32(0.5)], &[1])?;
        let y = t.exp()?;
        assert_eq!(y.dtype(), crate::DType::F16);
        assert_eq!(y.to_vec::<half::f16>()?[0], half::f16::from_f32(0.5f32.exp()));
        Ok(())
    }
}
