//! Criterion bench of `lux_ops::conv`: a 2-d convolution of the size of a
//! small CNN's first layer (batch 32, 3 → 16 channels, 32×32, 3×3 kernel,
//! padding 1, stride 1, f32, with bias), forward only and forward +
//! backward (gradients w.r.t. x, w and b of `sum_all(conv(x, w, b))`).
//!
//! Run with `cargo bench -p lux-ops --bench conv`. One forward pass is
//! 32·16·27·1024 ≈ 14.2 M multiply-adds (28.3 MFLOP); the backward pass is
//! about twice that (∂x and ∂w).
//! Also benches forward + backward with a given output cotangent (the conv
//! op alone), and 3×3 max pooling with stride 2 and padding 1 on the conv's
//! output (inference).

use criterion::{Criterion, criterion_group, criterion_main};
use lux_core::{DType, GradCall, Tensor};
use lux_ops::conv::{ConvOptions, conv};
use lux_ops::pool::{PoolOptions, max_pool};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;
use std::time::Duration;

fn bench_conv2d(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let x = Tensor::randn(&mut rng, &[32, 3, 32, 32], DType::F32).unwrap();
    let w = Tensor::randn(&mut rng, &[16, 3, 3, 3], DType::F32).unwrap().mul_scalar(0.2).unwrap();
    let b = Tensor::randn(&mut rng, &[16], DType::F32).unwrap();
    let opts = ConvOptions::new().pad(&[1]);

    let mut g = c.benchmark_group("conv2d_b32_3to16_32x32_k3_f32");
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    g.bench_function("forward", |bch| bch.iter(|| conv(black_box(&x), black_box(&w), Some(&b), &opts).unwrap()));
    g.bench_function("forward_backward", |bch| {
        bch.iter(|| {
            let mut call = GradCall::new();
            let (xt, wt, bt) = (call.track(&x).unwrap(), call.track(&w).unwrap(), call.track(&b).unwrap());
            let loss = conv(&xt, &wt, Some(&bt), &opts).unwrap().sum_all().unwrap();
            black_box(call.backward(&loss, None).unwrap())
        })
    });
    // The same with an explicit output cotangent: the conv op alone, without
    // the cost of `sum_all`'s backward (which materialises a ones tensor).
    let dy = Tensor::ones(&[32, 16, 32, 32], DType::F32).unwrap();
    g.bench_function("forward_backward_seeded", |bch| {
        bch.iter(|| {
            let mut call = GradCall::new();
            let (xt, wt, bt) = (call.track(&x).unwrap(), call.track(&w).unwrap(), call.track(&b).unwrap());
            let y = conv(&xt, &wt, Some(&bt), &opts).unwrap();
            black_box(call.backward(&y, Some(&dy)).unwrap())
        })
    });
    let y = conv(&x, &w, Some(&b), &opts).unwrap();
    let pool = PoolOptions::new().stride(&[2]).pad(&[1]);
    g.bench_function("max_pool_3x3_s2_forward", |bch| bch.iter(|| max_pool(black_box(&y), &[3], &pool).unwrap()));
    g.finish();
}

criterion_group!(benches, bench_conv2d);
criterion_main!(benches);
