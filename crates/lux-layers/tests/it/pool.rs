//! Tests of the pooling layers (Lux's `test/core_layers/pooling_tests.jl`
//! translated batch-first, plus values against direct f64 loops).

use crate::common::randn;
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, RngState, Tensor, Tree, apply_tensor, setup};
use lux_layers::*;
use lux_ops::Padding;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Red {
    Max,
    Mean,
    Lp(f64),
}

fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for i in (0..dims.len()).rev() {
        idx[i] = flat % dims[i];
        flat /= dims[i];
    }
    idx
}

/// Direct loops: every window of `x` (padding skipped; the mean divides by
/// the full window size, as NNlib), f64.
fn naive_pool(
    x: &Tensor,
    red: Red,
    k: &[usize],
    stride: &[usize],
    pad: &[(usize, usize)],
    dil: &[usize],
) -> (Vec<f64>, Vec<usize>) {
    let xs = x.shape().to_vec();
    let xv = x.to_f64_vec();
    let d = k.len();
    let out: Vec<usize> =
        (0..d).map(|i| (xs[2 + i] + pad[i].0 + pad[i].1 - dil[i] * (k[i] - 1) - 1) / stride[i] + 1).collect();
    let mut os = xs[..2].to_vec();
    os.extend(&out);
    let kk: usize = k.iter().product();
    let y = (0..os.iter().product())
        .map(|flat| {
            let oi = unravel(flat, &os);
            let mut vals = vec![];
            for t in 0..kk {
                let ti = unravel(t, k);
                let mut idx = 0usize;
                let mut inside = true;
                for i in 0..d {
                    let p = (oi[2 + i] * stride[i] + ti[i] * dil[i]) as isize - pad[i].0 as isize;
                    inside &= p >= 0 && p < xs[2 + i] as isize;
                    idx = idx * xs[2 + i] + p.max(0) as usize;
                }
                if inside {
                    vals.push(xv[(oi[0] * xs[1] + oi[1]) * xs[2..].iter().product::<usize>() + idx]);
                }
            }
            match red {
                Red::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Red::Mean => vals.iter().sum::<f64>() / kk as f64,
                Red::Lp(p) => vals.iter().map(|v| v.powf(p)).sum::<f64>().powf(1.0 / p),
            }
        })
        .collect();
    (y, os)
}

fn run(layer: &dyn Layer, x: &Tensor) -> Tensor {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), layer).unwrap();
    apply_tensor(layer, x, &ps, &st).unwrap_or_else(|e| panic!("{}: {e}", layer.describe())).0
}

#[track_caller]
fn assert_close(got: &Tensor, want: &[f64], tol: f64) {
    let got = got.to_f64_vec();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: got {g}, want {w}");
    }
}

fn windowed(red: Red, k: &[usize], stride: &[usize], padding: Padding, dil: &[usize]) -> Box<dyn Layer> {
    match red {
        Red::Max => Box::new(MaxPool::builder(k).stride(stride).padding(padding).dilation(dil).build().unwrap()),
        Red::Mean => Box::new(MeanPool::builder(k).stride(stride).padding(padding).dilation(dil).build().unwrap()),
        Red::Lp(p) => Box::new(LPPool::builder(k).stride(stride).padding(padding).dilation(dil).p(p).build().unwrap()),
    }
}

#[test]
fn windowed_pools_match_naive_loops() {
    let mut cases = 0;
    for (xs, k, asym) in [
        (vec![2, 3, 9], vec![3], vec![(2, 1)]),
        (vec![2, 2, 7, 6], vec![3, 2], vec![(1, 0), (0, 1)]),
        (vec![1, 2, 5, 4, 6], vec![2, 2, 3], vec![(1, 1), (0, 1), (2, 0)]),
    ] {
        let d = k.len();
        for red in [Red::Max, Red::Mean, Red::Lp(2.0), Red::Lp(3.0)] {
            for (stride, dl) in [(vec![], 1usize), (vec![1], 1), (vec![2], 2)] {
                for padk in 0..3 {
                    let dil = vec![dl; d];
                    let (padding, pad) = match padk {
                        0 => (Padding::default(), vec![(0, 0); d]),
                        1 => (Padding::Explicit(asym.clone()), asym.clone()),
                        _ => {
                            let p =
                                k.iter().map(|&k| (dl * (k - 1)).div_ceil(2)).zip(k.iter().map(|&k| dl * (k - 1) / 2));
                            (Padding::Same, p.collect())
                        }
                    };
                    let s = if stride.is_empty() { k.clone() } else { vec![stride[0]; d] };
                    let layer = windowed(red, &k, &stride, padding, &[dl]);
                    // Lp with an odd p is fed positive values (NNlib takes x^p itself)
                    let x = randn(cases, &xs, DType::F64);
                    let x = if red == Red::Lp(3.0) { x.abs().unwrap() } else { x };
                    let y = run(layer.as_ref(), &x);
                    let (want, shape) = naive_pool(&x, red, &k, &s, &pad, &dil);
                    assert_eq!(y.shape(), shape.as_slice(), "{}", layer.describe());
                    assert_close(&y, &want, 1e-12);
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 3 * 4 * 3 * 3);
}

#[test]
fn global_and_adaptive_pools_match_naive_loops() {
    for xs in [vec![2, 3, 7], vec![2, 2, 7, 6], vec![1, 2, 4, 3, 5]] {
        let x = randn(5, &xs, DType::F64);
        let sp = xs[2..].to_vec();
        let d = sp.len();
        let none = vec![(0, 0); d];
        let one = vec![1; d];
        for (layer, red) in [
            (Box::new(GlobalMaxPool) as Box<dyn Layer>, Red::Max),
            (Box::new(GlobalMeanPool), Red::Mean),
            (Box::new(GlobalLPPool::new(2.0).unwrap()), Red::Lp(2.0)),
        ] {
            let (want, shape) = naive_pool(&x, red, &sp, &sp, &none, &one);
            let y = run(layer.as_ref(), &x);
            assert_eq!(&y.shape()[2..], vec![1; d].as_slice());
            assert_eq!(y.shape(), shape.as_slice());
            assert_close(&y, &want, 1e-12);
        }
        // out sizes dividing and not dividing the input
        let outs: Vec<Vec<usize>> = vec![vec![1; d], sp.iter().map(|&s| s.div_ceil(2)).collect(), vec![2; d]];
        for out in outs {
            let stride: Vec<usize> = sp.iter().zip(&out).map(|(i, o)| i / o).collect();
            let k: Vec<usize> = sp.iter().zip(&out).zip(&stride).map(|((i, o), s)| i - (o - 1) * s).collect();
            for (layer, red) in [
                (Box::new(AdaptiveMaxPool::new(&out).unwrap()) as Box<dyn Layer>, Red::Max),
                (Box::new(AdaptiveMeanPool::new(&out).unwrap()), Red::Mean),
                (Box::new(AdaptiveLPPool::new(&out).unwrap()), Red::Lp(2.0)),
            ] {
                let (want, shape) = naive_pool(&x, red, &k, &stride, &none, &one);
                let y = run(layer.as_ref(), &x);
                assert_eq!(&y.shape()[2..], out.as_slice(), "{}", layer.describe());
                assert_eq!(y.shape(), shape.as_slice());
                assert_close(&y, &want, 1e-12);
            }
        }
    }
}

/// Lux's test: adaptive (5, 5) on 10×10 is the 2×2 pool, (10, 5) on 20×20
/// is the (2, 4) pool (Lux's sizes are (W, H); here [H, W]); global is the
/// full window; the windowed (2, 2) layer is NNlib's pool.
#[test]
fn lux_pooling_cases() {
    let x = randn(1, &[2, 3, 10, 10], DType::F32);
    let y = randn(2, &[2, 3, 20, 20], DType::F32);
    type Mk = fn(&[usize]) -> Box<dyn Layer>;
    let kinds: [(&str, Mk, Mk, Box<dyn Layer>); 3] = [
        (
            "Max",
            |o| Box::new(AdaptiveMaxPool::new(o).unwrap()),
            |k| Box::new(MaxPool::new(k).unwrap()),
            Box::new(GlobalMaxPool),
        ),
        (
            "Mean",
            |o| Box::new(AdaptiveMeanPool::new(o).unwrap()),
            |k| Box::new(MeanPool::new(k).unwrap()),
            Box::new(GlobalMeanPool),
        ),
        (
            "LP",
            |o| Box::new(AdaptiveLPPool::new(o).unwrap()),
            |k| Box::new(LPPool::new(k).unwrap()),
            Box::new(GlobalLPPool::default()),
        ),
    ];
    for (name, adaptive, windowed, global) in kinds {
        let a = run(adaptive(&[5, 5]).as_ref(), &x);
        assert_eq!(a.shape(), &[2, 3, 5, 5], "{name}");
        assert_eq!(a, run(windowed(&[2, 2]).as_ref(), &x), "{name}");
        let a = run(adaptive(&[5, 10]).as_ref(), &y);
        assert_eq!(a.shape(), &[2, 3, 5, 10]);
        assert_eq!(a, run(windowed(&[4, 2]).as_ref(), &y), "{name}");
        let g = run(global.as_ref(), &x);
        assert_eq!(g.shape(), &[2, 3, 1, 1]);
        assert_eq!(g, run(windowed(&[10, 10]).as_ref(), &x), "{name}");
        // SamePad window sizes: output ceil(in / k)
        for k in [vec![1], vec![2], vec![3], vec![4, 5], vec![6, 7, 8]] {
            let mut xs = vec![1, 1];
            xs.extend(k.iter().map(|k| k + 3));
            let layer: Box<dyn Layer> = match name {
                "Max" => Box::new(MaxPool::builder(&k).padding(Padding::Same).build().unwrap()),
                "Mean" => Box::new(MeanPool::builder(&k).padding(Padding::Same).build().unwrap()),
                _ => Box::new(LPPool::builder(&k).padding(Padding::Same).build().unwrap()),
            };
            let out = run(layer.as_ref(), &randn(3, &xs, DType::F32));
            let want: Vec<usize> = xs[2..].iter().zip(&k).map(|(i, k)| i.div_ceil(*k)).collect();
            assert_eq!(&out.shape()[2..], want.as_slice(), "{}", layer.describe());
        }
    }
}

#[test]
fn pool_layers_pass_check_layer() {
    let x3: Tree = randn(11, &[2, 2, 6], DType::F32).into();
    let x4: Tree = randn(12, &[2, 2, 4, 4], DType::F32).into();
    let cases: Vec<(Box<dyn Layer>, &Tree, Vec<usize>)> = vec![
        (Box::new(MaxPool::new(&[2, 2]).unwrap()), &x4, vec![2, 2, 2, 2]),
        (Box::new(MeanPool::builder(&[3]).stride(&[1]).pad(&[1]).build().unwrap()), &x3, vec![2, 2, 6]),
        (
            Box::new(LPPool::builder(&[2, 2]).padding(Padding::Same).stride(&[1]).build().unwrap()),
            &x4,
            vec![2, 2, 4, 4],
        ),
        (Box::new(GlobalMaxPool), &x4, vec![2, 2, 1, 1]),
        (Box::new(GlobalMeanPool), &x3, vec![2, 2, 1]),
        (Box::new(GlobalLPPool::default()), &x4, vec![2, 2, 1, 1]),
        (Box::new(AdaptiveMaxPool::new(&[2, 3]).unwrap()), &x4, vec![2, 2, 2, 3]),
        (Box::new(AdaptiveMeanPool::new(&[4]).unwrap()), &x3, vec![2, 2, 4]),
        (Box::new(AdaptiveLPPool::new(&[3, 2]).unwrap()), &x4, vec![2, 2, 3, 2]),
    ];
    for (layer, x, shape) in cases {
        let opts = LayerCheck { output_shape: Some(shape), ..Default::default() };
        let r = check_layer(&layer, x, &opts).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
        assert_eq!((r.param_count, r.state_count), (0, 0));
    }
}

#[test]
fn printing_matches_lux() {
    let p = |l: &dyn Layer| l.describe();
    assert_eq!(p(&MaxPool::new(&[2, 2]).unwrap()), "MaxPool((2, 2))");
    assert_eq!(p(&MeanPool::new(&[3]).unwrap()), "MeanPool((3,))");
    assert_eq!(p(&LPPool::new(&[2, 2]).unwrap()), "LPPool((2, 2))");
    assert_eq!(p(&LPPool::builder(&[2, 2]).p(3.0).build().unwrap()), "LPPool((2, 2), p=3)");
    assert_eq!(p(&MeanPool::builder(&[5, 5]).padding(Padding::Same).build().unwrap()), "MeanPool((5, 5), pad=2)");
    assert_eq!(p(&MaxPool::builder(&[4]).padding(Padding::Same).build().unwrap()), "MaxPool((4,), pad=(2, 1))");
    assert_eq!(
        p(&MaxPool::builder(&[3, 3]).stride(&[2]).pad(&[1, 0]).dilation(&[2]).build().unwrap()),
        "MaxPool((3, 3), pad=(1, 1, 0, 0), stride=2, dilation=2)"
    );
    assert_eq!(p(&MaxPool::builder(&[2, 2]).stride(&[2, 2]).build().unwrap()), "MaxPool((2, 2))");
    assert_eq!(p(&GlobalMaxPool), "GlobalMaxPool()");
    assert_eq!(p(&GlobalMeanPool), "GlobalMeanPool()");
    assert_eq!(p(&GlobalLPPool::default()), "GlobalLPPool()");
    assert_eq!(p(&GlobalLPPool::new(1.5).unwrap()), "GlobalLPPool(, p=1.5)");
    assert_eq!(p(&AdaptiveMaxPool::new(&[5, 5]).unwrap()), "AdaptiveMaxPool((5, 5))");
    assert_eq!(p(&AdaptiveMeanPool::new(&[7]).unwrap()), "AdaptiveMeanPool((7,))");
    assert_eq!(p(&AdaptiveLPPool::with_p(&[2, 3], 4.0).unwrap()), "AdaptiveLPPool((2, 3), p=4)");
}

#[test]
fn bad_inputs_are_errors() {
    let err = |l: &dyn Layer, x: Tensor| {
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), l).unwrap();
        apply_tensor(l, &x, &ps, &st).unwrap_err().to_string()
    };
    let e = err(&MaxPool::new(&[2, 2]).unwrap(), randn(1, &[2, 3, 8], DType::F32));
    assert!(e.contains("MaxPool((2, 2))") && e.contains("[2, 3, 8]") && e.contains("expected rank 4"), "{e}");
    let e = err(&MeanPool::new(&[5, 5]).unwrap(), randn(1, &[1, 1, 4, 8], DType::F32));
    assert!(e.contains("MeanPool((5, 5))") && e.contains("larger than the padded input"), "{e}");
    let e = err(&AdaptiveMaxPool::new(&[5, 5]).unwrap(), randn(1, &[1, 1, 4, 8], DType::F32));
    assert!(e.contains("AdaptiveMaxPool((5, 5))") && e.contains("[4, 8]"), "{e}");
    let e = err(&AdaptiveMeanPool::new(&[2]).unwrap(), randn(1, &[1, 1, 4, 8], DType::F32));
    assert!(e.contains("AdaptiveMeanPool((2,))") && e.contains("rank"), "{e}");
    let e = err(&GlobalMeanPool, randn(1, &[3, 4], DType::F32));
    assert!(e.contains("GlobalMeanPool()") && e.contains("[3, 4]"), "{e}");
    let e = err(&GlobalLPPool::default(), Tensor::zeros(&[1, 1, 3], DType::I64).unwrap());
    assert!(e.contains("GlobalLPPool()"), "{e}");
    assert!(MaxPool::new(&[]).is_err());
    assert!(MaxPool::builder(&[2, 2]).stride(&[0]).build().is_err());
    assert!(LPPool::builder(&[2]).p(f64::INFINITY).build().is_err());
    assert!(AdaptiveLPPool::new(&[0, 1]).is_err());
}
