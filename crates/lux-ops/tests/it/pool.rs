//! Tests of `lux_ops::pool`.
use crate::*;
use ::lux_ops::conv::Padding;
use ::lux_ops::pool::{
    PoolOptions, adaptive_max_pool, adaptive_mean_pool, global_max_pool, global_mean_pool, max_pool, mean_pool,
};
use lux_ad::gradient;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Max,
    Mean,
}

/// Direct-loop pooling in f64 (NNlib semantics: max skips padding, mean
/// divides by the full window size): returns (values, output shape).
fn naive_pool(
    x: &Tensor,
    kind: Kind,
    k: &[usize],
    stride: &[usize],
    pad: &[(usize, usize)],
    dil: &[usize],
) -> (Vec<f64>, Vec<usize>) {
    let xs = x.shape().to_vec();
    let xv = x.to_f64_vec();
    let d = xs.len() - 2;
    let insp = &xs[2..];
    let outsp: Vec<usize> =
        (0..d).map(|i| (insp[i] + pad[i].0 + pad[i].1 - dil[i] * (k[i] - 1) - 1) / stride[i] + 1).collect();
    let mut oshape = xs[..2].to_vec();
    oshape.extend(&outsp);
    let kk: usize = k.iter().product();
    let total: usize = oshape.iter().product();
    let y = (0..total)
        .map(|flat| {
            let oi = unravel(flat, &oshape);
            let mut acc = if kind == Kind::Max { f64::NEG_INFINITY } else { 0.0 };
            for kf in 0..kk {
                let kidx = unravel(kf, k);
                let mut pos = oi[..2].to_vec();
                let mut inside = true;
                for i in 0..d {
                    let c = (oi[2 + i] * stride[i] + kidx[i] * dil[i]) as isize - pad[i].0 as isize;
                    inside &= c >= 0 && c < insp[i] as isize;
                    pos.push(c.max(0) as usize);
                }
                if inside {
                    let v = xv[ravel(&pos, &xs)];
                    acc = if kind == Kind::Max { acc.max(v) } else { acc + v };
                }
            }
            if kind == Kind::Mean { acc / kk as f64 } else { acc }
        })
        .collect();
    (y, oshape)
}

fn pool(kind: Kind, x: &Tensor, k: &[usize], o: &PoolOptions) -> Result<Tensor> {
    match kind {
        Kind::Max => max_pool(x, k, o),
        Kind::Mean => mean_pool(x, k, o),
    }
}

fn sweep(xshape: &[usize], k: &[usize], asym: &[(usize, usize)], seed: u64) {
    let d = k.len();
    let mut n = 0u64;
    for kind in [Kind::Max, Kind::Mean] {
        for stride in [None, Some(1), Some(2)] {
            for padk in 0..3 {
                for dl in [1, 2] {
                    let dil = vec![dl; d];
                    let s: Vec<usize> = stride.map_or(k.to_vec(), |s| vec![s; d]);
                    let (pad, padding) = match padk {
                        0 => (vec![(0, 0); d], Padding::default()),
                        1 => (asym.to_vec(), Padding::Explicit(asym.to_vec())),
                        _ => {
                            // Lux's SamePad re-derived: total dil·(k−1), odd element before
                            let p =
                                k.iter().map(|&k| (dl * (k - 1)).div_ceil(2)).zip(k.iter().map(|&k| dl * (k - 1) / 2));
                            (p.collect(), Padding::Same)
                        }
                    };
                    let mut o = PoolOptions::new().padding(padding).dilation(&dil);
                    if let Some(st) = stride {
                        o = o.stride(&[st]);
                    }
                    let x = randn(seed + n, xshape);
                    n += 1;
                    let y = pool(kind, &x, k, &o).unwrap_or_else(|e| panic!("{kind:?} {o:?}: {e}"));
                    let (want, shape) = naive_pool(&x, kind, k, &s, &pad, &dil);
                    assert_eq!(y.shape(), shape.as_slice(), "{kind:?} {o:?}");
                    if padk == 2 {
                        let ceil: Vec<usize> = xshape[2..].iter().zip(&s).map(|(&i, &s)| i.div_ceil(s)).collect();
                        assert_eq!(&shape[2..], ceil.as_slice());
                    }
                    assert_close(&y.to_f64_vec(), &want, 1e-12);
                }
            }
        }
    }
}

#[test]
fn forward_1d_matches_naive_loops() {
    sweep(&[2, 3, 11], &[3], &[(2, 1)], 10);
    sweep(&[2, 3, 9], &[2], &[(0, 1)], 20);
}

#[test]
fn forward_2d_matches_naive_loops() {
    sweep(&[2, 3, 7, 8], &[3, 2], &[(2, 1), (0, 1)], 30);
    sweep(&[1, 2, 6, 6], &[2, 2], &[(1, 1), (1, 0)], 40);
}

#[test]
fn forward_3d_matches_naive_loops() {
    let x = randn(50, &[2, 2, 5, 4, 6]);
    for kind in [Kind::Max, Kind::Mean] {
        let o = PoolOptions::new().stride(&[2, 1, 2]).padding(Padding::Explicit(vec![(1, 0), (0, 0), (1, 1)]));
        let y = pool(kind, &x, &[2, 3, 2], &o).unwrap();
        let (want, shape) = naive_pool(&x, kind, &[2, 3, 2], &[2, 1, 2], &[(1, 0), (0, 0), (1, 1)], &[1, 1, 1]);
        assert_eq!(y.shape(), shape.as_slice());
        assert_close(&y.to_f64_vec(), &want, 1e-12);
    }
}

#[test]
fn hand_computed_semantics() -> Result<()> {
    // mean pool counts padded zeros in the divisor (NNlib): [0,1,2 | 3,4,0] / 3
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[1, 1, 4])?;
    let y = mean_pool(&x, &[3], &PoolOptions::new().pad(&[1]))?;
    assert_close(&y.to_vec::<f64>()?, &[1.0, 7.0 / 3.0], 1e-15);
    // max pool ignores padding even when every value is negative
    let y = max_pool(&x.neg()?, &[3], &PoolOptions::new().pad(&[1]))?;
    assert_eq!(y.to_vec::<f64>()?, vec![-1.0, -3.0]);
    // a window lying entirely on the padding gives −∞ and no gradient
    let one = Tensor::from_vec(vec![5.0f64], &[1, 1, 1])?;
    let o = PoolOptions::new().pad(&[2]).stride(&[2]);
    assert_eq!(max_pool(&one, &[2], &o)?.to_vec::<f64>()?, vec![f64::NEG_INFINITY, 5.0]);
    let g = gradient(|t| max_pool(t.tensor("x")?, &[2], &o)?.narrow(2, 1, 1)?.sum_all(), &Tree::new().with("x", one)?)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![1.0]);
    // ties: the gradient goes to the first maximum of each window
    let x = Tensor::from_vec(vec![1.0f64, 1.0, 2.0, 2.0, 1.0, 0.0, 2.0, 2.0], &[1, 1, 2, 4])?;
    let g = gradient(|t| max_pool(t.tensor("x")?, &[2], &PoolOptions::new())?.sum_all(), &Tree::new().with("x", x)?)?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    // overlapping windows accumulate the gradient of a shared maximum
    let x = Tensor::from_vec(vec![0.0f64, 9.0, 1.0, 2.0], &[1, 1, 4])?;
    let g = gradient(
        |t| max_pool(t.tensor("x")?, &[2], &PoolOptions::new().stride(&[1]))?.sum_all(),
        &Tree::new().with("x", x)?,
    )?;
    assert_eq!(g.tensor("x")?.to_vec::<f64>()?, vec![0.0, 2.0, 0.0, 1.0]);
    // NaN propagates through max pooling
    let x = Tensor::from_vec(vec![1.0f64, f64::NAN, 3.0, 0.0], &[1, 1, 4])?;
    let y = max_pool(&x, &[2], &PoolOptions::new())?.to_vec::<f64>()?;
    assert!(y[0].is_nan() && y[1] == 3.0);
    Ok(())
}

#[test]
fn global_pooling() -> Result<()> {
    for (shape, seed) in [(vec![2, 3, 4, 5], 60), (vec![3, 2, 7], 61), (vec![1, 2, 2, 3, 2], 62)] {
        let x = randn(seed, &shape);
        let d = shape.len() - 2;
        let mut out_shape = shape[..2].to_vec();
        out_shape.extend(vec![1; d]);
        let planes = shape[0] * shape[1];
        let p: usize = shape[2..].iter().product();
        let v = x.to_f64_vec();
        let maxes: Vec<f64> = v.chunks(p).map(|c| c.iter().cloned().fold(f64::NEG_INFINITY, f64::max)).collect();
        let means: Vec<f64> = v.chunks(p).map(|c| c.iter().sum::<f64>() / p as f64).collect();
        assert_eq!(maxes.len(), planes);
        let ym = global_max_pool(&x)?;
        assert_eq!(ym.shape(), out_shape.as_slice());
        assert_close(&ym.to_f64_vec(), &maxes, 1e-12);
        let ya = global_mean_pool(&x)?;
        assert_eq!(ya.shape(), out_shape.as_slice());
        assert_close(&ya.to_f64_vec(), &means, 1e-12);
    }
    Ok(())
}

#[test]
fn adaptive_pooling() -> Result<()> {
    // hand-computed: in 5 → out 2: stride 5÷2 = 2, window 5 − 1·2 = 3: [1,2,3], [3,4,5]
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0], &[1, 1, 5])?;
    assert_eq!(adaptive_mean_pool(&x, &[2])?.to_vec::<f64>()?, vec![2.0, 4.0]);
    assert_eq!(adaptive_max_pool(&x, &[2])?.to_vec::<f64>()?, vec![3.0, 5.0]);
    // out = in is the identity; out = 1 is the global pooling
    assert_eq!(adaptive_max_pool(&x, &[5])?.to_vec::<f64>()?, x.to_vec::<f64>()?);
    assert_eq!(adaptive_mean_pool(&x, &[1])?.to_vec::<f64>()?, vec![3.0]);
    // 2-d, non-divisible sizes, against the naive loops with Lux's windows
    let x = randn(70, &[2, 3, 7, 10]);
    for (out, seed) in [(vec![3, 4], 0), (vec![2, 10], 1), (vec![7, 3], 2)] {
        let stride: Vec<usize> = [7, 10].iter().zip(&out).map(|(i, o)| i / o).collect();
        let k: Vec<usize> = [7, 10].iter().zip(&out).zip(&stride).map(|((i, o), s)| i - (o - 1) * s).collect();
        for kind in [Kind::Max, Kind::Mean] {
            let y = if kind == Kind::Max { adaptive_max_pool(&x, &out)? } else { adaptive_mean_pool(&x, &out)? };
            let (want, shape) = naive_pool(&x, kind, &k, &stride, &[(0, 0); 2], &[1, 1]);
            assert_eq!(shape[2..], out[..], "seed {seed}");
            assert_eq!(y.shape(), shape.as_slice());
            assert_close(&y.to_f64_vec(), &want, 1e-12);
        }
    }
    // one value broadcasts to every spatial dim
    assert_eq!(adaptive_mean_pool(&x, &[2])?.shape(), &[2, 3, 2, 2]);
    Ok(())
}

#[test]
fn gradients_match_finite_differences() {
    let x2 = randn(80, &[2, 2, 6, 5]);
    let x1 = randn(81, &[2, 3, 9]);
    let o_pad = PoolOptions::new().stride(&[2, 1]).padding(Padding::Explicit(vec![(1, 0), (1, 1)]));
    let o_dil = PoolOptions::new().stride(&[1]).dilation(&[2]).padding(Padding::Same);
    for kind in [Kind::Max, Kind::Mean] {
        check_op(|v| pool(kind, &v[0], &[2, 3], &o_pad), std::slice::from_ref(&x2));
        check_op(|v| pool(kind, &v[0], &[2], &PoolOptions::new()), std::slice::from_ref(&x2));
        check_op(|v| pool(kind, &v[0], &[3], &o_dil), std::slice::from_ref(&x1));
        check_op(|v| pool(kind, &v[0], &[2], &PoolOptions::new().pad(&[1])), std::slice::from_ref(&x1));
    }
    check_op(|v| global_max_pool(&v[0]), std::slice::from_ref(&x2));
    check_op(|v| global_mean_pool(&v[0]), std::slice::from_ref(&x2));
    check_op(|v| adaptive_max_pool(&v[0], &[4, 2]), std::slice::from_ref(&x2));
    check_op(|v| adaptive_mean_pool(&v[0], &[4, 2]), std::slice::from_ref(&x2));
    check_op(|v| adaptive_max_pool(&v[0], &[4]), std::slice::from_ref(&x1));
    check_op(|v| adaptive_mean_pool(&v[0], &[2]), std::slice::from_ref(&x1));
}

#[test]
fn non_contiguous_inputs() {
    let x = randn(90, &[5, 2, 3, 6]).permute(&[1, 2, 0, 3]).unwrap(); // [2, 3, 5, 6]
    assert!(!x.is_contiguous());
    let xc = x.contiguous().unwrap();
    let o = PoolOptions::new().stride(&[1, 2]).pad(&[1, 0]);
    for kind in [Kind::Max, Kind::Mean] {
        let (want, _) = naive_pool(&xc, kind, &[3, 2], &[1, 2], &[(1, 1), (0, 0)], &[1, 1]);
        assert_close(&pool(kind, &x, &[3, 2], &o).unwrap().to_f64_vec(), &want, 1e-12);
        check_op(|v| pool(kind, &v[0], &[3, 2], &o), std::slice::from_ref(&x));
    }
    check_op(|v| global_max_pool(&v[0]), std::slice::from_ref(&x));
    check_op(|v| adaptive_mean_pool(&v[0], &[2, 4]), std::slice::from_ref(&x));
}

#[test]
fn parallel_path_matches_naive() {
    // Enough planes and taps to run over the rayon pool.
    let x = randn(95, &[4, 8, 20, 20]);
    let o = PoolOptions::new().stride(&[1]).pad(&[1]);
    for kind in [Kind::Max, Kind::Mean] {
        let (want, _) = naive_pool(&x, kind, &[3, 3], &[1, 1], &[(1, 1); 2], &[1, 1]);
        assert_close(&pool(kind, &x, &[3, 3], &o).unwrap().to_f64_vec(), &want, 1e-12);
        // gradient: each input collects the weights of the windows where it is used
        let g = gradient(
            |t| pool(kind, t.tensor("x")?, &[3, 3], &o)?.sum_all(),
            &Tree::new().with("x", x.clone()).unwrap(),
        )
        .unwrap();
        let total: f64 = g.tensor("x").unwrap().to_f64_vec().iter().sum();
        // every output sends a total gradient of 1 (max: to one position; mean: 9 taps · 1/9, minus padding)
        if kind == Kind::Max {
            assert!((total - (4 * 8 * 20 * 20) as f64).abs() < 1e-9);
        } else {
            let per_plane: f64 = (0..20).map(|i| if i == 0 || i == 19 { 2.0 } else { 3.0 }).sum::<f64>().powi(2) / 9.0;
            assert!((total - per_plane * 32.0).abs() < 1e-9, "{total}");
        }
    }
}

type PoolFn = dyn Fn(&Tensor) -> Result<Tensor>;

/// ∂/∂x ‖∂L/∂x‖² with L = weighted_sum(pool(x)²), against finite
/// differences of the first-order gradient: exercises the composite fallback.
#[test]
fn nested_gradient_of_gradient_norm() {
    let x = randn(100, &[2, 2, 5, 4]);
    let cases: Vec<(&str, Box<PoolFn>)> = vec![
        ("max", Box::new(|x| max_pool(x, &[2, 2], &PoolOptions::new().stride(&[1]).pad(&[1, 0])))),
        ("mean", Box::new(|x| mean_pool(x, &[3, 2], &PoolOptions::new().stride(&[2, 1]).pad(&[1])))),
        ("global_max", Box::new(global_max_pool)),
        ("adaptive_mean", Box::new(|x| adaptive_mean_pool(x, &[2, 3]))),
    ];
    for (name, f) in cases {
        let h = |t: &Tree| -> Result<Tensor> {
            let inner = Tree::new().with("x", t.tensor("x")?.clone())?;
            let g = gradient(|u| weighted_sum(&f(u.tensor("x")?)?.square()?), &inner)?;
            g.tensor("x")?.square()?.sum_all()
        };
        if let Err(e) = lux_ad::check_gradients(h, &Tree::new().with("x", x.clone()).unwrap(), Tolerances::default()) {
            panic!("{name}: nested gradient check failed: {e}");
        }
        // forward-over-reverse: the tangent of the gradient itself
        let grad = |t: &Tree| gradient(|u| weighted_sum(&f(u.tensor("x")?)?.square()?), t);
        if let Err(e) = lux_ad::check_jvp(grad, &Tree::new().with("x", x.clone()).unwrap(), Tolerances::default()) {
            panic!("{name}: tangent of the gradient: {e}");
        }
    }
}

#[test]
fn f32_f16_forward() -> Result<()> {
    let x = randn(110, &[2, 3, 6, 7]);
    let o = PoolOptions::new().pad(&[1]);
    for kind in [Kind::Max, Kind::Mean] {
        let (want, _) = naive_pool(&x, kind, &[2, 3], &[2, 3], &[(1, 1); 2], &[1, 1]);
        for (dt, tol) in [(DType::F32, 1e-6), (DType::F16, 2e-3), (DType::BF16, 1e-2)] {
            let y = pool(kind, &x.to_dtype(dt)?, &[2, 3], &o)?;
            assert_eq!(y.dtype(), dt);
            assert_close(&y.to_f64_vec(), &want, tol);
        }
    }
    let y = global_mean_pool(&x.to_dtype(DType::F16)?)?;
    assert_eq!(y.dtype(), DType::F16);
    assert!(!y.is_tracked());
    Ok(())
}

#[track_caller]
fn err_text(r: Result<Tensor>) -> String {
    match r {
        Ok(t) => panic!("expected an error, got a tensor of shape {:?}", t.shape()),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn assert_err(r: Result<Tensor>, parts: &[&str]) {
    let msg = err_text(r);
    for p in parts {
        assert!(msg.contains(p), "error `{msg}` does not mention `{p}`");
    }
}

#[test]
fn invalid_arguments_are_errors() {
    let x = randn(1, &[1, 2, 5, 4]);
    let o = PoolOptions::new();
    // window larger than the padded input
    assert_err(
        max_pool(&x, &[3, 5], &o),
        &["max_pool", "window [3, 5] spans [3, 5], larger than the padded input [5, 4]", "input [1, 2, 5, 4]"],
    );
    assert!(max_pool(&x, &[3, 5], &o.clone().pad(&[0, 1])).is_ok());
    assert_err(
        mean_pool(&x, &[2], &o.clone().dilation(&[5])),
        &["mean_pool", "window [2, 2], dilation [5, 5] spans [6, 6], larger than the padded input [5, 4]"],
    );
    // wrong rank
    assert_err(max_pool(&randn(2, &[3, 4]), &[2], &o), &["max_pool", "at least one spatial dim", "[3, 4]"]);
    assert_err(global_mean_pool(&randn(2, &[3, 4])), &["global_mean_pool", "[3, 4]"]);
    assert_err(adaptive_max_pool(&randn(2, &[4]), &[2]), &["adaptive_max_pool", "[4]"]);
    // zero / mismatched window, stride, dilation
    assert_err(max_pool(&x, &[0, 2], &o), &["window size [0, 2] has a zero entry"]);
    assert_err(mean_pool(&x, &[], &o), &["window is empty"]);
    assert_err(mean_pool(&x, &[2, 2, 2], &o), &["window has 3 entries but the input has 2 spatial dims"]);
    assert_err(max_pool(&x, &[2], &o.clone().stride(&[0])), &["stride [0, 0] must be positive"]);
    assert_err(max_pool(&x, &[2], &o.clone().stride(&[1, 2, 3])), &["stride has 3 entries"]);
    assert_err(max_pool(&x, &[2], &o.clone().dilation(&[1, 0])), &["dilation [1, 0] must be positive"]);
    assert_err(max_pool(&x, &[2], &o.clone().pad(&[1, 1, 1])), &["padding has 3 entries"]);
    // adaptive sizes
    assert_err(
        adaptive_mean_pool(&x, &[6, 2]),
        &["output size [6, 2] must be between 1 and the input's spatial size [5, 4]"],
    );
    assert_err(adaptive_max_pool(&x, &[0]), &["output size [0, 0]"]);
    assert_err(adaptive_max_pool(&x, &[1, 1, 1]), &["output size has 3 entries"]);
    // global pooling over an empty spatial dim
    // (the message names the input, not a window the user never passed)
    for (op, r) in [
        ("global_max_pool", global_max_pool(&randn(3, &[1, 1, 0, 2]))),
        ("global_mean_pool", global_mean_pool(&randn(3, &[2, 3, 4, 0]))),
    ] {
        let msg = err_text(r);
        assert!(msg.starts_with(op) && msg.contains("has a zero-size spatial dim") && !msg.contains("window"), "{msg}");
    }
    assert!(
        err_text(global_max_pool(&randn(3, &[1, 1, 0, 2])))
            .contains("input [1, 1, 0, 2] has a zero-size spatial dim [0, 2]")
    );
    // dtype
    let xi = Tensor::from_vec(vec![1i64; 8], &[1, 1, 8]).unwrap();
    assert_err(max_pool(&xi, &[2], &o), &["max_pool", "i64"]);
}

#[test]
fn huge_outputs_of_empty_inputs_are_errors_naming_the_size() {
    // An empty spatial dim with padding 1 gives 2 outputs per plane: 2^41
    // f32 values (8 TiB) from an input with no elements.
    let x = Tensor::zeros(&[1 << 20, 1 << 20, 0], DType::F32).unwrap();
    let o = PoolOptions::new().pad(&[1]);
    for (op, r) in [("max_pool", max_pool(&x, &[1], &o)), ("mean_pool", mean_pool(&x, &[1], &o))] {
        let msg = err_text(r);
        assert!(
            msg.starts_with(op)
                && msg.contains("output of shape [1048576, 1048576, 2] is too large")
                && msg.contains("8796093022208 bytes"),
            "{msg}"
        );
    }
}

#[test]
fn degenerate_shapes() -> Result<()> {
    // empty batch
    assert_eq!(max_pool(&randn(120, &[0, 2, 4]), &[2], &PoolOptions::new())?.shape(), &[0, 2, 2]);
    // an empty spatial input with padding only
    let x = Tensor::zeros(&[1, 1, 0], DType::F64)?;
    let o = PoolOptions::new().pad(&[1]);
    assert_eq!(max_pool(&x, &[1], &o)?.to_vec::<f64>()?, vec![f64::NEG_INFINITY; 2]);
    assert_eq!(mean_pool(&x, &[1], &o)?.to_vec::<f64>()?, vec![0.0; 2]);
    let g = gradient(|t| mean_pool(t.tensor("x")?, &[1], &o)?.sum_all(), &Tree::new().with("x", x)?)?;
    assert_eq!(g.tensor("x")?.shape(), &[1, 1, 0]);
    Ok(())
}

// ---------------------------------------------------------------------------
// Lp pooling
// ---------------------------------------------------------------------------

use ::lux_ops::pool::{adaptive_lp_pool, global_lp_pool, lp_pool};

/// `(Σ_window x^p)^(1/p)` from the naive window loops on plain-f64 powers:
/// the window sum is the full-window mean times the window size (padding
/// adds 0).
fn naive_lp(x: &Tensor, p: f64, k: &[usize], stride: &[usize], pad: &[(usize, usize)], dil: &[usize]) -> Vec<f64> {
    let xp: Vec<f64> = x.to_f64_vec().iter().map(|v| v.powf(p)).collect();
    let xp = Tensor::from_vec(xp, x.shape()).unwrap();
    let kk: usize = k.iter().product();
    naive_pool(&xp, Kind::Mean, k, stride, pad, dil).0.iter().map(|s| (s * kk as f64).powf(1.0 / p)).collect()
}

#[test]
fn lp_pool_matches_naive_loops() {
    for (xs, k, pad) in [
        (vec![2, 3, 9], vec![3], vec![(1, 2)]),
        (vec![2, 2, 6, 7], vec![2, 3], vec![(1, 0), (0, 1)]),
        (vec![1, 2, 4, 5, 4], vec![2, 2, 2], vec![(0, 1), (1, 1), (0, 0)]),
    ] {
        let d = k.len();
        for p in [1.0, 2.0, 3.0, 2.5] {
            for (s, dl) in [(k.clone(), 1), (vec![1; d], 2)] {
                let x = randn(7, &xs).abs().unwrap().add_scalar(0.1).unwrap();
                let opts = PoolOptions::new().stride(&s).padding(Padding::Explicit(pad.clone())).dilation(&[dl]);
                let y = lp_pool(&x, p, &k, &opts).unwrap();
                assert_close(&y.to_f64_vec(), &naive_lp(&x, p, &k, &s, &pad, &vec![dl; d]), 1e-12);
            }
        }
        // p = 2 on signed values: the Euclidean norm of each window
        let x = randn(8, &xs);
        let y = lp_pool(&x, 2.0, &k, &PoolOptions::new()).unwrap();
        assert_close(&y.to_f64_vec(), &naive_lp(&x, 2.0, &k, &k, &vec![(0, 0); d], &vec![1; d]), 1e-12);
    }
}

#[test]
fn global_and_adaptive_lp_pool() -> Result<()> {
    let x = randn(9, &[2, 3, 5, 4]).abs()?;
    let y = global_lp_pool(&x, 3.0)?;
    assert_eq!(y.shape(), &[2, 3, 1, 1]);
    assert_close(&y.to_f64_vec(), &naive_lp(&x, 3.0, &[5, 4], &[5, 4], &[(0, 0); 2], &[1, 1]), 1e-12);
    // in 5 → out 2: stride 2, window 3; in 4 → out 3: stride 1, window 2
    let y = adaptive_lp_pool(&x, 2.0, &[2, 3])?;
    assert_eq!(y.shape(), &[2, 3, 2, 3]);
    assert_close(&y.to_f64_vec(), &naive_lp(&x, 2.0, &[3, 2], &[2, 1], &[(0, 0); 2], &[1, 1]), 1e-12);
    // hand values: ‖[3, 4]‖₂ = 5
    let x = Tensor::from_vec(vec![3.0f64, 4.0], &[1, 1, 2])?;
    assert!((global_lp_pool(&x, 2.0)?.item_f64()? - 5.0).abs() < 1e-14);
    Ok(())
}

#[test]
fn lp_pool_gradients_and_nested() {
    let x = randn(10, &[2, 2, 5, 4]).abs().unwrap().add_scalar(0.5).unwrap();
    check_op(|t| lp_pool(&t[0], 3.0, &[2, 2], &PoolOptions::new().stride(&[1]).pad(&[1])), std::slice::from_ref(&x));
    check_op(|t| lp_pool(&t[0], 2.0, &[3], &PoolOptions::new()), &[randn(11, &[2, 2, 7])]);
    check_op(|t| global_lp_pool(&t[0], 2.0), std::slice::from_ref(&x));
    check_op(|t| adaptive_lp_pool(&t[0], 2.5, &[2, 3]), std::slice::from_ref(&x));
    let h = |t: &Tree| -> Result<Tensor> {
        let g = gradient(|u| weighted_sum(&lp_pool(u.tensor("x")?, 3.0, &[2], &PoolOptions::new())?), t)?;
        g.tensor("x")?.square()?.sum_all()
    };
    let t = Tree::new().with("x", x).unwrap();
    lux_ad::check_gradients(h, &t, Tolerances::default()).unwrap();
}

#[test]
fn lp_pool_errors() {
    let x = randn(1, &[1, 2, 5, 5]);
    let e = lp_pool(&x, 0.0, &[2], &PoolOptions::new()).unwrap_err().to_string();
    assert!(e.contains("lp_pool") && e.contains("p must be"), "{e}");
    assert!(lp_pool(&x, f64::NAN, &[2], &PoolOptions::new()).is_err());
    let e = lp_pool(&x, 2.0, &[6], &PoolOptions::new()).unwrap_err().to_string();
    assert!(e.contains("lp_pool") && e.contains("larger than the padded input"), "{e}");
    let e = adaptive_lp_pool(&x, 2.0, &[6, 1]).unwrap_err().to_string();
    assert!(e.contains("adaptive_lp_pool") && e.contains("[6, 1]"), "{e}");
    let e = global_lp_pool(&randn(1, &[2, 3]), 2.0).unwrap_err().to_string();
    assert!(e.contains("global_lp_pool") && e.contains("[2, 3]"), "{e}");
    assert!(lp_pool(&Tensor::zeros(&[1, 1, 4], DType::I64).unwrap(), 2.0, &[2], &PoolOptions::new()).is_err());
}
