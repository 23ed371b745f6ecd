//! Scalar semantics: scalar ops never truncate, 0-d tensors and Rust scalars
//! are weak operands (PyTorch/JAX), and gradients reach a weak operand in its
//! own dtype. Reference values are hand computations.

use half::{bf16, f16};
use lux_core::{DType, GradCall, LuxError, Tensor};

type R = lux_core::Result<()>;

fn i64s(v: &[i64]) -> Tensor {
    Tensor::from_slice(v, &[v.len()]).unwrap()
}

fn f32s(v: &[f32]) -> Tensor {
    Tensor::from_slice(v, &[v.len()]).unwrap()
}

/// The dtype and the values as f64 (exact for every dtype used here).
fn got(t: &Tensor) -> (DType, Vec<f64>) {
    (t.dtype(), t.to_f64_vec())
}

#[test]
fn scalar_ops_on_integers_never_truncate() -> R {
    // The repros: [3, 4]·0.5 gave [0, 0], +0.5 gave [3, 4], clamp(0.5, 1.5) gave [0, 1, 1].
    let x = i64s(&[3, 4]);
    assert_eq!(got(&x.mul_scalar(0.5)?), (DType::F32, vec![1.5, 2.0]));
    assert_eq!(got(&x.add_scalar(0.5)?), (DType::F32, vec![3.5, 4.5]));
    assert_eq!(got(&i64s(&[0, 1, 2]).clamp(0.5, 1.5)?), (DType::F32, vec![0.5, 1.0, 1.5]));
    assert_eq!(
        got(&i64s(&[0, 1, 2]).clamp(0.5, 3.0)?),
        (DType::F32, vec![0.5, 1.0, 2.0]),
        "one fractional bound is enough"
    );
    // Integral scalars keep i64, exactly (2⁶² + 1 is not an f64: no detour through floats).
    assert_eq!(x.mul_scalar(-2.0)?.to_vec::<i64>()?, vec![-6, -8]);
    assert_eq!(x.add_scalar(-3.0)?.to_vec::<i64>()?, vec![0, 1]);
    assert_eq!(i64s(&[1]).add_scalar(2f64.powi(62))?.to_vec::<i64>()?, vec![(1i64 << 62) + 1]);
    assert_eq!(i64s(&[-5, 1, 9]).clamp(-1.0, 3.0)?.to_vec::<i64>()?, vec![-1, 1, 3]);
    // Values no i64 holds are floats: beyond i64's range, ±∞, NaN.
    assert_eq!(got(&x.add_scalar(1e19)?), (DType::F32, vec![1e19f32 as f64; 2]));
    assert_eq!(got(&x.mul_scalar(f64::INFINITY)?), (DType::F32, vec![f64::INFINITY; 2]));
    assert!(x.add_scalar(f64::NAN)?.to_vec::<f32>()?.iter().all(|v| v.is_nan()));
    assert_eq!(got(&i64s(&[-5, 1]).clamp(f64::NEG_INFINITY, 0.0)?), (DType::F32, vec![-5.0, 0.0]));
    // powf: a fractional exponent on integers computes in f32; an integral one is an integer pow,
    // which is not supported (an error, as `pow` on two i64 tensors).
    assert_eq!(got(&i64s(&[4, 9]).powf(0.5)?), (DType::F32, vec![2.0, 3.0]));
    assert!(matches!(i64s(&[4]).powf(2.0), Err(LuxError::UnsupportedDType { dtype: DType::I64, .. })));
    // The operators follow the same rule.
    assert_eq!(got(&(&x * 0.5)), (DType::F32, vec![1.5, 2.0]));
    assert_eq!(got(&(&x - 1.0)), (DType::I64, vec![2.0, 3.0]));
    assert_eq!(got(&(&x / 2.5)), (DType::F32, vec![1.2f32 as f64, 1.6f32 as f64]));
    Ok(())
}

#[test]
fn scalar_ops_on_bools_follow_pytorch() -> R {
    let m = Tensor::from_vec(vec![true, false], &[2])?;
    assert_eq!(got(&m.add_scalar(1.0)?), (DType::I64, vec![2.0, 1.0]));
    assert_eq!(got(&m.mul_scalar(0.5)?), (DType::F32, vec![0.5, 0.0]));
    assert_eq!(got(&m.clamp(0.0, 0.0)?), (DType::I64, vec![0.0, 0.0]));
    assert_eq!(got(&m.clamp(0.25, 2.0)?), (DType::F32, vec![1.0, 0.25]));
    Ok(())
}

#[test]
fn scalar_ops_on_floats_keep_the_dtype() -> R {
    for dt in [DType::F16, DType::BF16, DType::F32, DType::F64] {
        let x = Tensor::full(&[2], 1.0, dt)?;
        assert_eq!(x.mul_scalar(0.1)?.dtype(), dt);
        assert_eq!(x.add_scalar(3.0)?.dtype(), dt, "an integral scalar does not make a float tensor i64");
        assert_eq!(x.clamp(0.0, 0.5)?.dtype(), dt);
        assert_eq!(x.powf(2.0)?.dtype(), dt);
        // 0-d tensors too: a Rust scalar is weak whatever the other operand's rank.
        assert_eq!(Tensor::full(&[], 1.0, dt)?.add_scalar(0.1)?.dtype(), dt);
    }
    // The scalar is rounded to the tensor's dtype once: 1 + 0.1 in f16 is f16(1 + f16(0.1)).
    let h = Tensor::ones(&[1], DType::F16)?.add_scalar(0.1)?;
    let expect = f16::from_f32(1.0 + f16::from_f64(0.1).to_f32());
    assert_eq!(h.to_vec::<f16>()?, vec![expect]);
    assert_eq!(Tensor::scalar(1.0f32).add_scalar(0.1)?.to_scalar::<f32>()?, 1.0f32 + 0.1f32);
    Ok(())
}

#[test]
fn zero_d_tensors_are_weak_against_n_d_tensors() -> R {
    // The repro: an f32 model times a 0-d f64 constant stayed f64.
    let x = f32s(&[1.0, 2.0]);
    let y = x.mul(&Tensor::scalar(0.1f64))?;
    assert_eq!(got(&y), (DType::F32, vec![0.1f32 as f64, (2.0 * 0.1f32) as f64]));
    assert_eq!(Tensor::scalar(0.1f64).mul(&x)?.dtype(), DType::F32, "either side");
    // Within a category the n-d operand wins, whatever the widths.
    let cases = [
        (DType::F16, DType::F64, DType::F16),
        (DType::F16, DType::BF16, DType::F16),
        (DType::BF16, DType::F32, DType::BF16),
        (DType::F64, DType::F16, DType::F64),
        (DType::F32, DType::I64, DType::F32),
        (DType::F16, DType::Bool, DType::F16),
        (DType::I64, DType::Bool, DType::I64),
        // A higher category: the default float f32 for a float 0-d; i64 for an int 0-d with bool.
        (DType::I64, DType::F64, DType::F32),
        (DType::I64, DType::F16, DType::F32),
        (DType::Bool, DType::BF16, DType::F32),
        (DType::Bool, DType::I64, DType::I64),
    ];
    for (strong, weak, want) in cases {
        let a = Tensor::ones(&[3], strong)?;
        let s = Tensor::ones(&[], weak)?;
        assert_eq!(a.add(&s)?.dtype(), want, "{strong} [3] + {weak} 0-d");
        assert_eq!(s.mul(&a)?.dtype(), want, "{weak} 0-d · {strong} [3]");
        assert_eq!(DType::promote_weak(strong, weak), want);
    }
    // i64 [2] · 0.5 (a 0-d f64) computes in f32.
    assert_eq!(got(&i64s(&[3, 4]).mul(&Tensor::scalar(0.5f64))?), (DType::F32, vec![1.5, 2.0]));
    // Two 0-d tensors, or two n-d ones (a [1] is not weak), promote normally.
    assert_eq!(Tensor::scalar(1.0f32).add(&Tensor::scalar(1.0f64))?.dtype(), DType::F64);
    assert_eq!(Tensor::scalar(1i64).add(&Tensor::scalar(0.5f32))?.dtype(), DType::F32);
    assert_eq!(x.add(&Tensor::from_vec(vec![1.0f64], &[1])?)?.dtype(), DType::F64);
    assert_eq!(
        x.add(&Tensor::zeros(&[0], DType::F64)?.reshape(&[0])?).map(|t| t.dtype()).ok(),
        None,
        "[2] + [0] do not broadcast"
    );
    // where_ follows the same rule for its branches.
    let mask = Tensor::from_vec(vec![true, false], &[2])?;
    let w = Tensor::where_(&mask, &x, &Tensor::scalar(-1.0f64))?;
    assert_eq!(got(&w), (DType::F32, vec![1.0, -1.0]));
    let w = Tensor::where_(&mask, &Tensor::scalar(bf16::from_f32(0.5)), &i64s(&[7, 8]))?;
    assert_eq!(got(&w), (DType::F32, vec![0.5, 8.0]));
    Ok(())
}

#[test]
fn the_gradient_reaches_a_weak_operand_in_its_own_dtype() -> R {
    // d/ds Σ xᵢ·s = Σ xᵢ = 6.5 and d/dxᵢ = s; s is a 0-d f64, x an f32 vector.
    let x = f32s(&[1.0, 2.0, 3.5]);
    let s = Tensor::scalar(0.1f64);
    let mut call = GradCall::new();
    let (xt, st) = (call.track(&x)?, call.track(&s)?);
    let y = xt.mul(&st)?.sum_all()?;
    assert_eq!(y.dtype(), DType::F32);
    let g = call.backward(&y, None)?;
    assert_eq!((g[1].dtype(), g[1].shape()), (DType::F64, &[] as &[usize]));
    assert_eq!(g[1].to_scalar::<f64>()?, 6.5);
    assert_eq!(got(&g[0]), (DType::F32, vec![0.1f32 as f64; 3]));

    // An i64 tensor times a tracked 0-d f64: the product is f32, d/ds = Σ xᵢ = 3 comes back as f64.
    let mut call = GradCall::new();
    let st = call.track(&Tensor::scalar(0.25f64))?;
    let y = i64s(&[1, 2]).mul(&st)?.sum_all()?;
    assert_eq!(y.dtype(), DType::F32);
    let g = call.backward(&y, None)?;
    assert_eq!((g[0].dtype(), g[0].to_scalar::<f64>()?), (DType::F64, 3.0));

    // through where_: d/ds Σ where(m, x, s) = number of false entries = 2.
    let mut call = GradCall::new();
    let st = call.track(&Tensor::scalar(0.0f64))?;
    let m = Tensor::from_vec(vec![true, false, false], &[3])?;
    let g = call.backward(&Tensor::where_(&m, &x, &st)?.sum_all()?, None)?;
    assert_eq!((g[0].dtype(), g[0].to_scalar::<f64>()?), (DType::F64, 2.0));
    Ok(())
}
