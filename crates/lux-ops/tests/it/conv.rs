//! Tests of `lux_ops::conv`.
use crate::*;
use ::lux_ops::conv::{ConvOptions, Padding, conv};
use lux_ad::gradient;

/// One convolution setting, spelled out per spatial dim.
#[derive(Clone, Debug)]
struct Cfg {
    stride: Vec<usize>,
    pad: Vec<(usize, usize)>,
    dil: Vec<usize>,
    groups: usize,
    flip: bool,
}

/// Lux's SamePad split, re-derived here: total `dil·(k−1)`, odd element before.
fn same_pad(k: &[usize], dil: &[usize]) -> Vec<(usize, usize)> {
    k.iter()
        .zip(dil)
        .map(|(&k, &d)| (d * (k - 1)).div_ceil(2))
        .zip(k.iter().zip(dil).map(|(&k, &d)| d * (k - 1) / 2))
        .collect()
}

/// Direct-loop convolution in f64: returns (values, output shape).
fn naive_conv(x: &Tensor, w: &Tensor, b: Option<&Tensor>, c: &Cfg) -> (Vec<f64>, Vec<usize>) {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    let (xv, wv) = (x.to_f64_vec(), w.to_f64_vec());
    let bv = b.map(|b| b.to_f64_vec());
    let d = xs.len() - 2;
    let (n, cin, cout) = (xs[0], xs[1], ws[0]);
    let (cig, cog) = (cin / c.groups, cout / c.groups);
    let (insp, k) = (&xs[2..], &ws[2..]);
    let outsp: Vec<usize> =
        (0..d).map(|i| (insp[i] + c.pad[i].0 + c.pad[i].1 - c.dil[i] * (k[i] - 1) - 1) / c.stride[i] + 1).collect();
    let mut oshape = vec![n, cout];
    oshape.extend(&outsp);
    let total: usize = oshape.iter().product();
    let kk: usize = k.iter().product();
    let mut y = vec![0.0; total];
    for (flat, yv) in y.iter_mut().enumerate() {
        let oi = unravel(flat, &oshape);
        let (bn, co, o) = (oi[0], oi[1], &oi[2..]);
        let g = co / cog;
        let mut s = bv.as_ref().map_or(0.0, |b| b[co]);
        for ci in 0..cig {
            for kf in 0..kk {
                let kidx = unravel(kf, k);
                let mut pos = vec![bn, g * cig + ci];
                let mut inside = true;
                for i in 0..d {
                    let kd = if c.flip { k[i] - 1 - kidx[i] } else { kidx[i] };
                    let coord = (o[i] * c.stride[i] + kd * c.dil[i]) as isize - c.pad[i].0 as isize;
                    if coord < 0 || coord >= insp[i] as isize {
                        inside = false;
                    }
                    pos.push(coord.max(0) as usize);
                }
                if inside {
                    let mut widx = vec![co, ci];
                    widx.extend(&kidx);
                    s += wv[ravel(&widx, &ws)] * xv[ravel(&pos, &xs)];
                }
            }
        }
        *yv = s;
    }
    (y, oshape)
}

fn options(c: &Cfg, same: bool) -> ConvOptions {
    let padding = if same { Padding::Same } else { Padding::Explicit(c.pad.clone()) };
    ConvOptions::new().stride(&c.stride).padding(padding).dilation(&c.dil).groups(c.groups).flip_kernel(c.flip)
}

/// Runs every combination of stride / padding / dilation / groups / bias /
/// flip for one input and kernel shape against the naive loops.
fn sweep(xshape: &[usize], cout: usize, k: &[usize], asym: &[(usize, usize)], groups: &[usize], seed: u64) {
    let d = k.len();
    let mut cases = 0;
    for &s in &[1, 2, 3] {
        for padk in 0..3 {
            for &dl in &[1, 2] {
                for &g in groups {
                    for (bias, flip) in [(false, false), (true, false), (false, true), (true, true)] {
                        let dil = vec![dl; d];
                        let (pad, same) = match padk {
                            0 => (vec![(0, 0); d], false),
                            1 => (asym.to_vec(), false),
                            _ => (same_pad(k, &dil), true),
                        };
                        let cfg = Cfg { stride: vec![s; d], pad, dil, groups: g, flip };
                        let mut wshape = vec![cout, xshape[1] / g];
                        wshape.extend(k);
                        let x = randn(seed + cases, xshape);
                        let w = randn(seed + 1000 + cases, &wshape);
                        let b = randn(seed + 2000 + cases, &[cout]);
                        let b = bias.then_some(&b);
                        let y = conv(&x, &w, b, &options(&cfg, same)).unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
                        let (want, shape) = naive_conv(&x, &w, b, &cfg);
                        assert_eq!(y.shape(), shape.as_slice(), "{cfg:?}");
                        if same {
                            let ceil: Vec<usize> = xshape[2..].iter().map(|&i| i.div_ceil(s)).collect();
                            assert_eq!(&shape[2..], ceil.as_slice(), "SamePad output is ceil(in / stride)");
                        }
                        assert_close(&y.to_f64_vec(), &want, 1e-12);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases as usize, 3 * 3 * 2 * groups.len() * 4);
}

#[test]
fn forward_1d_matches_naive_loops() {
    // groups 1, 2 and depthwise (= C_in)
    sweep(&[2, 4, 11], 8, &[3], &[(2, 1)], &[1, 2, 4], 10);
}

#[test]
fn forward_2d_matches_naive_loops() {
    sweep(&[2, 4, 7, 8], 4, &[3, 2], &[(2, 1), (0, 3)], &[1, 2, 4], 20);
}

#[test]
fn forward_3d_matches_naive_loops() {
    let x = randn(30, &[2, 4, 5, 4, 6]);
    let w = randn(31, &[6, 2, 2, 3, 2]);
    let b = randn(32, &[6]);
    for (cfg, same) in [
        (
            Cfg {
                stride: vec![1, 2, 1],
                pad: same_pad(&[2, 3, 2], &[1, 1, 2]),
                dil: vec![1, 1, 2],
                groups: 2,
                flip: true,
            },
            true,
        ),
        (
            Cfg {
                stride: vec![2, 1, 3],
                pad: vec![(1, 0), (2, 2), (0, 1)],
                dil: vec![2, 1, 1],
                groups: 2,
                flip: false,
            },
            false,
        ),
    ] {
        let y = conv(&x, &w, Some(&b), &options(&cfg, same)).unwrap();
        let (want, shape) = naive_conv(&x, &w, Some(&b), &cfg);
        assert_eq!(y.shape(), shape.as_slice());
        assert_close(&y.to_f64_vec(), &want, 1e-12);
    }
}

#[test]
fn hand_computed_values() -> Result<()> {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[1, 1, 3])?;
    let w = Tensor::from_vec(vec![1.0f64, 10.0], &[1, 1, 2])?;
    // Same with an even kernel: total padding 1, put before (Lux): [0, 1, 2, 3]
    let y = conv(&x, &w, None, &ConvOptions::new().padding(Padding::Same))?;
    assert_eq!(y.to_vec::<f64>()?, vec![10.0, 21.0, 32.0]);
    // flipped kernel [10, 1]: a true convolution
    let y = conv(&x, &w, None, &ConvOptions::new().flip_kernel(true))?;
    assert_eq!(y.to_vec::<f64>()?, vec![12.0, 23.0]);
    // 2-d, 2 groups, stride 2: each output channel sees its own input channel
    let x = Tensor::from_vec((0..18).map(|v| v as f64).collect(), &[1, 2, 3, 3])?;
    let w = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0], &[2, 1, 2, 2])?;
    let b = Tensor::from_vec(vec![100.0f64, 200.0], &[2])?;
    let y = conv(&x, &w, Some(&b), &ConvOptions::new().stride(&[2]).pad(&[1]).groups(2))?;
    // Padded planes are 5×5; windows start at (0,0), (0,2), (2,0), (2,2).
    // Channel 0, main diagonal taps: 0+0, 0+2, 0+6, 4+8.
    // Channel 1 (values 9..17), anti-diagonal taps: 0+0, 0+10, 12+0, 14+16.
    assert_eq!(y.shape(), &[1, 2, 2, 2]);
    assert_eq!(y.to_vec::<f64>()?, vec![100.0, 102.0, 106.0, 112.0, 200.0, 210.0, 212.0, 230.0]);
    Ok(())
}

#[test]
fn gradients_match_finite_differences() {
    let cfgs = [
        // 2-d, stride 2, asymmetric padding, bias
        (
            vec![2, 3, 6, 5],
            vec![4, 3, 3, 2],
            ConvOptions::new().stride(&[2]).padding(Padding::Explicit(vec![(1, 0), (2, 1)])),
            true,
        ),
        // 1-d, dilation 2, two groups, Same, flipped, bias
        (
            vec![2, 4, 9],
            vec![6, 2, 3],
            ConvOptions::new().dilation(&[2]).groups(2).padding(Padding::Same).flip_kernel(true),
            true,
        ),
        // depthwise 2-d without bias, stride 3 × 1
        (vec![1, 3, 7, 5], vec![3, 1, 2, 3], ConvOptions::new().groups(3).stride(&[3, 1]).pad(&[1]), false),
        // 3-d, small
        (vec![1, 2, 4, 3, 4], vec![2, 2, 2, 2, 3], ConvOptions::new().pad(&[1, 0, 1]).stride(&[2, 1, 1]), true),
    ];
    for (i, (xs, ws, opts, bias)) in cfgs.into_iter().enumerate() {
        let seed = 40 + 3 * i as u64;
        let mut inputs = vec![randn(seed, &xs), randn(seed + 1, &ws)];
        if bias {
            inputs.push(randn(seed + 2, &[ws[0]]));
        }
        check_op(|v| conv(&v[0], &v[1], v.get(2), &opts), &inputs);
    }
}

#[test]
fn non_contiguous_inputs() {
    // x is a permuted view ([C, N] swapped), w a transposed view of its spatial axes
    let x = randn(60, &[3, 2, 5, 6]).permute(&[1, 0, 2, 3]).unwrap();
    let w = randn(61, &[4, 3, 2, 3]).transpose(2, 3).unwrap();
    assert!(!x.is_contiguous() && !w.is_contiguous());
    let b = randn(62, &[4]);
    let opts = ConvOptions::new().pad(&[1, 0]).dilation(&[1, 2]);
    let cfg = Cfg { stride: vec![1, 1], pad: vec![(1, 1), (0, 0)], dil: vec![1, 2], groups: 1, flip: false };
    let (want, _) = naive_conv(&x.contiguous().unwrap(), &w.contiguous().unwrap(), Some(&b), &cfg);
    assert_close(&conv(&x, &w, Some(&b), &opts).unwrap().to_f64_vec(), &want, 1e-12);
    check_op(|v| conv(&v[0], &v[1], Some(&v[2]), &opts), &[x, w, b]);
    // grouped with a non-contiguous x
    let x = randn(63, &[5, 2, 4]).permute(&[1, 2, 0]).unwrap(); // [2, 4, 5]
    let opts = ConvOptions::new().groups(2).stride(&[2]);
    check_op(|v| conv(&v[0], &v[1], None, &opts), &[x, randn(64, &[4, 2, 2])]);
}

#[test]
fn batch_parallel_path_agrees_with_per_sample() -> Result<()> {
    // Large enough to be split over the batch (and the per-sample parts are not).
    let x = randn(70, &[4, 3, 16, 16]);
    let w = randn(71, &[8, 3, 3, 3]);
    let b = randn(72, &[8]);
    let opts = ConvOptions::new().pad(&[1]);
    let cfg = Cfg { stride: vec![1, 1], pad: vec![(1, 1); 2], dil: vec![1, 1], groups: 1, flip: false };
    let (want, _) = naive_conv(&x, &w, Some(&b), &cfg);
    assert_close(&conv(&x, &w, Some(&b), &opts)?.to_f64_vec(), &want, 1e-12);
    let loss = |t: &Tree| weighted_sum(&conv(t.tensor("x")?, t.tensor("w")?, Some(t.tensor("b")?), &opts)?);
    let all = gradient(loss, &Tree::new().with("x", x.clone())?.with("w", w.clone())?.with("b", b.clone())?)?;
    // per sample: the weights of weighted_sum are per element, so slice them by re-weighting
    let n_out = 8 * 16 * 16;
    let wts = Tensor::arange(1.0, (4 * n_out) as f64 + 1.0, 1.0, DType::F64)?.mul_scalar(0.7)?.sin()?;
    let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; 8], Vec::new());
    for i in 0..4 {
        let xi = x.narrow(0, i, 1)?;
        let wi = wts.narrow(0, i * n_out, n_out)?.reshape(&[1, 8, 16, 16])?;
        let g = gradient(
            |t: &Tree| conv(t.tensor("x")?, t.tensor("w")?, Some(t.tensor("b")?), &opts)?.mul(&wi)?.sum_all(),
            &Tree::new().with("x", xi)?.with("w", w.clone())?.with("b", b.clone())?,
        )?;
        dx.extend(g.tensor("x")?.to_f64_vec());
        dw.iter_mut().zip(g.tensor("w")?.to_f64_vec()).for_each(|(a, v)| *a += v);
        db.iter_mut().zip(g.tensor("b")?.to_f64_vec()).for_each(|(a, v)| *a += v);
    }
    assert_close(&all.tensor("x")?.to_f64_vec(), &dx, 1e-12);
    assert_close(&all.tensor("w")?.to_f64_vec(), &dw, 1e-12);
    assert_close(&all.tensor("b")?.to_f64_vec(), &db, 1e-12);
    Ok(())
}

/// ‖∂L/∂x‖² + ‖∂L/∂w‖² + ‖∂L/∂b‖² (L = weighted_sum ∘ conv), differentiated
/// again w.r.t. x and w and checked against finite differences of this
/// first-order quantity: exercises the composite fallback.
#[test]
fn nested_gradient_of_gradient_norm() {
    let cfgs = [
        (vec![2, 2, 5, 4], vec![3, 2, 2, 2], ConvOptions::new().pad(&[1]).stride(&[2, 1])),
        (
            vec![1, 4, 7],
            vec![2, 2, 3],
            ConvOptions::new().groups(2).dilation(&[2]).padding(Padding::Same).flip_kernel(true),
        ),
    ];
    for (i, (xs, ws, opts)) in cfgs.into_iter().enumerate() {
        let b = randn(90 + i as u64, &[ws[0]]);
        let h = |t: &Tree| -> Result<Tensor> {
            let inner = Tree::new()
                .with("x", t.tensor("x")?.clone())?
                .with("w", t.tensor("w")?.clone())?
                .with("b", b.clone())?;
            let g = gradient(
                |u| weighted_sum(&conv(u.tensor("x")?, u.tensor("w")?, Some(u.tensor("b")?), &opts)?),
                &inner,
            )?;
            let sq = |k: &str| -> Result<Tensor> { g.tensor(k)?.square()?.sum_all() };
            sq("x")?.add(&sq("w")?)?.add(&sq("b")?)
        };
        let x = Tree::new().with("x", randn(80 + i as u64, &xs)).unwrap().with("w", randn(85 + i as u64, &ws)).unwrap();
        if let Err(e) = lux_ad::check_gradients(h, &x, Tolerances::default()) {
            panic!("config {i}: nested gradient check failed: {e}");
        }
        // forward-over-reverse: the tangent of the gradient itself
        let grad =
            |t: &Tree| gradient(|u| weighted_sum(&conv(u.tensor("x")?, u.tensor("w")?, Some(&b), &opts)?.square()?), t);
        if let Err(e) = lux_ad::check_jvp(grad, &x, Tolerances::default()) {
            panic!("config {i}: tangent of the gradient: {e}");
        }
    }
}

#[test]
fn f32_f16_bf16_forward() -> Result<()> {
    let x = randn(100, &[2, 4, 6, 5]);
    let w = randn(101, &[6, 2, 3, 3]);
    let b = randn(102, &[6]);
    let opts = ConvOptions::new().groups(2).pad(&[1]).stride(&[2, 1]);
    let cfg = Cfg { stride: vec![2, 1], pad: vec![(1, 1); 2], dil: vec![1, 1], groups: 2, flip: false };
    let (want, _) = naive_conv(&x, &w, Some(&b), &cfg);
    for (dt, tol) in [(DType::F32, 1e-5), (DType::F16, 2e-2), (DType::BF16, 1e-1)] {
        let y = conv(&x.to_dtype(dt)?, &w.to_dtype(dt)?, Some(&b.to_dtype(dt)?), &opts)?;
        assert_eq!(y.dtype(), dt);
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (g, w) in y.to_f64_vec().iter().zip(&want) {
            assert!((g - w).abs() <= tol * scale, "{dt}: got {g}, want {w}");
        }
    }
    // mixed dtypes promote
    let y = conv(&x.to_dtype(DType::F32)?, &w, None, &opts)?;
    assert_eq!(y.dtype(), DType::F64);
    // inference records nothing
    assert!(!y.is_tracked());
    Ok(())
}

#[test]
fn f32_gradient_agrees_with_f64() -> Result<()> {
    let x = randn(110, &[2, 3, 5, 5]);
    let w = randn(111, &[4, 3, 3, 3]);
    let opts = ConvOptions::new().pad(&[1]);
    let g = |dt: DType| -> Result<Vec<Vec<f64>>> {
        let t = Tree::new().with("x", x.to_dtype(dt)?)?.with("w", w.to_dtype(dt)?)?;
        let g = gradient(|t| weighted_sum(&conv(t.tensor("x")?, t.tensor("w")?, None, &opts)?), &t)?;
        assert_eq!(g.tensor("x")?.dtype(), dt);
        Ok(vec![g.tensor("x")?.to_f64_vec(), g.tensor("w")?.to_f64_vec()])
    };
    let (a, b) = (g(DType::F32)?, g(DType::F64)?);
    assert_close(&a[0], &b[0], 1e-4);
    assert_close(&a[1], &b[1], 1e-4);
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
    let x = randn(1, &[1, 3, 5, 5]);
    let w = randn(2, &[4, 3, 3, 3]);
    let o = ConvOptions::new();
    // wrong ranks
    assert_err(conv(&randn(3, &[2, 3]), &w, None, &o), &["conv", "at least one spatial dim", "[2, 3]"]);
    assert_err(conv(&x, &randn(4, &[4, 3, 3]), None, &o), &["w [4, 3, 3]", "rank of x [1, 3, 5, 5]"]);
    // channel mismatch
    assert_err(
        conv(&x, &randn(5, &[2, 4, 3, 3]), None, &o),
        &["x has 3 channels but w expects 4 (groups=1)", "[1, 3, 5, 5]", "[2, 4, 3, 3]"],
    );
    assert_err(
        conv(&randn(6, &[1, 4, 5]), &randn(7, &[2, 1, 3]), None, &o.clone().groups(2)),
        &["x has 4 channels but w expects 2 (groups=2)"],
    );
    // groups
    assert_err(
        conv(&x, &randn(8, &[4, 1, 3, 3]), None, &o.clone().groups(2)),
        &["[1, 3, 5, 5] has 3 channels, not divisible by groups=2"],
    );
    assert_err(
        conv(&randn(9, &[1, 4, 5]), &randn(10, &[3, 2, 3]), None, &o.clone().groups(2)),
        &["w [3, 2, 3] has 3 output channels, not divisible by groups=2"],
    );
    assert_err(conv(&x, &w, None, &o.clone().groups(0)), &["groups must be positive"]);
    // bias
    assert_err(conv(&x, &w, Some(&randn(11, &[3])), &o), &["bias has shape [3]", "4 output channels"]);
    assert_err(conv(&x, &w, Some(&randn(11, &[1, 4])), &o), &["bias has shape [1, 4]"]);
    // kernel larger than the (padded) input, with dilation
    assert_err(
        conv(&randn(12, &[1, 1, 4]), &randn(13, &[1, 1, 3]), None, &o.clone().dilation(&[2])),
        &["kernel [3], dilation [2] spans [5], larger than the padded input [4]", "input [1, 1, 4]"],
    );
    assert!(conv(&randn(12, &[1, 1, 4]), &randn(13, &[1, 1, 3]), None, &o.clone().dilation(&[2]).pad(&[1])).is_ok());
    assert_err(
        conv(&x, &randn(14, &[4, 3, 7, 1]), None, &o.clone().padding(Padding::Explicit(vec![(1, 0), (0, 0)]))),
        &["kernel [7, 1] spans [7, 1], larger than the padded input [6, 5]", "padding [(1, 0), (0, 0)]"],
    );
    assert_err(conv(&x, &randn(15, &[4, 3, 0, 3]), None, &o), &["kernel size [0, 3] has a zero entry"]);
    // zero stride / dilation
    assert_err(conv(&x, &w, None, &o.clone().stride(&[0])), &["stride [0, 0] must be positive"]);
    assert_err(conv(&x, &w, None, &o.clone().stride(&[1, 0])), &["stride [1, 0] must be positive"]);
    assert_err(conv(&x, &w, None, &o.clone().dilation(&[0])), &["dilation [0, 0] must be positive"]);
    // option lengths
    assert_err(
        conv(&x, &w, None, &o.clone().stride(&[1, 1, 1])),
        &["stride has 3 entries but the input has 2 spatial dims"],
    );
    assert_err(
        conv(&x, &w, None, &o.clone().dilation(&[1, 1, 1])),
        &["dilation has 3 entries but the input has 2 spatial dims"],
    );
    assert_err(
        conv(&x, &w, None, &o.clone().pad(&[1, 1, 1])),
        &["padding has 3 entries but the input has 2 spatial dims"],
    );
    // dtypes
    let xi = Tensor::from_vec(vec![1i64; 25], &[1, 1, 5, 5]).unwrap();
    assert_err(conv(&xi, &randn(16, &[1, 1, 2, 2]), None, &o), &["conv", "i64"]);
}

#[test]
fn degenerate_shapes() -> Result<()> {
    let w = randn(120, &[2, 1, 1]);
    let b = Tensor::from_vec(vec![0.5f64, -1.0], &[2])?;
    // empty batch
    let y = conv(&randn(121, &[0, 1, 4]), &w, Some(&b), &ConvOptions::new())?;
    assert_eq!(y.shape(), &[0, 2, 4]);
    // an empty spatial input with padding only: the output is the bias
    let x = Tensor::zeros(&[1, 1, 0], DType::F64)?;
    let opts = ConvOptions::new().pad(&[1]);
    let y = conv(&x, &w, Some(&b), &opts)?;
    assert_eq!(y.shape(), &[1, 2, 2]);
    assert_eq!(y.to_vec::<f64>()?, vec![0.5, 0.5, -1.0, -1.0]);
    let t = Tree::new().with("x", x)?.with("w", w.clone())?.with("b", b)?;
    let g = gradient(|t| conv(t.tensor("x")?, t.tensor("w")?, Some(t.tensor("b")?), &opts)?.sum_all(), &t)?;
    assert_eq!(g.tensor("x")?.shape(), &[1, 1, 0]);
    assert_eq!(g.tensor("w")?.to_vec::<f64>()?, vec![0.0, 0.0]);
    assert_eq!(g.tensor("b")?.to_vec::<f64>()?, vec![2.0, 2.0]);
    Ok(())
}

#[test]
fn absurd_sizes_are_errors_not_panics() {
    let x = randn(130, &[1, 1, 3]);
    let w = randn(131, &[1, 1, 2]);
    let huge = usize::MAX / 2;
    assert_err(conv(&x, &w, None, &ConvOptions::new().padding(Padding::Explicit(vec![(huge, 0)]))), &["too large"]);
    assert_err(conv(&x, &w, None, &ConvOptions::new().dilation(&[huge])), &["larger than the padded input"]);
    assert!(conv(&x, &w, None, &ConvOptions::new().stride(&[huge])).is_ok());
    // An empty input (no channels) whose output would hold 2^40 f32 values
    // (4 TiB): an error naming the size, not an allocation abort.
    let x = Tensor::zeros(&[1 << 40, 0, 1], DType::F32).unwrap();
    let w = Tensor::zeros(&[1, 0, 1], DType::F32).unwrap();
    assert_err(
        conv(&x, &w, None, &ConvOptions::new()),
        &["conv", "output of shape [1099511627776, 1, 1] is too large", "4398046511104 bytes"],
    );
    // an output count past isize::MAX
    let x = Tensor::zeros(&[1 << 62, 0, 1], DType::F32).unwrap();
    let w = Tensor::zeros(&[4, 0, 1], DType::F32).unwrap();
    assert_err(
        conv(&x, &w, None, &ConvOptions::new()),
        &["conv", "output of shape [4611686018427387904, 4, 1]", "isize::MAX"],
    );
}

#[test]
fn pointwise_kernels() {
    // 1×1 kernels: stride 1 without padding reads the input as the column
    // matrix directly; stride 2 or padding go through im2col.
    let x = randn(140, &[2, 4, 5, 3]);
    let w = randn(141, &[6, 2, 1, 1]);
    let b = randn(142, &[6]);
    for (stride, pad) in [(1, 0), (2, 0), (1, 1)] {
        let opts = ConvOptions::new().groups(2).stride(&[stride]).pad(&[pad]);
        let cfg = Cfg { stride: vec![stride; 2], pad: vec![(pad, pad); 2], dil: vec![1, 1], groups: 2, flip: true };
        let (want, shape) = naive_conv(&x, &w, Some(&b), &cfg);
        let y = conv(&x, &w, Some(&b), &opts).unwrap();
        assert_eq!(y.shape(), shape.as_slice());
        assert_close(&y.to_f64_vec(), &want, 1e-12);
        check_op(|v| conv(&v[0], &v[1], Some(&v[2]), &opts), &[x.clone(), w.clone(), b.clone()]);
    }
    // 1-d pointwise, non-contiguous x, no bias
    let x = randn(143, &[7, 2, 3]).permute(&[1, 2, 0]).unwrap();
    check_op(|v| conv(&v[0], &v[1], None, &ConvOptions::new()), &[x, randn(144, &[5, 3, 1])]);
}

// ---------------------------------------------------------------------------
// conv_transpose
// ---------------------------------------------------------------------------

use ::lux_ops::conv_transpose;

/// Direct scatter loops in f64 for a transposed convolution: every input
/// element `x[n, ci, q]` stamps `x · w[ci, co_local, k]` at output position
/// `q·stride − pad_before + k·dilation` (kernel index reversed with `flip`).
/// Returns (values, output shape).
fn naive_conv_transpose(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    c: &Cfg,
    outpad: &[usize],
) -> (Vec<f64>, Vec<usize>) {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    let (xv, wv) = (x.to_f64_vec(), w.to_f64_vec());
    let d = xs.len() - 2;
    let (n, cin) = (xs[0], xs[1]);
    let (cig, cog) = (cin / c.groups, ws[1]);
    let cout = cog * c.groups;
    let k = &ws[2..];
    let outsp: Vec<usize> = (0..d)
        .map(|i| (xs[2 + i] - 1) * c.stride[i] + 1 + c.dil[i] * (k[i] - 1) + outpad[i] - c.pad[i].0 - c.pad[i].1)
        .collect();
    let mut oshape = vec![n, cout];
    oshape.extend(&outsp);
    let mut y = vec![0.0; oshape.iter().product()];
    if let Some(b) = b {
        let bv = b.to_f64_vec();
        for (flat, yv) in y.iter_mut().enumerate() {
            *yv = bv[unravel(flat, &oshape)[1]];
        }
    }
    let kk: usize = k.iter().product();
    for (xflat, &xval) in xv.iter().enumerate() {
        let xi = unravel(xflat, &xs);
        let (bn, ci) = (xi[0], xi[1]);
        let g = ci / cig;
        for col in 0..cog {
            for kf in 0..kk {
                let kidx = unravel(kf, k);
                let mut pos = vec![bn, g * cog + col];
                let mut inside = true;
                for i in 0..d {
                    let kd = if c.flip { k[i] - 1 - kidx[i] } else { kidx[i] };
                    let p = (xi[2 + i] * c.stride[i] + kd * c.dil[i]) as isize - c.pad[i].0 as isize;
                    inside &= p >= 0 && p < outsp[i] as isize;
                    pos.push(p.max(0) as usize);
                }
                if inside {
                    let mut widx = vec![ci, col];
                    widx.extend(&kidx);
                    y[ravel(&pos, &oshape)] += xval * wv[ravel(&widx, &ws)];
                }
            }
        }
    }
    (y, oshape)
}

/// Lux's ConvTranspose SamePad: the padding of a `k − s + 1` kernel.
fn same_pad_transpose(k: &[usize], s: &[usize], dil: &[usize]) -> Vec<(usize, usize)> {
    let k2: Vec<usize> = k.iter().zip(s).map(|(&k, &s)| k + 1 - s).collect();
    same_pad(&k2, dil)
}

/// (x shape, w shape, stride, dilation, asymmetric padding).
type TransposeCase = (Vec<usize>, Vec<usize>, usize, usize, Vec<(usize, usize)>);

#[test]
fn conv_transpose_matches_naive_loops_1d_2d_3d() {
    let mut cases = 0;
    let shapes: [TransposeCase; 3] = [
        (vec![2, 4, 6], vec![4, 3, 3], 2, 2, vec![(2, 1)]),
        (vec![2, 4, 4, 5], vec![4, 1, 3, 2], 2, 1, vec![(1, 0), (0, 2)]),
        (vec![1, 2, 3, 4, 3], vec![2, 2, 2, 3, 2], 1, 2, vec![(1, 0), (0, 1), (1, 1)]),
    ];
    for (si, (xs, ws, s, dl, asym)) in shapes.iter().enumerate() {
        let d = xs.len() - 2;
        for groups in [1, 2] {
            for flip in [false, true] {
                for padk in 0..3 {
                    for (bias, op) in [(false, 0), (true, 1)] {
                        let stride = vec![*s; d];
                        let dil = vec![*dl; d];
                        let outpad = vec![if *s > 1 { op } else { 0 }; d];
                        let (pad, same) = match padk {
                            0 => (vec![(0, 0); d], false),
                            1 => (asym.clone(), false),
                            _ => (same_pad_transpose(&ws[2..], &stride, &dil), true),
                        };
                        let cfg = Cfg { stride, pad, dil, groups, flip };
                        let x = randn(500 + cases, xs);
                        let mut wshape = ws.clone();
                        wshape[1] = ws[1] * 2 / groups; // C_out = 2·ws[1] whatever the groups
                        let w = randn(600 + cases, &wshape);
                        let b = randn(700 + cases, &[wshape[1] * groups]);
                        let b = bias.then_some(&b);
                        let y = conv_transpose(&x, &w, b, &options(&cfg, same), &outpad)
                            .unwrap_or_else(|e| panic!("shape {si} {cfg:?}: {e}"));
                        let (want, shape) = naive_conv_transpose(&x, &w, b, &cfg, &outpad);
                        assert_eq!(y.shape(), shape.as_slice(), "shape {si} {cfg:?}");
                        if same && *dl == 1 {
                            let want_sp: Vec<usize> =
                                xs[2..].iter().zip(&cfg.stride).map(|(i, s)| i * s + outpad[0]).collect();
                            assert_eq!(&shape[2..], want_sp.as_slice(), "SamePad: out = in · stride");
                        }
                        assert_close(&y.to_f64_vec(), &want, 1e-12);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 3 * 2 * 2 * 3 * 2);
}

#[test]
fn conv_transpose_is_the_adjoint_of_conv() -> Result<()> {
    // <conv(a, w), x> == <a, conv_transpose(x, w)> for the same options
    // (height 7 at stride 2 needs an output padding of 1 to come back)
    let opts =
        ConvOptions::new().stride(&[2, 1]).padding(Padding::Explicit(vec![(1, 0), (2, 1)])).dilation(&[1, 2]).groups(2);
    for flip in [false, true] {
        let opts = opts.clone().flip_kernel(flip);
        let a = randn(41, &[2, 4, 7, 6]);
        let w = randn(42, &[6, 2, 3, 2]);
        let y = conv(&a, &w, None, &opts)?;
        let x = randn(43, y.shape());
        let t = conv_transpose(&x, &w, None, &opts, &[1, 0])?;
        assert_eq!(t.shape(), a.shape());
        let lhs = y.mul(&x)?.sum_all()?.item_f64()?;
        let rhs = a.mul(&t)?.sum_all()?.item_f64()?;
        assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
    }
    Ok(())
}

#[test]
fn conv_transpose_hand_computed_and_lux_cases() -> Result<()> {
    // 1-d, stride 2, kernel [1, 10]: each input stamps the kernel
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[1, 1, 3])?;
    let w = Tensor::from_vec(vec![1.0f64, 10.0], &[1, 1, 2])?;
    let y = conv_transpose(&x, &w, None, &ConvOptions::new().stride(&[2]), &[])?;
    assert_eq!(y.to_vec::<f64>()?, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
    // output padding adds a trailing zero (nothing stamps there)
    let y = conv_transpose(&x, &w, None, &ConvOptions::new().stride(&[2]), &[1])?;
    assert_eq!(y.to_vec::<f64>()?, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 0.0]);
    // Lux #534: kernel 3, stride 2, SamePad on length 2 → length 4
    let x = Tensor::ones(&[1, 2, 2], DType::F64)?;
    let w = randn(3, &[2, 1, 3]);
    let y = conv_transpose(&x, &w, None, &ConvOptions::new().stride(&[2]).padding(Padding::Same), &[])?;
    assert_eq!(y.shape(), &[1, 1, 4]);
    // Lux's "with Output Padding": outpad (1, 0) lengthens the first spatial dim by one
    let x = randn(4, &[2, 3, 11, 10]);
    let w = randn(5, &[3, 6, 5, 3]);
    let o = ConvOptions::new().stride(&[3]);
    let y1 = conv_transpose(&x, &w, None, &o, &[])?;
    let y2 = conv_transpose(&x, &w, None, &o, &[1, 0])?;
    assert_eq!(y1.shape(), &[2, 6, 35, 30]);
    assert_eq!(y2.shape(), &[2, 6, 36, 30]);
    Ok(())
}

#[test]
fn conv_transpose_gradients_and_nested() {
    let cfgs = [
        (vec![2, 2, 4, 3], vec![2, 3, 3, 2], ConvOptions::new().stride(&[2, 1]).pad(&[1]), vec![1, 0]),
        (
            vec![1, 4, 5],
            vec![4, 1, 3],
            ConvOptions::new().groups(2).dilation(&[2]).padding(Padding::Same).flip_kernel(true),
            vec![],
        ),
    ];
    for (i, (xs, ws, opts, op)) in cfgs.into_iter().enumerate() {
        let cout = ws[1] * opts.groups;
        let inputs = [randn(60 + i as u64, &xs), randn(65 + i as u64, &ws), randn(70 + i as u64, &[cout])];
        check_op(|t| conv_transpose(&t[0], &t[1], Some(&t[2]), &opts, &op), &inputs);
        // a gradient of a gradient goes through the composite definition
        let b = inputs[2].clone();
        let h = |t: &Tree| -> Result<Tensor> {
            let inner = Tree::new().with("x", t.tensor("x")?.clone())?.with("w", t.tensor("w")?.clone())?;
            let g = gradient(
                |u| weighted_sum(&conv_transpose(u.tensor("x")?, u.tensor("w")?, Some(&b), &opts, &op)?),
                &inner,
            )?;
            g.tensor("x")?.square()?.sum_all()?.add(&g.tensor("w")?.square()?.sum_all()?)
        };
        let x = Tree::new().with("x", inputs[0].clone()).unwrap().with("w", inputs[1].clone()).unwrap();
        if let Err(e) = lux_ad::check_gradients(h, &x, Tolerances::default()) {
            panic!("config {i}: nested gradient check failed: {e}");
        }
        let grad = |t: &Tree| {
            gradient(
                |u| weighted_sum(&conv_transpose(u.tensor("x")?, u.tensor("w")?, Some(&b), &opts, &op)?.square()?),
                t,
            )
        };
        if let Err(e) = lux_ad::check_jvp(grad, &x, Tolerances::default()) {
            panic!("config {i}: tangent of the gradient: {e}");
        }
    }
}

#[test]
fn conv_transpose_invalid_arguments_are_errors() {
    let x = randn(1, &[1, 3, 5, 5]);
    let w = randn(2, &[3, 2, 3, 3]);
    let o = ConvOptions::new();
    assert_err(
        conv_transpose(&randn(3, &[1, 4, 5, 5]), &w, None, &o, &[]),
        &["conv_transpose", "4 channels", "expects 3"],
    );
    assert_err(conv_transpose(&randn(3, &[3, 5]), &w, None, &o, &[]), &["[3, 5]", "spatial"]);
    assert_err(conv_transpose(&x, &randn(3, &[3, 2, 3]), None, &o, &[]), &["rank"]);
    assert_err(conv_transpose(&x, &w, None, &o.clone().groups(2), &[]), &["3 channels", "groups=2"]);
    assert_err(conv_transpose(&x, &w, Some(&randn(4, &[3])), &o, &[]), &["bias", "[2]"]);
    assert_err(conv_transpose(&x, &w, None, &o.clone().stride(&[2]), &[2]), &["output padding", "stride"]);
    assert_err(conv_transpose(&x, &w, None, &o.clone().pad(&[4]), &[]), &["empty output"]);
    assert_err(
        conv_transpose(&x, &randn(5, &[3, 2, 1, 1]), None, &o.clone().stride(&[2]).padding(Padding::Same), &[]),
        &["Same", "stride"],
    );
    assert_err(conv_transpose(&x, &w, None, &o.clone().stride(&[0]), &[]), &["stride"]);
    assert_err(conv_transpose(&x.to_dtype(DType::I64).unwrap(), &w, None, &o, &[]), &["conv_transpose"]);
}
