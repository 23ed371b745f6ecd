//! `check_gradients` (f64, central differences) for every primitive op of
//! lux-core, including broadcast and non-contiguous inputs; the same cases
//! check each op's forward-mode tangent rule with `check_jvp`.

use crate::{randn, weighted_sum};
use lux_ad::{Tolerances, check_gradients, check_jvp};
use lux_core::{DType, Result, Tensor, Tree, tree};

fn tol() -> Tolerances {
    Tolerances { atol: 1e-7, rtol: 1e-6 }
}

/// Checks the gradient of Σ w ⊙ op(inputs), the tangent of op(inputs)
/// (forward mode: finite differences and the adjoint identity), and the
/// gradient of that tangent (reverse-over-forward), against finite
/// differences.
pub(crate) fn check(inputs: &[(&str, Tensor)], op: impl Fn(&[&Tensor]) -> Result<Tensor>) {
    let mut ps = Tree::new();
    for (name, t) in inputs {
        ps.insert(*name, t.clone()).unwrap();
    }
    let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
    let f = |t: &Tree| {
        let xs: Vec<&Tensor> = names.iter().map(|n| t.tensor(n)).collect::<Result<_>>()?;
        weighted_sum(&op(&xs)?)
    };
    if let Err(e) = check_gradients(f, &ps, tol()) {
        panic!("{e}");
    }
    let g = |t: &Tree| {
        let xs: Vec<&Tensor> = names.iter().map(|n| t.tensor(n)).collect::<Result<_>>()?;
        op(&xs)
    };
    if let Err(e) = check_jvp(g, &ps, tol()) {
        panic!("tangent: {e}");
    }
    // Reverse-over-forward: the tangent rule is differentiable.
    let v =
        ps.try_map(|_, t| if t.dtype().is_float() { t.mul_scalar(0.5)?.cos() } else { Ok(t.zeros_like()) }).unwrap();
    if let Err(e) = check_gradients(|p| weighted_sum(&lux_ad::jvp(g, p, &v)?.1), &ps, tol()) {
        panic!("gradient of the tangent: {e}");
    }
}

pub(crate) fn positive(seed: u64, shape: &[usize]) -> Tensor {
    randn(seed, shape).abs().unwrap().add_scalar(0.5).unwrap()
}

/// A [rows, cols] tensor stored transposed (non-contiguous view).
pub(crate) fn strided(seed: u64, rows: usize, cols: usize) -> Tensor {
    let t = randn(seed, &[cols, rows]).transpose(0, 1).unwrap();
    assert!(!t.is_contiguous());
    t
}

#[test]
fn unary_ops() {
    type Op = fn(&Tensor) -> Result<Tensor>;
    let any: [(&str, Op); 7] = [
        ("neg", Tensor::neg),
        ("exp", Tensor::exp),
        ("expm1", Tensor::expm1),
        ("sin", Tensor::sin),
        ("cos", Tensor::cos),
        ("tanh", Tensor::tanh),
        ("square", Tensor::square),
    ];
    let pos: [(&str, Op); 4] =
        [("log", Tensor::log), ("log1p", Tensor::log1p), ("sqrt", Tensor::sqrt), ("abs", Tensor::abs)];
    for (i, (name, op)) in any.iter().enumerate() {
        eprintln!("unary {name}");
        check(&[("x", randn(i as u64, &[3, 4]))], |x| op(x[0]));
        check(&[("x", strided(i as u64 + 50, 3, 4))], |x| op(x[0]));
    }
    for (i, (name, op)) in pos.iter().enumerate() {
        eprintln!("unary {name}");
        check(&[("x", positive(i as u64 + 10, &[2, 5]))], |x| op(x[0]));
        check(&[("x", positive(i as u64 + 60, &[5, 2]).transpose(0, 1).unwrap())], |x| op(x[0]));
    }
    // abs on negative values (away from the kink at 0)
    check(&[("x", positive(20, &[4]).neg().unwrap())], |x| x[0].abs());
}

#[test]
fn sign_has_zero_gradient() -> Result<()> {
    let ps = tree! { x: randn(1, &[5]) };
    let g = lux_ad::gradient(|t| weighted_sum(&t.tensor("x")?.sign()?), &ps)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![0.0; 5]);
    Ok(())
}

#[test]
fn binary_ops_with_broadcasting() {
    type Op = fn(&Tensor, &Tensor) -> Result<Tensor>;
    let ops: [(&str, Op); 6] = [
        ("add", Tensor::add),
        ("sub", Tensor::sub),
        ("mul", Tensor::mul),
        ("div", Tensor::div),
        ("maximum", Tensor::maximum),
        ("minimum", Tensor::minimum),
    ];
    let shapes: [(&[usize], &[usize]); 5] =
        [(&[3, 4], &[3, 4]), (&[3, 4], &[4]), (&[3, 1], &[1, 4]), (&[2, 3, 4], &[3, 1]), (&[], &[2, 3])];
    for (k, (name, op)) in ops.iter().enumerate() {
        for (j, (sa, sb)) in shapes.iter().enumerate() {
            eprintln!("binary {name} {sa:?} {sb:?}");
            let seed = (k * 10 + j) as u64;
            let b = if *name == "div" { positive(seed + 100, sb) } else { randn(seed + 100, sb) };
            check(&[("a", randn(seed, sa)), ("b", b)], |x| op(x[0], x[1]));
        }
        // non-contiguous operand
        let b = if *name == "div" { positive(7, &[4, 3]).transpose(0, 1).unwrap() } else { strided(7, 3, 4) };
        check(&[("a", strided(8, 3, 4)), ("b", b)], |x| op(x[0], x[1]));
    }
}

#[test]
fn pow_and_scalar_ops() {
    check(&[("a", positive(1, &[3, 2])), ("b", randn(2, &[2]))], |x| x[0].pow(x[1]));
    check(&[("a", positive(3, &[4]))], |x| x[0].powf(2.5));
    check(&[("a", randn(4, &[4]))], |x| x[0].powf(3.0));
    check(&[("a", randn(5, &[4]))], |x| x[0].add_scalar(2.0)?.mul_scalar(-1.5));
    check(&[("a", randn(5, &[2, 2]))], |x| Ok(&(x[0] * 3.0) / 2.0 - x[0].clone()));
}

#[test]
fn where_and_clamp() {
    let cond = Tensor::from_vec(vec![true, false, true, false], &[4]).unwrap();
    check(&[("a", randn(1, &[3, 4])), ("b", randn(2, &[4]))], |x| Tensor::where_(&cond, x[0], x[1]));
    // values well inside or outside [-0.5, 0.5]
    let v = Tensor::from_vec(vec![-1.3, -0.2, 0.1, 0.35, 0.9, 2.0], &[2, 3]).unwrap();
    check(&[("a", v)], |x| x[0].clamp(-0.5, 0.5));
}

#[test]
fn reductions() {
    let axes: [&[isize]; 5] = [&[0], &[1], &[-1], &[0, 2], &[0, 1, 2]];
    for (i, ax) in axes.iter().enumerate() {
        for keepdim in [false, true] {
            let x = randn(i as u64, &[2, 3, 4]);
            check(&[("x", x.clone())], |t| t[0].sum(ax, keepdim));
            check(&[("x", x.clone())], |t| t[0].mean(ax, keepdim));
            check(&[("x", x.clone())], |t| t[0].max(ax, keepdim));
            check(&[("x", x.clone())], |t| t[0].min(ax, keepdim));
        }
    }
    check(&[("x", strided(9, 3, 5))], |t| t[0].sum(&[0], false));
    check(&[("x", strided(9, 3, 5))], |t| t[0].max_all());
    check(&[("x", randn(11, &[3, 5]))], |t| t[0].mean_all());
}

#[test]
fn max_splits_gradient_between_ties() -> Result<()> {
    let ps = tree! { x: Tensor::from_vec(vec![1.0f64, 3.0, 3.0, 2.0], &[4])? };
    let g = lux_ad::gradient(|t| t.tensor("x")?.max_all(), &ps)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![0.0, 0.5, 0.5, 0.0]);
    let ps = tree! { a: Tensor::from_vec(vec![2.0f64], &[1])?, b: Tensor::from_vec(vec![2.0f64], &[1])? };
    let g = lux_ad::gradient(|t| t.tensor("a")?.maximum(t.tensor("b")?)?.sum_all(), &ps)?;
    assert_eq!(g.tensor("a")?.to_vec::<f64>()?, vec![0.5]);
    assert_eq!(g.tensor("b")?.to_vec::<f64>()?, vec![0.5]);
    Ok(())
}

#[test]
fn matmul_2d_3d_and_broadcast_batches() {
    check(&[("a", randn(1, &[3, 4])), ("b", randn(2, &[4, 5]))], |x| x[0].matmul(x[1]));
    check(&[("a", randn(3, &[2, 3, 4])), ("b", randn(4, &[2, 4, 5]))], |x| x[0].matmul(x[1]));
    check(&[("a", randn(5, &[2, 3, 4])), ("b", randn(6, &[4, 5]))], |x| x[0].matmul(x[1]));
    check(&[("a", randn(7, &[3, 4])), ("b", randn(8, &[2, 4, 5]))], |x| x[0].matmul(x[1]));
    check(&[("a", randn(9, &[1, 3, 4])), ("b", randn(10, &[2, 4, 5]))], |x| x[0].matmul(x[1]));
    // x · Wᵀ with W stored [out, in], and a strided left operand
    check(&[("x", strided(11, 6, 4)), ("w", randn(12, &[5, 4]))], |x| x[0].matmul(&x[1].transpose(0, 1)?));
}

#[test]
fn shape_ops() {
    let x = || randn(1, &[2, 3, 4]);
    check(&[("x", x())], |t| t[0].reshape(&[4, 6]));
    check(&[("x", x())], |t| t[0].permute(&[2, 0, 1]));
    check(&[("x", x())], |t| t[0].transpose(0, 2)?.reshape(&[24]));
    check(&[("x", x())], |t| t[0].narrow(2, 1, 2));
    check(&[("x", x())], |t| t[0].slice(&[0..1, 1..3]));
    check(&[("x", randn(2, &[3, 1]))], |t| t[0].broadcast_to(&[2, 3, 4]));
    check(&[("x", x())], |t| t[0].unsqueeze(1)?.squeeze(1));
    check(&[("x", strided(3, 3, 4))], |t| t[0].contiguous());
    check(&[("a", randn(4, &[2, 3])), ("b", randn(5, &[4, 3]))], |t| Tensor::concat(&[t[0].clone(), t[1].clone()], 0));
    check(&[("a", randn(4, &[2, 3])), ("b", randn(5, &[2, 3]))], |t| Tensor::stack(&[t[0].clone(), t[1].clone()], 1));
}

#[test]
fn indexing_ops() {
    let idx = Tensor::from_vec(vec![2i64, 0, 2, 1], &[4]).unwrap();
    check(&[("x", randn(1, &[3, 5]))], |t| t[0].index_select(0, &idx));
    check(&[("x", randn(2, &[5, 3]))], |t| t[0].index_select(-1, &Tensor::from_vec(vec![1i64, 1], &[2])?));
    check(&[("base", randn(3, &[3, 2])), ("src", randn(4, &[4, 2]))], |t| t[0].index_add(0, &idx, t[1]));
    let gi = Tensor::from_vec(vec![1i64, 0, 2, 2, 2, 1], &[2, 3]).unwrap();
    check(&[("x", randn(5, &[2, 4]))], |t| t[0].gather(1, &gi));
    check(&[("base", randn(6, &[2, 4])), ("src", randn(7, &[2, 3]))], |t| t[0].scatter_add(1, &gi, t[1]));
}

#[test]
fn casts_are_differentiable() -> Result<()> {
    // d/dx Σ 3·f32(x) = 3, arriving in each input's own dtype
    for dt in [DType::F16, DType::BF16, DType::F64] {
        let ps = tree! { x: randn(2, &[3]).to_dtype(dt)? };
        let g = lux_ad::gradient(|t| t.tensor("x")?.to_dtype(DType::F32)?.mul_scalar(3.0)?.sum_all(), &ps)?;
        assert_eq!(g.tensor("x")?.dtype(), dt);
        assert_eq!(g.tensor("x")?.to_f64_vec(), vec![3.0; 3]);
    }
    Ok(())
}
