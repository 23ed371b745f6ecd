//! Criterion bench of the fused dense kernel: 784→256, batch 128, f32,
//! relu; forward alone and forward+backward (gradients w.r.t. x, W and b),
//! next to the same computation written with unfused primitive ops.
//!
//! `cargo bench -p lux-ops --bench dense`

use criterion::{Criterion, criterion_group, criterion_main};
use lux_core::{DType, GradCall, Result, Tensor};
use lux_ops::{Activation, dense::dense};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;

struct Inputs {
    x: Tensor,
    w: Tensor,
    b: Tensor,
}

fn inputs() -> Inputs {
    let mut rng = StdRng::seed_from_u64(0);
    let x = Tensor::randn(&mut rng, &[128, 784], DType::F32).unwrap();
    let w = Tensor::randn(&mut rng, &[256, 784], DType::F32).unwrap().mul_scalar(1.0 / 28.0).unwrap();
    let b = Tensor::randn(&mut rng, &[256], DType::F32).unwrap();
    Inputs { x, w, b }
}

fn unfused(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.matmul(&w.transpose(0, 1)?)?.add(b)?.maximum(&Tensor::scalar(0.0f32))
}

/// Gradients of Σ f(x, W, b) w.r.t. all three.
fn grads(i: &Inputs, f: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>) -> Result<Vec<Tensor>> {
    let mut call = GradCall::new();
    let (x, w, b) = (call.track(&i.x)?, call.track(&i.w)?, call.track(&i.b)?);
    let loss = f(&x, &w, &b)?.sum_all()?;
    call.backward(&loss, None)
}

fn bench(c: &mut Criterion) {
    let i = inputs();
    let fused = |x: &Tensor, w: &Tensor, b: &Tensor| dense(x, w, Some(b), Activation::Relu);
    let mut g = c.benchmark_group("dense_784x256_b128_f32_relu");
    g.sample_size(50);
    g.bench_function("forward/fused", |bch| bch.iter(|| black_box(fused(&i.x, &i.w, &i.b).unwrap())));
    g.bench_function("forward/unfused", |bch| bch.iter(|| black_box(unfused(&i.x, &i.w, &i.b).unwrap())));
    g.bench_function("forward+backward/fused", |bch| bch.iter(|| black_box(grads(&i, fused).unwrap())));
    g.bench_function("forward+backward/unfused", |bch| bch.iter(|| black_box(grads(&i, unfused).unwrap())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
