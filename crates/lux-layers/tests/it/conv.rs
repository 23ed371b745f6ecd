//! Tests of `Conv` and `ConvTranspose` (Lux's `test/core_layers/conv_tests.jl`
//! translated batch-first, plus values against direct f64 loops written here).

use crate::common::randn;
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, RngState, Tensor, Tree, apply_tensor, setup};
use lux_layers::init::Init;
use lux_layers::{Conv, ConvTranspose};
use lux_ops::{Activation, Padding};

fn f64_tree(t: &Tree) -> Tree {
    t.map(|_, x| x.to_dtype(DType::F64).unwrap())
}

fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for i in (0..dims.len()).rev() {
        idx[i] = flat % dims[i];
        flat /= dims[i];
    }
    idx
}

fn ravel(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
}

#[track_caller]
fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: got {g}, want {w}");
    }
}

/// One layer configuration, spelled out per spatial dim, for the loops.
#[derive(Clone, Debug)]
struct Cfg {
    k: Vec<usize>,
    stride: Vec<usize>,
    pad: Vec<(usize, usize)>,
    dil: Vec<usize>,
    groups: usize,
    cross: bool,
}

/// Direct loops of a (flipped unless `cross`) convolution, f64.
fn naive_conv(x: &[f64], xs: &[usize], w: &[f64], b: Option<&[f64]>, cout: usize, c: &Cfg) -> (Vec<f64>, Vec<usize>) {
    let d = c.k.len();
    let (n, cin) = (xs[0], xs[1]);
    let (cig, cog) = (cin / c.groups, cout / c.groups);
    let mut ws = vec![cout, cig];
    ws.extend(&c.k);
    let out: Vec<usize> =
        (0..d).map(|i| (xs[2 + i] + c.pad[i].0 + c.pad[i].1 - c.dil[i] * (c.k[i] - 1) - 1) / c.stride[i] + 1).collect();
    let mut os = vec![n, cout];
    os.extend(&out);
    let kk: usize = c.k.iter().product();
    let mut y = vec![0.0; os.iter().product()];
    for (flat, yv) in y.iter_mut().enumerate() {
        let oi = unravel(flat, &os);
        let g = oi[1] / cog;
        let mut s = b.map_or(0.0, |b| b[oi[1]]);
        for ci in 0..cig {
            for kf in 0..kk {
                let kidx = unravel(kf, &c.k);
                let mut pos = vec![oi[0], g * cig + ci];
                let mut inside = true;
                for i in 0..d {
                    let kd = if c.cross { kidx[i] } else { c.k[i] - 1 - kidx[i] };
                    let p = (oi[2 + i] * c.stride[i] + kd * c.dil[i]) as isize - c.pad[i].0 as isize;
                    inside &= p >= 0 && p < xs[2 + i] as isize;
                    pos.push(p.max(0) as usize);
                }
                if inside {
                    let mut wi = vec![oi[1], ci];
                    wi.extend(&kidx);
                    s += w[ravel(&wi, &ws)] * x[ravel(&pos, xs)];
                }
            }
        }
        *yv = s;
    }
    (y, os)
}

/// Direct scatter loops of a transposed convolution, f64; `w` is `[in, out/groups, k…]`.
fn naive_conv_transpose(
    x: &[f64],
    xs: &[usize],
    w: &[f64],
    b: Option<&[f64]>,
    cout: usize,
    c: &Cfg,
    outpad: &[usize],
) -> (Vec<f64>, Vec<usize>) {
    let d = c.k.len();
    let (n, cin) = (xs[0], xs[1]);
    let (cig, cog) = (cin / c.groups, cout / c.groups);
    let mut ws = vec![cin, cog];
    ws.extend(&c.k);
    let out: Vec<usize> = (0..d)
        .map(|i| (xs[2 + i] - 1) * c.stride[i] + 1 + c.dil[i] * (c.k[i] - 1) + outpad[i] - c.pad[i].0 - c.pad[i].1)
        .collect();
    let mut os = vec![n, cout];
    os.extend(&out);
    let mut y: Vec<f64> = (0..os.iter().product()).map(|f| b.map_or(0.0, |b| b[unravel(f, &os)[1]])).collect();
    let kk: usize = c.k.iter().product();
    for (xf, &xv) in x.iter().enumerate() {
        let xi = unravel(xf, xs);
        let g = xi[1] / cig;
        for col in 0..cog {
            for kf in 0..kk {
                let kidx = unravel(kf, &c.k);
                let mut pos = vec![xi[0], g * cog + col];
                let mut inside = true;
                for i in 0..d {
                    let kd = if c.cross { kidx[i] } else { c.k[i] - 1 - kidx[i] };
                    let p = (xi[2 + i] * c.stride[i] + kd * c.dil[i]) as isize - c.pad[i].0 as isize;
                    inside &= p >= 0 && p < out[i] as isize;
                    pos.push(p.max(0) as usize);
                }
                if inside {
                    let mut wi = vec![xi[1], col];
                    wi.extend(&kidx);
                    y[ravel(&pos, &os)] += xv * w[ravel(&wi, &ws)];
                }
            }
        }
    }
    (y, os)
}

/// (input shape, output channels, kernel, asymmetric padding).
type ShapeCase = (Vec<usize>, usize, Vec<usize>, Vec<(usize, usize)>);
/// (layer, input shape, output shape).
type LayerCase = (Box<dyn Layer>, Vec<usize>, Vec<usize>);

fn same(k: &[usize], dil: &[usize]) -> Vec<(usize, usize)> {
    k.iter()
        .zip(dil)
        .map(|(&k, &d)| (d * (k - 1)).div_ceil(2))
        .zip(k.iter().zip(dil).map(|(&k, &d)| d * (k - 1) / 2))
        .collect()
}

/// Runs a layer in f64 (parameters converted) and returns (values, shape).
fn run_f64(layer: &dyn Layer, x: &Tensor, seed: u64) -> (Vec<f64>, Vec<usize>, Tree) {
    let (ps, st) = setup(&mut RngState::seed_from_u64(seed), layer).unwrap();
    let ps = f64_tree(&ps);
    let (y, _) = apply_tensor(layer, x, &ps, &st).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
    assert_eq!(y.dtype(), DType::F64);
    (y.to_f64_vec(), y.shape().to_vec(), ps)
}

#[test]
fn conv_matches_naive_loops_1d_2d_3d() {
    let mut cases = 0u64;
    let shapes: [ShapeCase; 3] = [
        (vec![2, 4, 9], 6, vec![3], vec![(2, 0)]),
        (vec![2, 4, 7, 6], 4, vec![3, 2], vec![(0, 1), (1, 2)]),
        (vec![1, 2, 5, 6, 5], 4, vec![2, 3, 2], vec![(1, 0), (0, 0), (2, 1)]),
    ];
    for (xs, cout, k, asym) in &shapes {
        let d = k.len();
        for groups in [1, 2] {
            for cross in [false, true] {
                for padk in 0..3 {
                    for (s, dl) in [(1, 1), (2, 1), (1, 2)] {
                        let use_bias = cases % 2 == 0;
                        let dil = vec![dl; d];
                        let (padding, pad) = match padk {
                            0 => (Padding::default(), vec![(0, 0); d]),
                            1 => (Padding::Explicit(asym.clone()), asym.clone()),
                            _ => (Padding::Same, same(k, &dil)),
                        };
                        let layer = Conv::builder(k, xs[1], *cout)
                            .stride(&[s])
                            .dilation(&[dl])
                            .padding(padding)
                            .groups(groups)
                            .cross_correlation(cross)
                            .use_bias(use_bias)
                            .build()
                            .unwrap();
                        let x = randn(100 + cases, xs, DType::F64);
                        let (got, shape, ps) = run_f64(&layer, &x, cases);
                        let cfg = Cfg { k: k.clone(), stride: vec![s; d], pad, dil, groups, cross };
                        let b = use_bias.then(|| ps.tensor("bias").unwrap().to_f64_vec());
                        let w = ps.tensor("weight").unwrap().to_f64_vec();
                        let (want, wshape) = naive_conv(&x.to_f64_vec(), xs, &w, b.as_deref(), *cout, &cfg);
                        assert_eq!(shape, wshape, "{}", layer.describe());
                        if padk == 2 {
                            let ceil: Vec<usize> = xs[2..].iter().map(|i| i.div_ceil(s)).collect();
                            assert_eq!(&shape[2..], ceil.as_slice(), "SamePad: ceil(in / stride)");
                        }
                        assert_close(&got, &want, 1e-12);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 3 * 2 * 2 * 3 * 3);
}

#[test]
fn conv_transpose_matches_naive_loops_1d_2d_3d() {
    let mut cases = 0u64;
    let shapes: [ShapeCase; 3] = [
        (vec![2, 4, 5], 6, vec![3], vec![(2, 0)]),
        (vec![2, 2, 4, 3], 4, vec![3, 2], vec![(0, 1), (1, 0)]),
        (vec![1, 2, 3, 2, 3], 2, vec![2, 3, 2], vec![(1, 0), (0, 0), (1, 1)]),
    ];
    for (xs, cout, k, asym) in &shapes {
        let d = k.len();
        for groups in [1, 2] {
            for cross in [false, true] {
                for padk in 0..3 {
                    for (s, dl, op) in [(1, 1, 0), (2, 1, 1), (1, 2, 0), (2, 2, 1)] {
                        let dil = vec![dl; d];
                        let stride = vec![s; d];
                        let (padding, pad) = match padk {
                            0 => (Padding::default(), vec![(0, 0); d]),
                            1 => (Padding::Explicit(asym.clone()), asym.clone()),
                            _ if k.iter().any(|&k| k < s) => continue,
                            _ => {
                                let k2: Vec<usize> = k.iter().map(|&k| k + 1 - s).collect();
                                (Padding::Same, same(&k2, &dil))
                            }
                        };
                        let layer = ConvTranspose::builder(k, xs[1], *cout)
                            .stride(&[s])
                            .dilation(&[dl])
                            .padding(padding)
                            .groups(groups)
                            .cross_correlation(cross)
                            .output_padding(&[op])
                            .init_bias(Init::normal(0.0, 1.0))
                            .build()
                            .unwrap();
                        let x = randn(300 + cases, xs, DType::F64);
                        let (got, shape, ps) = run_f64(&layer, &x, cases);
                        let cfg = Cfg { k: k.clone(), stride: stride.clone(), pad, dil, groups, cross };
                        let b = ps.tensor("bias").unwrap().to_f64_vec();
                        let w = ps.tensor("weight").unwrap().to_f64_vec();
                        let (want, wshape) =
                            naive_conv_transpose(&x.to_f64_vec(), xs, &w, Some(&b), *cout, &cfg, &vec![op; d]);
                        assert_eq!(shape, wshape, "{}", layer.describe());
                        if padk == 2 && dl == 1 {
                            let want_sp: Vec<usize> = xs[2..].iter().map(|i| i * s + op).collect();
                            assert_eq!(&shape[2..], want_sp.as_slice(), "SamePad: in · stride");
                        }
                        assert_close(&got, &want, 1e-12);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert!(cases > 100, "{cases}");
}

#[test]
fn conv_layers_pass_check_layer() {
    let cases: Vec<LayerCase> = vec![
        (Box::new(Conv::builder(&[3], 6, 2).groups(2).build().unwrap()), vec![1, 6, 4], vec![1, 2, 2]),
        (
            Box::new(Conv::builder(&[3, 3], 2, 3).activation(Activation::Tanh).padding(Padding::Same).build().unwrap()),
            vec![2, 2, 4, 4],
            vec![2, 3, 4, 4],
        ),
        (
            Box::new(
                Conv::builder(&[2, 2, 2], 2, 2).stride(&[2]).cross_correlation(true).use_bias(false).build().unwrap(),
            ),
            vec![1, 2, 4, 3, 4],
            vec![1, 2, 2, 1, 2],
        ),
        (
            Box::new(ConvTranspose::builder(&[3, 3], 2, 4).groups(2).padding(Padding::Same).build().unwrap()),
            vec![2, 2, 3, 3],
            vec![2, 4, 3, 3],
        ),
        (
            Box::new(
                ConvTranspose::builder(&[3], 2, 1)
                    .activation(Activation::Tanh)
                    .stride(&[2])
                    .output_padding(&[1])
                    .init_bias(Init::normal(0.0, 1.0))
                    .build()
                    .unwrap(),
            ),
            vec![2, 2, 3],
            vec![2, 1, 8],
        ),
    ];
    for (layer, xs, ys) in cases {
        let x: Tree = randn(7, &xs, DType::F32).into();
        let opts = LayerCheck { output_shape: Some(ys), ..Default::default() };
        check_layer(&layer, &x, &opts).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
    }
}

#[test]
fn lux_grouped_and_depthwise_cases() {
    let mut rng = RngState::seed_from_u64(0);
    // Conv((3,), 6 => 2; groups=2): Lux's weight (3, 3, 2) is [2, 3, 3] here
    for (k, xs, ws, ys) in [
        (vec![3], vec![1, 6, 4], vec![2, 3, 3], vec![1, 2, 2]),
        (vec![3, 3], vec![1, 6, 4, 4], vec![2, 3, 3, 3], vec![1, 2, 2, 2]),
        (vec![3, 3, 3], vec![1, 6, 4, 4, 4], vec![2, 3, 3, 3, 3], vec![1, 2, 2, 2, 2]),
    ] {
        let layer = Conv::builder(&k, 6, 2).groups(2).build().unwrap();
        let (ps, st) = setup(&mut rng, &layer).unwrap();
        assert_eq!(ps.tensor("weight").unwrap().shape(), ws.as_slice());
        let (y, _) = apply_tensor(&layer, randn(1, &xs, DType::F32), &ps, &st).unwrap();
        assert_eq!(y.shape(), ys.as_slice());
    }
    // depthwise
    let x = randn(2, &[2, 3, 4, 4], DType::F32);
    for (out, bias) in [(15, true), (9, true), (9, false)] {
        let layer = Conv::builder(&[2, 2], 3, out).groups(3).use_bias(bias).build().unwrap();
        let (ps, st) = setup(&mut rng, &layer).unwrap();
        assert_eq!(layer.param_count(), ps.param_count());
        assert_eq!(layer.param_count(), 4 * out + if bias { out } else { 0 });
        assert_eq!(apply_tensor(&layer, &x, &ps, &st).unwrap().0.shape()[1], out);
    }
    // Segfault test Lux#386: Conv((5,), 32 => 32, tanh; groups=32)
    let layer = Conv::builder(&[5], 32, 32).activation(Activation::Tanh).groups(32).build().unwrap();
    let (ps, st) = setup(&mut rng, &layer).unwrap();
    assert_eq!(apply_tensor(&layer, randn(3, &[1, 32, 16], DType::F32), &ps, &st).unwrap().0.shape(), &[1, 32, 12]);
    // non-integer multiplication factors
    assert!(Conv::builder(&[2, 2], 3, 10).groups(2).build().is_err());
    assert!(Conv::builder(&[2, 2], 2, 9).groups(2).build().is_err());
    assert!(Conv::builder(&[2, 2], 3, 10).groups(3).build().is_err());
}

/// Lux's "Asymmetric Padding" test: pad=(0, 1, 1, 2) on a 28×28 input of
/// ones with an all-ones 3×3 kernel. Lux's pad is (W: 0, 1; H: 1, 2); here
/// H comes first: [(1, 2), (0, 1)], and Lux's y[w, h] is y[h, w].
#[test]
fn lux_asymmetric_padding_values() {
    for cross in [false, true] {
        let layer = Conv::builder(&[3, 3], 1, 1)
            .activation(Activation::Relu)
            .padding(Padding::Explicit(vec![(1, 2), (0, 1)]))
            .cross_correlation(cross)
            .init_weight(Init::ones())
            .init_bias(Init::zeros())
            .build()
            .unwrap();
        let c = if cross { ", cross_correlation=true" } else { "" };
        assert_eq!(layer.describe(), format!("Conv((3, 3), 1 => 1, relu, pad=(1, 2, 0, 1){c})"));
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
        let (y, _) = apply_tensor(&layer, Tensor::ones(&[1, 1, 28, 28], DType::F32).unwrap(), &ps, &st).unwrap();
        assert_eq!(y.shape(), &[1, 1, 29, 27]);
        let v = y.to_vec::<f32>().unwrap();
        let at = |h: usize, w: usize| v[h * 27 + w];
        // Lux: y[1,1]=6, y[2,2]=9, y[end,1]=4, y[1,end]=3, y[1,end-1]=6, y[end,end]=2
        assert_eq!(at(0, 0), 6.0);
        assert_eq!(at(1, 1), 9.0);
        assert_eq!(at(0, 26), 4.0);
        assert_eq!(at(28, 0), 3.0);
        assert_eq!(at(27, 0), 6.0);
        assert_eq!(at(28, 26), 2.0);
    }
}

/// Lux's "non quadratic window" test (Flux#700): a single 1 at the centre
/// of a 7×7 input. A true convolution's impulse response is the kernel
/// itself (Lux: `y[2:end-1, 2:end-1] == weight`); a cross-correlation's is
/// the kernel reversed.
#[test]
fn lux_non_quadratic_window_impulse_response() {
    let mut x = vec![0.0f64; 49];
    x[3 * 7 + 3] = 1.0;
    let x = Tensor::from_vec(x, &[1, 1, 7, 7]).unwrap();
    for (k, ys) in [([3, 3], [5, 5]), ([1, 3], [7, 5]), ([3, 1], [5, 7])] {
        for cross in [false, true] {
            let layer = Conv::builder(&k, 1, 1).use_bias(false).cross_correlation(cross).build().unwrap();
            let (y, shape, ps) = run_f64(&layer, &x, 5);
            assert_eq!(shape, vec![1, 1, ys[0], ys[1]]);
            let w = ps.tensor("weight").unwrap().to_f64_vec();
            let mut want = vec![0.0; ys[0] * ys[1]];
            // y[o] = Σ_t w'[t]·x[o + t] with w' the (flipped unless cross) kernel;
            // x = δ at 3 → y[3 − t] = w'[t]
            for a in 0..k[0] {
                for b in 0..k[1] {
                    let (oi, oj) = (3 - a, 3 - b);
                    let (wa, wb) = if cross { (a, b) } else { (k[0] - 1 - a, k[1] - 1 - b) };
                    want[oi * ys[1] + oj] = w[wa * k[1] + wb];
                }
            }
            assert_close(&y, &want, 1e-14);
        }
    }
}

#[test]
fn lux_conv_samepad_kernel_sizes() {
    for k in [vec![1], vec![2], vec![3], vec![2, 3], vec![1, 2, 3]] {
        let mut xs = vec![1, 1];
        xs.extend(k.iter().map(|k| k + 3));
        let x = Tensor::ones(&xs, DType::F32).unwrap();
        let dil: Vec<usize> = k.iter().map(|&k| (k / 2).max(1)).collect();
        for (stride, dilation) in [(1, vec![1]), (1, dil.clone()), (3, vec![1])] {
            for cross in [false, true] {
                let layer = Conv::builder(&k, 1, 1)
                    .padding(Padding::Same)
                    .stride(&[stride])
                    .dilation(&dilation)
                    .cross_correlation(cross)
                    .build()
                    .unwrap();
                let (ps, st) = setup(&mut RngState::seed_from_u64(1), &layer).unwrap();
                let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
                let want: Vec<usize> = xs[2..].iter().map(|i| i.div_ceil(stride)).collect();
                assert_eq!(&y.shape()[2..], want.as_slice(), "{}", layer.describe());
            }
        }
    }
}

#[test]
fn lux_conv_transpose_cases() {
    let mut rng = RngState::seed_from_u64(2);
    let run = |layer: &ConvTranspose, xs: &[usize], rng: &mut RngState| {
        let (ps, st) = setup(rng, layer).unwrap();
        (apply_tensor(layer, randn(9, xs, DType::F32), &ps, &st).unwrap().0.shape().to_vec(), ps)
    };
    for cross in [false, true] {
        // Conv then ConvTranspose gives back the input's size
        let conv = Conv::builder(&[3, 3], 1, 1).build().unwrap();
        let (ps, st) = setup(&mut rng, &conv).unwrap();
        let (y, _) = apply_tensor(&conv, randn(1, &[1, 1, 5, 5], DType::F32), &ps, &st).unwrap();
        for bias in [true, false] {
            let t = ConvTranspose::builder(&[3, 3], 1, 1).use_bias(bias).cross_correlation(cross).build().unwrap();
            let (ps, st) = setup(&mut rng, &t).unwrap();
            assert_eq!(apply_tensor(&t, &y, &ps, &st).unwrap().0.shape(), &[1, 1, 5, 5]);
        }
        // groups: Lux weight (3, 3, 4, 2) is [2, 4, 3, 3]; with groups=2, (3, 3, 2, 2)
        let l1 = ConvTranspose::builder(&[3, 3], 2, 4).padding(Padding::Same).cross_correlation(cross).build().unwrap();
        let l2 = ConvTranspose::builder(&[3, 3], 2, 4)
            .groups(2)
            .padding(Padding::Same)
            .cross_correlation(cross)
            .build()
            .unwrap();
        let (s1, p1) = run(&l1, &[3, 2, 10, 10], &mut rng);
        let (s2, p2) = run(&l2, &[3, 2, 10, 10], &mut rng);
        assert_eq!(p1.tensor("weight").unwrap().shape(), &[2, 4, 3, 3]);
        assert_eq!(p2.tensor("weight").unwrap().shape(), &[2, 2, 3, 3]);
        assert_eq!((s1.clone(), s2), (vec![3, 4, 10, 10], s1));
        let l = ConvTranspose::builder(&[3], 2, 4)
            .padding(Padding::Same)
            .groups(2)
            .cross_correlation(cross)
            .build()
            .unwrap();
        let (s, p) = run(&l, &[1, 2, 10], &mut rng);
        assert_eq!((s, p.tensor("weight").unwrap().len()), (vec![1, 4, 10], 3 * (2 * 4) / 2));
        let l = ConvTranspose::builder(&[5, 3], 4, 4)
            .padding(Padding::Same)
            .groups(4)
            .activation(Activation::Tanh)
            .build()
            .unwrap();
        let (s, p) = run(&l, &[2, 4, 11, 10], &mut rng);
        assert_eq!((s, p.tensor("weight").unwrap().len()), (vec![2, 4, 11, 10], 15 * 16 / 4));
        let l = ConvTranspose::builder(&[3, 5, 3], 3, 6).padding(Padding::Same).groups(3).build().unwrap();
        let (s, p) = run(&l, &[2, 3, 12, 11, 10], &mut rng);
        assert_eq!((s, p.tensor("weight").unwrap().len()), (vec![2, 6, 12, 11, 10], 45 * 18 / 3));
        let d = ConvTranspose::builder(&[3, 3], 2, 4).groups(2).cross_correlation(cross).build().unwrap().describe();
        assert!(d.contains("groups=2") && d.contains("2 => 4"));
        // SamePad size mismatch Lux#534
        let l = ConvTranspose::builder(&[3], 2, 1)
            .padding(Padding::Same)
            .stride(&[2])
            .cross_correlation(cross)
            .build()
            .unwrap();
        assert_eq!(run(&l, &[1, 2, 2], &mut rng).0, vec![1, 1, 4]);
        // output padding
        let m1 = ConvTranspose::builder(&[5, 3], 3, 6).stride(&[3]).cross_correlation(cross).build().unwrap();
        let m2 = ConvTranspose::builder(&[5, 3], 3, 6).stride(&[3]).output_padding(&[0, 1]).build().unwrap();
        let (a, _) = run(&m1, &[2, 3, 11, 10], &mut rng);
        let (b, _) = run(&m2, &[2, 3, 11, 10], &mut rng);
        assert_eq!((a[2], a[3] + 1), (b[2], b[3]));
        let m1 = ConvTranspose::builder(&[3, 5, 3], 3, 6).stride(&[3]).build().unwrap();
        let m2 = ConvTranspose::builder(&[3, 5, 3], 3, 6).stride(&[3]).output_padding(&[1, 0, 1]).build().unwrap();
        let (a, _) = run(&m1, &[2, 3, 12, 11, 10], &mut rng);
        let (b, _) = run(&m2, &[2, 3, 12, 11, 10], &mut rng);
        assert_eq!((a[2] + 1, a[3], a[4] + 1), (b[2], b[3], b[4]));
    }
}

#[test]
fn lux_catch_channel_mismatch_early() {
    let layer = ConvTranspose::builder(&[4, 4], 42, 16).stride(&[2]).pad(&[1]).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    assert_eq!(
        apply_tensor(&layer, randn(1, &[3, 42, 28, 28], DType::F32), &ps, &st).unwrap().0.shape(),
        &[3, 16, 56, 56]
    );
    for c in [46, 23] {
        let err = apply_tensor(&layer, randn(1, &[3, c, 28, 28], DType::F32), &ps, &st).unwrap_err().to_string();
        assert!(err.contains("ConvTranspose((4, 4), 42 => 16, pad=1, stride=2)"), "{err}");
        assert!(err.contains(&format!("input has {c} channels, expected 42")), "{err}");
    }
}

#[test]
fn default_initialisers_follow_lux() {
    // Conv: kaiming_uniform with gain calculate_gain(σ) → bound gain·√(3/fan_in); bias ±1/√fan_in
    let layer = Conv::builder(&[5, 5], 10, 200).activation(Activation::Relu).build().unwrap();
    let (ps, _) = setup(&mut RngState::seed_from_u64(3), &layer).unwrap();
    let fan_in = 250.0f64;
    let w = ps.tensor("weight").unwrap().to_f64_vec();
    let bound = 2.0 * (3.0 / fan_in).sqrt();
    let max = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max <= bound && max > 0.98 * bound, "{max} vs {bound}");
    let b = ps.tensor("bias").unwrap().to_f64_vec();
    let bmax = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(bmax <= 1.0 / fan_in.sqrt() && bmax > 0.9 / fan_in.sqrt());
    assert_eq!(ps.tensor("weight").unwrap().dtype(), DType::F32);
    // ConvTranspose: glorot_uniform over fans (out/groups·Πk, in·Πk), zero bias
    let layer = ConvTranspose::builder(&[3, 3], 40, 60).groups(2).build().unwrap();
    let (ps, _) = setup(&mut RngState::seed_from_u64(4), &layer).unwrap();
    let w = ps.tensor("weight").unwrap().to_f64_vec();
    let bound = (6.0f64 / (30.0 * 9.0 + 40.0 * 9.0)).sqrt();
    let max = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max <= bound && max > 0.98 * bound, "{max} vs {bound}");
    assert!(ps.tensor("bias").unwrap().to_f64_vec().iter().all(|&v| v == 0.0));
    // Lux's "Variable BitWidth Parameters": parameters of another dtype set the compute dtype
    let layer = Conv::builder(&[5, 5], 10, 20).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(5), &layer).unwrap();
    let ps = f64_tree(&ps);
    let (y, _) = apply_tensor(&layer, randn(6, &[1, 10, 6, 6], DType::F32), &ps, &st).unwrap();
    assert_eq!(y.dtype(), DType::F64);
}

#[test]
fn printing_matches_lux() {
    let p = |l: &dyn Layer| l.describe();
    assert_eq!(p(&Conv::new(&[3, 3], 1, 6, Activation::Relu).unwrap()), "Conv((3, 3), 1 => 6, relu)");
    assert_eq!(
        p(&Conv::builder(&[3, 3], 1, 6).activation(Activation::Relu).pad(&[1]).build().unwrap()),
        "Conv((3, 3), 1 => 6, relu, pad=1)"
    );
    assert_eq!(p(&Conv::new(&[5], 32, 32, Activation::Tanh).unwrap()), "Conv((5,), 32 => 32, tanh)");
    assert_eq!(
        p(&Conv::builder(&[3, 3], 3, 32).activation(Activation::Relu).padding(Padding::Same).build().unwrap()),
        "Conv((3, 3), 3 => 32, relu, pad=1)"
    );
    assert_eq!(
        p(&Conv::builder(&[4, 4], 2, 2).padding(Padding::Same).build().unwrap()),
        "Conv((4, 4), 2 => 2, pad=(2, 1, 2, 1))"
    );
    assert_eq!(
        p(&Conv::builder(&[3, 3], 2, 4)
            .activation(Activation::Gelu)
            .stride(&[2, 1])
            .dilation(&[2])
            .groups(2)
            .use_bias(false)
            .cross_correlation(true)
            .build()
            .unwrap()),
        "Conv((3, 3), 2 => 4, gelu_tanh, stride=(2, 1), dilation=2, groups=2, use_bias=false, cross_correlation=true)"
    );
    assert_eq!(p(&Conv::builder(&[2], 1, 1).activation(Activation::Sigmoid).build().unwrap()), "Conv((2,), 1 => 1, σ)");
    assert_eq!(
        p(&ConvTranspose::builder(&[3, 5], 4, 4)
            .activation(Activation::Tanh)
            .padding(Padding::Same)
            .groups(4)
            .build()
            .unwrap()),
        "ConvTranspose((3, 5), 4 => 4, tanh, pad=(1, 1, 2, 2), groups=4)"
    );
    assert_eq!(
        p(&ConvTranspose::builder(&[3, 5, 3], 3, 6)
            .stride(&[3])
            .output_padding(&[1, 0, 1])
            .use_bias(false)
            .build()
            .unwrap()),
        "ConvTranspose((3, 5, 3), 3 => 6, stride=3, outpad=(1, 0, 1), use_bias=false)"
    );
}

#[test]
fn bad_inputs_and_parameters_are_errors() {
    let layer = Conv::builder(&[3, 3], 3, 4).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let err = |x: Tensor, ps: &Tree| apply_tensor(&layer, &x, ps, &st).unwrap_err().to_string();
    let e = err(randn(1, &[2, 4, 8, 8], DType::F32), &ps);
    assert!(
        e.contains("Conv((3, 3), 3 => 4)")
            && e.contains("input has 4 channels, expected 3")
            && e.contains("[2, 4, 8, 8]"),
        "{e}"
    );
    let e = err(randn(1, &[2, 3, 8], DType::F32), &ps);
    assert!(e.contains("Conv((3, 3), 3 => 4)") && e.contains("[2, 3, 8]") && e.contains("expected rank 4"), "{e}");
    let e = err(randn(1, &[2, 3, 2, 8], DType::F32), &ps);
    assert!(e.contains("Conv((3, 3), 3 => 4)") && e.contains("larger than the padded input"), "{e}");
    let e = err(Tensor::zeros(&[2, 3, 8, 8], DType::I64).unwrap(), &ps);
    assert!(e.contains("Conv((3, 3), 3 => 4)"), "{e}");
    // parameters of another layer
    let other = Conv::builder(&[3, 3], 3, 5).build().unwrap();
    let (ps5, _) = setup(&mut RngState::seed_from_u64(0), &other).unwrap();
    let e = err(randn(1, &[2, 3, 8, 8], DType::F32), &ps5);
    assert!(
        e.contains("Conv((3, 3), 3 => 4)") && e.contains("`weight` has shape [5, 3, 3, 3], expected [4, 3, 3, 3]"),
        "{e}"
    );
    let e = err(randn(1, &[2, 3, 8, 8], DType::F32), &Tree::new());
    assert!(e.contains("Conv((3, 3), 3 => 4)") && e.contains("weight"), "{e}");
    let mut nb = ps.clone();
    assert!(nb.remove("bias").is_some());
    let e = err(randn(1, &[2, 3, 8, 8], DType::F32), &nb);
    assert!(e.contains("Conv((3, 3), 3 => 4)") && e.contains("bias"), "{e}");
    // construction errors
    for r in [
        Conv::builder(&[3, 0], 1, 1).build(),
        Conv::builder(&[3], 0, 1).build(),
        Conv::builder(&[3, 3], 1, 1).stride(&[0]).build(),
        Conv::builder(&[3, 3], 1, 1).padding(Padding::Explicit(vec![(1, 1); 3])).build(),
        Conv::builder(&[3, 3], 4, 6).groups(4).build(),
    ] {
        assert!(r.is_err());
    }
    let e = Conv::builder(&[2, 2], 3, 10).groups(2).build().unwrap_err().to_string();
    assert!(e.contains("Conv((2, 2), 3 => 10)") && e.contains("divisible by groups=2"), "{e}");
    assert!(ConvTranspose::builder(&[1], 1, 1).stride(&[2]).padding(Padding::Same).build().is_err());
}

/// The LeNet-5 stack of Lux's docs (`Conv((5, 5), 1 => 6, relu)`,
/// `MaxPool((2, 2))`, `Conv((5, 5), 6 => 16, relu)`, `MaxPool((2, 2))`),
/// run layer by layer: shapes, parameter counts and printing.
#[test]
fn lenet_stack_shapes_counts_and_printing() {
    use lux_layers::MaxPool;
    let c1 = Conv::new(&[5, 5], 1, 6, Activation::Relu).unwrap();
    let p = MaxPool::new(&[2, 2]).unwrap();
    let c2 = Conv::new(&[5, 5], 6, 16, Activation::Relu).unwrap();
    assert_eq!(
        [c1.describe(), p.describe(), c2.describe()],
        ["Conv((5, 5), 1 => 6, relu)", "MaxPool((2, 2))", "Conv((5, 5), 6 => 16, relu)"]
    );
    assert_eq!((c1.param_count(), c2.param_count(), p.param_count()), (156, 2416, 0));
    let mut rng = RngState::seed_from_u64(0);
    let mut x = randn(1, &[4, 1, 28, 28], DType::F32);
    for (layer, shape) in
        [(&c1 as &dyn Layer, [4, 6, 24, 24]), (&p, [4, 6, 12, 12]), (&c2, [4, 16, 8, 8]), (&p, [4, 16, 4, 4])]
    {
        let (ps, st) = setup(&mut rng, layer).unwrap();
        x = apply_tensor(layer, &x, &ps, &st).unwrap().0;
        assert_eq!(x.shape(), &shape, "{}", layer.describe());
    }
    assert!(x.to_vec::<f32>().unwrap().iter().all(|&v| v >= 0.0), "relu then max pooling is non-negative");
}
