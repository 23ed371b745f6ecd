//! The main job: train a model on the bundled UCI digits (1797 8×8 images,
//! ten classes) with Lux's training API.
//!
//! `cargo run --release --example digits` trains an MLP; `-- --model cnn`
//! a small CNN (Conv/BatchNorm/MaxPool). Options: `--epochs`,
//! `--batch-size`, `--lr`, `--seed`, `--checkpoint PATH` (written after
//! every epoch, atomically), `--resume PATH`, `--out DIR` (the loss and
//! accuracy curves as CSV). A bad flag prints the usage and exits non-zero.

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use lux::data::{CLASSES, Dataset, bundled_digits_path, load_digits};
use lux::prelude::*;
use lux::train::checkpoint::{load_checkpoint, save_checkpoint};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModelKind {
    /// 64 → 128 (relu) → 64 (relu) → 10.
    Mlp,
    /// Conv(3×3, 1⇒16) → BatchNorm → MaxPool(2) → Conv(3×3, 16⇒32) → MaxPool(2) → Dense(128 ⇒ 10).
    Cnn,
}

/// Train a model on the bundled UCI digits with lux-rs.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The model to train.
    #[arg(long, value_enum, default_value = "mlp")]
    model: ModelKind,
    /// Passes over the training set.
    #[arg(long, default_value_t = 20)]
    epochs: u64,
    /// Samples per training step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Seed of the parameters, the train/test split and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write a checkpoint here after every epoch (safetensors, atomic).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Resume from this checkpoint (same model and seed).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Directory for the curves (`curves.csv`).
    #[arg(long, default_value = "target/digits")]
    out: PathBuf,
}

fn model(kind: ModelKind) -> Result<Box<dyn Layer>> {
    Ok(match kind {
        ModelKind::Mlp => Box::new(Chain::new((
            Dense::new(64, 128, Activation::Relu)?,
            Dense::new(128, 64, Activation::Relu)?,
            Dense::new(64, CLASSES, Activation::Identity)?,
        ))?),
        ModelKind::Cnn => Box::new(Chain::new((
            ReshapeLayer::new(vec![1, 8, 8])?,
            Conv::builder(&[3, 3], 1, 16).activation(Activation::Relu).pad(&[1]).build()?,
            BatchNorm::new(16)?,
            MaxPool::new(&[2, 2])?,
            Conv::builder(&[3, 3], 16, 32).activation(Activation::Relu).pad(&[1]).build()?,
            MaxPool::new(&[2, 2])?,
            FlattenLayer::new(),
            Dense::new(128, CLASSES, Activation::Identity)?,
        ))?),
    })
}

/// Predicted classes of `x` (state in test mode).
fn predict(ts: &TrainState<Box<dyn Layer>>, x: &Tensor) -> Result<Vec<usize>> {
    let (logits, _) = apply_tensor(ts.model(), x, ts.parameters(), &test_mode(ts.states()))?;
    let logits = logits.to_vec::<f32>()?;
    Ok(logits
        .chunks(CLASSES)
        .map(|row| row.iter().enumerate().fold(0, |best, (i, v)| if *v > row[best] { i } else { best }))
        .collect())
}

fn confusion(ts: &TrainState<Box<dyn Layer>>, data: &Dataset) -> Result<[[usize; CLASSES]; CLASSES]> {
    let mut m = [[0usize; CLASSES]; CLASSES];
    for (p, &y) in predict(ts, &data.x)?.into_iter().zip(data.y.to_vec::<i64>()?.iter()) {
        m[y as usize][p] += 1;
    }
    Ok(m)
}

fn accuracy(m: &[[usize; CLASSES]; CLASSES]) -> f64 {
    let total: usize = m.iter().flatten().sum();
    (0..CLASSES).map(|i| m[i][i]).sum::<usize>() as f64 / total.max(1) as f64
}

fn main() -> Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let (train, test) = load_digits(&bundled_digits_path())?.split(0.2, args.seed)?;
    let net = model(args.model)?;
    let (ps, st) = setup(&mut RngState::seed_from_u64(args.seed), &net)?;
    let mut ts = TrainState::new(net, ps, st, Adam::new(args.lr))?;
    let steps_per_epoch = train.len().div_ceil(args.batch_size) as u64;
    if let Some(path) = &args.resume {
        load_checkpoint(path, &mut ts)?;
        println!("resumed from {} at step {}", path.display(), ts.step());
    }
    let first_epoch = ts.step() / steps_per_epoch;
    println!("{}", display_model(ts.model()));
    println!("{} training and {} test samples, {} steps per epoch", train.len(), test.len(), steps_per_epoch);

    std::fs::create_dir_all(&args.out).map_err(|e| LuxError::Io(format!("{}: {e}", args.out.display())))?;
    let curves_path = args.out.join("curves.csv");
    let mut curves = String::from("epoch,train_loss,test_accuracy\n");
    let loss = CrossEntropyLoss::new().logits(true);
    let bar = ProgressBar::new(args.epochs.saturating_sub(first_epoch) * steps_per_epoch);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  {msg}")
            .map_err(|e| LuxError::invalid_argument("progress bar", e.to_string()))?,
    );
    for epoch in first_epoch..args.epochs {
        // The batch order depends only on (seed, epoch): a resumed run sees the same batches.
        let mut rng = RngState::seed_from_u64(args.seed.wrapping_mul(1_000_003).wrapping_add(epoch));
        let (mut total, mut count) = (0.0f64, 0usize);
        for (x, y) in train.batches(args.batch_size, &mut rng)? {
            let n = y.len();
            let out = single_train_step_mut(&AutoTape, &loss, &(x, y), &mut ts, false)?;
            total += f64::from(out.loss.to_scalar::<f32>()?) * n as f64;
            count += n;
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", total / count as f64));
        }
        let acc = accuracy(&confusion(&ts, &test)?);
        let train_loss = total / count as f64;
        bar.suspend(|| {
            println!("epoch {:>3}: train loss {train_loss:.4}, test accuracy {:.2} %", epoch + 1, 100.0 * acc)
        });
        curves.push_str(&format!("{},{train_loss},{acc}\n", epoch + 1));
        if let Some(path) = &args.checkpoint {
            save_checkpoint(path, &ts)?;
        }
    }
    bar.finish_and_clear();
    std::fs::File::create(&curves_path)
        .and_then(|mut f| f.write_all(curves.as_bytes()))
        .map_err(|e| LuxError::Io(format!("{}: {e}", curves_path.display())))?;

    let m = confusion(&ts, &test)?;
    println!("\nconfusion matrix (rows: true class, columns: predicted)");
    println!("     {}", (0..CLASSES).map(|c| format!("{c:>4}")).collect::<String>());
    for (i, row) in m.iter().enumerate() {
        println!("{i:>4} {}", row.iter().map(|v| format!("{v:>4}")).collect::<String>());
    }
    println!("\ntest accuracy {:.2} %; curves in {}", 100.0 * accuracy(&m), curves_path.display());
    if let Some(path) = &args.checkpoint {
        println!("checkpoint in {}", path.display());
    }
    println!("wall time {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
