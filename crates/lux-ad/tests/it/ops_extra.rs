//! `check_gradients` (f64 central differences) for the ops added by issue
//! 15: the new unary ops, prod/var/std, cumsum, sort/topk, flip, pad,
//! repeat, tril/triu; hand-computed gradients where the rule is the point
//! (prod at zeros, cumsum's reversed sum), and second derivatives through
//! the ops with their own backward rules.

use crate::ops::{check, positive, strided};
use crate::{randn, weighted_sum};
use lux_ad::{Tolerances, check_gradients, gradient};
use lux_core::{DType, Result, Tensor, Tree, tree};

#[test]
fn new_unary_ops() {
    type Op = fn(&Tensor) -> Result<Tensor>;
    let any: [(&str, Op); 4] =
        [("erf", Tensor::erf), ("atan", Tensor::atan), ("sinh", Tensor::sinh), ("cosh", Tensor::cosh)];
    for (i, (name, op)) in any.iter().enumerate() {
        eprintln!("unary {name}");
        check(&[("x", randn(i as u64 + 200, &[3, 4]))], |x| op(x[0]));
        check(&[("x", strided(i as u64 + 250, 3, 4))], |x| op(x[0]));
    }
    let pos: [(&str, Op); 2] = [("rsqrt", Tensor::rsqrt), ("reciprocal", Tensor::reciprocal)];
    for (i, (name, op)) in pos.iter().enumerate() {
        eprintln!("unary {name}");
        check(&[("x", positive(i as u64 + 210, &[2, 5]))], |x| op(x[0]));
        check(&[("x", positive(i as u64 + 260, &[5, 2]).transpose(0, 1).unwrap())], |x| op(x[0]));
    }
    check(&[("x", positive(220, &[4]).neg().unwrap())], |x| x[0].reciprocal());
    // tan on (−1.2, 1.2), away from its poles
    check(&[("x", randn(230, &[3, 4]).tanh().unwrap().mul_scalar(1.2).unwrap())], |x| x[0].tan());
    check(&[("x", strided(231, 3, 4).tanh().unwrap())], |x| x[0].tan());
}

#[test]
fn rounding_has_zero_gradient_and_erf_has_the_gaussian_one() -> Result<()> {
    type Op = fn(&Tensor) -> Result<Tensor>;
    for op in [Tensor::floor as Op, Tensor::ceil, Tensor::round] {
        let ps = tree! { x: randn(1, &[5]).mul_scalar(3.0)? };
        let g = gradient(|t| weighted_sum(&op(t.tensor("x")?)?), &ps)?;
        assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![0.0; 5]);
    }
    let xs = [-1.5f64, 0.0, 0.7];
    let ps = tree! { x: Tensor::from_slice(&xs, &[3])? };
    let g = gradient(|t| t.tensor("x")?.erf()?.sum_all(), &ps)?.tensor("x")?.to_vec::<f64>()?;
    for (gi, x) in g.iter().zip(xs) {
        let want = 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp();
        assert!((gi - want).abs() < 1e-15, "{gi} vs {want}");
    }
    Ok(())
}

#[test]
fn prod_gradients_including_zeros() -> Result<()> {
    let axes: [&[isize]; 4] = [&[0], &[-1], &[0, 2], &[0, 1, 2]];
    for (i, ax) in axes.iter().enumerate() {
        for keepdim in [false, true] {
            check(&[("x", randn(i as u64 + 300, &[2, 3, 5]))], |t| t[0].prod(ax, keepdim));
        }
    }
    check(&[("x", strided(310, 3, 5))], |t| t[0].prod(&[1], false));
    // ∂/∂x_i Π x = Π_{j≠i} x_j, also at zeros (no division by x)
    let g = |v: Vec<f64>| -> Result<Vec<f64>> {
        let ps = tree! { x: Tensor::from_vec(v, &[4])? };
        gradient(|t| t.tensor("x")?.prod(&[0], false), &ps)?.tensor("x")?.to_vec::<f64>()
    };
    assert_eq!(g(vec![2.0, 0.0, 3.0, 0.5])?, vec![0.0, 3.0, 0.0, 0.0]);
    assert_eq!(g(vec![0.0, 0.0, 3.0, 4.0])?, vec![0.0, 0.0, 0.0, 0.0]);
    assert_eq!(g(vec![2.0, -1.0, 3.0, 0.5])?, vec![-1.5, 3.0, -1.0, -6.0]);
    // a zero in a finite-difference check: prod is multilinear, so central
    // differences are exact there too
    let x = Tensor::from_vec(vec![0.0f64, 1.3, -0.7, 2.0, 0.0, 0.4], &[2, 3])?;
    check(&[("x", x)], |t| t[0].prod(&[-1], false));
    Ok(())
}

#[test]
fn var_and_std_gradients() {
    for correction in [0usize, 1] {
        for (i, ax) in [&[0isize][..], &[-1], &[0, 1]].iter().enumerate() {
            check(&[("x", randn(i as u64 + 400, &[3, 4]))], |t| t[0].var(ax, correction, false));
            check(&[("x", randn(i as u64 + 410, &[3, 4]))], |t| t[0].std(ax, correction, true));
        }
    }
    check(&[("x", strided(420, 4, 3))], |t| t[0].std(&[0], 1, false));
}

#[test]
fn cumsum_gradient_is_the_reversed_cumsum() -> Result<()> {
    for (i, ax) in [0isize, 1, -1].into_iter().enumerate() {
        check(&[("x", randn(500 + i as u64, &[3, 4, 2]))], |t| t[0].cumsum(ax));
    }
    check(&[("x", strided(510, 3, 4))], |t| t[0].cumsum(1));
    let w = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 10.0, 20.0, 30.0], &[2, 3])?;
    let ps = tree! { x: randn(511, &[2, 3]) };
    let g = gradient(|t| t.tensor("x")?.cumsum(-1)?.mul(&w)?.sum_all(), &ps)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![6.0, 5.0, 3.0, 60.0, 50.0, 30.0]);
    Ok(())
}

#[test]
fn sort_and_topk_scatter_gradients_back() -> Result<()> {
    for descending in [false, true] {
        check(&[("x", randn(600, &[3, 5]))], |t| Ok(t[0].sort(-1, descending)?.0));
        check(&[("x", randn(601, &[3, 5]))], |t| Ok(t[0].sort(0, descending)?.0));
    }
    check(&[("x", strided(602, 4, 3))], |t| Ok(t[0].sort(1, false)?.0));
    check(&[("x", randn(603, &[3, 6]))], |t| Ok(t[0].topk(2, -1)?.0));
    check(&[("x", strided(604, 5, 3))], |t| Ok(t[0].topk(3, 0)?.0));
    // the weight of output position k goes to the input it came from
    let ps = tree! { x: Tensor::from_vec(vec![3.0f64, 1.0, 2.0], &[3])? };
    let w = Tensor::from_vec(vec![10.0f64, 20.0, 30.0], &[3])?;
    let g = gradient(|t| t.tensor("x")?.sort(0, false)?.0.mul(&w)?.sum_all(), &ps)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![30.0, 10.0, 20.0]);
    let g = gradient(|t| t.tensor("x")?.topk(2, 0)?.0.mul(&w.narrow(0, 0, 2)?)?.sum_all(), &ps)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![10.0, 0.0, 20.0]);
    Ok(())
}

#[test]
fn rearranging_ops() {
    check(&[("x", randn(700, &[2, 3, 4]))], |t| t[0].flip(&[0, -1]));
    check(&[("x", strided(701, 3, 4))], |t| t[0].flip(&[1]));
    check(&[("x", randn(702, &[2, 3]))], |t| t[0].pad(&[(1, 2), (0, 3)], 0.5));
    check(&[("x", strided(703, 3, 2))], |t| t[0].pad(&[(0, 1)], -1.0));
    check(&[("x", randn(704, &[2, 3]))], |t| t[0].repeat(&[2, 1, 3]));
    check(&[("x", strided(705, 2, 3))], |t| t[0].repeat(&[3, 2]));
    check(&[("x", randn(706, &[2, 3]))], |t| t[0].repeat_interleave(3, 0));
    check(&[("x", strided(707, 2, 3))], |t| t[0].repeat_interleave(2, -1));
    for k in [-1isize, 0, 2] {
        check(&[("x", randn(708, &[2, 3, 4]))], |t| t[0].tril(k));
        check(&[("x", strided(709, 4, 3))], |t| t[0].triu(k));
    }
}

#[test]
fn repeat_gradient_sums_the_copies() -> Result<()> {
    let ps = tree! { x: randn(710, &[2]) };
    let w = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])?;
    let g = gradient(|t| t.tensor("x")?.repeat(&[3, 1])?.mul(&w)?.sum_all(), &ps)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![9.0, 12.0]);
    let g = gradient(|t| t.tensor("x")?.pad(&[(2, 1)], 7.0)?.mul(&w.reshape(&[6])?.narrow(0, 0, 5)?)?.sum_all(), &ps)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![3.0, 4.0]);
    Ok(())
}

/// Second derivatives through the ops with their own backward rules
/// (cumsum, flip) and the composed prod: the gradient of `Σ v ⊙ ∇f`.
#[test]
fn second_derivatives() -> Result<()> {
    let v = randn(800, &[2, 4]);
    type F = fn(&Tensor) -> Result<Tensor>;
    let fs: [F; 4] = [
        |x| x.cumsum(-1)?.sin()?.sum_all(),
        |x| x.flip(&[0, 1])?.mul(x)?.sin()?.sum_all(),
        |x| x.prod(&[-1], false)?.sum_all(),
        |x| x.sort(-1, true)?.0.mul(x)?.cosh()?.sum_all(),
    ];
    for (i, f) in fs.iter().enumerate() {
        let hv = |t: &Tree| -> Result<Tensor> {
            let g = gradient(|u| f(u.tensor("x")?), t)?;
            g.tensor("x")?.mul(&v)?.sum_all()
        };
        let ps = tree! { x: randn(801 + i as u64, &[2, 4]) };
        if let Err(e) = check_gradients(hv, &ps, Tolerances { atol: 1e-6, rtol: 1e-5 }) {
            panic!("second derivative {i}: {e}");
        }
    }
    // d²/dx² Σ cumsum(x)² for x = [a, b]: cumsum = [a, a + b], so the
    // Hessian is [[4, 2], [2, 2]] and H·1 = [6, 4]
    let ps = tree! { x: Tensor::from_vec(vec![0.3f64, -1.1], &[2])? };
    let one = Tensor::ones(&[2], DType::F64)?;
    let hv = gradient(
        |t| gradient(|u| u.tensor("x")?.cumsum(0)?.square()?.sum_all(), t)?.tensor("x")?.mul(&one)?.sum_all(),
        &ps,
    )?;
    assert_eq!(hv.tensor("x")?.to_vec::<f64>()?, vec![6.0, 4.0]);
    Ok(())
}
