//! Tests of `lux_ops::lux_ops`.
use crate::*;
use lux_ad::{gradient, value_and_gradient};
use lux_core::{LuxError, tree};
use lux_ops::lux_ops::{eachslice, foldl_init, getproperty, istraining, multigate, xlogx, xlogy};

#[test]
fn eachslice_values_along_every_axis() -> Result<()> {
    let x = randn(1, &[2, 3, 4]);
    let v = x.to_f64_vec();
    let at = |i: usize, j: usize, k: usize| v[(i * 3 + j) * 4 + k];
    for (axis, n) in [(0isize, 2usize), (1, 3), (2, 4), (-1, 4), (-3, 2)] {
        let slices = eachslice(&x, axis)?;
        assert_eq!(slices.len(), n);
        let a = axis.rem_euclid(3) as usize;
        for (s, slice) in slices.iter().enumerate() {
            let mut want = Vec::new();
            for i in 0..2 {
                for j in 0..3 {
                    for k in 0..4 {
                        if [i, j, k][a] == s {
                            want.push(at(i, j, k));
                        }
                    }
                }
            }
            let mut shape = vec![2, 3, 4];
            shape.remove(a);
            assert_eq!(slice.shape(), &shape[..]);
            assert_eq!(slice.to_f64_vec(), want);
        }
    }
    Ok(())
}

#[test]
fn eachslice_gradient_scatters_back() {
    // Each time step gets its own weight, on a non-contiguous input.
    let f = |xs: &[Tensor]| -> Result<Tensor> {
        let steps = eachslice(&xs[0], 1)?;
        let mut acc = steps[0].square()?;
        for (t, s) in steps.iter().enumerate().skip(1) {
            acc = acc.add(&s.mul_scalar(t as f64 + 1.0)?.sin()?)?;
        }
        Ok(acc)
    };
    check_op(f, &[randn(2, &[3, 4, 2])]);
    check_op(f, &[randn(3, &[4, 3, 5]).permute(&[2, 1, 0]).unwrap()]);
}

#[test]
fn eachslice_bad_axis_names_the_shape() {
    let err = eachslice(&randn(1, &[2, 3]), 2).unwrap_err().to_string();
    assert!(err.contains("axis 2") && err.contains("[2, 3]"), "{err}");
}

#[test]
fn foldl_init_gradient_flows_into_init_and_elements() -> Result<()> {
    // acc ← tanh(acc ⊙ x + x): the gradient w.r.t. init is non-trivial.
    let f = |v: &[Tensor]| -> Result<Tensor> {
        foldl_init(|acc: Tensor, x: &Tensor| acc.mul(x)?.add(x)?.tanh(), &v[1..], v[0].clone())
    };
    check_op(f, &[randn(4, &[3]), randn(5, &[3]), randn(6, &[3]), randn(7, &[2, 3])]);
    // Hand check: fold of products, d/d init = Π x.
    let xs: Vec<Tensor> = [2.0f64, 3.0, 4.0].iter().map(|&v| Tensor::scalar(v)).collect();
    let ps = tree! { init: Tensor::scalar(1.5f64) };
    let (y, g) =
        value_and_gradient(|p| foldl_init(|a: Tensor, x: &Tensor| a.mul(x), &xs, p.tensor("init")?.clone()), &ps)?;
    assert_eq!(y.to_scalar::<f64>()?, 36.0);
    assert_eq!(g.tensor("init")?.to_scalar::<f64>()?, 24.0);
    // No elements: the result is init itself.
    let empty: Vec<Tensor> = Vec::new();
    assert_eq!(foldl_init(|a: Tensor, x: &Tensor| a.add(x), &empty, Tensor::scalar(7.0f64))?.to_scalar::<f64>()?, 7.0);
    // Errors from `op` come back.
    let e = foldl_init(|a: Tensor, x: &Tensor| a.matmul(x), &xs, Tensor::scalar(1.0f64));
    assert!(e.is_err());
    Ok(())
}

#[test]
fn getproperty_absent_is_none() -> Result<()> {
    let ps = tree! { weight: randn(1, &[2]), layer_1: tree! { bias: randn(2, &[2]) } };
    assert_eq!(getproperty(&ps, "weight").unwrap().as_tensor()?.to_f64_vec(), randn(1, &[2]).to_f64_vec());
    assert!(getproperty(&ps, "bias").is_none(), "not recursive");
    assert!(getproperty(getproperty(&ps, "layer_1").unwrap(), "bias").is_some());
    assert!(getproperty(&Tree::Bool(true), "bias").is_none());
    assert!(getproperty(&Tree::None, "bias").is_none());
    assert!(getproperty(&Tree::seq([1i64, 2]), "0").is_none());
    Ok(())
}

#[test]
fn istraining_matches_lux() -> Result<()> {
    // Lux utils_tests.jl "istraining", translated.
    assert!(istraining(&Tree::Bool(true)));
    assert!(!istraining(&Tree::Bool(false)));
    assert!(istraining(&tree! { training: true }));
    assert!(!istraining(&tree! { training: false }));
    assert!(!istraining(&tree! { no_training: 1i64 }));
    assert!(!istraining(&tree! { no_training: true }));
    assert!(istraining(&tree! { rng: 1i64, training: true }));
    // Top level only, and only a Bool counts.
    assert!(!istraining(&tree! { inner: tree! { training: true } }));
    assert!(!istraining(&tree! { training: 1i64 }));
    assert!(!istraining(&Tree::new()));
    Ok(())
}

#[test]
fn multigate_matches_lux_test() -> Result<()> {
    // Lux: x = rand(6, 5); x1, x2, x3 = multigate(x, Val(3));
    // sum(x1) + sum(x3 .+ x2 .^ 2), gradient [ones(2,5); 2x[3:4,:]; ones(2,5)].
    // Batch-first here: x is [5, 6] and the gates split the last axis.
    let x = randn(11, &[5, 6]);
    let xv = x.to_f64_vec();
    let ps = tree! { x: x };
    let (y, g) = value_and_gradient(
        |p| {
            let gates = multigate(p.tensor("x")?, 3)?;
            gates[0].sum_all()?.add(&gates[2].add(&gates[1].square()?)?.sum_all()?)
        },
        &ps,
    )?;
    let mut want_y = 0.0;
    let mut want_g = vec![0.0; 30];
    for r in 0..5 {
        for c in 0..6 {
            let v = xv[r * 6 + c];
            let (val, d) = if (2..4).contains(&c) { (v * v, 2.0 * v) } else { (v, 1.0) };
            want_y += val;
            want_g[r * 6 + c] = d;
        }
    }
    assert_close(&[y.to_scalar::<f64>()?], &[want_y], 1e-12);
    assert_close(&g.tensor("x")?.to_f64_vec(), &want_g, 1e-12);
    // Vector input, two halves.
    let v = Tensor::from_vec((0..10).map(f64::from).collect(), &[10])?;
    let halves = multigate(&v, 2)?;
    assert_eq!(halves[1].to_vec::<f64>()?, vec![5.0, 6.0, 7.0, 8.0, 9.0]);
    // Gradient check on a non-contiguous 3-d input, one gate unused.
    check_op(
        |v| {
            let g = multigate(&v[0], 4)?;
            g[0].mul(&g[3])?.add(&g[1].sin()?)
        },
        &[randn(12, &[8, 3, 2]).permute(&[1, 2, 0]).unwrap()],
    );
    Ok(())
}

#[test]
fn multigate_rejects_indivisible_sizes() {
    let x = randn(1, &[4, 10]);
    let err = multigate(&x, 3).unwrap_err();
    assert!(matches!(err, LuxError::InvalidArgument { .. }));
    let msg = err.to_string();
    assert!(msg.contains("[4, 10]") && msg.contains("10") && msg.contains('3'), "{msg}");
    assert!(multigate(&x, 0).is_err());
    assert!(multigate(&Tensor::scalar(1.0f64), 1).unwrap_err().to_string().contains("0-d"));
}

#[test]
fn xlogx_and_xlogy_values_match_lux() -> Result<()> {
    let t = |v: f64| Tensor::scalar(v);
    assert_eq!(xlogx(&t(0.0))?.to_scalar::<f64>()?, 0.0);
    assert!(xlogx(&t(f64::NAN))?.to_scalar::<f64>()?.is_nan());
    assert_eq!(xlogx(&t(2.0))?.to_scalar::<f64>()?, 2.0 * 2f64.ln());
    assert!(xlogx(&t(-1.0))?.to_scalar::<f64>()?.is_nan(), "negative x is NaN (documented)");
    assert_eq!(xlogy(&t(0.0), &t(1.0))?.to_scalar::<f64>()?, 0.0);
    for y in [0.0, f64::NAN, f64::INFINITY, -1.0] {
        assert_eq!(xlogy(&t(0.0), &t(y))?.to_scalar::<f64>()?, 0.0, "xlogy(0, {y})");
    }
    assert!(xlogy(&t(f64::NAN), &t(1.0))?.to_scalar::<f64>()?.is_nan());
    assert!(xlogy(&t(1.0), &t(f64::NAN))?.to_scalar::<f64>()?.is_nan());
    assert_eq!(xlogy(&t(2.0), &t(3.0))?.to_scalar::<f64>()?, 2.0 * 3f64.ln());
    // f32 and broadcasting: [2, 3] with [3].
    let x = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 3.0, 0.0, 0.5], &[2, 3])?;
    let y = Tensor::from_vec(vec![0.0f32, 2.0, 4.0], &[3])?;
    let got = xlogy(&x, &y)?;
    assert_eq!(got.shape(), &[2, 3]);
    let want: Vec<f64> = [(0.0, 0.0), (1.0, 2.0), (2.0, 4.0), (3.0, 0.0), (0.0, 2.0), (0.5, 4.0)]
        .iter()
        .map(|&(a, b): &(f64, f64)| if a == 0.0 { 0.0 } else { a * b.ln() })
        .collect();
    let g = got.to_f64_vec();
    assert_eq!(g[3], f64::NEG_INFINITY, "3·log 0");
    assert_close(&[g[0], g[1], g[2], g[4], g[5]], &[want[0], want[1], want[2], want[4], want[5]], 1e-6);
    Ok(())
}

#[test]
fn xlogx_and_xlogy_gradients() -> Result<()> {
    // At (2, 3): ∂x = log 3, ∂y = 2/3; xlogx'(2) = log 2 + 1.
    let ps = tree! { x: Tensor::scalar(2.0f64), y: Tensor::scalar(3.0f64) };
    let g = gradient(|p| xlogy(p.tensor("x")?, p.tensor("y")?), &ps)?;
    assert_close(
        &[g.tensor("x")?.to_scalar::<f64>()?, g.tensor("y")?.to_scalar::<f64>()?],
        &[3f64.ln(), 2.0 / 3.0],
        1e-15,
    );
    let g = gradient(|p| xlogx(p.tensor("x")?), &ps)?;
    assert_close(&[g.tensor("x")?.to_scalar::<f64>()?], &[2f64.ln() + 1.0], 1e-15);
    // At x == 0 both gradients are exactly zero, even for y == 0.
    for y in [0.0, 1.0] {
        let ps = tree! { x: Tensor::scalar(0.0f64), y: Tensor::scalar(y) };
        let g = gradient(|p| xlogy(p.tensor("x")?, p.tensor("y")?), &ps)?;
        assert_eq!((g.tensor("x")?.to_scalar::<f64>()?, g.tensor("y")?.to_scalar::<f64>()?), (0.0, 0.0));
        let g = gradient(|p| xlogx(p.tensor("x")?), &ps)?;
        assert_eq!(g.tensor("x")?.to_scalar::<f64>()?, 0.0);
    }
    // Finite differences with broadcasting and a non-contiguous operand.
    let pos = |t: Tensor| t.abs().unwrap().add_scalar(0.2).unwrap();
    check_op(|v| xlogx(&v[0]), &[pos(randn(1, &[3, 4]))]);
    check_op(|v| xlogx(&v[0]), &[pos(randn(2, &[4, 3])).transpose(0, 1)?]);
    check_op(|v| xlogy(&v[0], &v[1]), &[randn(3, &[3, 4]), pos(randn(4, &[4]))]);
    check_op(|v| xlogy(&v[0], &v[1]), &[randn(5, &[1, 4]), pos(randn(6, &[3, 1]))]);
    check_op(|v| xlogy(&v[0], &v[1]), &[randn(7, &[4, 3]).transpose(0, 1)?, pos(randn(8, &[3, 4]))]);
    Ok(())
}

#[test]
fn xlogx_second_derivative_is_one_over_x() -> Result<()> {
    // d²/dx² x·log x = 1/x, through the composite fallback; and 0 at x = 0.
    let x = Tensor::from_vec(vec![0.5f64, 1.0, 2.0, 0.0], &[4])?;
    let ps = tree! { x: x };
    let h = gradient(
        |p| {
            let inner = tree! { x: p.tensor("x")?.clone() };
            let g = gradient(|q| xlogx(q.tensor("x")?)?.sum_all(), &inner)?;
            g.tensor("x")?.sum_all()
        },
        &ps,
    )?;
    assert_eq!(h.tensor("x")?.to_vec::<f64>()?, vec![2.0, 1.0, 0.5, 0.0]);
    // Mixed second derivative of x·log y: ∂²/∂x∂y = 1/y.
    let ps = tree! { x: Tensor::scalar(2.0f64), y: Tensor::scalar(4.0f64) };
    let h = gradient(
        |p| {
            let y = p.tensor("y")?.clone();
            let inner = tree! { x: p.tensor("x")?.clone() };
            let g = gradient(|q| xlogy(q.tensor("x")?, &y), &inner)?;
            g.tensor("x")?.sum_all()
        },
        &ps,
    )?;
    assert_eq!(h.tensor("y")?.to_scalar::<f64>()?, 0.25);
    assert_eq!(h.tensor("x")?.to_scalar::<f64>()?, 0.0);
    Ok(())
}

#[test]
fn xlogy_rejects_bad_input() {
    let e = xlogy(&randn(1, &[2, 3]), &randn(2, &[4])).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4]"), "{e}");
    let ints = Tensor::from_vec(vec![1i64, 2], &[2]).unwrap();
    assert!(matches!(xlogx(&ints), Err(LuxError::UnsupportedDType { .. })));
    // f16 computes in f32 and rounds once.
    let h = Tensor::from_vec(vec![half::f16::from_f32(2.0)], &[1]).unwrap();
    let y = xlogx(&h).unwrap();
    assert_eq!(y.dtype(), DType::F16);
    assert_eq!(y.to_vec::<half::f16>().unwrap()[0], half::f16::from_f32(2.0 * 2f32.ln()));
}
