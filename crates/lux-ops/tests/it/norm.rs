//! Tests of `lux_ops::norm`.
use crate::*;
use ::lux_ops::norm::{
    NormOptions, RunningStats, batch_norm, group_norm, instance_norm, instance_norm_with_stats, layer_norm,
};

// ----- an independent f64 reference (plain loops over multi-indices) ---------

/// Mean and biased variance of the values of `x` grouped by `key(index)`
/// (two passes).
fn ref_stats(x: &Tensor, key: &dyn Fn(&[usize]) -> usize) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
    let xv = x.to_f64_vec();
    let keys: Vec<usize> = (0..xv.len()).map(|i| key(&unravel(i, x.shape()))).collect();
    let nk = keys.iter().max().map_or(0, |m| m + 1);
    let (mut sum, mut cnt) = (vec![0.0; nk], vec![0usize; nk]);
    for (v, &k) in xv.iter().zip(&keys) {
        sum[k] += v;
        cnt[k] += 1;
    }
    let mean: Vec<f64> = sum.iter().zip(&cnt).map(|(s, &c)| s / c as f64).collect();
    let mut ss = vec![0.0; nk];
    for (v, &k) in xv.iter().zip(&keys) {
        ss[k] += (v - mean[k]).powi(2);
    }
    let var = ss.iter().zip(&cnt).map(|(s, &c)| s / c as f64).collect();
    (mean, var, cnt)
}

/// `(x − μ)/√(σ² + ε)·a + b` with statistics grouped by `key` and `(a, b)`
/// given per index by `affine`.
fn reference(
    x: &Tensor,
    key: &dyn Fn(&[usize]) -> usize,
    affine: &dyn Fn(&[usize]) -> (f64, f64),
    eps: f64,
) -> Vec<f64> {
    let (mean, var, _) = ref_stats(x, key);
    x.to_f64_vec()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let ix = unravel(i, x.shape());
            let k = key(&ix);
            let (a, b) = affine(&ix);
            (v - mean[k]) / (var[k] + eps).sqrt() * a + b
        })
        .collect()
}

/// The value of a parameter tensor `p` broadcast to position `ix` of a
/// larger array (NumPy alignment).
fn bcast(p: &Tensor, ix: &[usize]) -> f64 {
    let off = ix.len() - p.ndim();
    let mut flat = 0;
    for (d, &s) in p.shape().iter().enumerate() {
        flat = flat * s + if s == 1 { 0 } else { ix[off + d] };
    }
    p.to_f64_vec()[flat]
}

fn channel_affine<'a>(s: &'a Tensor, b: &'a Tensor) -> impl Fn(&[usize]) -> (f64, f64) + 'a {
    move |ix: &[usize]| (s.to_f64_vec()[ix[1]], b.to_f64_vec()[ix[1]])
}

fn no_affine(_: &[usize]) -> (f64, f64) {
    (1.0, 0.0)
}

/// Lux's default ε, the one `NormOptions::new()` holds (the references below
/// use it against ops called with the default options).
const EPS: f64 = 1e-5;

// ----- options --------------------------------------------------------------------

#[test]
fn options_defaults_and_each_field_reaches_every_op() {
    assert_eq!(NormOptions::default(), NormOptions { epsilon: 1e-5, momentum: 0.1, training: true });
    assert_eq!(NormOptions::new(), NormOptions::default());
    // Every op sees the values [1, 3] in one statistic: μ = 2, σ² = 1, so
    // y = ±1/√(1 + ε), which is ±0.5 for ε = 3.
    let o = NormOptions::new().epsilon(3.0);
    let v = |shape: &[usize]| Tensor::from_vec(vec![1.0f64, 3.0], shape).unwrap();
    let half = vec![-0.5, 0.5];
    assert_eq!(layer_norm(&v(&[1, 2]), None, None, &[-1], &o).unwrap().to_f64_vec(), half);
    assert_eq!(group_norm(&v(&[1, 2, 1]), None, None, 1, &o).unwrap().to_f64_vec(), half);
    assert_eq!(instance_norm(&v(&[1, 1, 2]), None, None, &o).unwrap().to_f64_vec(), half);
    assert_eq!(batch_norm(&v(&[2, 1]), None, None, None, &o).unwrap().0.to_f64_vec(), half);
    assert_eq!(instance_norm_with_stats(&v(&[1, 1, 2]), None, None, None, &o).unwrap().0.to_f64_vec(), half);
    // momentum 0.5 from (mean 0, var 1) with batch μ = 2 and unbiased
    // variance 2: mean 0.5·0 + 0.5·2 = 1, var 0.5·1 + 0.5·2 = 1.5.
    let fresh = || Some(RunningStats::new(1, DType::F64).unwrap());
    let (_, st) = batch_norm(&v(&[2, 1]), None, None, fresh(), &o.momentum(0.5)).unwrap();
    let st = st.unwrap();
    assert_eq!((st.mean.to_f64_vec(), st.var.to_f64_vec()), (vec![1.0], vec![1.5]));
    let (_, st) = instance_norm_with_stats(&v(&[1, 1, 2]), None, None, fresh(), &o.momentum(0.5)).unwrap();
    let st = st.unwrap();
    assert_eq!((st.mean.to_f64_vec(), st.var.to_f64_vec()), (vec![1.0], vec![1.5]));
    // test mode normalises with the running (0, 1): y = x/√(1 + 3)
    let test = o.training(false);
    assert_eq!(batch_norm(&v(&[2, 1]), None, None, fresh(), &test).unwrap().0.to_f64_vec(), vec![0.5, 1.5]);
    let y = instance_norm_with_stats(&v(&[1, 1, 2]), None, None, fresh(), &test).unwrap().0;
    assert_eq!(y.to_f64_vec(), vec![0.5, 1.5]);
}

// ----- batch_norm ---------------------------------------------------------------

#[test]
fn batch_norm_training_forward_and_running_update() {
    for (i, shape) in [vec![6, 3], vec![3, 2, 5], vec![2, 3, 4, 5]].into_iter().enumerate() {
        let c = shape[1];
        let x = randn(10 + i as u64, &shape).mul_scalar(2.0).unwrap().add_scalar(0.5).unwrap();
        let s = randn(20 + i as u64, &[c]);
        let b = randn(30 + i as u64, &[c]);
        let rm = randn(40 + i as u64, &[c]);
        let rv = randn(50 + i as u64, &[c]).square().unwrap().add_scalar(0.5).unwrap();
        let running = RunningStats { mean: rm.clone(), var: rv.clone() };
        let (y, st) = batch_norm(&x, Some(&s), Some(&b), Some(running), &NormOptions::new()).unwrap();
        let key = |ix: &[usize]| ix[1];
        assert_close(&y.to_f64_vec(), &reference(&x, &key, &channel_affine(&s, &b), EPS), 1e-12);
        // Running statistics: (1 − m)·old + m·batch, unbiased variance.
        let (mean, var, cnt) = ref_stats(&x, &key);
        let st = st.expect("running stats are returned");
        let want_mean: Vec<f64> = (0..c).map(|j| 0.9 * rm.to_f64_vec()[j] + 0.1 * mean[j]).collect();
        let want_var: Vec<f64> = (0..c)
            .map(|j| {
                let m = cnt[j] as f64;
                0.9 * rv.to_f64_vec()[j] + 0.1 * var[j] * m / (m - 1.0)
            })
            .collect();
        assert_close(&st.mean.to_f64_vec(), &want_mean, 1e-12);
        assert_close(&st.var.to_f64_vec(), &want_var, 1e-12);
        assert!(!st.mean.is_tracked() && !st.var.is_tracked());
    }
}

#[test]
fn batch_norm_running_update_by_hand() {
    // Channel 0 holds {1, 2, 3, 6}: μ = 3, biased σ² = 3.5, unbiased 14/3.
    // Channel 1 holds {0, 0, 4, 4}: μ = 2, biased σ² = 4, unbiased 16/3.
    let x = Tensor::from_vec(vec![1.0f64, 0.0, 2.0, 0.0, 3.0, 4.0, 6.0, 4.0], &[4, 2]).unwrap();
    let running = RunningStats {
        mean: Tensor::from_vec(vec![1.0f64, -1.0], &[2]).unwrap(),
        var: Tensor::ones(&[2], DType::F64).unwrap(),
    };
    let (y, st) = batch_norm(&x, None, None, Some(running), &NormOptions::new().epsilon(0.0).momentum(0.25)).unwrap();
    let st = st.unwrap();
    assert_close(&st.mean.to_f64_vec(), &[0.75 * 1.0 + 0.25 * 3.0, -0.75 + 0.25 * 2.0], 1e-15);
    assert_close(&st.var.to_f64_vec(), &[0.75 + 0.25 * 14.0 / 3.0, 0.75 + 0.25 * 16.0 / 3.0], 1e-15);
    let r = 3.5f64.sqrt();
    assert_close(&y.to_f64_vec(), &[-2.0 / r, -1.0, -1.0 / r, -1.0, 0.0, 1.0, 3.0 / r, 1.0], 1e-15);
}

#[test]
fn batch_norm_inference_uses_running_stats() {
    let x = randn(1, &[4, 3, 5]);
    let s = randn(2, &[3]);
    let b = randn(3, &[3]);
    let rm = randn(4, &[3]);
    let rv = randn(5, &[3]).square().unwrap().add_scalar(0.3).unwrap();
    let running = RunningStats { mean: rm.clone(), var: rv.clone() };
    let (y, st) =
        batch_norm(&x, Some(&s), Some(&b), Some(running.clone()), &NormOptions::new().training(false)).unwrap();
    assert_eq!(st, Some(running), "test mode leaves the running statistics unchanged");
    let (rmv, rvv, sv, bv) = (rm.to_f64_vec(), rv.to_f64_vec(), s.to_f64_vec(), b.to_f64_vec());
    let want: Vec<f64> = x
        .to_f64_vec()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = unravel(i, x.shape())[1];
            (v - rmv[c]) / (rvv[c] + EPS).sqrt() * sv[c] + bv[c]
        })
        .collect();
    assert_close(&y.to_f64_vec(), &want, 1e-12);
}

#[test]
fn batch_norm_without_running_stats_uses_batch_stats_in_both_modes() {
    let x = randn(7, &[5, 2, 3]);
    let want = reference(&x, &|ix| ix[1], &no_affine, EPS);
    for training in [true, false] {
        let (y, st) = batch_norm(&x, None, None, None, &NormOptions::new().training(training)).unwrap();
        assert!(st.is_none());
        assert_close(&y.to_f64_vec(), &want, 1e-12);
    }
}

#[test]
fn batch_norm_keeps_running_stats_dtype() {
    let x = randn(8, &[4, 2]);
    let running = RunningStats::new(2, DType::F32).unwrap();
    let (y, st) = batch_norm(&x, None, None, Some(running), &NormOptions::new()).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    let st = st.unwrap();
    assert_eq!((st.mean.dtype(), st.var.dtype()), (DType::F32, DType::F32));
}

#[test]
fn batch_norm_gradients() {
    let bn = |running: Option<RunningStats>, training: bool| {
        move |v: &[Tensor]| {
            Ok(batch_norm(&v[0], Some(&v[1]), Some(&v[2]), running.clone(), &NormOptions::new().training(training))?.0)
        }
    };
    let rs = |c: usize| RunningStats {
        mean: randn(90, &[c]),
        var: randn(91, &[c]).square().unwrap().add_scalar(0.5).unwrap(),
    };
    for (i, shape) in [vec![5, 3], vec![3, 2, 4], vec![2, 3, 2, 3]].into_iter().enumerate() {
        let c = shape[1];
        let inputs = [randn(100 + i as u64, &shape), randn(110 + i as u64, &[c]), randn(120 + i as u64, &[c])];
        check_op(bn(None, true), &inputs);
        check_op(bn(Some(rs(c)), true), &inputs);
        check_op(bn(Some(rs(c)), false), &inputs);
    }
    // Non-contiguous input: [3, 4, 2] seen as [4, 3, 2], channel axis of size 3.
    let x = randn(130, &[3, 4, 2]).transpose(0, 1).unwrap();
    assert!(!x.is_contiguous());
    check_op(bn(None, true), &[x.clone(), randn(131, &[3]), randn(132, &[3])]);
    check_op(bn(Some(rs(3)), false), &[x, randn(131, &[3]), randn(132, &[3])]);
    // Without affine parameters.
    check_op(|v| Ok(batch_norm(&v[0], None, None, None, &NormOptions::new())?.0), &[randn(133, &[4, 3, 2])]);
    check_op(
        |v| Ok(batch_norm(&v[0], Some(&v[1]), None, None, &NormOptions::new())?.0),
        &[randn(134, &[4, 3]), randn(135, &[3])],
    );
}

// ----- layer_norm ---------------------------------------------------------------

/// Index of the non-normalised coordinates (the statistic a value belongs to).
fn key_except(axes: &[usize], shape: &[usize]) -> impl Fn(&[usize]) -> usize {
    let (axes, shape) = (axes.to_vec(), shape.to_vec());
    move |ix: &[usize]| {
        let mut k = 0;
        for d in 0..shape.len() {
            if !axes.contains(&d) {
                k = k * shape[d] + ix[d];
            }
        }
        k
    }
}

#[test]
fn layer_norm_forward_against_reference() {
    // (x shape, axes as passed, axes normalised, scale/bias shape)
    type Case = (Vec<usize>, Vec<isize>, Vec<usize>, Vec<usize>);
    let cases: Vec<Case> = vec![
        (vec![4, 6], vec![-1], vec![1], vec![6]),
        (vec![2, 3, 4, 5], vec![1, 2, 3], vec![1, 2, 3], vec![3, 4, 5]),
        (vec![2, 3, 4, 5], vec![-3, -2, -1], vec![1, 2, 3], vec![3, 1, 1]),
        // Non-trailing axes: normalise over the channels at each position.
        (vec![2, 3, 4], vec![1], vec![1], vec![3, 1]),
        // Scale varying along a non-normalised axis (one per time step).
        (vec![2, 3, 4], vec![-1], vec![2], vec![3, 4]),
        // Over everything, including the batch axis (Lux's LayerNorm default dims = :).
        (vec![3, 2, 2], vec![0, 1, 2], vec![0, 1, 2], vec![2, 2]),
        (vec![2, 3, 4], vec![2, 0], vec![0, 2], vec![1, 1, 4]),
    ];
    for (i, (shape, axes, norm_axes, pshape)) in cases.into_iter().enumerate() {
        let x = randn(200 + i as u64, &shape).mul_scalar(3.0).unwrap().add_scalar(-1.0).unwrap();
        let s = randn(210 + i as u64, &pshape);
        let b = randn(220 + i as u64, &pshape);
        let y = layer_norm(&x, Some(&s), Some(&b), &axes, &NormOptions::new()).unwrap();
        assert_eq!(y.shape(), x.shape());
        let key = key_except(&norm_axes, &shape);
        let want = reference(&x, &key, &|ix| (bcast(&s, ix), bcast(&b, ix)), EPS);
        assert_close(&y.to_f64_vec(), &want, 1e-12);
        let y = layer_norm(&x, None, None, &axes, &NormOptions::new()).unwrap();
        assert_close(&y.to_f64_vec(), &reference(&x, &key, &no_affine, EPS), 1e-12);
    }
}

#[test]
fn layer_norm_gradients() {
    let cases: Vec<(Vec<usize>, Vec<isize>, Vec<usize>)> = vec![
        (vec![3, 5], vec![-1], vec![5]),
        (vec![2, 3, 4], vec![1, 2], vec![3, 4]),
        (vec![2, 3, 2, 2], vec![1, 2, 3], vec![3, 1, 1]),
        (vec![2, 3, 4], vec![1], vec![3, 1]),
        (vec![2, 3, 4], vec![-1], vec![3, 4]),
        (vec![3, 2, 2], vec![0, 1, 2], vec![2]),
    ];
    for (i, (shape, axes, pshape)) in cases.into_iter().enumerate() {
        let inputs = [randn(300 + i as u64, &shape), randn(310 + i as u64, &pshape), randn(320 + i as u64, &pshape)];
        check_op(|v| layer_norm(&v[0], Some(&v[1]), Some(&v[2]), &axes, &NormOptions::new()), &inputs);
    }
    let x = randn(330, &[4, 2, 3]).permute(&[1, 2, 0]).unwrap();
    assert!(!x.is_contiguous());
    check_op(
        |v| layer_norm(&v[0], Some(&v[1]), Some(&v[2]), &[-1], &NormOptions::new()),
        &[x.clone(), randn(331, &[4]), randn(332, &[4])],
    );
    check_op(|v| layer_norm(&v[0], Some(&v[1]), None, &[0, 2], &NormOptions::new()), &[x, randn(333, &[4])]);
}

#[test]
fn layer_norm_nested_gradient_penalty() {
    // f(x, s, b) = ‖∇ₓ weighted_sum(layer_norm(x; s, b))‖²: the outer gradient
    // differentiates the backward rule (composite path).
    let penalty = |axes: Vec<isize>| {
        move |v: &[Tensor]| {
            let (s, b) = (v[1].clone(), v[2].clone());
            let inner =
                |t: &Tree| weighted_sum(&layer_norm(t.tensor("x")?, Some(&s), Some(&b), &axes, &NormOptions::new())?);
            let g = lux_ad::gradient(inner, &Tree::new().with("x", v[0].clone())?)?;
            g.tensor("x")?.square()?.sum_all()
        }
    };
    check_op(penalty(vec![-1]), &[randn(400, &[3, 4]), randn(401, &[4]), randn(402, &[4])]);
    check_op(penalty(vec![1]), &[randn(403, &[2, 3, 2]), randn(404, &[3, 1]), randn(405, &[3, 1])]);
}

// ----- group_norm ---------------------------------------------------------------

#[test]
fn group_norm_forward_against_reference() {
    for (i, (shape, groups)) in
        [(vec![2, 6, 5], 3), (vec![2, 4, 3, 3], 2), (vec![3, 4], 2), (vec![2, 3, 4], 1), (vec![2, 3, 4], 3)]
            .into_iter()
            .enumerate()
    {
        let c = shape[1];
        let x = randn(500 + i as u64, &shape).mul_scalar(2.0).unwrap().add_scalar(1.0).unwrap();
        let s = randn(510 + i as u64, &[c]);
        let b = randn(520 + i as u64, &[c]);
        let y = group_norm(&x, Some(&s), Some(&b), groups, &NormOptions::new()).unwrap();
        let key = |ix: &[usize]| ix[0] * groups + ix[1] / (c / groups);
        assert_close(&y.to_f64_vec(), &reference(&x, &key, &channel_affine(&s, &b), EPS), 1e-12);
    }
}

#[test]
fn group_norm_gradients() {
    for (i, (shape, groups)) in [(vec![2, 6, 3], 3), (vec![2, 4, 2, 2], 2), (vec![3, 4], 2)].into_iter().enumerate() {
        let c = shape[1];
        let inputs = [randn(600 + i as u64, &shape), randn(610 + i as u64, &[c]), randn(620 + i as u64, &[c])];
        check_op(|v| group_norm(&v[0], Some(&v[1]), Some(&v[2]), groups, &NormOptions::new()), &inputs);
    }
    let x = randn(630, &[3, 2, 4]).transpose(0, 1).unwrap(); // [2, 3, 4], non-contiguous
    check_op(
        |v| group_norm(&v[0], Some(&v[1]), Some(&v[2]), 3, &NormOptions::new()),
        &[x, randn(631, &[3]), randn(632, &[3])],
    );
}

#[test]
fn group_norm_nested_gradient() {
    let f = |v: &[Tensor]| {
        let (s, b) = (v[1].clone(), v[2].clone());
        let inner = |t: &Tree| weighted_sum(&group_norm(t.tensor("x")?, Some(&s), Some(&b), 2, &NormOptions::new())?);
        let g = lux_ad::gradient(inner, &Tree::new().with("x", v[0].clone())?)?;
        g.tensor("x")?.square()?.sum_all()
    };
    check_op(f, &[randn(640, &[2, 4, 3]), randn(641, &[4]), randn(642, &[4])]);
}

// ----- instance_norm ------------------------------------------------------------

#[test]
fn instance_norm_forward_against_reference() {
    for (i, shape) in [vec![2, 3, 5], vec![2, 3, 4, 4], vec![1, 2, 3, 2, 2]].into_iter().enumerate() {
        let c = shape[1];
        let x = randn(700 + i as u64, &shape).mul_scalar(0.5).unwrap().add_scalar(3.0).unwrap();
        let s = randn(710 + i as u64, &[c]);
        let b = randn(720 + i as u64, &[c]);
        let key = |ix: &[usize]| ix[0] * c + ix[1];
        let y = instance_norm(&x, Some(&s), Some(&b), &NormOptions::new()).unwrap();
        assert_close(&y.to_f64_vec(), &reference(&x, &key, &channel_affine(&s, &b), EPS), 1e-12);
        let y = instance_norm(&x, None, None, &NormOptions::new()).unwrap();
        assert_close(&y.to_f64_vec(), &reference(&x, &key, &no_affine, EPS), 1e-12);
    }
}

#[test]
fn instance_norm_running_stats() {
    let (n, c) = (3, 2);
    let x = randn(730, &[n, c, 4, 2]);
    let rm = randn(731, &[c]);
    let rv = randn(732, &[c]).square().unwrap().add_scalar(0.5).unwrap();
    let running = RunningStats { mean: rm.clone(), var: rv.clone() };
    let key = |ix: &[usize]| ix[0] * c + ix[1];
    // Training: instance statistics; running stats from the batch average.
    let (y, st) =
        instance_norm_with_stats(&x, None, None, Some(running.clone()), &NormOptions::new().momentum(0.2)).unwrap();
    assert_close(&y.to_f64_vec(), &reference(&x, &key, &no_affine, EPS), 1e-12);
    let (mean, var, cnt) = ref_stats(&x, &key);
    let m = cnt[0] as f64; // 8 spatial positions
    let st = st.unwrap();
    let want_mean: Vec<f64> = (0..c)
        .map(|j| 0.8 * rm.to_f64_vec()[j] + 0.2 * (0..n).map(|i| mean[i * c + j]).sum::<f64>() / n as f64)
        .collect();
    let want_var: Vec<f64> = (0..c)
        .map(|j| {
            0.8 * rv.to_f64_vec()[j] + 0.2 * m / (m - 1.0) * (0..n).map(|i| var[i * c + j]).sum::<f64>() / n as f64
        })
        .collect();
    assert_close(&st.mean.to_f64_vec(), &want_mean, 1e-12);
    assert_close(&st.var.to_f64_vec(), &want_var, 1e-12);
    // Inference: every channel normalised with the running statistics.
    let (y, st2) = instance_norm_with_stats(
        &x,
        None,
        None,
        Some(running.clone()),
        &NormOptions::new().momentum(0.2).training(false),
    )
    .unwrap();
    assert_eq!(st2, Some(running));
    let want: Vec<f64> = x
        .to_f64_vec()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let ch = unravel(i, x.shape())[1];
            (v - rm.to_f64_vec()[ch]) / (rv.to_f64_vec()[ch] + EPS).sqrt()
        })
        .collect();
    assert_close(&y.to_f64_vec(), &want, 1e-12);
    // No running statistics: instance statistics in both modes.
    let (y, st3) =
        instance_norm_with_stats(&x, None, None, None, &NormOptions::new().momentum(0.2).training(false)).unwrap();
    assert!(st3.is_none());
    assert_close(&y.to_f64_vec(), &reference(&x, &key, &no_affine, EPS), 1e-12);
}

#[test]
fn instance_norm_gradients() {
    for (i, shape) in [vec![2, 3, 4], vec![2, 2, 3, 2]].into_iter().enumerate() {
        let c = shape[1];
        let inputs = [randn(800 + i as u64, &shape), randn(810 + i as u64, &[c]), randn(820 + i as u64, &[c])];
        check_op(|v| instance_norm(&v[0], Some(&v[1]), Some(&v[2]), &NormOptions::new()), &inputs);
    }
    let x = randn(830, &[3, 2, 4]).transpose(0, 1).unwrap();
    check_op(
        |v| instance_norm(&v[0], Some(&v[1]), Some(&v[2]), &NormOptions::new()),
        &[x.clone(), randn(831, &[3]), randn(832, &[3])],
    );
    let rs = RunningStats { mean: randn(833, &[3]), var: randn(834, &[3]).square().unwrap().add_scalar(0.5).unwrap() };
    check_op(
        |v| {
            Ok(instance_norm_with_stats(
                &v[0],
                Some(&v[1]),
                Some(&v[2]),
                Some(rs.clone()),
                &NormOptions::new().training(false),
            )?
            .0)
        },
        &[x, randn(831, &[3]), randn(832, &[3])],
    );
}

#[test]
fn batch_and_instance_norm_nested_gradients() {
    let bn = |v: &[Tensor]| {
        let (s, b) = (v[1].clone(), v[2].clone());
        let inner =
            |t: &Tree| weighted_sum(&batch_norm(t.tensor("x")?, Some(&s), Some(&b), None, &NormOptions::new())?.0);
        let g = lux_ad::gradient(inner, &Tree::new().with("x", v[0].clone())?)?;
        g.tensor("x")?.square()?.sum_all()
    };
    check_op(bn, &[randn(900, &[4, 2, 3]), randn(901, &[2]), randn(902, &[2])]);
    let inorm = |v: &[Tensor]| {
        let (s, b) = (v[1].clone(), v[2].clone());
        let inner = |t: &Tree| weighted_sum(&instance_norm(t.tensor("x")?, Some(&s), Some(&b), &NormOptions::new())?);
        let g = lux_ad::gradient(inner, &Tree::new().with("x", v[0].clone())?)?;
        g.tensor("x")?.square()?.sum_all()
    };
    check_op(inorm, &[randn(903, &[2, 2, 4]), randn(904, &[2]), randn(905, &[2])]);
    // Second derivative w.r.t. the scale through the inference path (fixed statistics).
    let rs = RunningStats { mean: randn(906, &[2]), var: randn(907, &[2]).square().unwrap().add_scalar(0.5).unwrap() };
    let fixed = |v: &[Tensor]| {
        let x = v[0].clone();
        let inner = |t: &Tree| {
            weighted_sum(
                &batch_norm(&x, Some(t.tensor("s")?), None, Some(rs.clone()), &NormOptions::new().training(false))?.0,
            )?
            .square()
        };
        let g = lux_ad::gradient(inner, &Tree::new().with("s", v[1].clone())?)?;
        g.tensor("s")?.square()?.sum_all()
    };
    check_op(fixed, &[randn(908, &[3, 2]), randn(909, &[2])]);
}

// ----- dtypes -------------------------------------------------------------------

#[test]
fn low_precision_forward() {
    let x64 = randn(1000, &[4, 3, 5]);
    let s = randn(1001, &[3]);
    let b = randn(1002, &[3]);
    for (dtype, tol) in [(DType::F32, 1e-6), (DType::F16, 1e-3), (DType::BF16, 5e-3)] {
        let x = x64.to_dtype(dtype).unwrap();
        let (sd, bd) = (s.to_dtype(dtype).unwrap(), b.to_dtype(dtype).unwrap());
        // The reference sees the same (rounded) inputs.
        let (xr, sr, br) =
            (x.to_dtype(DType::F64).unwrap(), sd.to_dtype(DType::F64).unwrap(), bd.to_dtype(DType::F64).unwrap());
        let (y, _) = batch_norm(&x, Some(&sd), Some(&bd), None, &NormOptions::new()).unwrap();
        assert_eq!(y.dtype(), dtype);
        assert_close(&y.to_f64_vec(), &reference(&xr, &|ix| ix[1], &channel_affine(&sr, &br), EPS), tol);
        let y = layer_norm(&x, Some(&sd.reshape(&[3, 1]).unwrap()), None, &[1], &NormOptions::new()).unwrap();
        assert_eq!(y.dtype(), dtype);
        let key = key_except(&[1], x.shape());
        let sr3 = sr.reshape(&[3, 1]).unwrap();
        assert_close(&y.to_f64_vec(), &reference(&xr, &key, &|ix| (bcast(&sr3, ix), 0.0), EPS), tol);
        let y = group_norm(&x, None, Some(&bd), 3, &NormOptions::new()).unwrap();
        assert_eq!(y.dtype(), dtype);
        let y2 = instance_norm(&x, None, Some(&bd), &NormOptions::new()).unwrap();
        assert_eq!(y2.to_f64_vec(), y.to_f64_vec(), "3 groups of 3 channels = instance norm");
    }
    // Mixed dtypes promote: f32 input, f64 scale → f64 output.
    let y = layer_norm(
        &x64.to_dtype(DType::F32).unwrap(),
        Some(&s.reshape(&[3, 1]).unwrap()),
        None,
        &[1],
        &NormOptions::new(),
    )
    .unwrap();
    assert_eq!(y.dtype(), DType::F64);
}

// ----- errors -------------------------------------------------------------------

fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn invalid_arguments_are_errors_naming_shapes() {
    let x = randn(1100, &[2, 3, 5]);
    let s4 = randn(1101, &[4]);
    let e = err_text(batch_norm(&x, Some(&s4), None, None, &NormOptions::new()));
    assert!(e.contains("batch_norm") && e.contains("scale") && e.contains("[4]") && e.contains("[2, 3, 5]"), "{e}");
    let e = err_text(batch_norm(&x, None, Some(&randn(1, &[3, 1])), None, &NormOptions::new()));
    assert!(e.contains("bias") && e.contains("[3, 1]") && e.contains("[2, 3, 5]"), "{e}");
    let e = err_text(batch_norm(&randn(1102, &[5]), None, None, None, &NormOptions::new()));
    assert!(e.contains("batch_norm") && e.contains("[5]") && e.contains("at least 2"), "{e}");
    let bad_running = RunningStats::new(4, DType::F64).unwrap();
    let e = err_text(batch_norm(&x, None, None, Some(bad_running), &NormOptions::new()));
    assert!(e.contains("running mean") && e.contains("[4]") && e.contains("[2, 3, 5]"), "{e}");
    let one = randn(1103, &[1, 3]);
    let e =
        err_text(batch_norm(&one, None, None, Some(RunningStats::new(3, DType::F64).unwrap()), &NormOptions::new()));
    assert!(e.contains("[1, 3]") && e.contains("at least 2"), "{e}");
    assert!(
        batch_norm(&one, None, None, None, &NormOptions::new()).is_ok(),
        "without running stats a batch of 1 is fine"
    );
    let e = err_text(batch_norm(&x, None, None, None, &NormOptions::new().momentum(1.5)));
    assert!(e.contains("momentum") && e.contains("1.5"), "{e}");
    let e = err_text(batch_norm(&x, None, None, None, &NormOptions::new().epsilon(-1.0)));
    assert!(e.contains("epsilon"), "{e}");
    let e =
        err_text(batch_norm(&Tensor::from_vec(vec![1i64, 2], &[1, 2]).unwrap(), None, None, None, &NormOptions::new()));
    assert!(e.contains("i64"), "{e}");

    let e = err_text(group_norm(&randn(1104, &[2, 6, 3]), None, None, 4, &NormOptions::new()));
    assert!(e.contains("group_norm") && e.contains("6 channels") && e.contains("[2, 6, 3]") && e.contains("4"), "{e}");
    let e = err_text(group_norm(&randn(1104, &[2, 6, 3]), None, None, 0, &NormOptions::new()));
    assert!(e.contains("0 equal groups"), "{e}");
    let e = err_text(group_norm(&randn(1104, &[2, 6, 3]), Some(&randn(1, &[3])), None, 3, &NormOptions::new()));
    assert!(e.contains("scale") && e.contains("[3]") && e.contains("[6]"), "{e}");

    let e = err_text(instance_norm(&randn(1105, &[4, 3]), None, None, &NormOptions::new()));
    assert!(e.contains("instance_norm") && e.contains("[4, 3]") && e.contains("at least 3"), "{e}");
    let e = err_text(instance_norm_with_stats(
        &randn(1106, &[2, 3, 1]),
        None,
        None,
        Some(RunningStats::new(3, DType::F64).unwrap()),
        &NormOptions::new(),
    ));
    assert!(e.contains("[2, 3, 1]"), "{e}");

    let e = err_text(layer_norm(&x, Some(&randn(1, &[4])), None, &[-1], &NormOptions::new()));
    assert!(e.contains("layer_norm") && e.contains("[4]") && e.contains("[2, 3, 5]"), "{e}");
    let e = err_text(layer_norm(&x, Some(&randn(1, &[1, 2, 3, 5])), None, &[-1], &NormOptions::new()));
    assert!(e.contains("[1, 2, 3, 5]"), "{e}");
    let e = err_text(layer_norm(&x, None, None, &[], &NormOptions::new()));
    assert!(e.contains("no axes") && e.contains("[2, 3, 5]"), "{e}");
    let e = err_text(layer_norm(&x, None, None, &[1, -2], &NormOptions::new()));
    assert!(e.contains("repeated"), "{e}");
    assert!(layer_norm(&x, None, None, &[3], &NormOptions::new()).is_err());
}

#[test]
fn empty_batch_does_not_panic() {
    let x = Tensor::zeros(&[0, 3, 2], DType::F64).unwrap();
    assert_eq!(batch_norm(&x, None, None, None, &NormOptions::new()).unwrap().0.shape(), &[0, 3, 2]);
    assert_eq!(layer_norm(&x, None, None, &[1, 2], &NormOptions::new()).unwrap().shape(), &[0, 3, 2]);
    assert_eq!(group_norm(&x, None, None, 3, &NormOptions::new()).unwrap().shape(), &[0, 3, 2]);
    assert_eq!(instance_norm(&x, None, None, &NormOptions::new()).unwrap().shape(), &[0, 3, 2]);
    assert!(batch_norm(&x, None, None, Some(RunningStats::new(3, DType::F64).unwrap()), &NormOptions::new()).is_err());
}

// ----- random bad input: errors, never panics -----------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(0usize..4, 0..=max_rank)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn norms_never_panic(
            xs in shape(4),
            ps in proptest::option::of(shape(3)),
            rs in proptest::option::of(shape(2)),
            axes in proptest::collection::vec(-5isize..5, 0..4),
            groups in 0usize..5,
            training in any::<bool>(),
            momentum in -0.5f64..1.5,
            eps in -1e-3f64..1e-2,
        ) {
            let x = randn(1, &xs);
            let p = ps.map(|s| randn(2, &s));
            let running = rs.map(|s| RunningStats { mean: randn(3, &s), var: randn(4, &s).square().unwrap() });
            let check = |r: Result<Tensor>| {
                if let Ok(y) = r { prop_assert_eq!(y.shape(), x.shape()); }
                Ok(())
            };
            check(batch_norm(&x, p.as_ref(), p.as_ref(), running.clone(), &NormOptions::new().epsilon(eps).momentum(momentum).training(training)).map(|r| r.0))?;
            check(layer_norm(&x, p.as_ref(), p.as_ref(), &axes, &NormOptions::new().epsilon(eps)))?;
            check(group_norm(&x, p.as_ref(), None, groups, &NormOptions::new().epsilon(eps)))?;
            check(instance_norm(&x, None, p.as_ref(), &NormOptions::new().epsilon(eps)))?;
            check(instance_norm_with_stats(&x, p.as_ref(), None, running, &NormOptions::new().epsilon(eps).momentum(momentum).training(training)).map(|r| r.0))?;
        }
    }
}
