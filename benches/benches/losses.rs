//! Criterion benches of the fused loss kernels against their composite
//! forms (`fused(false)`), forward + backward through
//! `lux::ad::value_and_gradient`: `cargo bench -p lux-bench --bench losses`.
//!
//! * logit cross-entropy with class-index (i64) labels on `[128, 10]` and
//!   `[1024, 1000]`;
//! * MSE on `[256, 1024]`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lux::ad::value_and_gradient;
use lux::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;

/// Forward + backward of `loss(ŷ, y)` w.r.t. ŷ.
fn fwd_bwd(loss: &dyn LossFunction, ps: &Tree, y: &Tensor) -> (Tensor, Tree) {
    value_and_gradient(|t: &Tree| loss.call(t.tensor("logits")?, y), ps).unwrap()
}

fn cross_entropy(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut group = c.benchmark_group("logit_cross_entropy");
    for (batch, classes) in [(128usize, 10usize), (1024, 1000)] {
        let x = Tensor::randn(&mut rng, &[batch, classes], DType::F32).unwrap();
        let labels: Vec<i64> = (0..batch).map(|i| ((i * 7919) % classes) as i64).collect();
        let y = Tensor::from_vec(labels, &[batch]).unwrap();
        let ps = tree! { logits: x };
        group.throughput(Throughput::Elements((batch * classes) as u64));
        if batch * classes > 100_000 {
            group.sample_size(30);
        }
        let fused = CrossEntropyLoss::new().logits(true);
        let composite = fused.clone().fused(false);
        let x = ps.tensor("logits").unwrap();
        group.bench_function(format!("labels/{batch}x{classes}/fused/fwd"), |b| {
            b.iter(|| black_box(fused.call(x, &y).unwrap()))
        });
        group.bench_function(format!("labels/{batch}x{classes}/composite/fwd"), |b| {
            b.iter(|| black_box(composite.call(x, &y).unwrap()))
        });
        group.bench_function(format!("labels/{batch}x{classes}/fused/fwd+bwd"), |b| {
            b.iter(|| black_box(fwd_bwd(&fused, &ps, &y)))
        });
        group.bench_function(format!("labels/{batch}x{classes}/composite/fwd+bwd"), |b| {
            b.iter(|| black_box(fwd_bwd(&composite, &ps, &y)))
        });
    }
    group.finish();
}

fn mse(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(8);
    let mut group = c.benchmark_group("mse");
    let shape = [256usize, 1024];
    let x = Tensor::randn(&mut rng, &shape, DType::F32).unwrap();
    let y = Tensor::randn(&mut rng, &shape, DType::F32).unwrap();
    let ps = tree! { logits: x };
    group.throughput(Throughput::Elements((shape[0] * shape[1]) as u64));
    group.sample_size(30);
    let fused = MSELoss::new();
    let composite = MSELoss::new().fused(false);
    let xt = ps.tensor("logits").unwrap();
    group.bench_function("256x1024/fused/fwd", |b| b.iter(|| black_box(fused.call(xt, &y).unwrap())));
    group.bench_function("256x1024/composite/fwd", |b| b.iter(|| black_box(composite.call(xt, &y).unwrap())));
    group.bench_function("256x1024/fused/fwd+bwd", |b| b.iter(|| black_box(fwd_bwd(&fused, &ps, &y))));
    group.bench_function("256x1024/composite/fwd+bwd", |b| b.iter(|| black_box(fwd_bwd(&composite, &ps, &y))));
    group.finish();
}

criterion_group!(benches, cross_entropy, mse);
criterion_main!(benches);
