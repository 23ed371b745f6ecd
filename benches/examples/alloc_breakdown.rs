//! Where a training step's heap allocations come from: counts per phase
//! of the `tiny` and `mnist` steps (a counting global allocator).
//! `cargo run --release -p lux-bench --example alloc_breakdown`

use lux::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static N: AtomicU64 = AtomicU64::new(0);
// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        N.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = N.load(Ordering::Relaxed);
    let out = f();
    (N.load(Ordering::Relaxed) - before, out)
}

fn main() -> Result<()> {
    for (name, sizes, act) in
        [("tiny", vec![4, 16, 16, 1], Activation::Tanh), ("mnist", vec![784, 256, 256, 10], Activation::Relu)]
    {
        let mut layers: Vec<Box<dyn Layer>> = Vec::new();
        for (i, w) in sizes.windows(2).enumerate() {
            layers.push(Box::new(Dense::new(
                w[0],
                w[1],
                if i + 2 == sizes.len() { Activation::Identity } else { act },
            )?));
        }
        let model: Box<dyn Layer> = Box::new(Chain::new(layers)?);
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
        let mut rng = RngState::seed_from_u64(1);
        let batch = if name == "tiny" { 64 } else { 128 };
        let x = Tensor::randn(&mut rng, &[batch, sizes[0]], DType::F32)?;
        let y = Tensor::randn(&mut rng, &[batch, *sizes.last().unwrap()], DType::F32)?;
        let data = (x.clone(), y);
        let mut ts = TrainState::new(model, ps.clone(), st.clone(), Adam::new(1e-3))?;
        let backend = AutoCompiledTape::new();
        for _ in 0..3 {
            single_train_step_mut(&backend, &MSELoss::default(), &data, &mut ts, false)?;
        }
        let (fwd, _) = count(|| ts.model().forward(&x.clone().into(), ts.parameters(), ts.states()));
        let (lossn, _) = count(|| MSELoss::default().evaluate(ts.model(), ts.parameters(), ts.states(), &data));
        let (grad, g) = count(|| compute_gradients(&backend, &MSELoss::default(), &data, &ts));
        let (grads, _, _, _) = g?;
        let (upd, _) = count(|| apply_gradients_mut(&mut ts, &grads));
        let (step, _) = count(|| single_train_step_mut(&backend, &MSELoss::default(), &data, &mut ts, false));
        println!(
            "{name}: forward {fwd}, loss {lossn}, compute_gradients {grad} (incl. the new TrainState clone), apply_gradients_mut {upd}, whole step {step} allocations"
        );
    }
    Ok(())
}
