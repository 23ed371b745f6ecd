//! # lux-distributed
//!
//! Data-parallel training across processes and machines on MPI: Lux's
//! `DistributedUtils` for lux-rs, on the `mpi` crate (rsmpi) over the
//! system's MPI library (OpenMPI on Debian: `libopenmpi-dev openmpi-bin`,
//! and `libclang-dev` for the bindings).
//!
//! Everything that talks to MPI sits behind this crate's cargo feature
//! `mpi` (the `lux` crate's feature `mpi` turns it on), so a default build
//! needs no MPI library. Without it, only [`DistributedDataContainer`] and
//! [`shard_range`] (pure arithmetic) are here.
//!
//! | Lux (`DistributedUtils`) | here |
//! |---|---|
//! | `initialize(MPIBackend)`, `get_distributed_backend` | `initialize(MpiBackend)` → `Backend` |
//! | `local_rank`, `total_workers` | `Backend::local_rank`, `Backend::total_workers` |
//! | `bcast!` | `Backend::bcast`, `Backend::bcast_mut` (a tensor leaf or a whole `Tree`) |
//! | `allreduce!`, `reduce!` with `+`, `avg`, `max`, `min` | `Backend::allreduce(_mut)`, `Backend::reduce` with `ReduceOp` |
//! | `synchronize!!` | `Backend::synchronize` (a `Tree`, an `OptState`, a `TrainState`) |
//! | `DistributedOptimizer` | `DistributedOptimizer` (any `Rule`; one fused all-reduce per dtype per step) |
//! | `DistributedDataContainer` | [`DistributedDataContainer`] |
//!
//! A program that fails on one rank ends the whole job with
//! `Backend::abort_on_error` (otherwise the other ranks would wait for it).
//! See `docs/distributed.md` for running with `mpirun` and Slurm.
//!
//! ```
//! use lux_core::Tensor;
//! use lux_distributed::DistributedDataContainer;
//! // 7 observations on 2 workers: rank 0 sees 0..4, rank 1 sees 4..7.
//! let x = Tensor::zeros(&[7, 3], lux_core::DType::F32)?;
//! assert_eq!(DistributedDataContainer::for_rank(x.clone(), 0, 2)?.indices(), 0..4);
//! assert_eq!(DistributedDataContainer::for_rank(x, 1, 2)?.indices(), 4..7);
//! # Ok::<(), lux_core::LuxError>(())
//! ```
#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "mpi")]
mod comm;
#[cfg(feature = "mpi")]
mod optimizer;
mod shard;

#[cfg(feature = "mpi")]
pub use comm::{Backend, MpiBackend, ReduceOp, Synchronize, initialize};
#[cfg(feature = "mpi")]
pub use optimizer::DistributedOptimizer;
pub use shard::{DistributedDataContainer, Observations, shard_range};

#[cfg(feature = "mpi")]
impl<D: Observations> DistributedDataContainer<D> {
    /// Lux's `DistributedDataContainer(backend, data)`: this rank's shard.
    ///
    /// # Errors
    /// As [`for_rank`](DistributedDataContainer::for_rank).
    pub fn new(backend: &Backend, data: D) -> lux_core::Result<DistributedDataContainer<D>> {
        DistributedDataContainer::for_rank(data, backend.local_rank(), backend.total_workers())
    }
}
