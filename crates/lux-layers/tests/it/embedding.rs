//! Tests of `Embedding` (Lux's `test/core_layers/embedding_tests.jl`, linear
//! indices, translated to 0-based batch-first indices).

use crate::common::randn;
use crate::dense::vals;
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, LuxError, RngState, Tensor, Tree, apply_tensor, setup, tree};
use lux_layers::Embedding;
use lux_layers::init::Init;

fn idx(v: Vec<i64>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape).unwrap()
}

/// `out[k, :] = w[idx[k], :]` by hand.
fn gather_ref(w: &[f64], dim: usize, indices: &[i64]) -> Vec<f64> {
    indices.iter().flat_map(|&i| w[i as usize * dim..(i as usize + 1) * dim].to_vec()).collect()
}

#[test]
fn embedding_passes_check_layer_with_parameter_gradients() {
    for dtype in [DType::F32, DType::F64] {
        let layer = Embedding::builder(6, 3).dtype(dtype).build().unwrap();
        // repeated indices: their gradients accumulate
        let x: Tree = idx(vec![0, 5, 2, 2, 5, 5, 1, 0], &[2, 4]).into();
        let opts = LayerCheck { output_shape: Some(vec![2, 4, 3]), input_grad: false, ..Default::default() };
        let report = check_layer(&layer, &x, &opts).unwrap();
        assert_eq!(report.param_grad.unwrap().checked, 18);
        assert!(report.input_grad.is_none());
    }
}

/// Lux's "Linear indices" testset: a scalar index, a vector, a matrix.
#[test]
fn embedding_lux_linear_indices() {
    let (vocab, dim) = (10, 4);
    let layer = Embedding::new(vocab, dim).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
    let w = ps.tensor("weight").unwrap();
    assert_eq!(w.shape(), &[vocab, dim]);
    let wv = vals(w);

    let (y, st2) = apply_tensor(&layer, Tensor::from_vec(vec![7i64], &[]).unwrap(), &ps, &st).unwrap();
    assert_eq!(st2, Tree::new());
    assert_eq!(y.shape(), &[dim]);
    assert_eq!(vals(&y), gather_ref(&wv, dim, &[7]));

    let v = vec![3, 9, 0];
    let (y, _) = apply_tensor(&layer, idx(v.clone(), &[3]), &ps, &st).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    assert_eq!(y.shape(), &[3, dim]);
    assert_eq!(vals(&y), gather_ref(&wv, dim, &v));

    let m: Vec<i64> = (0..12).map(|k| (k * 7 % 10) as i64).collect();
    let (y, _) = apply_tensor(&layer, idx(m.clone(), &[3, 4]), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[3, 4, dim]);
    assert_eq!(vals(&y), gather_ref(&wv, dim, &m));
}

#[test]
fn embedding_gradient_counts_each_index() {
    let layer = Embedding::builder(4, 2).dtype(DType::F64).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(1), &layer).unwrap();
    let x = idx(vec![3, 1, 3, 3, 0], &[5]);
    let g = lux_ad::gradient(|ps| apply_tensor(&layer, &x, ps, &st)?.0.sum_all(), &ps).unwrap();
    // d(Σ y)/d w[i, :] = number of times i occurs
    assert_eq!(vals(g.tensor("weight").unwrap()), vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 3.0, 3.0]);
}

#[test]
fn embedding_default_init_is_uniform_0_1() {
    let layer = Embedding::new(500, 200).unwrap();
    let (ps, _) = setup(&mut RngState::seed_from_u64(3), &layer).unwrap();
    let w = ps.tensor("weight").unwrap();
    assert_eq!(w.dtype(), DType::F32);
    let v = vals(w);
    let n = v.len() as f64;
    assert!(v.iter().all(|&x| (0.0..1.0).contains(&x)));
    let mean = v.iter().sum::<f64>() / n;
    // U(0, 1): mean 1/2, sd 1/√12
    assert!((mean - 0.5).abs() <= 5.0 / 12f64.sqrt() / n.sqrt(), "mean {mean}");
    let var = v.iter().map(|x| (x - 0.5).powi(2)).sum::<f64>() / n;
    assert!((var - 1.0 / 12.0).abs() <= 5.0 * (1.0 / 180.0f64).sqrt() / n.sqrt(), "variance {var}");
}

#[test]
fn embedding_custom_init_and_dtype() {
    let layer = Embedding::builder(3, 2).init_weight(Init::ones()).dtype(DType::F64).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let (y, _) = apply_tensor(&layer, idx(vec![2, 0], &[2]), &ps, &st).unwrap();
    assert_eq!((y.dtype(), y.to_vec::<f64>().unwrap()), (DType::F64, vec![1.0; 4]));
}

#[test]
fn embedding_describe_and_counts() {
    let layer = Embedding::new(10, 4).unwrap();
    assert_eq!(layer.describe(), "Embedding(10 => 4)");
    assert_eq!((layer.param_count(), layer.state_count()), (40, 0));
}

#[test]
fn embedding_errors() {
    let layer = Embedding::new(10, 4).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let run = |x: Tree| layer.forward(&x, &ps, &st).unwrap_err();

    let e = run(idx(vec![1, 10], &[2]).into());
    assert!(matches!(e, LuxError::InvalidArgument { .. }));
    assert_eq!(
        e.to_string(),
        "Embedding(10 => 4): invalid argument: index 10 is out of range for a vocabulary of 10 (weight [10, 4], indices [2])"
    );
    let e = run(idx(vec![-1], &[1]).into());
    assert!(e.to_string().contains("index -1 is out of range for a vocabulary of 10"), "{e}");
    let e = run(randn(0, &[2], DType::F32).into());
    assert_eq!(e.to_string(), "Embedding(10 => 4): expected dtype i64 (integer token indices), got f32");
    let e = run(Tree::Int(3));
    assert_eq!(
        e.to_string(),
        "structure mismatch at <root>: Embedding(10 => 4): expects a tensor of i64 indices, got a int"
    );
    let e = layer
        .forward(&idx(vec![1], &[1]).into(), &tree! { weight: Tensor::zeros(&[4, 10], DType::F32).unwrap() }, &st)
        .unwrap_err();
    assert_eq!(e.to_string(), "Embedding(10 => 4): the parameter `weight` has shape [4, 10], expected [10, 4]");
    assert_eq!(
        Embedding::new(0, 4).unwrap_err().to_string(),
        "Embedding(0 => 4): invalid argument: the vocabulary size and the dimension must be positive, got 0 and 4"
    );
    assert!(Embedding::builder(3, 2).dtype(DType::Bool).build().is_err());
}

/// Lux's "Cartesian indices" testset: vocabulary (5, 2), dimension 4.
#[test]
fn embedding_lux_cartesian_indices() {
    let layer = Embedding::cartesian(&[5, 2], 4).unwrap();
    assert_eq!(layer.describe(), "Embedding((5, 2) => 4)");
    assert_eq!((layer.vocab(), layer.param_count()), (10, 40));
    let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
    let w = ps.tensor("weight").unwrap();
    assert_eq!(w.shape(), &[5, 2, 4]);
    let wv = vals(w);
    // weight[i, j, :] by hand
    let row = |i: i64, j: i64| wv[((i * 2 + j) * 4) as usize..((i * 2 + j + 1) * 4) as usize].to_vec();

    let pair = |i: Tensor, j: Tensor| Tree::seq([i, j]);
    let (y, _) = apply_tensor(&layer, pair(idx(vec![3], &[]), idx(vec![1], &[])), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[4]);
    assert_eq!(vals(&y), row(3, 1));

    let (i, j) = (vec![0i64, 4, 2], vec![1i64, 0, 1]);
    let (y, _) = apply_tensor(&layer, pair(idx(i.clone(), &[3]), idx(j.clone(), &[3])), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[3, 4]);
    assert_eq!(vals(&y), i.iter().zip(&j).flat_map(|(&a, &b)| row(a, b)).collect::<Vec<_>>());

    let i: Vec<i64> = (0..12).map(|k| k % 5).collect();
    let j: Vec<i64> = (0..12).map(|k| (k / 5) % 2).collect();
    let x = pair(idx(i.clone(), &[3, 4]), idx(j.clone(), &[3, 4]));
    let (y, _) = apply_tensor(&layer, x.clone(), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[3, 4, 4]);
    assert_eq!(vals(&y), i.iter().zip(&j).flat_map(|(&a, &b)| row(a, b)).collect::<Vec<_>>());
    let opts = LayerCheck { output_shape: Some(vec![3, 4, 4]), input_grad: false, ..Default::default() };
    check_layer(&layer, &x, &opts).unwrap();

    // Lux: DimensionMismatch for index arrays of different shapes, ArgumentError for ()
    let run = |x: Tree| layer.forward(&x, &ps, &st).unwrap_err();
    let e = run(pair(idx(vec![0; 3], &[3]), idx(vec![0; 4], &[4])));
    assert!(matches!(e, LuxError::Shape { .. }));
    assert_eq!(e.to_string(), "Embedding((5, 2) => 4): the index tensors must have the same shape, got [3] and [4]");
    let e = run(pair(idx(vec![0; 12], &[3, 4]), idx(vec![0; 20], &[4, 5])));
    assert!(matches!(e, LuxError::Shape { .. }));
    assert_eq!(
        run(Tree::Seq(vec![])).to_string(),
        "structure mismatch at <root>: Embedding((5, 2) => 4): expects 2 index tensors (one per vocabulary axis), got 0"
    );
    assert_eq!(
        run(idx(vec![0], &[1]).into()).to_string(),
        "structure mismatch at <root>: Embedding((5, 2) => 4): expects a sequence of 2 i64 index tensors, got a tensor"
    );
    assert_eq!(
        run(pair(idx(vec![0, 5], &[2]), idx(vec![0, 1], &[2]))).to_string(),
        "Embedding((5, 2) => 4): invalid argument: index 5 on vocabulary axis 0 is out of range for its size 5 (indices [2])"
    );
    assert_eq!(
        run(pair(idx(vec![0, 4], &[2]), idx(vec![-1, 1], &[2]))).to_string(),
        "Embedding((5, 2) => 4): invalid argument: index -1 on vocabulary axis 1 is out of range for its size 2 (indices [2])"
    );
    assert!(Embedding::cartesian(&[], 4).is_err());
    assert!(Embedding::cartesian(&[5, 0], 4).is_err());
}

/// A one-element sequence indexes a plain vocabulary (Lux's tuple `(i,)`).
#[test]
fn embedding_accepts_a_one_element_sequence() {
    let layer = Embedding::new(6, 2).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let x = idx(vec![5, 1], &[2]);
    let (a, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let (b, _) = apply_tensor(&layer, Tree::seq([x]), &ps, &st).unwrap();
    assert_eq!(a, b);
}
