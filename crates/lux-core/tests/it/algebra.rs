//! Tree algebra: `dot`, `norm`, `scale`, `axpy`, `ravel`/`Unravel`, by hand
//! values, through the autodiff record, and as properties.

use lux_core::{DType, GradCall, LuxError, Result, Tensor, Tree, tree};
use proptest::prelude::*;

fn v64(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).unwrap()
}

#[test]
fn dot_sums_over_float_leaves_only() -> Result<()> {
    let a = tree! {
        w: v64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]),
        b: Tensor::from_vec(vec![0.5f32], &[1])?,
        ids: Tensor::from_vec(vec![5i64, 6], &[2])?,
        inner: Tree::seq([tree! { training: true }]),
    };
    let b = tree! {
        w: v64(&[-1.0, 0.5, 2.0, 0.25], &[2, 2]),
        b: Tensor::from_vec(vec![4.0f32], &[1])?,
        ids: Tensor::from_vec(vec![100i64, 100], &[2])?,
        inner: Tree::seq([tree! { training: false }]),
    };
    // -1 + 1 + 6 + 1 + 0.5·4; the integer leaves do not count
    let d = a.dot(&b)?;
    assert_eq!(d.shape(), &[] as &[usize]);
    assert_eq!(d.dtype(), DType::F64);
    assert_eq!(d.to_scalar::<f64>()?, 9.0);
    assert_eq!(b.dot(&a)?.to_scalar::<f64>()?, 9.0);
    // No float leaves: an f32 zero.
    let ints = tree! { n: 3i64 };
    assert_eq!(ints.dot(&ints)?.to_scalar::<f32>()?, 0.0);
    Ok(())
}

#[test]
fn mismatches_name_the_path() {
    let a = tree! { layer: tree! { w: v64(&[1.0, 2.0], &[2]) } };
    let shape = tree! { layer: tree! { w: v64(&[1.0, 2.0], &[1, 2]) } };
    assert_eq!(a.dot(&shape).unwrap_err().to_string(), "Tree::dot at layer.w: leaf shapes differ: [2] vs [1, 2]");
    assert_eq!(
        a.axpy(1.0, &shape).unwrap_err().to_string(),
        "Tree::axpy at layer.w: leaf shapes differ: [2] vs [1, 2]"
    );
    let ints = tree! { layer: tree! { w: Tensor::from_vec(vec![1i64, 2], &[2]).unwrap() } };
    let err = a.dot(&ints).unwrap_err();
    assert_eq!(
        err,
        LuxError::Structure { path: "layer.w".into(), msg: "Tree::dot: a f64 tensor vs a i64 tensor".into() }
    );
    let keys = tree! { layer: tree! { v: v64(&[1.0, 2.0], &[2]) } };
    for err in [a.dot(&keys).unwrap_err(), a.axpy(2.0, &keys).map(drop).unwrap_err()] {
        assert_eq!(err.to_string(), "structure mismatch at layer: keys differ: [w] vs [v]");
    }
}

#[test]
fn norm_by_hand_and_at_the_edges() -> Result<()> {
    let t = tree! { a: v64(&[3.0, -4.0], &[2]), b: v64(&[12.0], &[1]), n: 9i64 };
    assert_eq!(t.norm()?.to_scalar::<f64>()?, 13.0);
    // f16 squares overflow past 256; the norm is computed without overflow.
    let h = tree! { a: v64(&[300.0, 400.0], &[2]).to_dtype(DType::F16)? };
    assert_eq!(h.norm()?.to_f64_vec(), vec![500.0]);
    // Tiny f32 values whose squares underflow to zero in f32.
    let tiny = tree! { a: Tensor::from_vec(vec![3e-30f32, 4e-30], &[2])? };
    let n = tiny.norm()?.to_scalar::<f32>()?;
    assert!((n / 5e-30 - 1.0).abs() < 1e-6, "{n}");
    // Mixed dtypes meet at the promoted one.
    let mixed = tree! { a: Tensor::from_vec(vec![3.0f32], &[1])?, b: v64(&[4.0], &[1]) };
    assert_eq!(mixed.norm()?.dtype(), DType::F64);
    assert_eq!(mixed.norm()?.to_scalar::<f64>()?, 5.0);
    // NaN and infinity propagate; an empty tree has norm 0.
    assert!(tree! { a: v64(&[1.0, f64::NAN], &[2]) }.norm()?.to_scalar::<f64>()?.is_nan());
    assert_eq!(tree! { a: v64(&[1.0, f64::INFINITY], &[2]) }.norm()?.to_scalar::<f64>()?, f64::INFINITY);
    assert_eq!(Tree::new().norm()?.to_scalar::<f32>()?, 0.0);
    Ok(())
}

#[test]
fn norm_gradient_is_the_unit_vector_and_zero_at_zero() -> Result<()> {
    let mut call = GradCall::new();
    let a = call.track(&v64(&[3.0, -4.0], &[2]))?;
    let b = call.track(&v64(&[1e300], &[1]))?;
    let n = tree! { a: a, b: b }.norm()?;
    let g = call.backward(&n, None)?;
    // x/‖x‖ with ‖x‖ = 1e300 (its square would overflow f64).
    assert_eq!(n.to_scalar::<f64>()?, 1e300);
    let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * b.abs();
    let (ga, gb) = (g[0].to_vec::<f64>()?, g[1].to_vec::<f64>()?);
    assert!(close(ga[0], 3e-300) && close(ga[1], -4e-300) && close(gb[0], 1.0), "{ga:?} {gb:?}");

    let mut call = GradCall::new();
    let z = call.track(&Tensor::zeros(&[3], DType::F32)?)?;
    let n = tree! { z: z }.norm()?;
    assert_eq!(n.to_scalar::<f32>()?, 0.0);
    assert_eq!(call.backward(&n, None)?[0].to_vec::<f32>()?, vec![0.0; 3]);
    Ok(())
}

#[test]
fn scale_and_axpy_keep_shapes_dtypes_and_other_leaves() -> Result<()> {
    let ps = tree! {
        w: Tensor::from_vec(vec![1.0f32, 2.0], &[2])?.to_dtype(DType::F16)?,
        ids: Tensor::from_vec(vec![1i64, 2], &[2])?,
        step: 3i64,
    };
    let g = tree! { w: Tensor::from_vec(vec![0.5f32, -1.0], &[2])?, ids: Tensor::from_vec(vec![9i64, 9], &[2])?, step: 0i64 };
    let s = ps.scale(-2.0)?;
    assert_eq!(s.tensor("w")?.to_f64_vec(), vec![-2.0, -4.0]);
    assert_eq!(s.tensor("ids")?.to_vec::<i64>()?, vec![1, 2]);
    let u = ps.axpy(2.0, &g)?;
    assert_eq!(u.tensor("w")?.dtype(), DType::F16, "the accumulator keeps its dtype");
    assert_eq!(u.tensor("w")?.to_f64_vec(), vec![2.0, 0.0]);
    assert_eq!(u.tensor("ids")?.to_vec::<i64>()?, vec![1, 2]);
    assert_eq!(u.get("step")?.as_int()?, 3);
    Ok(())
}

#[test]
fn ravel_concatenates_float_leaves_and_unravel_restores_them() -> Result<()> {
    let ps = tree! {
        layer_1: tree! { weight: Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?.transpose(0, 1)?, bias: Tensor::from_vec(vec![7.0f32], &[1])? },
        counts: Tensor::from_vec(vec![4i64], &[1])?,
        layer_2: tree! { scale: Tensor::scalar(8.0f64), training: true },
    };
    let (v, unravel) = ps.ravel()?;
    // Row-major order of each leaf (the transposed view reads 1 4 2 5 3 6), leaves in order.
    assert_eq!(v.to_vec::<f64>()?, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0, 7.0, 8.0]);
    assert_eq!((unravel.len(), unravel.dtype()), (8, DType::F64));
    let back = unravel.unravel(&v)?;
    assert_eq!(back.tensor("layer_1.weight")?.shape(), &[3, 2]);
    assert_eq!(back.tensor("layer_1.weight")?.dtype(), DType::F32);
    assert_eq!(back.tensor("layer_1.weight")?.to_vec::<f32>()?, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_eq!(back.tensor("counts")?.to_vec::<i64>()?, vec![4]);
    assert_eq!(back.tensor("layer_2.scale")?.to_scalar::<f64>()?, 8.0);
    assert!(back.at("layer_2.training")?.as_bool()?);
    assert!(back.same_structure(&ps));
    // Wrong vectors.
    let err = unravel.unravel(&Tensor::zeros(&[2, 4], DType::F64)?).unwrap_err();
    assert_eq!(err.to_string(), "Unravel::unravel: expected a vector of shape [8], got [2, 4]");
    assert!(matches!(unravel.unravel(&Tensor::zeros(&[8], DType::I64)?), Err(LuxError::UnsupportedDType { .. })));
    // No float leaves: an empty f32 vector.
    let (e, un) = tree! { n: 1i64 }.ravel()?;
    assert_eq!((e.shape(), e.dtype(), un.is_empty()), (&[0usize] as &[usize], DType::F32, true));
    assert_eq!(un.unravel(&e)?, tree! { n: 1i64 });
    Ok(())
}

#[test]
fn gradients_flow_through_ravel_and_unravel() -> Result<()> {
    // d/dtree ⟨ravel(tree), c⟩ = unravel(c)
    let mut call = GradCall::new();
    let w = call.track(&v64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]))?;
    let b = call.track(&Tensor::from_vec(vec![5.0f32], &[1])?)?;
    let (v, _) = tree! { w: w, b: b }.ravel()?;
    let c = v64(&[0.1, 0.2, 0.3, 0.4, 0.5], &[5]);
    let g = call.backward(&v.mul(&c)?.sum_all()?, None)?;
    assert_eq!(g[0].to_vec::<f64>()?, vec![0.1, 0.2, 0.3, 0.4]);
    assert_eq!(g[1].to_vec::<f32>()?, vec![0.5]);
    // d/dv ⟨unravel(v), t⟩ = ravel(t)
    let t = tree! { w: v64(&[1.0, -1.0, 2.0, -2.0], &[2, 2]), b: Tensor::from_vec(vec![3.0f32], &[1])? };
    let (_, unravel) = t.ravel()?;
    let mut call = GradCall::new();
    let v = call.track(&Tensor::zeros(&[5], DType::F64)?)?;
    let g = call.backward(&unravel.unravel(&v)?.dot(&t)?, None)?;
    assert_eq!(g[0].to_vec::<f64>()?, vec![1.0, -1.0, 2.0, -2.0, 3.0]);
    Ok(())
}

// ----- properties ---------------------------------------------------------------------

/// Trees of f64 leaves of random shapes (with an integer leaf riding along).
fn float_tree() -> impl Strategy<Value = Tree> {
    prop::collection::vec(prop::collection::vec(1usize..4, 0..3), 1..4).prop_flat_map(|shapes| {
        let n: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
        prop::collection::vec(-8.0f64..8.0, n).prop_map(move |values| {
            let mut t = tree! { step: 1i64 };
            let mut at = 0;
            for (i, s) in shapes.iter().enumerate() {
                let k: usize = s.iter().product();
                t.insert(format!("l{i}"), Tensor::from_vec(values[at..at + k].to_vec(), s).unwrap()).unwrap();
                at += k;
            }
            t
        })
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-10 * (1.0 + a.abs().max(b.abs()))
}

proptest! {
    #[test]
    fn unravel_inverts_ravel(t in float_tree()) {
        let (v, unravel) = t.ravel().unwrap();
        prop_assert_eq!(v.len(), t.param_count());
        prop_assert_eq!(unravel.unravel(&v).unwrap(), t);
    }

    #[test]
    fn dot_norm_axpy_laws(t in float_tree(), alpha in -3.0f64..3.0) {
        let d = t.dot(&t).unwrap().to_scalar::<f64>().unwrap();
        let n = t.norm().unwrap().to_scalar::<f64>().unwrap();
        prop_assert!(close(d, n * n), "{} vs {}", d, n * n);
        // The tree dot is the dot of the raveled vectors.
        let (v, _) = t.ravel().unwrap();
        let dv: f64 = v.to_vec::<f64>().unwrap().iter().map(|x| x * x).sum();
        prop_assert!(close(d, dv));
        // t + α t = (1 + α) t, leaf by leaf; ‖α t‖ = |α| ‖t‖.
        let lhs = t.axpy(alpha, &t).unwrap();
        let rhs = t.scale(1.0 + alpha).unwrap();
        for ((_, a), (_, b)) in lhs.tensors().into_iter().zip(rhs.tensors()) {
            for (x, y) in a.to_f64_vec().into_iter().zip(b.to_f64_vec()) {
                prop_assert!(close(x, y), "{} vs {}", x, y);
            }
        }
        let ns = t.scale(alpha).unwrap().norm().unwrap().to_scalar::<f64>().unwrap();
        prop_assert!(close(ns, alpha.abs() * n), "{} vs {}", ns, alpha.abs() * n);
    }
}
