//! Random (often invalid) shapes, axes and options never panic: every op
//! returns `Ok` or an `Err`.

use crate::*;
use lux_ops::{
    Activation, ConvOptions, Padding, PoolOptions, adaptive_mean_pool, conv, dense, logsumexp, max_pool, mean_pool,
    multigate, softmax,
};
use proptest::prelude::*;

fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0usize..5, 0..=max_rank)
}

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F32).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn dense_never_panics(xs in shape(3), ws in shape(3), bs in proptest::option::of(shape(2))) {
        let b = bs.map(|s| zeros(&s));
        let _ = dense(&zeros(&xs), &zeros(&ws), b.as_ref(), Activation::Gelu);
    }

    #[test]
    fn softmax_never_panics(xs in shape(3), axis in -4isize..4, keep in any::<bool>()) {
        let x = zeros(&xs);
        let _ = softmax(&x, axis);
        let _ = logsumexp(&x, axis, keep);
        let _ = multigate(&x, (axis.unsigned_abs()) % 4);
    }

    #[test]
    fn conv_never_panics(
        xs in shape(5),
        ws in shape(5),
        stride in proptest::collection::vec(0usize..4, 0..3),
        pad in proptest::collection::vec((0usize..3, 0usize..3), 0..3),
        dilation in proptest::collection::vec(0usize..3, 0..3),
        groups in 0usize..4,
        same in any::<bool>(),
    ) {
        let padding = if same { Padding::Same } else { Padding::Explicit(pad) };
        let opts = ConvOptions::new().stride(&stride).padding(padding).dilation(&dilation).groups(groups);
        let _ = conv(&zeros(&xs), &zeros(&ws), None, &opts);
    }

    #[test]
    fn pooling_never_panics(
        xs in shape(5),
        window in proptest::collection::vec(0usize..4, 0..4),
        stride in proptest::collection::vec(0usize..4, 0..3),
        out in proptest::collection::vec(0usize..4, 0..4),
    ) {
        let x = zeros(&xs);
        let opts = PoolOptions::new().stride(&stride);
        let _ = max_pool(&x, &window, &opts);
        let _ = mean_pool(&x, &window, &opts);
        let _ = adaptive_mean_pool(&x, &out);
    }
}
