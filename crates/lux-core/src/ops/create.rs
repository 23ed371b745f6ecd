//! Constructors: `eye`, `linspace`, and the random `uniform`, `randint`,
//! `bernoulli`, `bernoulli_probs`.
//!
//! Randomness comes only from the `rng` passed in: one draw per element in
//! row-major order, so the same seed gives the same values. Sizes go
//! through the same checked element count as every other constructor.

use crate::error::{Result, arg_err};
use crate::tensor::{alloc_vec, checked_len, float_dtype};
use crate::{DType, Tensor};
use rand::{Rng, RngExt};

impl Tensor {
    /// The `n × m` identity matrix (ones on the main diagonal) of `dtype`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let e = Tensor::eye(2, 3, DType::F32)?;
    /// assert_eq!(e.shape(), &[2, 3]);
    /// assert_eq!(e.to_vec::<f32>()?, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    /// assert_eq!(Tensor::eye(2, 2, DType::Bool)?.to_vec::<bool>()?, vec![true, false, false, true]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `n · m` elements are too many.
    pub fn eye(n: usize, m: usize, dtype: DType) -> Result<Tensor> {
        checked_len("eye", &[n, m])?;
        let rows = Tensor::arange(0.0, n as f64, 1.0, DType::I64)?.reshape(&[n, 1])?;
        let cols = Tensor::arange(0.0, m as f64, 1.0, DType::I64)?.reshape(&[1, m])?;
        rows.equal(&cols)?.to_dtype(dtype)
    }

    /// `n` evenly spaced values from `start` to `end`, both included
    /// (`n = 1` gives `[start]`, `n = 0` an empty tensor), of a float
    /// `dtype`. The first half counts up from `start` and the second down
    /// from `end` (as PyTorch does), so both ends are exact.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let t = Tensor::linspace(0.0, 1.0, 5, DType::F64)?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    /// assert_eq!(Tensor::linspace(3.0, 9.0, 1, DType::F32)?.to_vec::<f32>()?, vec![3.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// A bound or `end − start` is not finite, `dtype` is not float, or `n`
    /// is too large.
    pub fn linspace(start: f64, end: f64, n: usize, dtype: DType) -> Result<Tensor> {
        float_dtype("linspace", dtype)?;
        if !(end - start).is_finite() {
            return Err(arg_err("linspace", format!("need finite bounds with a finite span, got {start} to {end}")));
        }
        checked_len("linspace", &[n])?;
        let step = if n > 1 { (end - start) / (n - 1) as f64 } else { 0.0 };
        let values: Vec<f64> = if n == 1 {
            vec![start]
        } else {
            (0..n).map(|i| if i < n / 2 { start + i as f64 * step } else { end - (n - 1 - i) as f64 * step }).collect()
        };
        Tensor::from_vec(values, &[n])?.to_dtype(dtype)
    }

    /// Samples uniform in `[low, high)` drawn from `rng`, of a float `dtype`.
    /// Values are drawn in f64; rounding to a narrower dtype can round a
    /// value just below `high` up to `high`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let u = Tensor::uniform(&mut rng, &[1000], -2.0, 3.0, DType::F64)?.to_vec::<f64>()?;
    /// assert!(u.iter().all(|&v| (-2.0..3.0).contains(&v)));
    /// let again = Tensor::uniform(&mut rand::rngs::StdRng::seed_from_u64(0), &[1000], -2.0, 3.0, DType::F64)?;
    /// assert_eq!(again.to_vec::<f64>()?, u);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Not `low < high` with a finite span, `dtype` is not float, or the
    /// shape has too many elements.
    pub fn uniform<R: Rng + ?Sized>(rng: &mut R, shape: &[usize], low: f64, high: f64, dtype: DType) -> Result<Tensor> {
        float_dtype("uniform", dtype)?;
        if !(low < high && (high - low).is_finite()) {
            return Err(arg_err("uniform", format!("need low < high with a finite span, got [{low}, {high})")));
        }
        let (mut values, n) = alloc_vec::<f64>("uniform", shape)?;
        values.extend((0..n).map(|_| rng.random_range(low..high)));
        Tensor::from_vec(values, shape)?.to_dtype(dtype)
    }

    /// Uniform random integers in `[low, high)` (i64) drawn from `rng`.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let r = Tensor::randint(&mut rng, &[2, 500], -3, 4)?.to_vec::<i64>()?;
    /// assert!(r.iter().all(|&v| (-3..4).contains(&v)));
    /// assert!((-3..4).all(|k| r.contains(&k)));
    /// assert!(Tensor::randint(&mut rng, &[2], 5, 5).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `low >= high`, or the shape has too many elements.
    pub fn randint<R: Rng + ?Sized>(rng: &mut R, shape: &[usize], low: i64, high: i64) -> Result<Tensor> {
        if low >= high {
            return Err(arg_err("randint", format!("need low < high, got [{low}, {high})")));
        }
        let (mut values, n) = alloc_vec::<i64>("randint", shape)?;
        values.extend((0..n).map(|_| rng.random_range(low..high)));
        Tensor::from_vec(values, shape)
    }

    /// Bool samples, each `true` with probability `p`, drawn from `rng`.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    /// assert!(Tensor::bernoulli(&mut rng, &[100], 1.0)?.all_all()?.to_scalar::<bool>()?);
    /// assert!(!Tensor::bernoulli(&mut rng, &[100], 0.0)?.any_all()?.to_scalar::<bool>()?);
    /// assert!(Tensor::bernoulli(&mut rng, &[3], f64::NAN).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `p` is outside `[0, 1]` or NaN, or the shape has too many elements.
    pub fn bernoulli<R: Rng + ?Sized>(rng: &mut R, shape: &[usize], p: f64) -> Result<Tensor> {
        check_probability("bernoulli", p)?;
        let (mut values, n) = alloc_vec::<bool>("bernoulli", shape)?;
        // u < p with u uniform in [0, 1): never for p = 0, always for p = 1.
        values.extend((0..n).map(|_| rng.random::<f64>() < p));
        Tensor::from_vec(values, shape)
    }

    /// Bool samples of `probs`' shape, element `i` `true` with probability
    /// `probs[i]` (a float tensor), drawn from `rng`.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    /// let probs = Tensor::from_vec(vec![0.0f32, 1.0, 1.0, 0.0], &[2, 2])?;
    /// let b = Tensor::bernoulli_probs(&mut rng, &probs)?;
    /// assert_eq!(b.to_vec::<bool>()?, vec![false, true, true, false]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// `probs` is not float, or a probability is outside `[0, 1]` or NaN.
    pub fn bernoulli_probs<R: Rng + ?Sized>(rng: &mut R, probs: &Tensor) -> Result<Tensor> {
        float_dtype("bernoulli_probs", probs.dtype())?;
        let ps = probs.to_f64_vec();
        for &p in &ps {
            check_probability("bernoulli_probs", p)?;
        }
        let values: Vec<bool> = ps.iter().map(|&p| rng.random::<f64>() < p).collect();
        Tensor::from_vec(values, probs.shape())
    }
}

fn check_probability(op: &str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) { Ok(()) } else { Err(arg_err(op, format!("probability {p} is outside [0, 1]"))) }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn eye_and_linspace_values() -> crate::Result<()> {
        let e = Tensor::eye(3, 2, DType::I64)?.to_vec::<i64>()?;
        assert_eq!(e, vec![1, 0, 0, 1, 0, 0]);
        assert_eq!(Tensor::eye(0, 4, DType::F32)?.shape(), &[0, 4]);
        assert!(Tensor::eye(1 << 40, 1 << 40, DType::F32).is_err());
        for n in [2usize, 3, 7, 10, 101] {
            let t = Tensor::linspace(-1.5, 2.0, n, DType::F64)?.to_vec::<f64>()?;
            assert_eq!((t[0], t[n - 1]), (-1.5, 2.0));
            for (i, &v) in t.iter().enumerate() {
                let want = -1.5 + 3.5 * i as f64 / (n - 1) as f64;
                assert!((v - want).abs() <= 4.0 * f64::EPSILON, "n={n} i={i}: {v} vs {want}");
            }
        }
        assert_eq!(Tensor::linspace(5.0, 1.0, 3, DType::F32)?.to_vec::<f32>()?, vec![5.0, 3.0, 1.0]);
        assert_eq!(Tensor::linspace(0.0, 1.0, 0, DType::F32)?.shape(), &[0]);
        assert!(Tensor::linspace(0.0, f64::INFINITY, 3, DType::F32).is_err());
        assert!(Tensor::linspace(-f64::MAX, f64::MAX, 3, DType::F64).is_err());
        assert!(Tensor::linspace(0.0, 1.0, 3, DType::I64).is_err());
        assert!(Tensor::linspace(0.0, 1.0, usize::MAX, DType::F32).is_err());
        Ok(())
    }

    #[test]
    fn random_constructors_are_seeded_in_range_and_checked() -> crate::Result<()> {
        let draw = |seed| -> crate::Result<(Vec<f32>, Vec<i64>, Vec<bool>)> {
            let mut rng = StdRng::seed_from_u64(seed);
            Ok((
                Tensor::uniform(&mut rng, &[4000], 1.0, 1.5, DType::F32)?.to_vec::<f32>()?,
                Tensor::randint(&mut rng, &[4000], 10, 13)?.to_vec::<i64>()?,
                Tensor::bernoulli(&mut rng, &[4000], 0.25)?.to_vec::<bool>()?,
            ))
        };
        let (u, r, b) = draw(7)?;
        assert_eq!(draw(7)?, (u.clone(), r.clone(), b.clone()));
        assert_ne!(draw(8)?.0, u);
        assert!(u.iter().all(|&v| (1.0..=1.5).contains(&v)));
        let mean = u.iter().map(|&v| v as f64).sum::<f64>() / 4000.0;
        // mean 1.25, sd of the mean 0.5/√12/√4000 ≈ 0.0023
        assert!((mean - 1.25).abs() < 0.012, "{mean}");
        assert!(r.iter().all(|&v| (10..13).contains(&v)));
        for k in 10..13 {
            let c = r.iter().filter(|&&v| v == k).count();
            assert!((1200..1470).contains(&c), "{k}: {c}");
        }
        // mean 1000, sd √(4000·0.25·0.75) ≈ 27
        let hits = b.iter().filter(|&&v| v).count();
        assert!((860..1140).contains(&hits), "{hits}");
        let mut rng = StdRng::seed_from_u64(0);
        assert!(Tensor::uniform(&mut rng, &[2], 1.0, 1.0, DType::F32).is_err());
        assert!(Tensor::uniform(&mut rng, &[2], 0.0, f64::NAN, DType::F32).is_err());
        assert!(Tensor::uniform(&mut rng, &[2], 0.0, 1.0, DType::I64).is_err());
        assert!(Tensor::uniform(&mut rng, &[1 << 40, 1 << 40], 0.0, 1.0, DType::F32).is_err());
        assert!(Tensor::randint(&mut rng, &[2], 3, -3).is_err());
        assert!(Tensor::randint(&mut rng, &[usize::MAX, 2], 0, 3).is_err());
        assert_eq!(Tensor::randint(&mut rng, &[3], i64::MIN, i64::MAX)?.shape(), &[3]);
        for p in [-0.1, 1.0001, f64::NAN] {
            let e = Tensor::bernoulli(&mut rng, &[2], p).unwrap_err().to_string();
            assert!(e.contains("bernoulli") && e.contains("[0, 1]"), "{e}");
        }
        let probs = Tensor::from_vec(vec![0.2f64, 1.5], &[2])?;
        assert!(Tensor::bernoulli_probs(&mut rng, &probs).is_err());
        assert!(Tensor::bernoulli_probs(&mut rng, &Tensor::zeros(&[2], DType::I64)?).is_err());
        let half = Tensor::full(&[4000], 0.5, DType::F32)?;
        let hits = Tensor::bernoulli_probs(&mut rng, &half)?.to_vec::<bool>()?.iter().filter(|&&v| v).count();
        // mean 2000, sd ≈ 32
        assert!((1840..2160).contains(&hits), "{hits}");
        Ok(())
    }
}
