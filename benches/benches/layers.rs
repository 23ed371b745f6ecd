//! Container overhead: `Chain(Dense(4 => 16, tanh), Dense(16 => 16, tanh), Dense(16 => 1))`
//! at batch 64, forward and `value_and_gradient` of the sum of squares of the output
//! w.r.t. the parameters, against the same computation written directly with
//! `lux_ops::dense` on the parameter trees. `cargo bench -p lux-bench --bench layers`.

use criterion::{Criterion, criterion_group, criterion_main};
use lux::ops::Activation;
use lux::ops::dense::dense;
use lux::prelude::*;
use std::hint::black_box;

/// The model, its parameters and state, and an input batch.
struct Workload<L> {
    model: L,
    ps: Tree,
    st: Tree,
    x: Tensor,
}

fn workload() -> Result<Workload<impl Layer>> {
    let model = Chain::new((
        Dense::new(4, 16, Activation::Tanh)?,
        Dense::new(16, 16, Activation::Tanh)?,
        Dense::new(16, 1, Activation::Identity)?,
    ))?;
    let mut rng = RngState::seed_from_u64(0);
    let (ps, st) = setup(&mut rng, &model)?;
    let x = Tensor::randn(&mut rng, &[64, 4], DType::F32)?;
    Ok(Workload { model, ps, st, x })
}

/// The same forward pass written by hand on the trees.
fn direct(x: &Tensor, ps: &Tree) -> Result<Tensor> {
    let layer = |h: &Tensor, name: &str, act: Activation| -> Result<Tensor> {
        let p = ps.get(name)?;
        dense(h, p.tensor("weight")?, Some(p.tensor("bias")?), act)
    };
    let h = layer(x, "layer_1", Activation::Tanh)?;
    let h = layer(&h, "layer_2", Activation::Tanh)?;
    layer(&h, "layer_3", Activation::Identity)
}

fn overhead(c: &mut Criterion) {
    let w = workload().unwrap();
    // The two paths compute the same thing.
    let (y, _) = apply_tensor(&w.model, &w.x, &w.ps, &w.st).unwrap();
    assert_eq!(y, direct(&w.x, &w.ps).unwrap());

    let mut group = c.benchmark_group("chain_overhead/4-16-16-1/tanh/b64");
    group.bench_function("chain/fwd", |b| b.iter(|| black_box(apply_tensor(&w.model, &w.x, &w.ps, &w.st).unwrap())));
    group.bench_function("direct/fwd", |b| b.iter(|| black_box(direct(&w.x, &w.ps).unwrap())));
    group.bench_function("chain/value_and_gradient", |b| {
        b.iter(|| {
            black_box(
                value_and_gradient(|p| apply_tensor(&w.model, &w.x, p, &w.st)?.0.square()?.sum_all(), &w.ps).unwrap(),
            )
        })
    });
    group.bench_function("direct/value_and_gradient", |b| {
        b.iter(|| black_box(value_and_gradient(|p| direct(&w.x, p)?.square()?.sum_all(), &w.ps).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
