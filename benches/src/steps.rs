//! The standard training-step workloads: one full step each through
//! `single_train_step_mut` (forward, loss, backward, Adam(1e-3) update), f32,
//! fixed seeds, synthetic data made once before timing. The same models,
//! sizes and data recipes are written in JAX and PyTorch in
//! `benches/peers/peers.py`, so the three can be timed side by side.

use lux::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The names of the workloads, in the order they are reported.
pub const WORKLOADS: [&str; 5] = ["tiny", "mnist", "wide", "conv", "lstm"];

/// The loss a workload trains with.
enum Loss {
    Mse(MSELoss),
    LogitCe(CrossEntropyLoss),
    LogitBce(BinaryCrossEntropyLoss),
}

/// The reverse-mode backend a workload's steps use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// [`AutoTape`]: the graph recorded afresh every step.
    Tape,
    /// [`AutoCompiledTape`]: recorded on the first step, replayed after.
    Compiled,
}

impl Backend {
    /// `tape` or `compiled`.
    ///
    /// # Errors
    /// Any other name.
    pub fn parse(name: &str) -> Result<Backend> {
        match name {
            "tape" => Ok(Backend::Tape),
            "compiled" => Ok(Backend::Compiled),
            other => {
                Err(LuxError::invalid_argument("lux-bench", format!("unknown backend `{other}` (tape, compiled)")))
            }
        }
    }
}

/// One workload: a train state and the batch every step sees.
pub struct StepWorkload {
    /// The name (`tiny`, `mnist`, …).
    pub name: &'static str,
    /// What it is, for the report.
    pub description: &'static str,
    ts: TrainState<Box<dyn Layer>>,
    loss: Loss,
    data: (Tensor, Tensor),
    backend: Box<dyn AdBackend>,
}

fn mlp(sizes: &[usize], act: Activation) -> Result<Box<dyn Layer>> {
    let mut layers: Vec<Box<dyn Layer>> = Vec::new();
    for (i, w) in sizes.windows(2).enumerate() {
        let a = if i + 2 == sizes.len() { Activation::Identity } else { act };
        layers.push(Box::new(Dense::new(w[0], w[1], a)?));
    }
    Ok(Box::new(Chain::new(layers)?))
}

/// Class labels of a fixed random linear teacher, so the task is learnable.
fn teacher_labels(rng: &mut StdRng, x: &Tensor, classes: usize) -> Result<Tensor> {
    let features = x.shape()[1..].iter().product::<usize>();
    let w = Tensor::randn(rng, &[features, classes], DType::F32)?;
    let scores = x.reshape(&[x.shape()[0], features])?.matmul(&w)?.to_vec::<f32>()?;
    let labels: Vec<i64> = scores
        .chunks(classes)
        .map(|row| row.iter().enumerate().fold(0, |b, (i, v)| if *v > row[b] { i } else { b }) as i64)
        .collect();
    Tensor::from_vec(labels, &[x.shape()[0]])
}

impl StepWorkload {
    /// The workload `name` (one of [`WORKLOADS`]) on [`Backend::Compiled`]
    /// (on [`Backend::Tape`] if its model has state).
    ///
    /// # Errors
    /// An unknown name.
    pub fn new(name: &str) -> Result<StepWorkload> {
        StepWorkload::with_backend(name, Backend::Compiled)
    }

    /// The workload `name` on `backend` ([`Backend::Tape`] if its model has
    /// state, which the compiled tape does not take).
    ///
    /// # Errors
    /// An unknown name.
    pub fn with_backend(name: &str, backend: Backend) -> Result<StepWorkload> {
        let backend: Box<dyn AdBackend> = match backend {
            Backend::Tape => Box::new(AutoTape),
            Backend::Compiled => Box::new(AutoCompiledTape::new()),
        };
        let mut rng = StdRng::seed_from_u64(42);
        let (name, description, model, loss, data): (&'static str, &'static str, Box<dyn Layer>, Loss, _) = match name {
            "tiny" => {
                let x = Tensor::randn(&mut rng, &[64, 4], DType::F32)?;
                let y = x.sum(&[-1], true)?.sin()?;
                let model = mlp(&[4, 16, 16, 1], Activation::Tanh)?;
                ("tiny", "MLP 4-16-16-1 tanh, MSE, batch 64", model, Loss::Mse(MSELoss::default()), (x, y))
            }
            "mnist" => {
                let x = Tensor::rand(&mut rng, &[128, 784], DType::F32)?;
                let y = teacher_labels(&mut rng, &x, 10)?;
                let model = mlp(&[784, 256, 256, 10], Activation::Relu)?;
                let loss = Loss::LogitCe(CrossEntropyLoss::new().logits(true));
                ("mnist", "MLP 784-256-256-10 relu, logit CE on labels, batch 128", model, loss, (x, y))
            }
            "wide" => {
                let x = Tensor::randn(&mut rng, &[256, 1024], DType::F32)?;
                let y = Tensor::randn(&mut rng, &[256, 1024], DType::F32)?.mul_scalar(0.1)?;
                let model = mlp(&[1024, 2048, 2048, 1024], Activation::Relu)?;
                ("wide", "MLP 1024-2048-2048-1024 relu, MSE, batch 256", model, Loss::Mse(MSELoss::default()), (x, y))
            }
            "conv" => {
                let x = Tensor::rand(&mut rng, &[64, 1, 28, 28], DType::F32)?;
                let y = teacher_labels(&mut rng, &x, 10)?;
                let model: Box<dyn Layer> = Box::new(Chain::new((
                    Conv::new(&[5, 5], 1, 6, Activation::Relu)?,
                    MaxPool::new(&[2, 2])?,
                    Conv::new(&[5, 5], 6, 16, Activation::Relu)?,
                    MaxPool::new(&[2, 2])?,
                    FlattenLayer::new(),
                    Dense::new(256, 120, Activation::Relu)?,
                    Dense::new(120, 84, Activation::Relu)?,
                    Dense::new(84, 10, Activation::Identity)?,
                ))?);
                let loss = Loss::LogitCe(CrossEntropyLoss::new().logits(true));
                (
                    "conv",
                    "LeNet-5 (conv5-pool-conv5-pool-120-84-10) on 1x28x28, logit CE, batch 64",
                    model,
                    loss,
                    (x, y),
                )
            }
            "lstm" => {
                // Lux's spiral task in miniature: classify the sign of a
                // sequence's running sum, 50 steps of 2 features.
                let x = Tensor::randn(&mut rng, &[32, 50, 2], DType::F32)?;
                let y =
                    x.sum(&[1, 2], false)?.greater(&Tensor::scalar(0.0f32))?.to_dtype(DType::F32)?.reshape(&[32, 1])?;
                let model: Box<dyn Layer> = Box::new(Chain::new((
                    Recurrence::new(LSTMCell::new(2, 8)?),
                    Dense::new(8, 1, Activation::Identity)?,
                ))?);
                let loss = Loss::LogitBce(BinaryCrossEntropyLoss::new().logits(true));
                ("lstm", "LSTM(2 => 8) over 50 steps + Dense(8 => 1), logit BCE, batch 32", model, loss, (x, y))
            }
            other => {
                return Err(LuxError::invalid_argument(
                    "lux-bench",
                    format!("unknown workload `{other}` (one of {})", WORKLOADS.join(", ")),
                ));
            }
        };
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
        // The compiled tape takes stateless models only (as in Lux); a
        // stateful one (the LSTM's carry settings) steps on AutoTape.
        let backend: Box<dyn AdBackend> =
            if backend.carries_state() || st.state_count() == 0 { backend } else { Box::new(AutoTape) };
        let ts = TrainState::new(model, ps, st, Adam::new(1e-3))?;
        Ok(StepWorkload { name, description, ts, loss, data, backend })
    }

    /// One training step; returns the loss before the update.
    ///
    /// # Errors
    /// As [`single_train_step_mut`].
    pub fn step(&mut self) -> Result<f32> {
        let out = match &self.loss {
            Loss::Mse(l) => single_train_step_mut(self.backend.as_ref(), l, &self.data, &mut self.ts, false)?,
            Loss::LogitCe(l) => single_train_step_mut(self.backend.as_ref(), l, &self.data, &mut self.ts, false)?,
            Loss::LogitBce(l) => single_train_step_mut(self.backend.as_ref(), l, &self.data, &mut self.ts, false)?,
        };
        out.loss.to_scalar::<f32>()
    }
}
