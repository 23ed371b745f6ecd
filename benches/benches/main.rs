//! Criterion benches: `cargo bench -p lux-bench`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lux::prelude::*;
use lux_bench::TinyMlp;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;

fn matmul(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10);
    for n in [256usize, 1024] {
        let a = Tensor::randn(&mut rng, &[n, n], DType::F32).unwrap();
        let b = Tensor::randn(&mut rng, &[n, n], DType::F32).unwrap();
        group.throughput(Throughput::Elements((2 * n * n * n) as u64));
        group.bench_function(format!("f32/{n}x{n}x{n}"), |bench| bench.iter(|| black_box(a.matmul(&b).unwrap())));
    }
    group.finish();
}

fn tiny(c: &mut Criterion) {
    let w = TinyMlp::new().unwrap();
    let mut group = c.benchmark_group("tiny_mlp");
    group.throughput(Throughput::Elements(64));
    group.bench_function("4-16-16-1/tanh/mse/b64/fwd", |b| b.iter(|| black_box(w.loss(&w.ps).unwrap())));
    group.bench_function("4-16-16-1/tanh/mse/b64/fwd+bwd", |b| b.iter(|| black_box(w.value_and_gradient().unwrap())));
    group.finish();
}

criterion_group!(benches, matmul, tiny);
criterion_main!(benches);
