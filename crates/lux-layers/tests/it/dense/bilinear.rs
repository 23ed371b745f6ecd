//! `Bilinear` (Lux's "Bilinear" testset of `basic_tests.jl`, batch-first).

use super::{act_ref, assert_close, opts, vals};
use crate::common::randn;
use lux_ad::testing::check_layer;
use lux_core::{Children, DType, Layer, Result, RngState, Tensor, Tree, apply_tensor, forward_child, setup, tree};
use lux_layers::init::Init;
use lux_layers::{Bilinear, Dense};
use lux_ops::Activation;

/// `act(Σᵢⱼ x[b,i] W[o,i,j] y[b,j] + bias[o])` by loops.
#[allow(clippy::too_many_arguments)]
fn bilinear_ref(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    m: usize,
    dims: (usize, usize, usize),
    a: Activation,
) -> Vec<f64> {
    let (o, i1, i2) = dims;
    let mut z = vec![0.0; m * o];
    for r in 0..m {
        for k in 0..o {
            let mut s = b.map_or(0.0, |b| b[k]);
            for i in 0..i1 {
                for j in 0..i2 {
                    s += x[r * i1 + i] * w[(k * i1 + i) * i2 + j] * y[r * i2 + j];
                }
            }
            z[r * o + k] = act_ref(a, s);
        }
    }
    z
}

#[test]
fn bilinear_passes_check_layer_in_f32_and_f64() {
    for dtype in [DType::F32, DType::F64] {
        let pair = |xs: &[usize], ys: &[usize]| Tree::seq([randn(1, xs, dtype), randn(2, ys, dtype)]);
        let cases: Vec<(Bilinear, Tree, Vec<usize>)> = vec![
            (Bilinear::builder((3, 2), 4).dtype(dtype).build().unwrap(), pair(&[5, 3], &[5, 2]), vec![5, 4]),
            (
                Bilinear::builder((3, 3), 2).activation(Activation::Tanh).dtype(dtype).build().unwrap(),
                randn(3, &[4, 3], dtype).into(),
                vec![4, 2],
            ),
            (
                Bilinear::builder((2, 3), 2).use_bias(false).dtype(dtype).build().unwrap(),
                pair(&[2, 3, 2], &[2, 3, 3]),
                vec![2, 3, 2],
            ),
            (Bilinear::builder((2, 3), 2).dtype(dtype).build().unwrap(), pair(&[2], &[3]), vec![2]),
        ];
        for (layer, x, ys) in cases {
            let r = check_layer(&layer, &x, &opts(&ys)).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
            assert_eq!(r.param_grad.unwrap().checked, layer.param_count());
        }
    }
}

#[test]
fn bilinear_matches_naive_loops() {
    let (o, i1, i2, m) = (3, 4, 2, 5);
    for act in [Activation::Identity, Activation::Sigmoid] {
        for use_bias in [true, false] {
            let layer =
                Bilinear::builder((i1, i2), o).activation(act).use_bias(use_bias).dtype(DType::F64).build().unwrap();
            let w = randn(1, &[o, i1, i2], DType::F64);
            let b = randn(2, &[o], DType::F64);
            let ps = if use_bias {
                tree! { weight: w.clone(), bias: b.clone() }
            } else {
                tree! { weight: w.clone() }
            };
            let x = randn(3, &[m, i1], DType::F64);
            let y = randn(4, &[m, i2], DType::F64);
            let (z, _) = apply_tensor(&layer, Tree::seq([x.clone(), y.clone()]), &ps, &Tree::new()).unwrap();
            assert_eq!(z.shape(), &[m, o]);
            let bv = vals(&b);
            let want = bilinear_ref(&vals(&x), &vals(&y), &vals(&w), use_bias.then_some(&bv[..]), m, (o, i1, i2), act);
            assert_close(&vals(&z), &want, 1e-12);
        }
    }
    // one tensor is used as both inputs
    let layer = Bilinear::builder((3, 3), 2).dtype(DType::F64).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(5), &layer).unwrap();
    let x = randn(6, &[4, 3], DType::F64);
    let (z1, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let (z2, _) = apply_tensor(&layer, Tree::seq([x.clone(), x.clone()]), &ps, &st).unwrap();
    assert_eq!(z1, z2);
    let want = bilinear_ref(
        &vals(&x),
        &vals(&x),
        &vals(ps.tensor("weight").unwrap()),
        Some(&vals(ps.tensor("bias").unwrap())),
        4,
        (2, 3, 3),
        Activation::Identity,
    );
    assert_close(&vals(&z1), &want, 1e-12);
}

/// Lux's "SkipConnection recombinator": `SkipConnection(Dense, Bilinear)` computes
/// `Bilinear((Dense(x), x))`; written out here as a small container.
struct DenseThenBilinear(Dense, Bilinear);
impl Layer for DenseThenBilinear {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let (h, s1) = forward_child("layers", &self.0, x, ps, st)?;
        let (z, s2) = forward_child("connection", &self.1, &Tree::seq([h, x.clone()]), ps, st)?;
        Ok((z, tree! { layers: s1, connection: s2 }))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(vec![("layers".into(), &self.0 as &dyn Layer), ("connection".into(), &self.1)])
    }
}

#[test]
fn bilinear_lux_skip_connection_recombinator() {
    let cases = [
        (
            Dense::new(2, 2, Activation::Identity).unwrap(),
            Bilinear::new((2, 2), 3, Activation::Identity).unwrap(),
            vec![1, 2],
            vec![1, 3],
        ),
        (
            Dense::new(2, 2, Activation::Identity).unwrap(),
            Bilinear::builder((2, 2), 3).use_bias(false).build().unwrap(),
            vec![1, 2],
            vec![1, 3],
        ),
        // Lux's x of size (2, 7, 11) and output (5, 7, 11)
        (
            Dense::new(2, 3, Activation::Identity).unwrap(),
            Bilinear::new((3, 2), 5, Activation::Identity).unwrap(),
            vec![11, 7, 2],
            vec![11, 7, 5],
        ),
    ];
    for (d, b, xs, ys) in cases {
        let model = DenseThenBilinear(d, b);
        let x: Tree = randn(7, &xs, DType::F32).into();
        check_layer(&model, &x, &opts(&ys)).unwrap();
    }
}

/// Lux's "Two-streams zero sum" and "Inner interactions".
#[test]
fn bilinear_lux_two_streams_and_inner_interactions() {
    let layer = Bilinear::builder((2, 1), 3).init_bias(Init::zeros()).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
    let xy = Tree::seq([Tensor::zeros(&[1, 2], DType::F32).unwrap(), Tensor::zeros(&[1, 1], DType::F32).unwrap()]);
    let (z, _) = apply_tensor(&layer, xy.clone(), &ps, &st).unwrap();
    assert_eq!(z.shape(), &[1, 3]);
    assert_eq!(z.to_vec::<f32>().unwrap(), vec![0.0; 3]);
    check_layer(&layer, &xy, &opts(&[1, 3])).unwrap();

    let x: Tree = randn(8, &[1, 2], DType::F32).into();
    check_layer(&Bilinear::new((2, 2), 3, Activation::Identity).unwrap(), &x, &opts(&[1, 3])).unwrap();
}

#[test]
fn bilinear_default_init_is_luxs() {
    let (i1, i2, o) = (16, 30, 50);
    let layer = Bilinear::new((i1, i2), o, Activation::Identity).unwrap();
    let (ps, _) = setup(&mut RngState::seed_from_u64(3), &layer).unwrap();
    let w = vals(ps.tensor("weight").unwrap());
    let bound = 1.0 / (i1 as f64).sqrt();
    // (N(0, 1) − 0.5)·2·bound: mean −bound, sd 2·bound
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let sd = 2.0 * bound;
    assert!((mean + bound).abs() <= 5.0 * sd / n.sqrt(), "mean {mean}");
    // the sample variance of a normal has sd σ²·√(2/n)
    assert!((var - sd * sd).abs() <= 5.0 * sd * sd * (2.0 / n).sqrt(), "variance {var}");
    let b = vals(ps.tensor("bias").unwrap());
    assert_eq!(b.len(), o);
    assert!(b.iter().all(|v| v.abs() <= bound));
}

#[test]
fn bilinear_describe_prints_as_lux() {
    assert_eq!(Bilinear::new((2, 2), 3, Activation::Identity).unwrap().describe(), "Bilinear((2, 2) => 3)");
    assert_eq!(
        Bilinear::builder((2, 2), 3).use_bias(false).build().unwrap().describe(),
        "Bilinear((2, 2) => 3, use_bias=false)"
    );
    assert_eq!(Bilinear::new((3, 2), 5, Activation::Tanh).unwrap().describe(), "Bilinear((3, 2) => 5, tanh)");
}

#[test]
fn bilinear_errors() {
    let layer = Bilinear::new((3, 2), 4, Activation::Identity).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let run = |x: Tree| layer.forward(&x, &ps, &st).unwrap_err().to_string();
    let t = |s: &[usize]| randn(0, s, DType::F32);
    assert_eq!(
        run(Tree::seq([t(&[5, 3]), t(&[5, 3])])),
        "Bilinear((3, 2) => 4): inputs of shapes [5, 3] and [5, 3], expected [.., 3] and [.., 2]"
    );
    // one tensor is both inputs: it cannot fit in1 ≠ in2
    assert_eq!(
        run(t(&[5, 3]).into()),
        "Bilinear((3, 2) => 4): inputs of shapes [5, 3] and [5, 3], expected [.., 3] and [.., 2]"
    );
    assert_eq!(
        run(Tree::seq([t(&[5, 3]), t(&[4, 2])])),
        "Bilinear((3, 2) => 4): inputs of shapes [5, 3] and [4, 2] differ in their leading (batch) axes"
    );
    assert_eq!(
        run(Tree::seq([t(&[5, 3]), t(&[5, 2]), t(&[5, 2])])),
        "structure mismatch at <root>: Bilinear((3, 2) => 4): expects a pair (x, y) or one tensor, got a sequence of 3"
    );
    assert_eq!(run(t(&[]).into()), "Bilinear((3, 2) => 4): inputs of shapes [] and [], expected [.., 3] and [.., 2]");
    assert_eq!(
        Bilinear::new((3, 0), 4, Activation::Identity).unwrap_err().to_string(),
        "Bilinear((3, 0) => 4): invalid argument: the second input size must be positive, got 0"
    );
}
