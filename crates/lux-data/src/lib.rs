//! # lux-data
//!
//! Data for the examples and tests: the UCI optical-recognition digits
//! bundled in the repository (`data/digits.csv.gz`, 1797 images of 8×8
//! pixels with values 0–16, ten classes), read into tensors, with a seeded
//! shuffled train/test split and seeded mini-batch iteration. Nothing is
//! downloaded: the file comes with the source.
//!
//! ```
//! use lux_core::RngState;
//! use lux_data::{bundled_digits_path, load_digits};
//! let digits = load_digits(&bundled_digits_path())?;
//! assert_eq!((digits.len(), digits.x.shape()), (1797, &[1797, 64][..]));
//! let (train, test) = digits.split(0.2, 42)?;
//! assert_eq!((train.len(), test.len()), (1438, 359));
//! let mut rng = RngState::seed_from_u64(0);
//! let batches = train.batches(128, &mut rng)?;
//! assert_eq!(batches.len(), 12); // 11 full batches and one of 30
//! let (x, y) = &batches[0];
//! assert_eq!((x.shape(), y.shape()), (&[128, 64][..], &[128][..]));
//! # Ok::<(), lux_core::LuxError>(())
//! ```
#![doc(test(attr(deny(warnings))))]

use flate2::read::GzDecoder;
use lux_core::{LuxError, Result, Tensor};
use rand::{Rng, RngExt};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Pixels per digit image (8 × 8).
pub const PIXELS: usize = 64;
/// The number of classes.
pub const CLASSES: usize = 10;

/// Samples as tensors: `x` is `[n, 64]` f32 (pixels scaled from 0..=16 to
/// [0, 1]), `y` is `[n]` i64 class labels in `0..10`.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The inputs, `[n, 64]`, f32.
    pub x: Tensor,
    /// The labels, `[n]`, i64.
    pub y: Tensor,
}

/// The path of the bundled digits file (`data/digits.csv.gz` in the
/// repository).
pub fn bundled_digits_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits.csv.gz")
}

fn io_err(path: &Path, msg: impl std::fmt::Display) -> LuxError {
    LuxError::Io(format!("{}: {msg}", path.display()))
}

/// Reads the digits file at `path`: gzip-compressed CSV, one sample per line,
/// 64 integer pixels in `0..=16` then the label in `0..=9`.
///
/// # Errors
/// The file is missing or unreadable, not gzip, or a line is malformed (the
/// message names the path and the line); an empty file.
pub fn load_digits(path: &Path) -> Result<Dataset> {
    let file = std::fs::File::open(path).map_err(|e| io_err(path, format!("cannot open: {e}")))?;
    let reader = BufReader::new(GzDecoder::new(file));
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| io_err(path, format!("line {n}: cannot read (is it a gzip file?): {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(io_err(
                path,
                format!("line {n}: expected {} comma-separated values, got {}", PIXELS + 1, fields.len()),
            ));
        }
        for (j, f) in fields.iter().enumerate() {
            let v: u8 = f
                .trim()
                .parse()
                .map_err(|_| io_err(path, format!("line {n}, value {}: `{f}` is not an integer", j + 1)))?;
            let max = if j < PIXELS { 16 } else { 9 };
            if v > max {
                return Err(io_err(path, format!("line {n}, value {}: {v} is out of range 0..={max}", j + 1)));
            }
            if j < PIXELS {
                pixels.push(f32::from(v) / 16.0);
            } else {
                labels.push(i64::from(v));
            }
        }
    }
    if labels.is_empty() {
        return Err(io_err(path, "no samples"));
    }
    let n = labels.len();
    Ok(Dataset { x: Tensor::from_vec(pixels, &[n, PIXELS])?, y: Tensor::from_vec(labels, &[n])? })
}

/// A seeded permutation of `0..n` (Fisher–Yates).
fn permutation(n: usize, rng: &mut dyn Rng) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        idx.swap(i, j);
    }
    idx
}

impl Dataset {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// `true` if there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `rows`, in that order.
    ///
    /// # Errors
    /// A row out of range.
    pub fn select(&self, rows: &[usize]) -> Result<Dataset> {
        let n = self.len();
        if let Some(&r) = rows.iter().find(|&&r| r >= n) {
            return Err(LuxError::invalid_argument(
                "Dataset::select",
                format!("row {r} is out of range for {n} samples"),
            ));
        }
        let x = self.x.contiguous_slice::<f32>()?;
        let y = self.y.contiguous_slice::<i64>()?;
        let width = self.x.len() / n.max(1);
        let xs: Vec<f32> = rows.iter().flat_map(|&r| x[r * width..(r + 1) * width].iter().copied()).collect();
        let ys: Vec<i64> = rows.iter().map(|&r| y[r]).collect();
        let mut shape = self.x.shape().to_vec();
        shape[0] = rows.len();
        Ok(Dataset { x: Tensor::from_vec(xs, &shape)?, y: Tensor::from_vec(ys, &[rows.len()])? })
    }

    /// A seeded shuffled split into `(train, test)`, with
    /// `round(test_fraction · n)` test samples.
    ///
    /// # Errors
    /// `test_fraction` outside `(0, 1)`, or a split leaving either part empty.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(LuxError::invalid_argument(
                "Dataset::split",
                format!("test_fraction must be in (0, 1), got {test_fraction}"),
            ));
        }
        let n = self.len();
        let n_test = (test_fraction * n as f64).round() as usize;
        if n_test == 0 || n_test == n {
            return Err(LuxError::invalid_argument(
                "Dataset::split",
                format!("{test_fraction} of {n} samples leaves a part empty"),
            ));
        }
        let idx = permutation(n, &mut lux_core::RngState::seed_from_u64(seed));
        Ok((self.select(&idx[n_test..])?, self.select(&idx[..n_test])?))
    }

    /// The samples in mini-batches of `batch_size` (the last one may be
    /// smaller), in an order shuffled by `rng`; the generator advances, so
    /// each epoch's call gives a new order, and the same seed the same
    /// sequence of orders.
    ///
    /// # Errors
    /// `batch_size` is 0.
    pub fn batches(&self, batch_size: usize, rng: &mut dyn Rng) -> Result<Vec<(Tensor, Tensor)>> {
        if batch_size == 0 {
            return Err(LuxError::invalid_argument("Dataset::batches", "batch_size must be at least 1"));
        }
        let idx = permutation(self.len(), rng);
        idx.chunks(batch_size)
            .map(|rows| {
                let d = self.select(rows)?;
                Ok((d.x, d.y))
            })
            .collect()
    }

    /// The inputs as NCHW images, `[n, 1, 8, 8]` (for convolutional models).
    ///
    /// # Errors
    /// The inputs do not hold 64 values per sample.
    pub fn images(&self) -> Result<Tensor> {
        self.x.reshape(&[self.len(), 1, 8, 8])
    }
}
