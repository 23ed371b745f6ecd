//! Tests of `lux_ops::embedding`.
use crate::*;
use ::lux_ops::embedding::{embedding, one_hot};

fn idx(values: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).unwrap()
}

#[test]
fn embedding_forward_by_hand() {
    // weight[i, j] = 10·i + j: vocab 5, dim 3.
    let w = Tensor::from_vec((0..5).flat_map(|i| (0..3).map(move |j| (10 * i + j) as f64)).collect(), &[5, 3]).unwrap();
    let y = embedding(&w, &idx(&[4, 0, 4, 1, 1, 2], &[2, 3])).unwrap();
    assert_eq!(y.shape(), &[2, 3, 3]);
    #[rustfmt::skip]
    let want = [40.0, 41.0, 42.0, 0.0, 1.0, 2.0, 40.0, 41.0, 42.0,
                10.0, 11.0, 12.0, 10.0, 11.0, 12.0, 20.0, 21.0, 22.0];
    assert_eq!(y.to_f64_vec(), want);
    // A 0-d index gives one row; an empty index tensor gives no rows.
    let y = embedding(&w, &Tensor::scalar(3i64)).unwrap();
    assert_eq!((y.shape(), y.to_f64_vec()), (&[3usize][..], vec![30.0, 31.0, 32.0]));
    let y = embedding(&w, &idx(&[], &[0])).unwrap();
    assert_eq!(y.shape(), &[0, 3]);
    // Non-contiguous indices and weight.
    let it = idx(&[0, 1, 2, 3, 4, 0], &[3, 2]).transpose(0, 1).unwrap(); // [[0, 2, 4], [1, 3, 0]]
    let wt = w.transpose(0, 1).unwrap().contiguous().unwrap().transpose(0, 1).unwrap();
    assert!(!wt.is_contiguous());
    let y = embedding(&wt, &it).unwrap();
    #[rustfmt::skip]
    let want = [0.0, 1.0, 2.0, 20.0, 21.0, 22.0, 40.0, 41.0, 42.0,
                10.0, 11.0, 12.0, 30.0, 31.0, 32.0, 0.0, 1.0, 2.0];
    assert_eq!(y.to_f64_vec(), want);
}

#[test]
fn embedding_dtypes() {
    let w64 = randn(1, &[4, 2]);
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let w = w64.to_dtype(dtype).unwrap();
        let y = embedding(&w, &idx(&[3, 1], &[2])).unwrap();
        assert_eq!(y.dtype(), dtype);
        let wv = w.to_f64_vec();
        assert_eq!(y.to_f64_vec(), vec![wv[6], wv[7], wv[2], wv[3]]);
    }
}

#[test]
fn embedding_gradient_accumulates_repeated_indices() {
    let indices = idx(&[2, 0, 2, 2, 4, 0], &[3, 2]);
    check_op(|v| embedding(&v[0], &indices), &[randn(2, &[5, 3])]);
    check_op(|v| embedding(&v[0], &indices), &[randn(3, &[3, 5]).transpose(0, 1).unwrap()]);
    // ∂/∂w Σ embedding(w, idx) counts how often each row is used.
    let g = lux_ad::gradient(
        |t: &Tree| embedding(t.tensor("w")?, &indices)?.sum_all(),
        &Tree::new().with("w", randn(4, &[5, 3])).unwrap(),
    )
    .unwrap();
    let counts = [2.0, 0.0, 3.0, 0.0, 1.0];
    let want: Vec<f64> = counts.iter().flat_map(|&c| [c; 3]).collect();
    assert_eq!(g.tensor("w").unwrap().to_f64_vec(), want);
}

#[test]
fn embedding_nested_gradient() {
    let indices = idx(&[1, 3, 1, 0], &[4]);
    let f = |v: &[Tensor]| {
        let inner = |t: &Tree| weighted_sum(&embedding(t.tensor("w")?, &indices)?.powf(3.0)?);
        let g = lux_ad::gradient(inner, &Tree::new().with("w", v[0].clone())?)?;
        g.tensor("w")?.square()?.sum_all()
    };
    check_op(f, &[randn(5, &[4, 2])]);
}

#[test]
fn one_hot_values() {
    let i = idx(&[2, 0, 3, 3], &[2, 2]);
    let y = one_hot(&i, 4, DType::F32).unwrap();
    assert_eq!((y.shape(), y.dtype()), (&[2usize, 2, 4][..], DType::F32));
    #[rustfmt::skip]
    let want = [0.0, 0.0, 1.0, 0.0,  1.0, 0.0, 0.0, 0.0,
                0.0, 0.0, 0.0, 1.0,  0.0, 0.0, 0.0, 1.0];
    assert_eq!(y.to_f64_vec(), want);
    for dtype in [DType::F64, DType::F16, DType::BF16, DType::I64, DType::Bool] {
        let y = one_hot(&i, 4, dtype).unwrap();
        assert_eq!(y.dtype(), dtype);
        assert_eq!(y.to_f64_vec(), want);
    }
    let y = one_hot(&Tensor::scalar(1i64), 3, DType::F64).unwrap();
    assert_eq!((y.shape(), y.to_f64_vec()), (&[3usize][..], vec![0.0, 1.0, 0.0]));
}

#[test]
fn invalid_indices_are_errors_naming_shapes() {
    let w = randn(6, &[5, 3]);
    let e = embedding(&w, &idx(&[0, 5, 1], &[3])).unwrap_err().to_string();
    assert!(
        e.contains("embedding")
            && e.contains("index 5")
            && e.contains("vocabulary of 5")
            && e.contains("[5, 3]")
            && e.contains("[3]"),
        "{e}"
    );
    let e = embedding(&w, &idx(&[0, -1], &[1, 2])).unwrap_err().to_string();
    assert!(e.contains("index -1") && e.contains("[1, 2]"), "{e}");
    let e = embedding(&w, &Tensor::from_vec(vec![0.0f64, 1.0], &[2]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("embedding") && e.contains("i64") && e.contains("f64"), "{e}");
    let e = embedding(&randn(7, &[5]), &idx(&[0], &[1])).unwrap_err().to_string();
    assert!(e.contains("[vocab, dim]") && e.contains("[5]"), "{e}");
    let e = embedding(&idx(&[0, 1], &[1, 2]), &idx(&[0], &[1])).unwrap_err().to_string();
    assert!(e.contains("i64"), "{e}");

    let e = one_hot(&idx(&[0, 3], &[2]), 3, DType::F32).unwrap_err().to_string();
    assert!(e.contains("one_hot") && e.contains("index 3") && e.contains("3 classes") && e.contains("[2]"), "{e}");
    assert!(one_hot(&idx(&[-2], &[1]), 3, DType::F32).is_err());
    let e = one_hot(&Tensor::from_vec(vec![true], &[1]).unwrap(), 3, DType::F32).unwrap_err().to_string();
    assert!(e.contains("bool"), "{e}");
}

#[test]
fn huge_one_hot_outputs_are_errors_naming_the_size() {
    let two = idx(&[0, 1], &[2]);
    let one = idx(&[0], &[1]);
    let cases: [(&Tensor, usize, DType, &str); 6] = [
        // element counts past isize::MAX
        (&two, 1 << 63, DType::F32, "[2, 9223372036854775808] is too large: too many elements"),
        (&two, 1 << 62, DType::Bool, "[2, 4611686018427387904] is too large: too many elements"),
        // bytes past usize::MAX
        (&one, 1 << 62, DType::F32, "[1, 4611686018427387904] is too large: 4611686018427387904×4 bytes, more than"),
        // 1 TiB (the limit, which this allocator refuses), then 4 and 8 TiB (past the limit)
        (&one, 1 << 40, DType::Bool, "[1, 1099511627776] is too large: cannot allocate 1099511627776 bytes"),
        (
            &one,
            1 << 40,
            DType::F16,
            "[1, 1099511627776] is too large: 4398046511104 bytes, more than the 1099511627776-byte limit",
        ),
        (
            &one,
            1 << 40,
            DType::I64,
            "[1, 1099511627776] is too large: 8796093022208 bytes, more than the 1099511627776-byte limit",
        ),
    ];
    for (indices, n, dtype, want) in cases {
        let e = one_hot(indices, n, dtype).unwrap_err().to_string();
        assert!(e.starts_with("one_hot") && e.contains(want), "{n} {dtype:?}: {e}");
    }
    // no indices: zero elements, but the shape [0, 2^63] breaks ndarray's rule
    let e = one_hot(&idx(&[], &[0]), 1 << 63, DType::F64).unwrap_err().to_string();
    assert!(e.contains("[0, 9223372036854775808]"), "{e}");
    // while [0, 2^40] is a valid empty shape
    assert_eq!(one_hot(&idx(&[], &[0]), 1 << 40, DType::F64).unwrap().shape(), &[0, 1 << 40]);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn random_indices_never_panic(
            ws in proptest::collection::vec(0usize..4, 0..=3),
            is in proptest::collection::vec(0usize..3, 0..=3),
            lo in -3i64..1,
            hi in 1i64..8,
            classes in 0usize..5,
            float_indices in any::<bool>(),
        ) {
            let w = randn(1, &ws);
            let n: usize = is.iter().product();
            let vals: Vec<i64> = (0..n as i64).map(|i| lo + i % (hi - lo)).collect();
            let indices = Tensor::from_vec(vals.clone(), &is).unwrap();
            let indices = if float_indices { indices.to_dtype(DType::F32).unwrap() } else { indices };
            if let Ok(y) = embedding(&w, &indices) {
                let mut want = is.clone();
                want.push(ws[1]);
                prop_assert_eq!(y.shape(), want.as_slice());
            }
            if let Ok(y) = one_hot(&indices, classes, DType::F32) {
                prop_assert!(vals.iter().all(|&v| v >= 0 && (v as usize) < classes));
                prop_assert_eq!(y.sum_all().unwrap().to_f64_vec(), vec![n as f64]);
            }
        }
    }
}
