//! The MPI backend: [`initialize`], [`Backend`] and its collectives over
//! tensors and whole [`Tree`]s.
//!
//! Every collective first packs the tree's leaves into one flat buffer per
//! element type and exchanges a 64-bit signature of the tree (paths, leaf
//! kinds, dtypes, shapes, and the root or the operation) in one tiny
//! all-reduce. When the ranks disagree — trees of different shapes, or a
//! rank whose tree could not be packed — every rank returns an `Err`
//! instead of entering a data collective with mismatched sizes (which would
//! hang or corrupt memory). Then one MPI call per non-empty buffer moves
//! the data.

use lux_core::__private::half::{bf16, f16};
use lux_core::{DType, Element, LuxError, Result, RngState, Tensor, Tree};
use lux_train::{OptState, TrainState};
use mpi::Threading;
use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::Equivalence;
use std::cell::RefCell;

/// Lux's `MPIBackend`: the backend to pass to [`initialize`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MpiBackend;

/// A reduction over ranks (Lux's `+`, `DistributedUtils.avg`, `max`, `min`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// The element-wise sum.
    Sum,
    /// The element-wise mean (the sum divided by the number of ranks);
    /// float leaves only.
    Mean,
    /// The element-wise maximum.
    Max,
    /// The element-wise minimum.
    Min,
}

impl ReduceOp {
    fn system(self) -> SystemOperation {
        match self {
            ReduceOp::Sum | ReduceOp::Mean => SystemOperation::sum(),
            ReduceOp::Max => SystemOperation::max(),
            ReduceOp::Min => SystemOperation::min(),
        }
    }
}

/// The running MPI environment (Lux's backend object from
/// `get_distributed_backend`): rank, size and the collectives. MPI is shut
/// down (`MPI_Finalize`) when it is dropped, so keep it alive until the end
/// of `main`.
///
/// ```standalone_crate
/// use lux_core::{tree, Tensor};
/// use lux_distributed::{initialize, MpiBackend, ReduceOp};
/// let backend = initialize(MpiBackend)?;
/// let mine = tree! { x: Tensor::from_vec(vec![backend.local_rank() as f32], &[1])? };
/// let total = backend.allreduce(&mine, ReduceOp::Sum)?;
/// let n = backend.total_workers() as f32;
/// assert_eq!(total.tensor("x")?.to_vec::<f32>()?, vec![n * (n - 1.0) / 2.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub struct Backend {
    // Declared before `_universe` so it is dropped before MPI is finalised.
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    _universe: Universe,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend(MPI, rank {} of {})", self.rank, self.size)
    }
}

/// Lux's `DistributedUtils.initialize(MPIBackend)`: starts MPI (at the
/// `Serialized` thread level: any thread may call, one at a time) and
/// returns the [`Backend`]. A program started without `mpirun` runs as a
/// single rank.
///
/// # Errors
/// MPI is already initialised in this process (keep the first
/// [`Backend`]), or it was finalised (MPI cannot be restarted).
pub fn initialize(_backend: MpiBackend) -> Result<Backend> {
    if mpi::environment::is_finalized() {
        return Err(LuxError::invalid_argument("initialize", "MPI was finalised in this process and cannot restart"));
    }
    let Some((universe, _level)) = mpi::initialize_with_threading(Threading::Serialized) else {
        return Err(LuxError::invalid_argument(
            "initialize",
            "MPI is already initialised in this process; keep the Backend the first initialize returned",
        ));
    };
    let world = universe.world();
    let (rank, size) = (index(world.rank()), index(world.size()));
    Ok(Backend { world, rank, size, _universe: universe })
}

/// An MPI rank or size (never negative) as an index.
fn index(v: i32) -> usize {
    usize::try_from(v).unwrap_or(0)
}

/// The world communicator, for code that holds no [`Backend`] (the
/// optimiser); an `Err` when MPI is not running.
pub(crate) fn live_world(op: &str) -> Result<SimpleCommunicator> {
    if !mpi::environment::is_initialized() || mpi::environment::is_finalized() {
        return Err(LuxError::invalid_argument(
            op,
            "MPI is not running: call lux_distributed::initialize(MpiBackend) first and keep the Backend alive",
        ));
    }
    Ok(SimpleCommunicator::world())
}

impl Backend {
    /// This process's rank, `0..total_workers()` (Lux's `local_rank`).
    pub fn local_rank(&self) -> usize {
        self.rank
    }

    /// The number of processes (Lux's `total_workers`).
    pub fn total_workers(&self) -> usize {
        self.size
    }

    /// Waits until every rank has called it.
    pub fn barrier(&self) {
        self.world.barrier();
    }

    /// Lux's `bcast!`: every rank's `x` becomes the root's, bit for bit —
    /// tensors of every dtype, flags, numbers and random generators (names
    /// and structure are not sent: they must already agree).
    ///
    /// # Errors
    /// `root` is not a rank; the ranks' trees differ in structure, leaf
    /// kinds, dtypes or shapes, or they passed different roots (every rank
    /// gets the `Err`, and no `x` changes).
    pub fn bcast_mut(&self, x: &mut Tree, root: usize) -> Result<()> {
        bcast_mut(&self.world, x, root)
    }

    /// As [`bcast_mut`](Backend::bcast_mut) on a copy.
    ///
    /// # Errors
    /// As [`bcast_mut`](Backend::bcast_mut).
    pub fn bcast(&self, x: &Tree, root: usize) -> Result<Tree> {
        let mut out = x.clone();
        self.bcast_mut(&mut out, root)?;
        Ok(out)
    }

    /// Lux's `allreduce!`: every tensor leaf becomes the reduction of that
    /// leaf over all ranks, on every rank. f16/bf16 leaves are reduced in
    /// f32 and rounded once; i64 leaves take `Sum`, `Max` and `Min`;
    /// non-tensor leaves (flags, numbers) are left as they are.
    ///
    /// # Errors
    /// A bool tensor, an i64 tensor under `Mean`, or trees that differ
    /// across ranks (every rank gets the `Err`; nothing changes).
    pub fn allreduce_mut(&self, x: &mut Tree, op: ReduceOp) -> Result<()> {
        allreduce_mut(&self.world, x, op)
    }

    /// As [`allreduce_mut`](Backend::allreduce_mut) on a copy.
    ///
    /// # Errors
    /// As [`allreduce_mut`](Backend::allreduce_mut).
    pub fn allreduce(&self, x: &Tree, op: ReduceOp) -> Result<Tree> {
        let mut out = x.clone();
        self.allreduce_mut(&mut out, op)?;
        Ok(out)
    }

    /// Lux's `reduce!`: the reduction over all ranks, on the root only
    /// (`Some` there, `None` elsewhere); leaves as in
    /// [`allreduce_mut`](Backend::allreduce_mut).
    ///
    /// # Errors
    /// As [`allreduce_mut`](Backend::allreduce_mut), and a `root` that is
    /// not a rank.
    pub fn reduce(&self, x: &Tree, op: ReduceOp, root: usize) -> Result<Option<Tree>> {
        check_root(&self.world, "reduce", root)?;
        let packed = Packed::of(x, Mode::Reduce { mean: op == ReduceOp::Mean }, root as u64 ^ op_tag(op));
        let mut packed = agree(&self.world, "reduce", x, packed)?;
        let at = self.world.process_at_rank(root as i32);
        let is_root = self.rank == root;
        fn lane<T: Equivalence + Default + Copy>(at: &impl Root, send: &mut Vec<T>, is_root: bool, op: ReduceOp) {
            if send.is_empty() {
                return;
            }
            if is_root {
                let mut recv = vec![T::default(); send.len()];
                at.reduce_into_root(&send[..], &mut recv[..], op.system());
                *send = recv;
            } else {
                at.reduce_into(&send[..], op.system());
            }
        }
        lane(&at, &mut packed.f32, is_root, op);
        lane(&at, &mut packed.f64, is_root, op);
        lane(&at, &mut packed.i64, is_root, op);
        if !is_root {
            return Ok(None);
        }
        let mut out = x.clone();
        packed.unpack(&mut out, Mode::Reduce { mean: op == ReduceOp::Mean }, self.size)?;
        Ok(Some(out))
    }

    /// Lux's `synchronize!!`: `x` (a [`Tree`], an [`OptState`] or a whole
    /// [`TrainState`]) becomes the root's on every rank, bit for bit. Call
    /// it after setting up, so every worker starts from the same
    /// parameters, states and optimiser state.
    ///
    /// # Errors
    /// As [`bcast_mut`](Backend::bcast_mut).
    pub fn synchronize<T: Synchronize + ?Sized>(&self, x: &mut T, root: usize) -> Result<()> {
        x.synchronize_with(self, root)
    }

    /// The value of `result`, or — on an `Err` — the message on stderr
    /// (with this rank) and `MPI_Abort`, which ends every rank of the job.
    /// A rank that fails alone must not simply return: the others would
    /// wait for it in their next collective for ever.
    ///
    /// ```standalone_crate
    /// use lux_distributed::{initialize, MpiBackend};
    /// let backend = initialize(MpiBackend).expect("MPI");
    /// let n: usize = backend.abort_on_error("12".parse::<usize>().map_err(|e| lux_core::LuxError::Io(e.to_string())));
    /// assert_eq!(n, 12);
    /// ```
    pub fn abort_on_error<T>(&self, result: Result<T>) -> T {
        match result {
            Ok(v) => v,
            Err(e) => {
                eprintln!("lux-distributed: rank {} of {} failed: {e}; aborting all ranks", self.rank, self.size);
                self.world.abort(1)
            }
        }
    }
}

/// What [`Backend::synchronize`] can make identical across ranks.
pub trait Synchronize {
    /// Replaces `self` by the root's value.
    ///
    /// # Errors
    /// As [`Backend::bcast_mut`].
    fn synchronize_with(&mut self, backend: &Backend, root: usize) -> Result<()>;
}

impl Synchronize for Tree {
    fn synchronize_with(&mut self, backend: &Backend, root: usize) -> Result<()> {
        backend.bcast_mut(self, root)
    }
}

impl Synchronize for OptState {
    /// The per-leaf optimiser state (moments, counters); the rule and the
    /// frozen set are each rank's own.
    fn synchronize_with(&mut self, backend: &Backend, root: usize) -> Result<()> {
        backend.bcast_mut(self.tree_mut(), root)
    }
}

impl<M> Synchronize for TrainState<M> {
    /// Parameters, states, optimiser state and step, in one exchange.
    fn synchronize_with(&mut self, backend: &Backend, root: usize) -> Result<()> {
        let step = i64::try_from(self.step())
            .map_err(|_| LuxError::invalid_argument("synchronize", "the step count does not fit in an i64"))?;
        let mut all = Tree::seq([
            self.parameters().clone(),
            self.states().clone(),
            self.optimizer_state().tree().clone(),
            Tree::Int(step),
        ]);
        backend.bcast_mut(&mut all, root)?;
        let Tree::Seq(parts) = all else {
            return Err(LuxError::Structure {
                path: lux_core::ROOT.into(),
                msg: "synchronize: lost the train state".into(),
            });
        };
        let [ps, st, opt_tree, step]: [Tree; 4] = parts.try_into().map_err(|_| LuxError::Structure {
            path: lux_core::ROOT.into(),
            msg: "synchronize: lost a part of the train state".into(),
        })?;
        let mut opt = self.optimizer_state().clone();
        *opt.tree_mut() = opt_tree;
        self.restore(ps, st, opt, u64::try_from(step.as_int()?).unwrap_or(0))
    }
}

fn op_tag(op: ReduceOp) -> u64 {
    // Distinct large odd constants, so a root index never mimics an op.
    match op {
        ReduceOp::Sum => 0x9e37_79b9_7f4a_7c15,
        ReduceOp::Mean => 0xc2b2_ae3d_27d4_eb4f,
        ReduceOp::Max => 0x1656_67b1_9e37_79f9,
        ReduceOp::Min => 0x27d4_eb2f_1656_67c5,
    }
}

fn check_root(world: &SimpleCommunicator, op: &str, root: usize) -> Result<()> {
    let size = index(world.size());
    if root >= size {
        return Err(LuxError::invalid_argument(op, format!("root {root} is not a rank (there are {size})")));
    }
    Ok(())
}

pub(crate) fn bcast_mut(world: &SimpleCommunicator, x: &mut Tree, root: usize) -> Result<()> {
    check_root(world, "bcast", root)?;
    let packed = Packed::of(x, Mode::Copy, root as u64);
    let mut packed = agree(world, "bcast", x, packed)?;
    let at = world.process_at_rank(root as i32);
    let is_root = index(world.rank()) == root;
    fn lane<T: Equivalence>(at: &impl Root, v: &mut [T]) {
        if !v.is_empty() {
            at.broadcast_into(v);
        }
    }
    lane(&at, &mut packed.f32);
    lane(&at, &mut packed.f64);
    lane(&at, &mut packed.i64);
    lane(&at, &mut packed.u16);
    lane(&at, &mut packed.u8);
    if !packed.rngs.is_empty() {
        // Generators travel as JSON; its length differs by rank, so it goes first.
        let mut json = if is_root {
            serde_json::to_vec(&packed.rngs)
                .map_err(|e| LuxError::invalid_argument("bcast", format!("cannot encode the generators: {e}")))?
        } else {
            Vec::new()
        };
        let mut len = [json.len() as u64];
        at.broadcast_into(&mut len[..]);
        json.resize(usize::try_from(len[0]).unwrap_or(0), 0);
        at.broadcast_into(&mut json[..]);
        if !is_root {
            packed.rngs = serde_json::from_slice(&json).map_err(|e| {
                LuxError::invalid_argument("bcast", format!("cannot decode the root's generators: {e}"))
            })?;
        }
    }
    // The root's tree is already the result (and keeps its buffers unshared).
    if is_root { Ok(()) } else { packed.unpack(x, Mode::Copy, 1) }
}

/// Buffers kept between all-reduces on this thread: filling memory that is
/// already mapped is several times faster than faulting in fresh pages for
/// every step's gradients (they hold two copies of the largest tree).
#[derive(Default)]
struct Scratch {
    send: Packed,
    f32: Vec<f32>,
    f64: Vec<f64>,
    i64: Vec<i64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

pub(crate) fn allreduce_mut(world: &SimpleCommunicator, x: &mut Tree, op: ReduceOp) -> Result<()> {
    let mut scratch = SCRATCH.with(RefCell::take);
    let result = allreduce_with(world, x, op, &mut scratch);
    SCRATCH.with(|s| s.replace(scratch));
    result
}

fn allreduce_with(world: &SimpleCommunicator, x: &mut Tree, op: ReduceOp, s: &mut Scratch) -> Result<()> {
    let mode = Mode::Reduce { mean: op == ReduceOp::Mean };
    let packed = Packed::fill(std::mem::take(&mut s.send), x, mode, op_tag(op));
    let mut packed = agree(world, "allreduce", x, packed)?;
    fn lane<T: Equivalence + Default + Copy>(
        world: &SimpleCommunicator,
        send: &mut Vec<T>,
        recv: &mut Vec<T>,
        op: ReduceOp,
    ) {
        if !send.is_empty() {
            recv.clear();
            recv.resize(send.len(), T::default());
            world.all_reduce_into(&send[..], &mut recv[..], op.system());
            std::mem::swap(send, recv);
        }
    }
    lane(world, &mut packed.f32, &mut s.f32, op);
    lane(world, &mut packed.f64, &mut s.f64, op);
    lane(world, &mut packed.i64, &mut s.i64, op);
    let result = packed.unpack(x, mode, index(world.size()));
    s.send = packed;
    result
}

/// Exchanges the signatures; `Ok` with the packed buffers only when every
/// rank packed a tree with the same signature.
fn agree(world: &SimpleCommunicator, op: &str, x: &Tree, local: Result<Packed>) -> Result<Packed> {
    const POISON: u64 = u64::MAX;
    let sig = local.as_ref().map_or(POISON, |p| p.signature);
    let mine = [sig, !sig];
    let mut max = [0u64; 2];
    world.all_reduce_into(&mine[..], &mut max[..], SystemOperation::max());
    let packed = local?;
    if max != mine {
        let leaves = x.leaves();
        let mut shown: Vec<String> = leaves.iter().take(4).map(|(p, l)| describe(p, l)).collect();
        if leaves.len() > 4 {
            shown.push("…".into());
        }
        return Err(LuxError::Structure {
            path: lux_core::ROOT.into(),
            msg: format!(
                "{op}: the ranks' trees differ in structure, dtypes or shapes, or in the root or operation, \
                 or another rank failed before the exchange; rank {} of {} has {} leaves: {}",
                index(world.rank()),
                index(world.size()),
                leaves.len(),
                shown.join(", ")
            ),
        });
    }
    Ok(packed)
}

fn describe(path: &str, leaf: &Tree) -> String {
    let path = if path.is_empty() { lux_core::ROOT } else { path };
    match leaf {
        Tree::Tensor(t) => format!("{path} {:?} {}", t.shape(), t.dtype().name()),
        other => format!("{path} ({})", other.kind_name()),
    }
}

/// How leaves go into the buffers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Bit-exact copies of every leaf (broadcast).
    Copy,
    /// Numeric reduction of tensor leaves.
    Reduce { mean: bool },
}

/// A tree's leaves in flat buffers, one per element type, in traversal
/// order, with the tree's signature.
#[derive(Default)]
struct Packed {
    f32: Vec<f32>,
    f64: Vec<f64>,
    i64: Vec<i64>,
    /// f16/bf16 bits (copies only; reductions widen them into `f32`).
    u16: Vec<u16>,
    /// bool tensors and flags (copies only).
    u8: Vec<u8>,
    rngs: Vec<RngState>,
    signature: u64,
}

/// FNV-1a: a signature that is the same in every process and build.
struct Fnv(u64);
impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for &v in b {
            self.0 = (self.0 ^ u64::from(v)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn num(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

fn dtype_tag(d: DType) -> u64 {
    match d {
        DType::Bool => 1,
        DType::I64 => 2,
        DType::F16 => 3,
        DType::BF16 => 4,
        DType::F32 => 5,
        DType::F64 => 6,
    }
}

impl Packed {
    fn of(x: &Tree, mode: Mode, salt: u64) -> Result<Packed> {
        Packed::fill(Packed::default(), x, mode, salt)
    }

    /// As [`of`](Packed::of), reusing `p`'s buffers.
    fn fill(mut p: Packed, x: &Tree, mode: Mode, salt: u64) -> Result<Packed> {
        p.f32.clear();
        p.f64.clear();
        p.i64.clear();
        p.u16.clear();
        p.u8.clear();
        p.rngs.clear();
        // Sized up front: growing a buffer of the whole model copies it again.
        let leaves = x.leaves();
        let count = |f: &dyn Fn(DType) -> bool| -> usize {
            leaves
                .iter()
                .map(|(_, l)| if let Tree::Tensor(t) = l { if f(t.dtype()) { t.len() } else { 0 } } else { 0 })
                .sum()
        };
        let half = |d: DType| matches!(d, DType::F16 | DType::BF16);
        let copy = mode == Mode::Copy;
        p.f32.reserve(count(&|d| d == DType::F32 || (!copy && half(d))));
        p.f64.reserve(count(&|d| d == DType::F64));
        p.i64.reserve(count(&|d| d == DType::I64));
        if copy {
            p.u16.reserve(count(&|d| half(d)));
            p.u8.reserve(count(&|d| d == DType::Bool));
        }
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.num(salt);
        for (path, leaf) in leaves {
            h.bytes(path.as_bytes());
            h.bytes(leaf.kind_name().as_bytes());
            match leaf {
                Tree::Tensor(t) => {
                    h.num(dtype_tag(t.dtype()));
                    h.num(t.ndim() as u64);
                    t.shape().iter().for_each(|&d| h.num(d as u64));
                    p.push_tensor(t, mode, &path)?;
                }
                Tree::Bool(b) if mode == Mode::Copy => p.u8.push(u8::from(*b)),
                Tree::Int(i) if mode == Mode::Copy => p.i64.push(*i),
                Tree::Float(f) if mode == Mode::Copy => p.f64.push(*f),
                Tree::Rng(r) if mode == Mode::Copy => p.rngs.push(r.clone()),
                _ => {}
            }
        }
        p.signature = h.0;
        Ok(p)
    }

    fn push_tensor(&mut self, t: &Tensor, mode: Mode, path: &str) -> Result<()> {
        let reduce = matches!(mode, Mode::Reduce { .. });
        match t.dtype() {
            DType::F32 => self.f32.extend_from_slice(&t.contiguous_slice::<f32>()?),
            DType::F64 => self.f64.extend_from_slice(&t.contiguous_slice::<f64>()?),
            DType::I64 if mode == (Mode::Reduce { mean: true }) => {
                return Err(LuxError::UnsupportedDType {
                    op: format!("allreduce with Mean at {path}"),
                    dtype: DType::I64,
                });
            }
            DType::I64 => self.i64.extend_from_slice(&t.contiguous_slice::<i64>()?),
            DType::F16 if reduce => self.f32.extend(t.contiguous_slice::<f16>()?.iter().map(|v| v.to_f32())),
            DType::BF16 if reduce => self.f32.extend(t.contiguous_slice::<bf16>()?.iter().map(|v| v.to_f32())),
            DType::F16 => self.u16.extend(t.contiguous_slice::<f16>()?.iter().map(|v| v.to_bits())),
            DType::BF16 => self.u16.extend(t.contiguous_slice::<bf16>()?.iter().map(|v| v.to_bits())),
            DType::Bool if reduce => {
                return Err(LuxError::UnsupportedDType {
                    op: format!("allreduce/reduce at {path}"),
                    dtype: DType::Bool,
                });
            }
            DType::Bool => self.u8.extend(t.contiguous_slice::<bool>()?.iter().map(|&v| u8::from(v))),
        }
        Ok(())
    }

    /// Writes the buffers back into `x`'s leaves (the tree they were packed
    /// from, or one of the same signature); a `Mean` divides float leaves
    /// by `workers` on the way. Each tensor leaf gets a fresh buffer,
    /// written once (filling a buffer that is shared with the caller's
    /// gradients would copy it first, then overwrite it).
    fn unpack(&mut self, x: &mut Tree, mode: Mode, workers: usize) -> Result<()> {
        let reduce = matches!(mode, Mode::Reduce { .. });
        let mean = mode == (Mode::Reduce { mean: true });
        let (d32, d64) = (workers as f32, workers as f64);
        let mut c = Cursors::default();
        let mut rngs = std::mem::take(&mut self.rngs).into_iter();
        for (_, leaf) in x.leaves_mut() {
            match leaf {
                Tree::Tensor(t) => {
                    let (n, shape) = (t.len(), t.shape().to_vec());
                    *t = match t.dtype() {
                        DType::F32 if mean => fresh(&shape, c.f32.take(&self.f32, n)?, |v| v / d32)?,
                        DType::F64 if mean => fresh(&shape, c.f64.take(&self.f64, n)?, |v| v / d64)?,
                        DType::F16 | DType::BF16 if mean => {
                            let t32 = fresh(&shape, c.f32.take(&self.f32, n)?, |v| v / d32)?;
                            t32.to_dtype(t.dtype())?
                        }
                        DType::F32 => fresh(&shape, c.f32.take(&self.f32, n)?, |v| v)?,
                        DType::F64 => fresh(&shape, c.f64.take(&self.f64, n)?, |v| v)?,
                        DType::I64 => fresh(&shape, c.i64.take(&self.i64, n)?, |v| v)?,
                        DType::F16 if reduce => fresh(&shape, c.f32.take(&self.f32, n)?, f16::from_f32)?,
                        DType::BF16 if reduce => fresh(&shape, c.f32.take(&self.f32, n)?, bf16::from_f32)?,
                        DType::F16 => fresh(&shape, c.u16.take(&self.u16, n)?, f16::from_bits)?,
                        DType::BF16 => fresh(&shape, c.u16.take(&self.u16, n)?, bf16::from_bits)?,
                        DType::Bool if reduce => continue,
                        DType::Bool => fresh(&shape, c.u8.take(&self.u8, n)?, |v| v != 0)?,
                    };
                }
                Tree::Bool(b) if mode == Mode::Copy => *b = c.u8.take(&self.u8, 1)?[0] != 0,
                Tree::Int(i) if mode == Mode::Copy => *i = c.i64.take(&self.i64, 1)?[0],
                Tree::Float(f) if mode == Mode::Copy => *f = c.f64.take(&self.f64, 1)?[0],
                Tree::Rng(r) if mode == Mode::Copy => {
                    if let Some(next) = rngs.next() {
                        *r = next;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn fresh<S: Copy, T: Element>(shape: &[usize], src: &[S], f: impl Fn(S) -> T) -> Result<Tensor> {
    Tensor::from_vec(src.iter().map(|&s| f(s)).collect(), shape)
}

/// Read positions in the buffers while unpacking.
#[derive(Default)]
struct Cursors {
    f32: Cursor,
    f64: Cursor,
    i64: Cursor,
    u16: Cursor,
    u8: Cursor,
}

#[derive(Default)]
struct Cursor(usize);
impl Cursor {
    /// The next `n` values. The buffers were packed from a tree of the
    /// same signature, so they always hold them.
    fn take<'a, T>(&mut self, v: &'a [T], n: usize) -> Result<&'a [T]> {
        let s = v.get(self.0..self.0 + n).ok_or_else(|| LuxError::Structure {
            path: lux_core::ROOT.into(),
            msg: "lux-distributed: the received buffers do not fit the tree".into(),
        })?;
        self.0 += n;
        Ok(s)
    }
}
