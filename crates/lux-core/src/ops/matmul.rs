//! Matrix multiplication with NumPy semantics: `[m, k] · [k, n]`, 1-d
//! operands as row/column vectors, and any number of broadcast batch axes
//! (`[b, h, t, d] · [b, h, d, s]`, `[b, 1, t, d] · [h, d, s]`).
//!
//! Operands may be strided views (a transposed weight is never copied).
//! f32/f64 run on `matrixmultiply`'s packed single-threaded kernels; large
//! products are split into independent row or column blocks run on the
//! rayon pool (this scales better than matrixmultiply's own threading, and
//! shares one thread pool with every other kernel). f16 and bf16 compute in
//! f32.

use super::broadcast_all;
use crate::autodiff::Op;
use crate::dtype::Real;
use crate::error::{LuxError, Result, shape_err};
use crate::tensor::{FloatData, alloc_vec};
use crate::{DType, Tensor};
use ndarray::{ArcArray, IxDyn};
use rayon::prelude::*;

/// `C = A·B` for one 2-D pair (any strides), via `matrixmultiply`; a
/// supertrait of [`Real`] so that generic kernels can call [`gemm`].
#[doc(hidden)]
pub trait Gemm: Copy + Send + Sync {
    /// # Safety
    /// Pointers and strides must describe valid `m×k`, `k×n` and `m×n` matrices.
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}
impl Gemm for f32 {
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}
impl Gemm for f64 {
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

/// Products with fewer multiply-adds than this run on one thread.
const PARALLEL_WORK: usize = 128 * 128 * 128;

/// A raw pointer that may cross to a rayon worker (the blocks it addresses
/// are disjoint).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: only used to hand disjoint output blocks to worker threads.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

/// `C = A·B` for one 2-D problem, split over the rayon pool when large.
///
/// # Safety
/// As for [`Gemm::gemm`].
unsafe fn gemm_parallel<T: Gemm>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) {
    let threads = rayon::current_num_threads();
    if threads < 2 || m.saturating_mul(n).saturating_mul(k) < PARALLEL_WORK {
        // SAFETY: forwarded from the caller.
        unsafe { T::gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) };
        return;
    }
    // Split the longer output side into blocks aligned to the kernel size.
    let split_rows = m >= n;
    let len = if split_rows { m } else { n };
    let block = len.div_ceil(threads).div_ceil(16) * 16;
    let (a, b, c) = (SendPtr(a as *mut T), SendPtr(b as *mut T), SendPtr(c));
    rayon::scope(|s| {
        for start in (0..len).step_by(block) {
            let size = block.min(len - start);
            s.spawn(move |_| {
                let (a, b, c) = (a, b, c);
                let off = start as isize;
                // SAFETY: each block reads valid sub-matrices of A or B and
                // writes a disjoint block of C.
                unsafe {
                    if split_rows {
                        T::gemm(
                            size,
                            k,
                            n,
                            alpha,
                            a.0.offset(off * rsa),
                            rsa,
                            csa,
                            b.0,
                            rsb,
                            csb,
                            beta,
                            c.0.offset(off * rsc),
                            rsc,
                            csc,
                        )
                    } else {
                        T::gemm(
                            m,
                            k,
                            size,
                            alpha,
                            a.0,
                            rsa,
                            csa,
                            b.0.offset(off * csb),
                            rsb,
                            csb,
                            beta,
                            c.0.offset(off * csc),
                            rsc,
                            csc,
                        )
                    }
                }
            });
        }
    });
}

/// The geometry of one `matmul`: operands seen as stacks of matrices
/// (a 1-d left operand as `[1, k]`, a 1-d right operand as `[k, 1]`) over
/// the broadcast batch axes `batch`.
struct Geometry {
    m: usize,
    k: usize,
    n: usize,
    batch: Vec<usize>,
    out_shape: Vec<usize>,
}

impl Geometry {
    fn new(sa: &[usize], sb: &[usize]) -> Result<Geometry> {
        if sa.is_empty() || sb.is_empty() {
            return Err(shape_err("matmul", format!("operands need at least one axis, got {sa:?} · {sb:?}")));
        }
        let (ra, rb) = (sa.len(), sb.len());
        let (m, k) = if ra == 1 { (1, sa[0]) } else { (sa[ra - 2], sa[ra - 1]) };
        let (k2, n) = if rb == 1 { (sb[0], 1) } else { (sb[rb - 2], sb[rb - 1]) };
        if k != k2 {
            return Err(shape_err("matmul", format!("inner dimensions differ: {sa:?} · {sb:?}")));
        }
        let (ba, bb) = (&sa[..ra.saturating_sub(2)], &sb[..rb.saturating_sub(2)]);
        // The output's size is checked where it is allocated.
        let batch = broadcast_all(&[ba, bb]).ok_or_else(|| {
            shape_err("matmul", format!("batch axes {ba:?} and {bb:?} of {sa:?} · {sb:?} do not broadcast"))
        })?;
        let mut out_shape = batch.clone();
        out_shape.extend((ra > 1).then_some(m));
        out_shape.extend((rb > 1).then_some(n));
        Ok(Geometry { m, k, n, batch, out_shape })
    }

    /// Element strides of an operand of `shape`/`strides` seen as a stack of
    /// matrices: `(batch strides aligned to self.batch, row stride, column stride)`,
    /// with stride 0 on broadcast batch axes.
    fn strides(&self, shape: &[usize], strides: &[isize], left: bool) -> (Vec<isize>, isize, isize) {
        let r = shape.len();
        let (rs, cs) = match (r, left) {
            (1, true) => (0, strides[0]),
            (1, false) => (strides[0], 0),
            _ => (strides[r - 2], strides[r - 1]),
        };
        let nb = r.saturating_sub(2);
        let lead = self.batch.len() - nb;
        let batch = (0..self.batch.len())
            .map(|j| match j.checked_sub(lead) {
                Some(i) if shape[i] != 1 => strides[i],
                _ => 0,
            })
            .collect();
        (batch, rs, cs)
    }
}

/// `a · b` for operands of compute type `T`, written straight into a
/// fallibly reserved output buffer (no copies of the operands, whatever
/// their strides or broadcast batch axes).
fn run<T: Real>(a: &ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>, g: &Geometry) -> Result<ArcArray<T, IxDyn>> {
    let (mut out, len) = alloc_vec::<T>("matmul", &g.out_shape)?;
    let (m, k, n) = (g.m, g.k, g.n);
    if len == 0 || k == 0 {
        out.resize(len, T::zero());
    } else {
        let (ba, rsa, csa) = g.strides(a.shape(), a.strides(), true);
        let (bb, rsb, csb) = g.strides(b.shape(), b.strides(), false);
        let (pa, pb) = (SendPtr(a.as_ptr() as *mut T), SendPtr(b.as_ptr() as *mut T));
        let c = SendPtr(out.spare_capacity_mut().as_mut_ptr().cast::<T>());
        let count = len / (m * n);
        // Product `i` of the batch (row-major over the batch axes); `split`
        // lets one large product use the pool itself.
        let product = |i: usize, split: bool| {
            let (pa, pb, c) = (pa, pb, c);
            let (mut off_a, mut off_b, mut rest) = (0isize, 0isize, i);
            for d in (0..g.batch.len()).rev() {
                let j = (rest % g.batch[d]) as isize;
                rest /= g.batch[d];
                off_a += j * ba[d];
                off_b += j * bb[d];
            }
            let gemm = if split { gemm_parallel::<T> } else { T::gemm };
            // SAFETY: `off_a`/`off_b` address matrix `i` of each operand (0 on
            // broadcast axes), valid m×k and k×n matrices with these element
            // strides; block `i` of the output buffer (m·n elements) is written
            // by this call only. With β = 0 matrixmultiply never reads C, so
            // the reserved memory need not be initialised.
            unsafe {
                gemm(
                    m,
                    k,
                    n,
                    T::one(),
                    pa.0.offset(off_a),
                    rsa,
                    csa,
                    pb.0.offset(off_b),
                    rsb,
                    csb,
                    T::zero(),
                    c.0.add(i * m * n),
                    n as isize,
                    1,
                )
            }
        };
        let work = m.saturating_mul(k).saturating_mul(n);
        if count > 1 && work < PARALLEL_WORK && work.saturating_mul(count) >= PARALLEL_WORK {
            // Many small products (e.g. attention heads): one per task.
            (0..count).into_par_iter().for_each(|i| product(i, false));
        } else {
            (0..count).for_each(|i| product(i, true));
        }
        // SAFETY: the products above wrote all `len` elements.
        unsafe { out.set_len(len) };
    }
    Ok(ArcArray::from_shape_vec(IxDyn(&g.out_shape), out).expect("one value per element"))
}

/// [`gemm_parallel`] on two ndarray views (m×k and k×n) into the m×n
/// matrix at `c` with strides `rsc`, `csc`.
///
/// # Safety
/// `c` must address a valid m×n matrix with those strides that aliases
/// neither view; with β ≠ 0 it must be initialised.
unsafe fn gemm_views<T: Gemm>(
    alpha: T,
    a: ndarray::ArrayView2<'_, T>,
    b: ndarray::ArrayView2<'_, T>,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let (sa, sb) = (a.strides(), b.strides());
    // SAFETY: the views are valid m×k and k×n matrices with these element
    // strides; `c` is the caller's.
    unsafe { gemm_parallel(m, k, n, alpha, a.as_ptr(), sa[0], sa[1], b.as_ptr(), sb[0], sb[1], beta, c, rsc, csc) }
}

/// `α·a·b` into a new row-major `[m, n]` array whose buffer comes from
/// [`alloc_buffer`](crate::alloc_buffer) (so the buffer pool serves it)
/// and is written by the product directly, not zero-filled first. The
/// output side of [`gemm`] for kernels that make a fresh result (a dense
/// layer's output and gradients).
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let b = array![[5.0f32, 6.0], [7.0, 8.0]];
/// let c = lux_core::gemm_new("my_op", "output", 2.0, a.view(), b.t())?;
/// assert_eq!(c, array![[34.0, 46.0], [78.0, 106.0]]);
/// assert!(lux_core::gemm_new("my_op", "output", 1.0f32, a.view(), array![[1.0f32, 2.0]].view()).is_err());
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// The shapes are not `[m, k]` and `[k, n]`, or the `[m, n]` buffer cannot
/// be allocated (see [`alloc_buffer`](crate::alloc_buffer); the message
/// names `op` and `what`).
pub fn gemm_new<T: Real>(
    op: &str,
    what: &str,
    alpha: T,
    a: ndarray::ArrayView2<'_, T>,
    b: ndarray::ArrayView2<'_, T>,
) -> Result<ndarray::Array2<T>> {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    if k != k2 {
        return Err(shape_err(op, format!("cannot multiply {:?} by {:?}", a.shape(), b.shape())));
    }
    let mut out = crate::alloc_buffer::<T>(op, what, &[m, n])?;
    let len = m * n; // checked by alloc_buffer
    if len == 0 || k == 0 {
        out.resize(len, T::zero());
    } else {
        // SAFETY: `out` has room for the m·n elements of a row-major C,
        // which with β = 0 matrixmultiply writes without reading, and all
        // of which it writes.
        unsafe {
            gemm_views(alpha, a, b, T::zero(), out.spare_capacity_mut().as_mut_ptr().cast::<T>(), n as isize, 1);
            out.set_len(len);
        }
    }
    Ok(ndarray::Array2::from_shape_vec((m, n), out).expect("one value per element"))
}

/// BLAS-style `c ← α·a·b + β·c` on 2-D ndarray views of any strides (a
/// transposed view costs nothing), split over the rayon pool when large.
/// With `β = 0`, `c`'s old values are ignored (even NaN). This is the GEMM
/// under [`Tensor::matmul`], for kernels that work on raw arrays (e.g.
/// convolution by im2col).
///
/// ```
/// use ndarray::{Array2, array};
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let b = array![[5.0f32, 6.0], [7.0, 8.0]];
/// let mut c = Array2::<f32>::ones((2, 2));
/// lux_core::gemm(1.0, a.view(), b.t(), 1.0, c.view_mut())?; // c = a·bᵀ + c
/// assert_eq!(c, array![[18.0, 24.0], [40.0, 54.0]]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// The shapes are not `[m, k]`, `[k, n]` and `[m, n]`.
pub fn gemm<T: Real>(
    alpha: T,
    a: ndarray::ArrayView2<'_, T>,
    b: ndarray::ArrayView2<'_, T>,
    beta: T,
    mut c: ndarray::ArrayViewMut2<'_, T>,
) -> Result<()> {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    if k != k2 || c.dim() != (m, n) {
        return Err(shape_err(
            "gemm",
            format!("cannot compute {:?} · {:?} into {:?}", a.shape(), b.shape(), c.shape()),
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // matrixmultiply handles k = 0 too, but make β = 0 explicit.
        c.mapv_inplace(|v| if beta == T::zero() { T::zero() } else { beta * v });
        return Ok(());
    }
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    // SAFETY: `c` is a valid m×n matrix with these (element) strides, and
    // uniquely borrowed; a mutable view never aliases `a` or `b`.
    unsafe { gemm_views(alpha, a, b, beta, c.as_mut_ptr(), rsc, csc) }
    Ok(())
}

impl Tensor {
    /// Matrix product with NumPy/PyTorch semantics.
    ///
    /// * 2-d: `[m, k] · [k, n] → [m, n]`.
    /// * A 1-d left operand `[k]` is a row vector whose axis is removed from
    ///   the result (`[k] · [k, n] → [n]`); a 1-d right operand is a column
    ///   vector likewise (`[m, k] · [k] → [m]`); `[k] · [k]` is the 0-d dot
    ///   product.
    /// * Axes before the last two are batch axes and broadcast as in
    ///   [`broadcast_shapes`](crate::broadcast_shapes):
    ///   `[b, h, t, d] · [b, h, d, s] → [b, h, t, s]`,
    ///   `[h, t, d] · [d, s] → [h, t, s]`,
    ///   `[b, 1, t, d] · [h, d, s] → [b, h, t, s]`.
    ///
    /// Operands may be strided views (a transposed weight is never copied)
    /// and broadcast batches are never materialised. Gradients of broadcast
    /// batch axes are summed back to each operand's shape.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::from_vec(vec![5.0f32, 6.0, 7.0, 8.0], &[2, 2])?;
    /// assert_eq!(a.matmul(&b)?.to_vec::<f32>()?, vec![19.0, 22.0, 43.0, 50.0]);
    /// // x · Wᵀ without copying W:
    /// assert_eq!(a.matmul(&b.transpose(0, 1)?)?.to_vec::<f32>()?, vec![17.0, 23.0, 39.0, 53.0]);
    /// // 1-d operands: matrix · vector and the dot product.
    /// let v = Tensor::from_vec(vec![1.0f32, -1.0], &[2])?;
    /// assert_eq!(a.matmul(&v)?.to_vec::<f32>()?, vec![-1.0, -1.0]);
    /// assert_eq!(v.matmul(&v)?.to_scalar::<f32>()?, 2.0);
    /// // Broadcast batch axes: [2, 1, 3, 2] · [4, 2, 5] → [2, 4, 3, 5].
    /// let x = Tensor::ones(&[2, 1, 3, 2], lux_core::DType::F32)?;
    /// let w = Tensor::ones(&[4, 2, 5], lux_core::DType::F32)?;
    /// assert_eq!(x.matmul(&w)?.shape(), &[2, 4, 3, 5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An operand is 0-d, inner dimensions differ, batch axes do not
    /// broadcast, a dtype is not float, or the output is too large (see
    /// [`Tensor::zeros`]).
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let geom = Geometry::new(self.shape(), other.shape())?;
        let dt = DType::promote(self.dtype(), other.dtype());
        if !dt.is_float() {
            return Err(LuxError::UnsupportedDType { op: "matmul".into(), dtype: dt });
        }
        let a = self.to_dtype(dt)?;
        let b = other.to_dtype(dt)?;
        let data = match (a.compute_data("matmul")?, b.compute_data("matmul")?) {
            (FloatData::F32(x), FloatData::F32(y)) => FloatData::F32(run(&x, &y, &geom)?),
            (FloatData::F64(x), FloatData::F64(y)) => FloatData::F64(run(&x, &y, &geom)?),
            _ => unreachable!("both operands were cast to {dt}"),
        };
        Tensor::from_op(data.into_data(dt), Op::Matmul, &[&a, &b])
    }
}

/// The tangent `Ȧ·B + A·Ḃ` (matmul is bilinear).
pub(crate) fn tangent(a: &Tensor, b: &Tensor, y: &Tensor, ta: &Option<Tensor>, tb: &Option<Tensor>) -> Result<Tensor> {
    match (ta, tb) {
        (Some(ta), Some(tb)) => ta.matmul(b)?.add(&a.matmul(tb)?),
        (Some(ta), None) => ta.matmul(b),
        (None, Some(tb)) => a.matmul(tb),
        (None, None) => Ok(y.zeros_like()),
    }
}

/// `∂A = G·Bᵀ`, `∂B = Aᵀ·G`, summed over broadcast batch axes; 1-d operands
/// are seen as `[1, k]` and `[k, 1]`, with `G` given their axes back.
pub(crate) fn backward(g: &Tensor, a: &Tensor, b: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let a2 = if a.ndim() == 1 { a.unsqueeze(0)? } else { a.clone() };
    let b2 = if b.ndim() == 1 { b.unsqueeze(1)? } else { b.clone() };
    let mut g_shape = g.shape()[..g.ndim() - usize::from(a.ndim() > 1) - usize::from(b.ndim() > 1)].to_vec();
    g_shape.extend([a2.shape()[a2.ndim() - 2], b2.shape()[b2.ndim() - 1]]);
    let g2 = g.reshape(&g_shape)?;
    let ga =
        if needs[0] { Some(g2.matmul(&b2.transpose(-1, -2)?)?.sum_to(a2.shape())?.reshape(a.shape())?) } else { None };
    let gb =
        if needs[1] { Some(a2.transpose(-1, -2)?.matmul(&g2)?.sum_to(b2.shape())?.reshape(b.shape())?) } else { None };
    Ok(vec![ga, gb])
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matches_naive_including_batches_and_views() -> crate::Result<()> {
        let (m, k, n) = (5, 7, 3);
        let av: Vec<f64> = (0..2 * m * k).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
        let bv: Vec<f64> = (0..k * n).map(|i| ((i * 13 % 7) as f64) * 0.5).collect();
        let a = Tensor::from_vec(av.clone(), &[2, m, k])?;
        let b = Tensor::from_vec(bv.clone(), &[k, n])?;
        let c = a.matmul(&b)?;
        assert_eq!(c.shape(), &[2, m, n]);
        let got = c.to_vec::<f64>()?;
        assert_eq!(&got[..m * n], naive(&av[..m * k], &bv, m, k, n).as_slice());
        assert_eq!(&got[m * n..], naive(&av[m * k..], &bv, m, k, n).as_slice());
        // B given as a transposed view of its transpose.
        let bt = Tensor::from_vec(bv.clone(), &[k, n])?.transpose(0, 1)?.contiguous()?.transpose(0, 1)?;
        assert!(!bt.is_contiguous());
        assert_eq!(a.matmul(&bt)?.to_vec::<f64>()?, got);
        assert!(a.matmul(&Tensor::zeros(&[6, 2], crate::DType::F64)?).is_err());
        assert!(Tensor::zeros(&[3], crate::DType::F64)?.matmul(&b).is_err(), "[3] · [7, 3]: 3 ≠ 7");
        Ok(())
    }

    /// Reference N-d matmul in f64 by index arithmetic (NumPy semantics):
    /// returns the output shape and row-major values.
    fn naive_nd(a: &[f64], sa: &[usize], b: &[f64], sb: &[usize]) -> (Vec<usize>, Vec<f64>) {
        let sa2: Vec<usize> = if sa.len() == 1 { vec![1, sa[0]] } else { sa.to_vec() };
        let sb2: Vec<usize> = if sb.len() == 1 { vec![sb[0], 1] } else { sb.to_vec() };
        let (m, k, n) = (sa2[sa2.len() - 2], sa2[sa2.len() - 1], sb2[sb2.len() - 1]);
        let (ba, bb) = (&sa2[..sa2.len() - 2], &sb2[..sb2.len() - 2]);
        let nb = ba.len().max(bb.len());
        let pad =
            |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, nb - s.len()).chain(s.iter().copied()).collect() };
        let (pa, pb) = (pad(ba), pad(bb));
        let batch: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| if x == 1 { y } else { x }).collect();
        let count: usize = batch.iter().product();
        let mut out = Vec::new();
        for flat in 0..count {
            // Multi-index of this batch, then the flat matrix index in each operand.
            let mut rem = flat;
            let mut idx = vec![0; nb];
            for d in (0..nb).rev() {
                idx[d] = rem % batch[d];
                rem /= batch[d];
            }
            let pick = |p: &[usize]| idx.iter().zip(p).fold(0, |acc, (&i, &d)| acc * d + if d == 1 { 0 } else { i });
            let (ia, ib) = (pick(&pa), pick(&pb));
            for i in 0..m {
                for j in 0..n {
                    out.push((0..k).map(|p| a[ia * m * k + i * k + p] * b[ib * k * n + p * n + j]).sum());
                }
            }
        }
        let mut shape = batch;
        if sa.len() > 1 {
            shape.push(m);
        }
        if sb.len() > 1 {
            shape.push(n);
        }
        (shape, out)
    }

    fn ints(seed: usize, shape: &[usize]) -> Vec<f64> {
        (0..shape.iter().product::<usize>()).map(|i| ((i * 7 + seed * 13) % 11) as f64 - 5.0).collect()
    }

    #[test]
    fn nd_and_vector_operands_match_the_naive_reference() -> crate::Result<()> {
        let cases: [(&[usize], &[usize]); 12] = [
            (&[2, 3, 4, 5], &[2, 3, 5, 6]),
            (&[3, 4, 5], &[5, 2]),
            (&[4, 5], &[3, 5, 2]),
            (&[2, 1, 4, 5], &[3, 5, 2]),
            (&[2, 1, 3, 4, 5], &[1, 3, 1, 5, 2]),
            (&[5], &[5]),
            (&[5], &[2, 5, 3]),
            (&[2, 4, 5], &[5]),
            (&[4], &[4, 3]),
            (&[3, 4], &[4]),
            (&[0, 3, 4], &[4, 2]),
            (&[2, 3, 0], &[1, 0, 4]),
        ];
        for (i, (sa, sb)) in cases.iter().enumerate() {
            let (av, bv) = (ints(i, sa), ints(i + 100, sb));
            let (shape, want) = naive_nd(&av, sa, &bv, sb);
            let got = Tensor::from_vec(av.clone(), sa)?.matmul(&Tensor::from_vec(bv.clone(), sb)?)?;
            assert_eq!(got.shape(), shape.as_slice(), "{sa:?} · {sb:?}");
            // Small integers: every sum is exact, in f64 and f32.
            assert_eq!(got.to_vec::<f64>()?, want, "{sa:?} · {sb:?}");
            let a32 = Tensor::from_vec(av.iter().map(|&v| v as f32).collect::<Vec<_>>(), sa)?;
            let b32 = Tensor::from_vec(bv.iter().map(|&v| v as f32).collect::<Vec<_>>(), sb)?;
            let got32: Vec<f64> = a32.matmul(&b32)?.to_f64_vec();
            assert_eq!(got32, want, "f32 {sa:?} · {sb:?}");
        }
        Ok(())
    }

    #[test]
    fn strided_nd_operands_are_read_in_place() -> crate::Result<()> {
        // a: [2, 3, 4, 5] stored as [5, 3, 2, 4] permuted; b: [3, 5, 2] stored transposed.
        let (sa, sb) = ([2usize, 3, 4, 5], [3usize, 5, 2]);
        let (av, bv) = (ints(1, &sa), ints(2, &sb));
        let (shape, want) = naive_nd(&av, &sa, &bv, &sb);
        let a = Tensor::from_vec(av, &sa)?.permute(&[3, 1, 0, 2])?.contiguous()?.permute(&[2, 1, 3, 0])?;
        let b = Tensor::from_vec(bv, &sb)?.transpose(-1, -2)?.contiguous()?.transpose(-1, -2)?;
        assert!(!a.is_contiguous() && !b.is_contiguous());
        let got = a.matmul(&b)?;
        assert_eq!(got.shape(), shape.as_slice());
        assert_eq!(got.to_vec::<f64>()?, want);
        // A narrowed batch axis (offset view).
        let wide = Tensor::from_vec(ints(3, &[2, 6, 4, 5]), &[2, 6, 4, 5])?;
        let part = wide.narrow(1, 2, 3)?;
        let (shape, want) = naive_nd(&part.to_vec::<f64>()?, &sa, &ints(2, &sb), &sb);
        let got = part.matmul(&Tensor::from_vec(ints(2, &sb), &sb)?)?;
        assert_eq!((got.shape(), got.to_vec::<f64>()?), (shape.as_slice(), want));
        Ok(())
    }

    #[test]
    fn many_small_products_split_over_the_pool() -> crate::Result<()> {
        // 512 products of 16·32·16 multiply-adds: above PARALLEL_WORK in
        // total, below it each, so the batch is split into tasks.
        let (sa, sb) = ([64usize, 1, 16, 32], [1usize, 8, 32, 16]);
        const { assert!(16 * 32 * 16 < super::PARALLEL_WORK && 512 * 16 * 32 * 16 >= super::PARALLEL_WORK) };
        let (av, bv) = (ints(5, &sa), ints(6, &sb));
        let (shape, want) = naive_nd(&av, &sa, &bv, &sb);
        let got = Tensor::from_vec(av, &sa)?.matmul(&Tensor::from_vec(bv, &sb)?)?;
        assert_eq!(got.shape(), &[64, 8, 16, 16]);
        assert_eq!((got.shape(), got.to_vec::<f64>()?), (shape.as_slice(), want));
        Ok(())
    }

    #[test]
    fn bad_operands_are_errors_naming_the_shapes() -> crate::Result<()> {
        let z = |s: &[usize]| Tensor::zeros(s, crate::DType::F32).unwrap();
        let msg = z(&[]).matmul(&z(&[3])).unwrap_err().to_string();
        assert!(msg.contains("matmul") && msg.contains("[] · [3]"), "{msg}");
        let msg = z(&[3]).matmul(&z(&[4])).unwrap_err().to_string();
        assert!(msg.contains("inner dimensions differ: [3] · [4]"), "{msg}");
        let msg = z(&[2, 2, 3]).matmul(&z(&[3, 3, 4])).unwrap_err().to_string();
        assert!(msg.contains("batch axes [2] and [3]"), "{msg}");
        assert!(z(&[4, 1, 2, 3]).matmul(&z(&[2, 5, 3, 4])).is_err(), "4 vs 2 on axis 0");
        let i = Tensor::from_vec(vec![1i64, 2], &[2])?;
        assert!(i.matmul(&i).is_err(), "integer matmul is unsupported");
        Ok(())
    }

    #[test]
    fn empty_batches_and_dimensions() -> crate::Result<()> {
        let z = |s: &[usize]| Tensor::zeros(s, crate::DType::F32).unwrap();
        assert_eq!(z(&[0, 2, 3]).matmul(&z(&[1, 3, 4]))?.shape(), &[0, 2, 4]);
        assert_eq!(z(&[2, 0]).matmul(&z(&[0, 3]))?.to_vec::<f32>()?, vec![0.0; 6]);
        assert!(z(&[2, 2, 3]).matmul(&z(&[3, 3, 4])).is_err());
        Ok(())
    }

    #[test]
    fn half_matmul_computes_in_f32() -> crate::Result<()> {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?.to_dtype(crate::DType::F16)?;
        let c = a.matmul(&a)?;
        assert_eq!(c.dtype(), crate::DType::F16);
        assert_eq!(c.to_dtype(crate::DType::F32)?.to_vec::<f32>()?, vec![7.0, 10.0, 15.0, 22.0]);
        Ok(())
    }
}
