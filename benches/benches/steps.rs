//! One full training step (forward, loss, backward, Adam update through
//! `single_train_step_mut`) of each standard workload:
//! `cargo bench -p lux-bench --bench steps`.

use criterion::{Criterion, criterion_group, criterion_main};
use lux_bench::steps::{Backend, StepWorkload, WORKLOADS};
use std::hint::black_box;

fn steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group.sample_size(20);
    for name in WORKLOADS {
        for (tag, backend) in [("tape", Backend::Tape), ("compiled", Backend::Compiled)] {
            let mut w = StepWorkload::with_backend(name, backend).unwrap();
            group.bench_function(format!("{name}/{tag}"), |b| b.iter(|| black_box(w.step().unwrap())));
        }
    }
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
