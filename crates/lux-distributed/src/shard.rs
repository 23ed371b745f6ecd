//! [`DistributedDataContainer`]: each worker's shard of a data set (Lux's
//! `DistributedDataContainer`). Pure arithmetic on the rank and the worker
//! count, so it is available (and tested) without MPI.

use lux_core::{LuxError, Result, Tensor};
use lux_data::Dataset;
use std::ops::Range;

/// Something made of observations along its first axis that can be cut into
/// contiguous pieces: a [`Tensor`] (rows), a [`Dataset`], or a pair of them
/// (a mini-batch `(x, y)`).
pub trait Observations: Sized {
    /// The number of observations.
    fn num_obs(&self) -> usize;

    /// The observations in `rows`, in order.
    ///
    /// # Errors
    /// `rows` reaches past [`num_obs`](Observations::num_obs).
    fn obs(&self, rows: Range<usize>) -> Result<Self>;

    /// Checks that the parts of a composite (a pair `(x, y)`) hold the same
    /// number of observations, or the shards would not line up. Default:
    /// nothing to check.
    ///
    /// # Errors
    /// The parts disagree; the message gives both counts.
    fn check_obs(&self) -> Result<()> {
        Ok(())
    }
}

impl Observations for Tensor {
    /// The size of the first axis (1 for a 0-d tensor).
    fn num_obs(&self) -> usize {
        self.shape().first().copied().unwrap_or(1)
    }

    fn obs(&self, rows: Range<usize>) -> Result<Tensor> {
        if self.ndim() == 0 {
            return Err(LuxError::shape(
                "DistributedDataContainer",
                "a 0-d tensor has no observations to shard (it needs a first axis)",
            ));
        }
        self.narrow(0, rows.start, rows.len())
    }
}

impl Observations for Dataset {
    fn num_obs(&self) -> usize {
        self.len()
    }

    fn obs(&self, rows: Range<usize>) -> Result<Dataset> {
        self.select(&rows.collect::<Vec<_>>())
    }
}

impl<A: Observations, B: Observations> Observations for (A, B) {
    /// The count both parts share; [`DistributedDataContainer`] rejects a
    /// pair whose parts disagree.
    fn num_obs(&self) -> usize {
        self.0.num_obs()
    }

    fn obs(&self, rows: Range<usize>) -> Result<(A, B)> {
        Ok((self.0.obs(rows.clone())?, self.1.obs(rows)?))
    }

    fn check_obs(&self) -> Result<()> {
        self.0.check_obs()?;
        self.1.check_obs()?;
        let (a, b) = (self.0.num_obs(), self.1.num_obs());
        if a == b {
            Ok(())
        } else {
            Err(LuxError::shape(
                "DistributedDataContainer",
                format!("the two parts of the data hold {a} and {b} observations; they must agree"),
            ))
        }
    }
}

/// The observations worker `rank` of `workers` holds out of `n`, as Lux
/// partitions them: consecutive blocks of `⌈n / workers⌉`, the last worker
/// taking what remains (possibly fewer, possibly none).
///
/// ```
/// use lux_distributed::shard_range;
/// // Lux's test case: 10 observations on 4 workers → 3, 3, 3, 1.
/// let parts: Vec<_> = (0..4).map(|r| shard_range(10, r, 4).unwrap()).collect();
/// assert_eq!(parts, vec![0..3, 3..6, 6..9, 9..10]);
/// assert_eq!(shard_range(9, 3, 4)?, 9..9); // nothing left for the last worker
/// assert!(shard_range(10, 4, 4).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `workers` is 0 or `rank` is not below it.
pub fn shard_range(n: usize, rank: usize, workers: usize) -> Result<Range<usize>> {
    if rank >= workers {
        return Err(LuxError::invalid_argument(
            "DistributedDataContainer",
            format!("rank {rank} is out of range for {workers} workers"),
        ));
    }
    let per = n.div_ceil(workers);
    let start = (rank * per).min(n);
    Ok(start..(start + per).min(n))
}

/// Lux's `DistributedDataContainer`: a data set and the range of its
/// observations that this worker sees. The shards of all workers are
/// disjoint, cover the data, and depend only on the rank and the worker
/// count (see [`shard_range`]).
///
/// With MPI, `DistributedDataContainer::new(&backend, data)` takes the rank
/// from the backend; [`for_rank`](DistributedDataContainer::for_rank) takes
/// it explicitly:
///
/// ```
/// use lux_core::Tensor;
/// use lux_distributed::DistributedDataContainer;
/// let x = Tensor::from_vec((0..10).map(|i| i as f32).collect(), &[5, 2])?;
/// let y = Tensor::from_vec(vec![0i64, 1, 2, 3, 4], &[5])?;
/// let shard = DistributedDataContainer::for_rank((x, y), 1, 2)?;
/// assert_eq!((shard.len(), shard.indices()), (2, 3..5));
/// let (xs, ys) = shard.local()?;
/// assert_eq!(xs.to_vec::<f32>()?, vec![6.0, 7.0, 8.0, 9.0]);
/// assert_eq!(ys.to_vec::<i64>()?, vec![3, 4]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DistributedDataContainer<D> {
    data: D,
    range: Range<usize>,
}

impl<D: Observations> DistributedDataContainer<D> {
    /// The shard of worker `rank` of `workers`.
    ///
    /// # Errors
    /// `rank` is not below `workers`, or a pair `(x, y)` whose parts hold
    /// different numbers of observations.
    pub fn for_rank(data: D, rank: usize, workers: usize) -> Result<DistributedDataContainer<D>> {
        data.check_obs()?;
        let range = shard_range(data.num_obs(), rank, workers)?;
        Ok(DistributedDataContainer { data, range })
    }

    /// The number of observations this worker sees.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// `true` if this worker sees no observation.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// The indices (into the whole data set) of this worker's observations.
    pub fn indices(&self) -> Range<usize> {
        self.range.clone()
    }

    /// The whole data set.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// This worker's observations.
    ///
    /// # Errors
    /// As [`Observations::obs`].
    pub fn local(&self) -> Result<D> {
        self.data.obs(self.range.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (n, workers): the shards are disjoint, in order, and cover `0..n`.
    #[test]
    fn shards_are_disjoint_and_cover_the_data() {
        for n in 0..40 {
            for workers in 1..9 {
                let mut next = 0;
                for rank in 0..workers {
                    let r = shard_range(n, rank, workers).unwrap();
                    assert_eq!(r.start, next.min(n), "n={n} workers={workers} rank={rank}");
                    assert!(r.len() <= n.div_ceil(workers));
                    next = r.end;
                }
                assert_eq!(next, n, "n={n} workers={workers}");
            }
        }
    }

    #[test]
    fn a_pair_of_different_lengths_is_an_error() {
        let x = Tensor::zeros(&[4, 2], lux_core::DType::F32).unwrap();
        let y = Tensor::zeros(&[3], lux_core::DType::I64).unwrap();
        let err = DistributedDataContainer::for_rank((x, y), 0, 2).unwrap_err();
        assert!(err.to_string().contains("4 and 3 observations"), "{err}");
    }

    #[test]
    fn a_dataset_shard_holds_its_rows() {
        let d = Dataset {
            x: Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[6, 2]).unwrap(),
            y: Tensor::from_vec((0..6).collect::<Vec<i64>>(), &[6]).unwrap(),
        };
        let shard = DistributedDataContainer::for_rank(d, 2, 3).unwrap().local().unwrap();
        assert_eq!(shard.y.to_vec::<i64>().unwrap(), vec![4, 5]);
        assert_eq!(shard.x.to_vec::<f32>().unwrap(), vec![8.0, 9.0, 10.0, 11.0]);
    }
}
