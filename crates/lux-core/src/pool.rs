//! Large buffers kept for reuse from one training step to the next.
//!
//! A training step allocates the same large buffers every time
//! (activations, cotangents, gradients) and frees them at its end. Freed
//! blocks of that size go back to the operating system, so the next step's
//! first writes to them fault in fresh pages. Code that knows a tensor is
//! dead (the compiled tape after its backward sweep, the training API after
//! an update) hands it to [`recycle`]; if nothing else shares its storage
//! and a request for a buffer of its size has been made and not yet
//! answered, the buffer goes into a small per-thread pool that the next
//! output buffer of a fitting size is taken from. Buffers no request asks
//! for (outputs that ndarray routines allocate on their own) are freed at
//! once, so the pool holds what the next step will take again, not a stock
//! that grows with every kind of buffer that passes through it. Small
//! buffers (below 64 KiB) are left to the allocator, which already keeps
//! those.
//!
//! Measured on the 1024-2048-2048-1024 MLP step (`/usr/bin/time -v
//! target/release/lux-bench wide --seconds 3`, 2 cores): with the pool the
//! run takes 54 000 minor page faults and 0.13–0.20 s of system time,
//! without it 320 000–349 000 and 0.8–0.9 s; the median step time varied
//! more between runs (74–92 ms) than between the two. Peak RSS is 173 MB
//! against 168 MB with the pool off (parameters, gradients and Adam moments
//! alone are 134 MB), once dense layers' backward outputs were also
//! requested through [`alloc_buffer`](crate::alloc_buffer) (245 MB
//! before, when they were allocated afresh every step beside the pooled
//! buffers); a first version that kept every returned buffer, up to 64 of
//! them, reached 616 MB. `LUX_BUFFER_POOL=off` (read once) turns the pool
//! off, for memory-tight runs and for measuring what it saves.

use crate::Tensor;
use crate::dtype::Data;
use ndarray::{ArcArray, IxDyn};
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::VecDeque;

/// Buffers smaller than this are not pooled.
const MIN_BYTES: usize = 1 << 16;
/// At most this many buffers wait in one thread's pool.
const MAX_BUFFERS: usize = 64;

/// Whether `LUX_BUFFER_POOL` leaves the pool on (anything but `off`/`0`).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| !matches!(std::env::var("LUX_BUFFER_POOL").as_deref(), Ok("off" | "0")))
}

/// One thread's pool: the buffers waiting, and the requests they may answer.
#[derive(Default)]
struct Pool {
    /// `Vec<T>`s with no elements and their old capacity.
    free: Vec<Box<dyn Any>>,
    /// Requests (element type, element count) since made and not yet matched
    /// by a returned buffer, oldest first. A returned buffer is kept only
    /// against one of these: buffers that no request asks for (outputs of
    /// ndarray routines, which allocate on their own) are freed at once, so
    /// the pool holds at most what the next step will take again, not a
    /// growing stock.
    demand: VecDeque<(TypeId, usize)>,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { free: Vec::new(), demand: VecDeque::new() }) };
}

/// Whether a buffer of capacity `capacity` may serve a request for `n`
/// elements: large enough, at most twice as large.
fn fits(capacity: usize, n: usize) -> bool {
    capacity >= n && capacity / 2 <= n
}

/// A pooled buffer of `T` with capacity for `n` elements (at most twice
/// that, so a small request does not take a huge buffer), emptied. The
/// request is remembered either way, so that a buffer of this size returned
/// later is kept for the next one.
pub(crate) fn take<T: 'static>(n: usize) -> Option<Vec<T>> {
    if n.saturating_mul(std::mem::size_of::<T>()) < MIN_BYTES || !enabled() {
        return None;
    }
    POOL.try_with(|pool| {
        let mut pool = pool.try_borrow_mut().ok()?;
        if pool.demand.len() == MAX_BUFFERS {
            pool.demand.pop_front();
        }
        pool.demand.push_back((TypeId::of::<T>(), n));
        let i = pool.free.iter().position(|b| b.downcast_ref::<Vec<T>>().is_some_and(|v| fits(v.capacity(), n)))?;
        let mut v = *pool.free.swap_remove(i).downcast::<Vec<T>>().ok()?;
        v.clear();
        Some(v)
    })
    .ok()
    .flatten()
}

fn give<T: Clone + 'static>(a: ArcArray<T, IxDyn>) {
    if a.len() * std::mem::size_of::<T>() < MIN_BYTES || !enabled() {
        return;
    }
    // Only a buffer nothing else refers to may be reused.
    let Ok(owned) = a.try_into_owned_nocopy() else { return };
    let (v, _) = owned.into_raw_vec_and_offset();
    let _ = POOL.try_with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else { return };
        let wanted = pool.demand.iter().position(|&(ty, n)| ty == TypeId::of::<T>() && fits(v.capacity(), n));
        if let Some(i) = wanted
            && pool.free.len() < MAX_BUFFERS
        {
            pool.demand.remove(i);
            pool.free.push(Box::new(v));
        }
    });
}

/// Gives `t`'s buffer back for reuse by the next output of a fitting size
/// on this thread, if `t` is a large float tensor whose storage nothing
/// else shares (otherwise this just drops `t`).
///
/// ```
/// use lux_core::{pool, DType, Tensor};
/// let a = Tensor::zeros(&[256, 256], DType::F32)?; // 256 KiB
/// let b = a.add_scalar(1.0)?; // a fresh buffer
/// pool::recycle(a); // unique, and its size was asked for: pooled
/// let c = b.matmul(&b)?; // takes the pooled buffer
/// assert_eq!(c.to_vec::<f32>()?[0], 256.0);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub fn recycle(t: Tensor) {
    match t.data {
        Data::F32(a) => give(a),
        Data::F64(a) => give(a),
        _ => {}
    }
}

/// [`recycle`] for every tensor of a tree (a gradient tree once the
/// optimiser has used it).
///
/// ```
/// use lux_core::{pool, tree, DType, Tensor};
/// pool::recycle_tree(tree! { w: Tensor::zeros(&[128, 256], DType::F32)? });
/// # Ok::<(), lux_core::LuxError>(())
/// ```
pub fn recycle_tree(t: crate::Tree) {
    use crate::Tree;
    match t {
        Tree::Tensor(x) => recycle(x),
        Tree::Map(entries) => entries.into_iter().for_each(|(_, v)| recycle_tree(v)),
        Tree::Seq(items) => items.into_iter().for_each(recycle_tree),
        _ => {}
    }
}

/// Frees the buffers this thread's pool holds.
///
/// ```
/// lux_core::pool::release();
/// ```
pub fn release() {
    let _ = POOL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut() {
            *pool = Pool::default();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffers this thread's pool holds.
    fn held() -> usize {
        POOL.with(|p| p.borrow().free.len())
    }

    fn buffer(n: usize) -> Tensor {
        Tensor::from_vec(vec![1.0f32; n], &[n]).unwrap()
    }

    const N: usize = 1 << 16; // 256 KiB of f32: pooled

    #[test]
    fn a_buffer_nothing_asked_for_is_dropped() {
        release();
        recycle(buffer(N));
        assert_eq!(held(), 0);
    }

    #[test]
    fn a_buffer_answering_a_request_is_kept_and_reused() {
        release();
        assert!(take::<f32>(N).is_none(), "the pool starts empty");
        recycle(buffer(N));
        assert_eq!(held(), 1);
        let v = take::<f32>(N).expect("the kept buffer serves the next request");
        assert!(v.is_empty() && v.capacity() >= N);
        assert_eq!(held(), 0);
        // The request just served is itself remembered, once.
        recycle(buffer(N));
        recycle(buffer(N));
        assert_eq!(held(), 1);
    }

    #[test]
    fn sizes_and_types_must_fit() {
        release();
        let _ = take::<f32>(N);
        recycle(buffer(4 * N)); // more than twice the request
        recycle(buffer(N / 2)); // too small (and below the pooled size)
        recycle(Tensor::from_vec(vec![1.0f64; N], &[N]).unwrap()); // another type
        assert_eq!(held(), 0);
        recycle(buffer(2 * N)); // at most twice: fits
        assert_eq!(held(), 1);
    }

    #[test]
    fn small_requests_are_not_remembered() {
        release();
        let _ = take::<f32>(16);
        assert_eq!(POOL.with(|p| p.borrow().demand.len()), 0);
    }

    #[test]
    fn remembered_requests_are_capped() {
        release();
        for _ in 0..3 * MAX_BUFFERS {
            let _ = take::<f32>(N);
        }
        assert_eq!(POOL.with(|p| p.borrow().demand.len()), MAX_BUFFERS);
        for _ in 0..3 * MAX_BUFFERS {
            recycle(buffer(N));
        }
        assert_eq!(held(), MAX_BUFFERS);
        release();
        assert_eq!(held(), 0);
        assert_eq!(POOL.with(|p| p.borrow().demand.len()), 0);
    }
}
