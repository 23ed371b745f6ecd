//! Matrix multiplication: `[m, k] · [k, n]`, and batched
//! `[b, m, k] · [b, k, n]` where either batch may be 1 or absent (broadcast).
//!
//! Operands may be strided views (a transposed weight is never copied).
//! f32/f64 run on `matrixmultiply`'s packed single-threaded kernels; large
//! products are split into independent row or column blocks run on the
//! rayon pool (this scales better than matrixmultiply's own threading, and
//! shares one thread pool with every other kernel). f16 and bf16 compute in
//! f32.

use crate::autodiff::Op;
use crate::dtype::Real;
use crate::error::{LuxError, Result, shape_err};
use crate::tensor::FloatData;
use crate::{DType, Tensor};
use ndarray::{ArcArray, ArrayD, Axis, IxDyn};

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

/// Batched product of 3-D arrays whose batch extents are `batch` or 1.
fn batched<T: Real>(a: &ArcArray<T, IxDyn>, b: &ArcArray<T, IxDyn>, batch: usize) -> ArrayD<T> {
    let (m, k, n) = (a.shape()[1], a.shape()[2], b.shape()[2]);
    let mut out = ArrayD::<T>::zeros(IxDyn(&[batch, m, n]));
    for i in 0..batch {
        let ai = a.index_axis(Axis(0), if a.shape()[0] == 1 { 0 } else { i });
        let bi = b.index_axis(Axis(0), if b.shape()[0] == 1 { 0 } else { i });
        let mut ci = out.index_axis_mut(Axis(0), i);
        let (sa, sb, sc) = (ai.strides(), bi.strides(), [ci.strides()[0], ci.strides()[1]]);
        if m == 0 || n == 0 {
            continue;
        }
        // SAFETY: the views are valid m×k, k×n and m×n matrices with these
        // (element) strides, and `ci` is uniquely borrowed.
        unsafe {
            gemm_parallel(
                m,
                k,
                n,
                T::one(),
                ai.as_ptr(),
                sa[0],
                sa[1],
                bi.as_ptr(),
                sb[0],
                sb[1],
                T::zero(),
                ci.as_mut_ptr(),
                sc[0],
                sc[1],
            )
        }
    }
    out
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
    let (sa, sb, sc) = (a.strides(), b.strides(), [c.strides()[0], c.strides()[1]]);
    // SAFETY: the views are valid m×k, k×n and m×n matrices with these
    // (element) strides, and `c` is uniquely borrowed; a mutable view never
    // aliases `a` or `b`.
    unsafe {
        gemm_parallel(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            sa[0],
            sa[1],
            b.as_ptr(),
            sb[0],
            sb[1],
            beta,
            c.as_mut_ptr(),
            sc[0],
            sc[1],
        )
    }
    Ok(())
}

impl Tensor {
    /// Matrix product. 2-D `[m, k] · [k, n] → [m, n]`; with a 3-D operand,
    /// batched over the leading axis, which broadcasts when it is 1 or absent
    /// (`[b, m, k] · [k, n] → [b, m, n]`).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::from_vec(vec![5.0f32, 6.0, 7.0, 8.0], &[2, 2])?;
    /// assert_eq!(a.matmul(&b)?.to_vec::<f32>()?, vec![19.0, 22.0, 43.0, 50.0]);
    /// // x · Wᵀ without copying W:
    /// assert_eq!(a.matmul(&b.transpose(0, 1)?)?.to_vec::<f32>()?, vec![17.0, 23.0, 39.0, 53.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An operand is not 2-D or 3-D, inner dimensions differ, batches do not
    /// broadcast, or a dtype is not float.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let (sa, sb) = (self.shape(), other.shape());
        let bad = || shape_err("matmul", format!("cannot multiply {sa:?} · {sb:?}"));
        if !(2..=3).contains(&sa.len()) || !(2..=3).contains(&sb.len()) {
            return Err(shape_err("matmul", format!("operands must be 2-d or 3-d, got {sa:?} · {sb:?}")));
        }
        if sa[sa.len() - 1] != sb[sb.len() - 2] {
            return Err(shape_err("matmul", format!("inner dimensions differ: {sa:?} · {sb:?}")));
        }
        let ba = if sa.len() == 3 { sa[0] } else { 1 };
        let bb = if sb.len() == 3 { sb[0] } else { 1 };
        if ba != bb && ba != 1 && bb != 1 {
            return Err(bad());
        }
        // NumPy rule: a batch of 1 broadcasts to the other (including 0).
        let batch = if ba == 1 { bb } else { ba };
        let three_d = sa.len() == 3 || sb.len() == 3;
        let dt = DType::promote(self.dtype(), other.dtype());
        if !dt.is_float() {
            return Err(LuxError::UnsupportedDType { op: "matmul".into(), dtype: dt });
        }
        let a = self.to_dtype(dt)?;
        let b = other.to_dtype(dt)?;
        let (m, n) = (sa[sa.len() - 2], sb[sb.len() - 1]);
        let out_shape: Vec<usize> = if three_d { vec![batch, m, n] } else { vec![m, n] };
        fn run<T: Real>(
            x: ArcArray<T, IxDyn>,
            y: ArcArray<T, IxDyn>,
            batch: usize,
            out: &[usize],
        ) -> ArcArray<T, IxDyn> {
            let as3 = |x: ArcArray<T, IxDyn>| if x.ndim() == 2 { x.insert_axis(Axis(0)) } else { x };
            batched(&as3(x), &as3(y), batch).into_shape_with_order(IxDyn(out)).expect("same size").into_shared()
        }
        let data = match (a.compute_data("matmul")?, b.compute_data("matmul")?) {
            (FloatData::F32(x), FloatData::F32(y)) => FloatData::F32(run(x, y, batch, &out_shape)),
            (FloatData::F64(x), FloatData::F64(y)) => FloatData::F64(run(x, y, batch, &out_shape)),
            _ => unreachable!("both operands were cast to {dt}"),
        };
        Tensor::from_op(data.into_data(dt), Op::Matmul, &[&a, &b])
    }
}

/// `∂A = G·Bᵀ`, `∂B = Aᵀ·G`, summed over broadcast batches.
pub(crate) fn backward(g: &Tensor, a: &Tensor, b: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let ga = if needs[0] { Some(g.matmul(&b.transpose(-1, -2)?)?.sum_to(a.shape())?) } else { None };
    let gb = if needs[1] { Some(a.transpose(-1, -2)?.matmul(g)?.sum_to(b.shape())?) } else { None };
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
        assert!(Tensor::zeros(&[3], crate::DType::F64)?.matmul(&b).is_err());
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
