//! The main job: train a model on the bundled UCI digits (1797 8×8 images,
//! ten classes) with Lux's training API.
//!
//! `cargo run --release --example digits` trains an MLP; `-- --model cnn`
//! a small CNN (Conv/BatchNorm/MaxPool). Options: `--epochs`,
//! `--batch-size`, `--lr`, `--seed`, `--checkpoint PATH` (written after
//! every epoch, atomically; `OUT/checkpoint.safetensors` by default),
//! `--resume PATH`, `--out DIR` (the loss and accuracy curves as
//! `curves.csv` and `curves.svg`, `target/digits` by default). A bad flag
//! prints the usage and exits non-zero.
//!
//! With the feature `mpi`, `--distributed` trains data-parallel on the ranks
//! of `mpirun`: each rank takes `--batch-size` samples of every global batch
//! of `batch-size × ranks`, so `mpirun -np 2 … --distributed --batch-size 64`
//! trains as one process with `--batch-size 128` (see `docs/distributed.md`).

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lux::data::{CLASSES, Dataset, bundled_digits_path, load_digits};
#[cfg(feature = "mpi")]
use lux::distributed::{Backend, DistributedDataContainer, DistributedOptimizer, MpiBackend, ReduceOp};
use lux::prelude::*;
use lux::train::checkpoint::{load_checkpoint, load_metadata, save_checkpoint_with_metadata};
use plotters::prelude::*;
use std::path::{Path, PathBuf};
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
    /// Write a checkpoint here after every epoch (safetensors, atomic)
    /// [default: OUT/checkpoint.safetensors].
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Resume from this checkpoint (same model and seed).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Directory for the curves (`curves.csv`, `curves.svg`) and the default checkpoint.
    #[arg(long, default_value = "target/digits")]
    out: PathBuf,
    /// Train data-parallel on the ranks of `mpirun`, `--batch-size` samples per rank
    /// and step; rank 0 prints and writes the files.
    #[cfg(feature = "mpi")]
    #[arg(long)]
    distributed: bool,
}

/// Without the feature `mpi` there is no distributed run: no value of this type exists.
#[cfg(not(feature = "mpi"))]
enum Backend {}

/// `(rank, number of ranks)` of the run.
fn ranks(backend: Option<&Backend>) -> (usize, usize) {
    match backend {
        #[cfg(feature = "mpi")]
        Some(b) => (b.local_rank(), b.total_workers()),
        #[cfg(not(feature = "mpi"))]
        Some(b) => match *b {},
        None => (0, 1),
    }
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

/// One row of the learning curves.
#[derive(Clone, Copy, Debug)]
struct EpochStats {
    epoch: u64,
    train_loss: f64,
    test_accuracy: f64,
}

fn curves_csv(curves: &[EpochStats]) -> String {
    let mut csv = String::from("epoch,train_loss,test_accuracy\n");
    for c in curves {
        csv.push_str(&format!("{},{},{}\n", c.epoch, c.train_loss, c.test_accuracy));
    }
    csv
}

fn parse_curves(csv: &str, source: &Path) -> Result<Vec<EpochStats>> {
    let bad = |line: &str| LuxError::Io(format!("{}: invalid curve row {line:?}", source.display()));
    csv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            match f[..] {
                [e, l, a] => Ok(EpochStats {
                    epoch: e.parse().map_err(|_| bad(line))?,
                    train_loss: l.parse().map_err(|_| bad(line))?,
                    test_accuracy: a.parse().map_err(|_| bad(line))?,
                }),
                _ => Err(bad(line)),
            }
        })
        .collect()
}

/// The train loss (log scale) and test accuracy against the epoch, side by side.
fn plot_curves(curves: &[EpochStats], path: &Path, title: &str) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| LuxError::Io(format!("{}: {e}", path.display()));
    let root = SVGBackend::new(path, (960, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(480);
    let last = curves.iter().map(|c| c.epoch).max().unwrap_or(1).max(2);
    let (lo, hi) =
        curves.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), c| (lo.min(c.train_loss), hi.max(c.train_loss)));
    let (lo, hi) = if lo.is_finite() && lo > 0.0 { (lo * 0.8, hi * 1.25) } else { (1e-3, 10.0) };
    let mut loss = ChartBuilder::on(&left)
        .caption("train loss (log scale)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(1u64..last, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    loss.configure_mesh().x_desc("epoch").draw().map_err(|e| err(&e))?;
    loss.draw_series(LineSeries::new(curves.iter().map(|c| (c.epoch, c.train_loss)), BLUE.stroke_width(2)))
        .map_err(|e| err(&e))?;
    let low_acc = curves.iter().map(|c| c.test_accuracy).fold(1.0f64, f64::min);
    let floor = ((low_acc * 100.0 - 5.0) / 10.0).floor().clamp(0.0, 9.0) * 10.0;
    let mut acc = ChartBuilder::on(&right)
        .caption("test accuracy (%)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(1u64..last, floor..100.0)
        .map_err(|e| err(&e))?;
    acc.configure_mesh().x_desc("epoch").draw().map_err(|e| err(&e))?;
    acc.draw_series(LineSeries::new(curves.iter().map(|c| (c.epoch, 100.0 * c.test_accuracy)), RED.stroke_width(2)))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    #[cfg(feature = "mpi")]
    if args.distributed {
        let backend = match lux::distributed::initialize(MpiBackend) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        // A rank that fails alone ends every rank (the others would wait for it).
        backend.abort_on_error(run(args, Some(&backend)));
        return std::process::ExitCode::SUCCESS;
    }
    match run(args, None) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args, backend: Option<&Backend>) -> Result<()> {
    let start = Instant::now();
    let (rank, ranks) = ranks(backend);
    let lead = rank == 0;
    let global_batch = args.batch_size * ranks;
    let (train, test) = load_digits(&bundled_digits_path())?.split(0.2, args.seed)?;
    let net = model(args.model)?;
    let (ps, st) = setup(&mut RngState::seed_from_u64(args.seed), &net)?;
    let rule: Box<dyn Rule> = Box::new(Adam::new(args.lr));
    #[cfg(feature = "mpi")]
    let rule: Box<dyn Rule> = match backend {
        Some(b) => Box::new(DistributedOptimizer::boxed(b, rule)),
        None => rule,
    };
    let mut ts = TrainState::with_rule(net, ps, st, rule)?;
    let steps_per_epoch = train.len().div_ceil(global_batch) as u64;
    let mut curves = Vec::new();
    // What the run was started with: a resume with other settings would not be bit-exact.
    let mut config = format!("model={:?} batch_size={} seed={}", args.model, args.batch_size, args.seed);
    if ranks > 1 {
        config.push_str(&format!(" ranks={ranks}"));
    }
    if let Some(path) = &args.resume {
        let meta = load_metadata(path)?;
        if meta.get("digits.config") != Some(&config) {
            return Err(LuxError::invalid_argument(
                "--resume",
                format!(
                    "{} was written by a run with {}, this run has {config}; resume with the same settings",
                    path.display(),
                    meta.get("digits.config").map_or("unknown settings", String::as_str)
                ),
            ));
        }
        load_checkpoint(path, &mut ts)?;
        curves = parse_curves(meta.get("digits.curves").map_or("", String::as_str), path)?;
        if lead {
            println!("resumed from {} at step {}", path.display(), ts.step());
        }
    }
    #[cfg(feature = "mpi")]
    if let Some(b) = backend {
        b.synchronize(&mut ts, 0)?; // every rank starts from rank 0's state
    }
    let first_epoch = ts.step() / steps_per_epoch;
    if lead {
        println!("{}", display_model(ts.model()));
        println!("{} training and {} test samples, {} steps per epoch", train.len(), test.len(), steps_per_epoch);
        if ranks > 1 {
            println!("data-parallel on {ranks} ranks, {} samples per rank and step", args.batch_size);
        }
    }

    std::fs::create_dir_all(&args.out).map_err(|e| LuxError::Io(format!("{}: {e}", args.out.display())))?;
    let (csv_path, svg_path) = (args.out.join("curves.csv"), args.out.join("curves.svg"));
    let checkpoint = args.checkpoint.clone().unwrap_or_else(|| args.out.join("checkpoint.safetensors"));
    let loss = CrossEntropyLoss::new().logits(true);
    let bar = ProgressBar::new(args.epochs.saturating_sub(first_epoch) * steps_per_epoch);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  {msg}")
            .map_err(|e| LuxError::invalid_argument("progress bar", e.to_string()))?,
    );
    if !lead {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    for epoch in first_epoch..args.epochs {
        // The batch order depends only on (seed, epoch): a resumed run sees the same batches.
        let mut rng = RngState::seed_from_u64(args.seed.wrapping_mul(1_000_003).wrapping_add(epoch));
        let (mut total, mut count) = (0.0f64, 0usize);
        for (x, y) in train.batches(global_batch, &mut rng)? {
            #[cfg(feature = "mpi")]
            let (x, y) = match backend {
                Some(b) => DistributedDataContainer::new(b, (x, y))?.local()?,
                None => (x, y),
            };
            let n = y.len();
            let out = single_train_step_mut(&AutoTape, &loss, &(x, y), &mut ts, false)?;
            total += f64::from(out.loss.to_scalar::<f32>()?) * n as f64;
            count += n;
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", total / count as f64));
        }
        #[cfg(feature = "mpi")]
        if let Some(b) = backend {
            // The epoch's loss over all ranks' samples.
            let sums = Tree::Tensor(Tensor::from_vec(vec![total, count as f64], &[2])?);
            let sums = b.allreduce(&sums, ReduceOp::Sum)?.into_tensor()?.to_vec::<f64>()?;
            (total, count) = (sums[0], sums[1] as usize);
        }
        let acc = accuracy(&confusion(&ts, &test)?);
        let train_loss = total / count as f64;
        curves.push(EpochStats { epoch: epoch + 1, train_loss, test_accuracy: acc });
        if lead {
            bar.suspend(|| {
                println!("epoch {:>3}: train loss {train_loss:.4}, test accuracy {:.2} %", epoch + 1, 100.0 * acc)
            });
            let csv = curves_csv(&curves);
            save_checkpoint_with_metadata(&checkpoint, &ts, &[("digits.config", &config), ("digits.curves", &csv)])?;
        }
    }
    bar.finish_and_clear();
    if !lead {
        return Ok(()); // rank 0 reports; every rank holds the same parameters
    }
    std::fs::write(&csv_path, curves_csv(&curves)).map_err(|e| LuxError::Io(format!("{}: {e}", csv_path.display())))?;
    let name = match args.model {
        ModelKind::Mlp => "MLP",
        ModelKind::Cnn => "CNN",
    };
    plot_curves(&curves, &svg_path, &format!("lux-rs: {name} on the UCI digits (Adam, logit cross-entropy)"))?;

    let m = confusion(&ts, &test)?;
    println!("\nconfusion matrix (rows: true class, columns: predicted)");
    println!("     {}", (0..CLASSES).map(|c| format!("{c:>4}")).collect::<String>());
    for (i, row) in m.iter().enumerate() {
        println!("{i:>4} {}", row.iter().map(|v| format!("{v:>4}")).collect::<String>());
    }
    println!(
        "\ntest accuracy {:.2} %; curves in {} and {}",
        100.0 * accuracy(&m),
        csv_path.display(),
        svg_path.display()
    );
    println!("checkpoint in {}", checkpoint.display());
    println!("wall time {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
