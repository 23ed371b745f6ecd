//! Tests of `Upsample` and `PixelShuffle` (Lux's conv_tests.jl "Upsample"
//! and "PixelShuffle" testsets translated batch-first, plus values against
//! direct f64 loops).

use crate::common::randn;
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, RngState, Tensor, Tree, apply_tensor, setup};
use lux_layers::*;

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

fn run(layer: &dyn Layer, x: &Tensor) -> Tensor {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), layer).unwrap();
    apply_tensor(layer, x, &ps, &st).unwrap_or_else(|e| panic!("{}: {e}", layer.describe())).0
}

/// Multilinear interpolation with aligned corners, written per output
/// element as a weighted sum over the 2^D corner neighbours.
fn naive_linear_aligned(x: &Tensor, out: &[usize]) -> Vec<f64> {
    let xs = x.shape().to_vec();
    let xv = x.to_f64_vec();
    let d = out.len();
    let mut os = xs[..2].to_vec();
    os.extend(out);
    (0..os.iter().product())
        .map(|flat| {
            let oi = unravel(flat, &os);
            let mut total = 0.0;
            for corner in 0..(1usize << d) {
                let mut idx = vec![oi[0], oi[1]];
                let mut weight = 1.0;
                for i in 0..d {
                    let (n_in, n_out) = (xs[2 + i], out[i]);
                    let src = if n_out > 1 { oi[2 + i] as f64 * (n_in - 1) as f64 / (n_out - 1) as f64 } else { 0.0 };
                    let lo = (src.floor() as usize).min(n_in - 1);
                    let frac = src - lo as f64;
                    let hi = (lo + 1).min(n_in - 1);
                    if corner >> i & 1 == 1 {
                        idx.push(hi);
                        weight *= frac;
                    } else {
                        idx.push(lo);
                        weight *= 1.0 - frac;
                    }
                }
                total += weight * xv[ravel(&idx, &xs)];
            }
            total
        })
        .collect()
}

#[track_caller]
fn assert_close(got: &Tensor, want: &[f64], tol: f64) {
    let got = got.to_f64_vec();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "element {i}: got {g}, want {w}");
    }
}

#[test]
fn nearest_matches_naive_loops() {
    for (xs, scale) in [(vec![2, 3, 4], vec![3]), (vec![2, 2, 3, 4], vec![2, 1]), (vec![1, 2, 2, 3, 2], vec![2, 3, 1])]
    {
        let x = randn(1, &xs, DType::F64);
        let xv = x.to_f64_vec();
        let layer =
            Upsample::scale(UpsampleMode::Nearest, &scale.iter().map(|&s| s as f64).collect::<Vec<_>>()).unwrap();
        let y = run(&layer, &x);
        let mut os = xs[..2].to_vec();
        os.extend(xs[2..].iter().zip(&scale).map(|(a, b)| a * b));
        assert_eq!(y.shape(), os.as_slice());
        let want: Vec<f64> = (0..os.iter().product())
            .map(|f| {
                let mut i = unravel(f, &os);
                for d in 0..scale.len() {
                    i[2 + d] /= scale[d];
                }
                xv[ravel(&i, &xs)]
            })
            .collect();
        assert_close(&y, &want, 0.0);
        // the same through a target size
        let by_size = Upsample::size(UpsampleMode::Nearest, &os[2..]).unwrap();
        assert_eq!(run(&by_size, &x), y);
    }
}

#[test]
fn linear_modes_match_naive_loops_with_aligned_corners() {
    for (xs, out) in [(vec![2, 2, 4], vec![7]), (vec![2, 2, 3, 4], vec![5, 9]), (vec![1, 2, 2, 3, 4], vec![4, 5, 3])] {
        let x = randn(2, &xs, DType::F64);
        let want = naive_linear_aligned(&x, &out);
        for mode in [UpsampleMode::Bilinear, UpsampleMode::Trilinear] {
            for align in [false, true] {
                // Lux passes no align_corners to NNlib: the corners are aligned either way
                let layer = Upsample::size(mode, &out).unwrap().align_corners(align);
                let y = run(&layer, &x);
                assert_eq!(&y.shape()[2..], out.as_slice());
                assert_close(&y, &want, 1e-12);
            }
        }
    }
    // scale 2 on 4 → 8, scale 1.5 on 4 → floor(6) = 6
    let x = randn(3, &[1, 1, 4, 4], DType::F64);
    let y = run(&Upsample::scale(UpsampleMode::Bilinear, &[2.0, 1.5]).unwrap(), &x);
    assert_eq!(y.shape(), &[1, 1, 8, 6]);
    assert_close(&y, &naive_linear_aligned(&x, &[8, 6]), 1e-12);
}

/// Lux's "Size Correctness": sizes (8, 8), (8, 4) and scales 2, (2, 1) on a
/// 4×4 input; (8, 8, 8), (8, 4, 4) and 2, (2, 1, 1), (2, 2, 1) on 4×4×4.
#[test]
fn lux_size_correctness() {
    for mode in [UpsampleMode::Nearest, UpsampleMode::Bilinear, UpsampleMode::Trilinear] {
        let x = randn(4, &[2, 3, 4, 4], DType::F32);
        for size in [vec![8, 8], vec![8, 4]] {
            let y = run(&Upsample::size(mode, &size).unwrap(), &x);
            assert_eq!(y.shape(), &[2, 3, size[0], size[1]]);
        }
        for scale in [vec![2.0], vec![2.0, 1.0]] {
            let y = run(&Upsample::scale(mode, &scale).unwrap(), &x);
            let s = if scale.len() == 1 { [2, 2] } else { [2, 1] };
            assert_eq!(y.shape(), &[2, 3, 4 * s[0], 4 * s[1]]);
        }
        let x = randn(5, &[3, 2, 4, 4, 4], DType::F32);
        for size in [vec![8, 8, 8], vec![8, 4, 4]] {
            assert_eq!(&run(&Upsample::size(mode, &size).unwrap(), &x).shape()[2..], size.as_slice());
        }
        for scale in [vec![2.0, 1.0, 1.0], vec![2.0, 2.0, 1.0]] {
            let want: Vec<usize> = scale.iter().map(|s| 4 * *s as usize).collect();
            assert_eq!(&run(&Upsample::scale(mode, &scale).unwrap(), &x).shape()[2..], want.as_slice());
        }
    }
}

#[test]
fn pixel_shuffle_matches_naive_loops_and_lux_shapes() {
    for (xs, r) in [(vec![3, 4, 3], 2usize), (vec![3, 9, 4, 3], 3), (vec![2, 8, 2, 3], 2), (vec![1, 16, 2, 1, 2], 2)] {
        let x = randn(6, &xs, DType::F64);
        let xv = x.to_f64_vec();
        let d = xs.len() - 2;
        let rd = r.pow(d as u32);
        let mut os = vec![xs[0], xs[1] / rd];
        os.extend(xs[2..].iter().map(|s| s * r));
        let y = run(&PixelShuffle::new(r).unwrap(), &x);
        assert_eq!(y.shape(), os.as_slice());
        // y[n, c, r·p + i…] = x[n, c·r^D + (i₁…i_D in base r), p…]
        let want: Vec<f64> = (0..os.iter().product())
            .map(|f| {
                let oi = unravel(f, &os);
                let mut sub = 0;
                let mut idx = vec![oi[0], 0];
                for k in 0..d {
                    sub = sub * r + oi[2 + k] % r;
                    idx.push(oi[2 + k] / r);
                }
                idx[1] = oi[1] * rd + sub;
                xv[ravel(&idx, &xs)]
            })
            .collect();
        assert_close(&y, &want, 0.0);
    }
    // Lux: PixelShuffle(2) on (3, 6, 3) [W, C, N] → (6, 3, 3); here [3, 6, 3] → [3, 3, 6]
    assert_eq!(run(&PixelShuffle::new(2).unwrap(), &randn(7, &[3, 6, 3], DType::F32)).shape(), &[3, 3, 6]);
}

#[test]
fn upsample_layers_pass_check_layer() {
    let x: Tree = randn(8, &[2, 2, 3, 3], DType::F32).into();
    let cases: Vec<(Box<dyn Layer>, Vec<usize>)> = vec![
        (Box::new(Upsample::scale(UpsampleMode::Nearest, &[2.0]).unwrap()), vec![2, 2, 6, 6]),
        (Box::new(Upsample::size(UpsampleMode::Bilinear, &[5, 4]).unwrap()), vec![2, 2, 5, 4]),
        (Box::new(Upsample::scale(UpsampleMode::Trilinear, &[2.0, 1.0]).unwrap()), vec![2, 2, 6, 3]),
    ];
    for (layer, shape) in cases {
        let opts = LayerCheck { output_shape: Some(shape), ..Default::default() };
        check_layer(&layer, &x, &opts).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
    }
    let x: Tree = randn(9, &[2, 8, 2, 3], DType::F32).into();
    let opts = LayerCheck { output_shape: Some(vec![2, 2, 4, 6]), ..Default::default() };
    check_layer(&PixelShuffle::new(2).unwrap(), &x, &opts).unwrap();
}

#[test]
fn printing_and_errors() {
    assert_eq!(
        Upsample::scale(UpsampleMode::Nearest, &[2.0]).unwrap().describe(),
        "Upsample(static(:nearest), scale = 2)"
    );
    assert_eq!(
        Upsample::size(UpsampleMode::Nearest, &[64, 64]).unwrap().describe(),
        "Upsample(static(:nearest), size = (64, 64))"
    );
    assert_eq!(
        Upsample::scale(UpsampleMode::Trilinear, &[2.0, 1.0, 1.0]).unwrap().describe(),
        "Upsample(static(:trilinear), scale = (2, 1, 1))"
    );
    assert_eq!(
        Upsample::scale(UpsampleMode::Bilinear, &[1.5]).unwrap().align_corners(true).describe(),
        "Upsample(static(:bilinear), scale = 1.5, align_corners = true)"
    );
    assert_eq!(PixelShuffle::new(2).unwrap().describe(), "PixelShuffle(2)");
    let err = |l: &dyn Layer, x: Tensor| {
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), l).unwrap();
        apply_tensor(l, &x, &ps, &st).unwrap_err().to_string()
    };
    let near = Upsample::size(UpsampleMode::Nearest, &[6, 5]).unwrap();
    let e = err(&near, randn(1, &[1, 1, 3, 3], DType::F32));
    assert!(e.contains("Upsample(static(:nearest), size = (6, 5))") && e.contains("multiple"), "{e}");
    let e = err(&Upsample::scale(UpsampleMode::Bilinear, &[2.0, 2.0]).unwrap(), randn(1, &[1, 1, 3], DType::F32));
    assert!(e.contains("Upsample(static(:bilinear), scale = (2, 2))") && e.contains("1 spatial dims"), "{e}");
    let e = err(&Upsample::size(UpsampleMode::Bilinear, &[4, 4]).unwrap(), randn(1, &[3, 3], DType::F32));
    assert!(e.contains("Upsample(static(:bilinear), size = (4, 4))") && e.contains("[3, 3]"), "{e}");
    let e = err(&PixelShuffle::new(2).unwrap(), randn(1, &[1, 6, 3, 3], DType::F32));
    assert!(e.contains("PixelShuffle(2)") && e.contains("6 channels") && e.contains("r^2"), "{e}");
    assert!(Upsample::scale(UpsampleMode::Nearest, &[0.0]).is_err());
    assert!(Upsample::size(UpsampleMode::Bilinear, &[]).is_err());
}
