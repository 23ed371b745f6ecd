//! Property tests: broadcasting against a reference rule, and random bad
//! input to every op family giving `Err`, never a panic.

use crate::{DType, Tensor, broadcast_shapes};
use proptest::prelude::*;

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(1usize), 1usize..4], 0..4)
}

/// Reference: right-align, pad with 1, each pair equal or one of them 1.
fn reference_broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let pad = |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, n - s.len()).chain(s.iter().copied()).collect() };
    let (pa, pb) = (pad(a), pad(b));
    pa.iter()
        .zip(&pb)
        .map(|(&x, &y)| {
            if x == y || y == 1 {
                Some(x)
            } else if x == 1 {
                Some(y)
            } else {
                None
            }
        })
        .collect()
}

fn iota(shape: &[usize], scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|i| i as f64 * scale).collect::<Vec<_>>(), shape).unwrap()
}

/// Row-major index of the element of `shape` that broadcasting maps to `pos` of `out`.
fn source_index(shape: &[usize], out: &[usize], mut flat: usize) -> usize {
    let mut pos = vec![0; out.len()];
    for i in (0..out.len()).rev() {
        pos[i] = flat % out[i];
        flat /= out[i];
    }
    let lead = out.len() - shape.len();
    let mut idx = 0;
    for (i, &d) in shape.iter().enumerate() {
        idx = idx * d + if d == 1 { 0 } else { pos[lead + i] };
    }
    idx
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn broadcasting_follows_the_reference_rule(a in shape(), b in shape()) {
        let want = reference_broadcast(&a, &b);
        prop_assert_eq!(broadcast_shapes(&a, &b).ok(), want.clone());
        let (x, y) = (iota(&a, 1.0), iota(&b, 1000.0));
        match (x.add(&y), want) {
            (Ok(z), Some(out)) => {
                prop_assert_eq!(z.shape(), out.as_slice());
                let (xv, yv, zv) = (x.to_vec::<f64>().unwrap(), y.to_vec::<f64>().unwrap(), z.to_vec::<f64>().unwrap());
                for (k, v) in zv.iter().enumerate() {
                    prop_assert_eq!(*v, xv[source_index(&a, &out, k)] + yv[source_index(&b, &out, k)]);
                }
            }
            (Err(_), None) => {}
            (got, want) => prop_assert!(false, "add gave {:?}, reference {:?}", got.map(|t| t.shape().to_vec()), want),
        }
    }

    #[test]
    fn bad_shapes_and_axes_are_errors_not_panics(
        a in prop::collection::vec(0usize..5, 0..5),
        b in prop::collection::vec(0usize..5, 0..5),
        axis in -6isize..6,
        start in 0usize..6,
        len in 0usize..6,
        idx in prop::collection::vec(-3i64..7, 0..4),
        dt in prop_oneof![Just(DType::F32), Just(DType::F64), Just(DType::I64), Just(DType::Bool), Just(DType::F16)],
    ) {
        let x = Tensor::zeros(&a, dt).unwrap();
        let y = Tensor::ones(&b, DType::F32).unwrap();
        let index = Tensor::from_vec(idx.clone(), &[idx.len()]).unwrap();
        // Each call may succeed or fail; none may panic.
        let _ = x.add(&y);
        let _ = x.div(&y);
        let _ = x.pow(&y);
        let _ = x.maximum(&y);
        let _ = x.less(&y);
        let _ = x.exp();
        let _ = x.matmul(&y);
        let _ = x.sum(&[axis], true);
        let _ = x.max(&[axis, 0], false);
        let _ = x.argmax(axis, false);
        let _ = x.reshape(&b);
        let _ = x.broadcast_to(&b);
        let _ = x.transpose(axis, 0);
        let _ = x.permute(&b);
        let _ = x.narrow(axis, start, len);
        let _ = x.squeeze(axis);
        let _ = x.unsqueeze(axis);
        let _ = x.index_select(axis, &index);
        let _ = x.gather(axis, &index);
        let _ = x.index_add(axis, &index, &y);
        let _ = x.scatter_add(axis, &index, &y);
        let _ = Tensor::concat(&[x.clone(), y.clone()], axis);
        let _ = Tensor::stack(&[x.clone(), y.clone()], axis);
        let _ = Tensor::where_(&x, &x, &y);
        let _ = x.clamp(start as f64, len as f64);
        let _ = x.to_scalar::<f32>();
        let _ = x.to_vec::<f64>();
        let _ = Tensor::from_vec(vec![0.0f32; len], &a);
        // Shape errors name the shapes involved.
        if let Err(e) = x.matmul(&y) {
            let msg = e.to_string();
            prop_assert!(msg.contains("matmul"), "{}", msg);
        }
    }
}
