//! Shared by the test binaries: a tiny logger that counts `warn!` records
//! (and keeps their text), and the model of Lux's eltype-matching test.
#![allow(dead_code)] // each binary uses part of it

use lux_core::{DType, RngState, Tensor, Tree, setup};
use lux_layers::{Chain, Dense};
use lux_ops::Activation;
use std::sync::Mutex;

/// Every warning logged so far in this process.
pub static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Counter;
impl log::Log for Counter {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if r.level() == log::Level::Warn {
            WARNINGS.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}
static COUNTER: Counter = Counter;

/// Installs the counting logger (once per process).
pub fn install_logger() {
    if log::set_logger(&COUNTER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// The warnings logged so far.
pub fn warnings() -> Vec<String> {
    WARNINGS.lock().unwrap().clone()
}

/// Lux's eltype-matching model `Chain(Dense(2 => 3, tanh), Dense(3 => 2))`.
pub type Model = Chain<(Dense, Dense)>;

/// The model with f32 parameters, its state and an f64 input `[4, 2]`.
pub fn lux_eltype_setup() -> (Model, Tree, Tree, Tensor) {
    let model =
        Chain::new((Dense::new(2, 3, Activation::Tanh).unwrap(), Dense::new(3, 2, Activation::Identity).unwrap()))
            .unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).unwrap();
    let x = Tensor::randn(&mut RngState::seed_from_u64(1), &[4, 2], DType::F64).unwrap();
    (model, ps, st, x)
}

/// Every tensor dtype of a tree.
pub fn dtypes(t: &Tree) -> Vec<DType> {
    t.tensors().into_iter().map(|(_, t)| t.dtype()).collect()
}

/// The model's output on `x`.
pub fn output(model: &Model, ps: &Tree, st: &Tree, x: &Tensor) -> lux_core::Result<Tensor> {
    Ok(lux_core::apply_tensor(model, x, ps, st)?.0)
}

/// The gradients of `Σ y` w.r.t. the input and the parameters (Lux's
/// Zygote `dx`, `dps`).
pub fn grads(model: &Model, ps: &Tree, st: &Tree, x: &Tensor) -> lux_core::Result<(Tensor, Tree)> {
    let both = lux_core::tree! { x: x.clone(), ps: ps.clone() };
    let g = lux_ad::gradient(|t| lux_core::apply_tensor(model, t.tensor("x")?, t.get("ps")?, st)?.0.sum_all(), &both)?;
    Ok((g.tensor("x")?.clone(), g.get("ps")?.clone()))
}
