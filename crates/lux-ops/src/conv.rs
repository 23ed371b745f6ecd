//! N-d convolution with stride, padding, dilation and groups.
//!
//! Layout is batch-first, channels second: `x` is `[N, C_in, spatial…]`
//! (NCL for 1-d, NCHW for 2-d, NCDHW for 3-d; any number ≥ 1 of spatial
//! dims), the kernel `w` is `[C_out, C_in / groups, k…]` and the bias `b`
//! is `[C_out]`. The memory layout is the same as Lux/NNlib's column-major
//! `(spatial…, C, N)`, seen transposed.
//!
//! **Cross-correlation vs convolution.** [`conv`] computes a
//! cross-correlation by default (PyTorch and JAX semantics): for output
//! channel `o` in group `g = o ÷ (C_out/groups)`,
//! `y[n, o, p] = b[o] + Σ_{c, k} w[o, c, k] · x[n, g·C_in/groups + c, p·stride − pad_before + k·dilation]`
//! (per spatial dim; taps on the padding read zero).
//! With [`ConvOptions::flip_kernel`]`(true)` the kernel is flipped along every
//! spatial axis first, which is a true convolution — what Lux's `Conv` layer
//! computes with its default `cross_correlation = false`.
//!
//! **Implementation.** The forward pass is im2col + GEMM: for every sample
//! and group, the receptive fields are gathered into a `[C_in/groups · Πk,
//! Π out]` matrix (zeros where the window hangs over the padding; copied
//! as runs along the last spatial dim; a 1×…×1 kernel with stride 1 and no
//! padding uses the input itself) and
//! multiplied by the kernel viewed as `[C_out/groups, C_in/groups · Πk]`,
//! the bias being the initial value of the output. The batch is split over
//! the rayon pool when the work is large enough; each part reuses one
//! column buffer. The backward pass is fused into one custom op: `∂w` is
//! `Σ_n ∂y · colᵀ`, `∂x` is `col2im(wᵀ · ∂y)` (a scatter-add), `∂b = Σ ∂y`.
//! When the backward pass is itself being differentiated (nested AD), it
//! falls back to the vector-Jacobian product of [`conv`]'s composite
//! definition (flatten, gather the receptive fields with `index_select`,
//! `matmul`), written beside the kernels below.

use crate::util::{filled, promote_floats};
pub(crate) use crate::window::{NONE, Runs, Window, add_strided, batch_parts, internal, per_dim, sum8};
use lux_core::{CustomOp, FloatData, LuxError, Real, Result, Tensor};
use ndarray::{ArcArray, ArrayView2, ArrayViewMut2, IxDyn};
use std::sync::Arc;

const OP: &str = "conv";

/// Padding of the spatial dims of a convolution or pooling window.
///
/// ```
/// use lux_ops::conv::Padding;
/// let p = Padding::Explicit(vec![(1, 2)]); // 1 before, 2 after, on every spatial dim
/// assert_eq!(Padding::symmetric(&[1, 0]), Padding::Explicit(vec![(1, 1), (0, 0)]));
/// assert_eq!(Padding::default(), Padding::Explicit(vec![]));  // no padding
/// # let _ = p;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Padding {
    /// `(before, after)` zeros per spatial dim. An empty list means no
    /// padding; a single pair applies to every spatial dim.
    Explicit(Vec<(usize, usize)>),
    /// Lux's `SamePad()`: a total of `dilation · (k − 1)` per spatial dim,
    /// split with the odd element **before** (`before = ⌈total/2⌉`,
    /// `after = ⌊total/2⌋`, as Lux's `calc_padding`). The output size is
    /// `⌈in / stride⌉` (equal to the input size at stride 1). Note that this
    /// differs from TensorFlow's `SAME`, which puts the odd element after
    /// and shrinks the total padding at strides > 1.
    Same,
}

impl Default for Padding {
    fn default() -> Self {
        Padding::Explicit(Vec::new())
    }
}

impl Padding {
    /// The same padding before and after, per spatial dim (one value
    /// applies to every spatial dim).
    ///
    /// ```
    /// use lux_ops::conv::Padding;
    /// assert_eq!(Padding::symmetric(&[2]), Padding::Explicit(vec![(2, 2)]));
    /// ```
    pub fn symmetric(pad: &[usize]) -> Padding {
        Padding::Explicit(pad.iter().map(|&p| (p, p)).collect())
    }
}

/// Options of [`conv`]. Every per-dimension list may be empty (the
/// default: all ones, or no padding), have a single entry (applied to every
/// spatial dim), or one entry per spatial dim.
///
/// ```
/// use lux_ops::conv::{ConvOptions, Padding};
/// let o = ConvOptions::new().stride(&[2]).padding(Padding::Same).dilation(&[1, 2]).groups(2).flip_kernel(true);
/// assert_eq!(o.stride, vec![2]);
/// assert_eq!(o.groups, 2);
/// assert_eq!(ConvOptions::default().pad(&[1]).padding, Padding::Explicit(vec![(1, 1)]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvOptions {
    /// Step of the window per spatial dim (default 1).
    pub stride: Vec<usize>,
    /// Zero padding of the input (default none).
    pub padding: Padding,
    /// Spacing of the kernel taps per spatial dim (default 1).
    pub dilation: Vec<usize>,
    /// Number of channel groups (default 1; `C_in` for a depthwise conv).
    pub groups: usize,
    /// Flip the kernel along the spatial axes: `true` is a true
    /// convolution (Lux's `Conv` default, `cross_correlation = false`);
    /// `false` (the default) is a cross-correlation (PyTorch/JAX).
    pub flip_kernel: bool,
}

impl Default for ConvOptions {
    fn default() -> Self {
        ConvOptions {
            stride: Vec::new(),
            padding: Padding::default(),
            dilation: Vec::new(),
            groups: 1,
            flip_kernel: false,
        }
    }
}

impl ConvOptions {
    /// Stride 1, no padding, dilation 1, one group, cross-correlation.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::conv::{conv, ConvOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 1, 3])?;
    /// let k = Tensor::from_vec(vec![1.0f32, 1.0], &[1, 1, 2])?;
    /// // a 1-d conv of [1, 2, 3] with the kernel [1, 1]
    /// assert_eq!(conv(&x, &k, None, &ConvOptions::new())?.to_vec::<f32>()?, vec![3.0, 5.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the stride (one value or one per spatial dim).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::conv::{conv, ConvOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0], &[1, 1, 5])?;
    /// let k = Tensor::from_vec(vec![1.0f32, 1.0], &[1, 1, 2])?;
    /// // windows at 0 and 2: 1 + 2, 3 + 4
    /// assert_eq!(conv(&x, &k, None, &ConvOptions::new().stride(&[2]))?.to_vec::<f32>()?, vec![3.0, 7.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn stride(mut self, stride: &[usize]) -> Self {
        self.stride = stride.to_vec();
        self
    }
    /// Sets the padding.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::conv::{conv, ConvOptions, Padding};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 1, 3])?;
    /// let k = Tensor::from_vec(vec![1.0f32, 1.0], &[1, 1, 2])?;
    /// // same padding for a kernel of 2: one zero before → [0, 1, 2, 3]
    /// let y = conv(&x, &k, None, &ConvOptions::new().padding(Padding::Same))?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 3.0, 5.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    /// Sets symmetric padding (one value or one per spatial dim); see
    /// [`Padding::symmetric`].
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::conv::{conv, ConvOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 1, 3])?;
    /// let k = Tensor::from_vec(vec![1.0f32, 1.0], &[1, 1, 2])?;
    /// // [0, 1, 2, 3, 0]
    /// assert_eq!(conv(&x, &k, None, &ConvOptions::new().pad(&[1]))?.to_vec::<f32>()?, vec![1.0, 3.0, 5.0, 3.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn pad(self, pad: &[usize]) -> Self {
        self.padding(Padding::symmetric(pad))
    }
    /// Sets the dilation (one value or one per spatial dim).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::conv::{conv, ConvOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 1, 3])?;
    /// let k = Tensor::from_vec(vec![1.0f32, 1.0], &[1, 1, 2])?;
    /// // taps 2 apart: 1 + 3
    /// assert_eq!(conv(&x, &k, None, &ConvOptions::new().dilation(&[2]))?.to_vec::<f32>()?, vec![4.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn dilation(mut self, dilation: &[usize]) -> Self {
        self.dilation = dilation.to_vec();
        self
    }
    /// Sets the number of groups.
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::conv::{conv, ConvOptions};
    /// // two channels [1, 2] and [3, 4], each with its own 1-tap kernel (10 and 100)
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 2, 2])?;
    /// let w = Tensor::from_vec(vec![10.0f32, 100.0], &[2, 1, 1])?;
    /// let y = conv(&x, &w, None, &ConvOptions::new().groups(2))?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![10.0, 20.0, 300.0, 400.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    /// Sets whether the kernel is flipped (true convolution).
    ///
    /// ```
    /// use lux_core::Tensor;
    /// use lux_ops::conv::{conv, ConvOptions};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 1, 3])?;
    /// let k = Tensor::from_vec(vec![1.0f32, 0.0], &[1, 1, 2])?;
    /// // cross-correlation reads the first tap, the flipped kernel [0, 1] the second
    /// assert_eq!(conv(&x, &k, None, &ConvOptions::new())?.to_vec::<f32>()?, vec![1.0, 2.0]);
    /// assert_eq!(conv(&x, &k, None, &ConvOptions::new().flip_kernel(true))?.to_vec::<f32>()?, vec![2.0, 3.0]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn flip_kernel(mut self, flip: bool) -> Self {
        self.flip_kernel = flip;
        self
    }
}

// ---------------------------------------------------------------------------
// Convolution.
// ---------------------------------------------------------------------------

/// The validated shapes of one convolution.
#[derive(Clone, Debug)]
pub(crate) struct ConvGeom {
    pub(crate) n: usize,
    pub(crate) c_in: usize,
    pub(crate) c_out: usize,
    pub(crate) groups: usize,
    pub(crate) win: Window,
}

impl ConvGeom {
    pub(crate) fn resolve(x: &[usize], w: &[usize], b: Option<&[usize]>, opts: &ConvOptions) -> Result<ConvGeom> {
        if x.len() < 3 {
            return Err(LuxError::shape(
                OP,
                format!("x must be [N, C_in, spatial...] with at least one spatial dim, got shape {x:?}"),
            ));
        }
        if w.len() != x.len() {
            return Err(LuxError::shape(
                OP,
                format!("w {w:?} must be [C_out, C_in/groups, kernel...] with the rank of x {x:?} ({} dims)", x.len()),
            ));
        }
        let g = opts.groups;
        if g == 0 {
            return Err(LuxError::invalid_argument(OP, "groups must be positive, got 0"));
        }
        let (c_in, c_out) = (x[1], w[0]);
        if c_in % g != 0 {
            return Err(LuxError::shape(OP, format!("x {x:?} has {c_in} channels, not divisible by groups={g}")));
        }
        if c_out % g != 0 {
            return Err(LuxError::shape(
                OP,
                format!("w {w:?} has {c_out} output channels, not divisible by groups={g}"),
            ));
        }
        if w[1].checked_mul(g) != Some(c_in) {
            return Err(LuxError::shape(
                OP,
                format!(
                    "x has {c_in} channels but w expects {} (groups={g}): x {x:?}, w {w:?}",
                    w[1].saturating_mul(g)
                ),
            ));
        }
        if let Some(b) = b {
            if b != [c_out] {
                return Err(LuxError::shape(
                    OP,
                    format!("bias has shape {b:?} but w {w:?} has {c_out} output channels (expected [{c_out}])"),
                ));
            }
        }
        let win = Window::resolve(OP, "kernel", x, &w[2..], &opts.stride, &opts.dilation, &opts.padding)?;
        let geom = ConvGeom { n: x[0], c_in, c_out, groups: g, win };
        // Sized for f32, the narrowest compute type; the allocations check the real one.
        lux_core::buffer_len::<f32>(OP, "output", &geom.out_shape())?;
        lux_core::buffer_len::<f32>(OP, "column buffer", &[geom.rows(), geom.win.l()])?;
        Ok(geom)
    }
    pub(crate) fn cig(&self) -> usize {
        self.c_in / self.groups
    }
    pub(crate) fn cog(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of the column matrix of one group: `C_in/groups · Πk`.
    pub(crate) fn rows(&self) -> usize {
        self.cig() * self.win.kk()
    }
    pub(crate) fn out_shape(&self) -> Vec<usize> {
        let mut s = vec![self.n, self.c_out];
        s.extend(&self.win.out_sp);
        s
    }
    /// Multiply-adds of the forward pass.
    fn work(&self) -> usize {
        self.n.saturating_mul(self.c_out).saturating_mul(self.rows()).saturating_mul(self.win.l())
    }
}

/// N-d convolution (cross-correlation by default) of `x: [N, C_in,
/// spatial…]` with `w: [C_out, C_in/groups, k…]`, plus an optional bias
/// `b: [C_out]`. The output is `[N, C_out, out…]` with
/// `out = (in + pad_before + pad_after − dilation·(k − 1) − 1) / stride + 1`.
///
/// Set [`ConvOptions::flip_kernel`] for a true convolution (what Lux's
/// `Conv` computes by default). Dtypes are promoted to a common float
/// dtype; f16/bf16 compute in f32. Differentiable in `x`, `w` and `b`, to
/// any order.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::conv::{conv, ConvOptions};
/// // 1-d: a [1, 1, 4] signal with the kernel [1, -1] (a difference filter).
/// let x = Tensor::from_vec(vec![1.0f32, 4.0, 9.0, 16.0], &[1, 1, 4])?;
/// let w = Tensor::from_vec(vec![1.0f32, -1.0], &[1, 1, 2])?;
/// let y = conv(&x, &w, None, &ConvOptions::new())?;
/// assert_eq!(y.to_vec::<f32>()?, vec![-3.0, -5.0, -7.0]);
/// // flipped kernel (true convolution), padding 1 on both sides, bias 10:
/// let b = Tensor::from_vec(vec![10.0f32], &[1])?;
/// let y = conv(&x, &w, Some(&b), &ConvOptions::new().pad(&[1]).flip_kernel(true))?;
/// assert_eq!(y.to_vec::<f32>()?, vec![11.0, 13.0, 15.0, 17.0, -6.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// A shape error naming the shapes when `x` is not `[N, C_in, spatial…]`,
/// `w`'s rank differs, the channels do not match (`x has 3 channels but w
/// expects 4 (groups=1)`), `C_in` or `C_out` is not divisible by `groups`,
/// the bias is not `[C_out]`, or the (dilated) kernel is larger than the
/// padded input; an invalid-argument error for a zero stride, dilation or
/// group count, or an option list whose length is neither 0, 1 nor the
/// number of spatial dims; a dtype error for non-float operands.
pub fn conv(x: &Tensor, w: &Tensor, b: Option<&Tensor>, opts: &ConvOptions) -> Result<Tensor> {
    let geom = ConvGeom::resolve(x.shape(), w.shape(), b.map(Tensor::shape), opts)?;
    let mut operands = vec![x, w];
    operands.extend(b);
    let (dtype, cast) = promote_floats(OP, &operands)?;
    let runs = Runs::new(&geom.win, opts.flip_kernel);
    let data: Vec<FloatData> = cast.iter().map(|t| t.compute_data(OP)).collect::<Result<_>>()?;
    let values = match data.as_slice() {
        [FloatData::F32(x), FloatData::F32(w), rest @ ..] => {
            FloatData::F32(forward_kernel(&geom, &runs, x, w, rest.first().and_then(FloatData::array))?)
        }
        [FloatData::F64(x), FloatData::F64(w), rest @ ..] => {
            FloatData::F64(forward_kernel(&geom, &runs, x, w, rest.first().and_then(FloatData::array))?)
        }
        _ => return Err(internal("conv: operands of one dtype expected")),
    };
    let refs: Vec<&Tensor> = cast.iter().collect();
    Tensor::from_custom_op(
        values.into_tensor(dtype),
        Arc::new(ConvOp { geom, runs, flip: opts.flip_kernel, opts: opts.clone() }),
        &refs,
    )
}

pub(crate) fn view2<T>(s: &[T], rows: usize, cols: usize) -> Result<ArrayView2<'_, T>> {
    ArrayView2::from_shape((rows, cols), s).map_err(|_| internal("conv: matrix view"))
}
pub(crate) fn view2_mut<T>(s: &mut [T], rows: usize, cols: usize) -> Result<ArrayViewMut2<'_, T>> {
    ArrayViewMut2::from_shape((rows, cols), s).map_err(|_| internal("conv: matrix view"))
}

pub(crate) fn forward_kernel<T: Real>(
    g: &ConvGeom,
    runs: &Runs,
    x: &ArcArray<T, IxDyn>,
    w: &ArcArray<T, IxDyn>,
    b: Option<&ArcArray<T, IxDyn>>,
) -> Result<ArcArray<T, IxDyn>> {
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let b = b.map(|b| b.iter().copied().collect::<Vec<T>>());
    let xs = x.as_slice().ok_or_else(|| internal("conv: layout"))?;
    let ws = w.as_slice().ok_or_else(|| internal("conv: layout"))?;
    let (p, l) = (g.win.p(), g.win.l());
    let (cig, cog, rows) = (g.cig(), g.cog(), g.rows());
    let (sample_in, sample_out) = (g.c_in * p, g.c_out * l);
    let mut out = filled(OP, "output", &g.out_shape(), T::zero())?;
    batch_parts(g.n, g.work(), &mut out, sample_out, |samples, out| {
        let mut col = filled(OP, "column buffer", &[if runs.identity { 0 } else { rows }, l], T::zero())?;
        for (j, i) in samples.enumerate() {
            let xn = &xs[i * sample_in..(i + 1) * sample_in];
            let yn = &mut out[j * sample_out..(j + 1) * sample_out];
            if let Some(b) = &b {
                for (co, &bv) in b.iter().enumerate() {
                    yn[co * l..(co + 1) * l].fill(bv);
                }
            }
            for gi in 0..g.groups {
                let xg = &xn[gi * cig * p..(gi + 1) * cig * p];
                let colv = if runs.identity {
                    view2(xg, rows, l)?
                } else {
                    runs.im2col(xg, p, &mut col);
                    view2(&col, rows, l)?
                };
                let wg = view2(&ws[gi * cog * rows..(gi + 1) * cog * rows], cog, rows)?;
                let yg = view2_mut(&mut yn[gi * cog * l..(gi + 1) * cog * l], cog, l)?;
                lux_core::gemm(T::one(), wg, colv, T::one(), yg)?;
            }
        }
        Ok(())
    })?;
    ArcArray::from_shape_vec(IxDyn(&g.out_shape()), out).map_err(|_| internal("conv: output shape"))
}

/// Gradients of one convolution: `(∂x, ∂w, ∂b)`, each only when asked.
pub(crate) type Grads<T> = (Option<ArcArray<T, IxDyn>>, Option<ArcArray<T, IxDyn>>, Option<ArcArray<T, IxDyn>>);

/// `x` is read only for `∂w` (it may be `None` when `∂w` is not asked).
pub(crate) fn backward_kernel<T: Real>(
    g: &ConvGeom,
    runs: &Runs,
    x: Option<&ArcArray<T, IxDyn>>,
    w: &ArcArray<T, IxDyn>,
    dy: &ArcArray<T, IxDyn>,
    needs: [bool; 3],
) -> Result<Grads<T>> {
    let [need_x, need_w, need_b] = needs;
    let x = match x {
        Some(x) if need_w => Some(x.as_standard_layout()),
        _ if need_w => return Err(internal("conv backward: the input is needed for the kernel gradient")),
        _ => None,
    };
    let w = w.as_standard_layout();
    let dy = dy.as_standard_layout();
    let xs: &[T] = match &x {
        Some(x) => x.as_slice().ok_or_else(|| internal("conv: layout"))?,
        None => &[],
    };
    let ws = w.as_slice().ok_or_else(|| internal("conv: layout"))?;
    let dys = dy.as_slice().ok_or_else(|| internal("conv: layout"))?;
    let (p, l) = (g.win.p(), g.win.l());
    let (cig, cog, rows) = (g.cig(), g.cog(), g.rows());
    let (sample_in, sample_out) = (g.c_in * p, g.c_out * l);
    let mut dx = if need_x { vec![T::zero(); g.n * sample_in] } else { Vec::new() };
    let dx_stride = if need_x { sample_in } else { 0 };
    let work = g.work().saturating_mul(need_x as usize + need_w as usize);
    let parts = batch_parts(g.n, work, &mut dx, dx_stride, |samples, dx| {
        let mut dw = if need_w { vec![T::zero(); g.c_out * rows] } else { Vec::new() };
        let mut db = if need_b { vec![T::zero(); g.c_out] } else { Vec::new() };
        let col_rows = if (need_x || need_w) && !runs.identity { rows } else { 0 };
        let mut col = filled(OP, "column buffer", &[col_rows, l], T::zero())?;
        for (j, i) in samples.enumerate() {
            let xn = if need_w { &xs[i * sample_in..(i + 1) * sample_in] } else { &[] };
            let dyn_ = &dys[i * sample_out..(i + 1) * sample_out];
            if need_b {
                for (co, d) in db.iter_mut().enumerate() {
                    *d += sum8(&dyn_[co * l..(co + 1) * l]);
                }
            }
            for gi in 0..g.groups {
                let dyg = view2(&dyn_[gi * cog * l..(gi + 1) * cog * l], cog, l)?;
                if need_w {
                    let xg = &xn[gi * cig * p..(gi + 1) * cig * p];
                    let colv = if runs.identity {
                        view2(xg, rows, l)?
                    } else {
                        runs.im2col(xg, p, &mut col);
                        view2(&col, rows, l)?
                    };
                    let dwg = view2_mut(&mut dw[gi * cog * rows..(gi + 1) * cog * rows], cog, rows)?;
                    lux_core::gemm(T::one(), dyg, colv.t(), T::one(), dwg)?;
                }
                if need_x {
                    let wg = view2(&ws[gi * cog * rows..(gi + 1) * cog * rows], cog, rows)?;
                    let dxg = &mut dx[j * sample_in + gi * cig * p..j * sample_in + (gi + 1) * cig * p];
                    if runs.identity {
                        // dx is zero and each group's block is written once
                        lux_core::gemm(T::one(), wg.t(), dyg, T::zero(), view2_mut(dxg, rows, l)?)?;
                    } else {
                        lux_core::gemm(T::one(), wg.t(), dyg, T::zero(), view2_mut(&mut col, rows, l)?)?;
                        runs.col2im(&col, p, dxg);
                    }
                }
            }
        }
        Ok((dw, db))
    })?;
    let mut parts = parts.into_iter();
    let (mut dw, mut db) = parts.next().unwrap_or_default();
    for (pw, pb) in parts {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    let arr = |v: Vec<T>, shape: &[usize]| {
        ArcArray::from_shape_vec(IxDyn(shape), v).map_err(|_| internal("conv: gradient shape"))
    };
    let mut x_shape = vec![g.n, g.c_in];
    x_shape.extend(&g.win.in_sp);
    let mut w_shape = vec![g.c_out, cig];
    w_shape.extend(&g.win.k);
    Ok((
        if need_x { Some(arr(dx, &x_shape)?) } else { None },
        if need_w { Some(arr(dw, &w_shape)?) } else { None },
        if need_b { Some(arr(db, &[g.c_out])?) } else { None },
    ))
}

/// The composite definition of the convolution with primitive
/// differentiable ops, used for nested AD: flatten each input plane and
/// append one zero (the padding), gather every receptive field with
/// `index_select` over the tap table, and multiply by the kernel per group.
fn conv_composite(x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &ConvGeom, index: &Tensor) -> Result<Tensor> {
    let (n, p, l) = (g.n, g.win.p(), g.win.l());
    let (cog, rows) = (g.cog(), g.rows());
    let flat = x.reshape(&[n, g.c_in, p])?;
    let padded = Tensor::concat(&[flat, Tensor::zeros(&[n, g.c_in, 1], x.dtype())?], 2)?;
    let cols = padded.index_select(2, index)?.reshape(&[n, g.groups, rows, l])?;
    let wf = w.reshape(&[g.groups, cog, rows])?;
    let mut outs = Vec::with_capacity(g.groups);
    for gi in 0..g.groups {
        let colg = cols.narrow(1, gi, 1)?.reshape(&[n, rows, l])?;
        let wg = wf.narrow(0, gi, 1)?.reshape(&[cog, rows])?;
        outs.push(wg.matmul(&colg)?);
    }
    let mut y = if outs.len() == 1 { outs.remove(0) } else { Tensor::concat(&outs, 1)? };
    if let Some(b) = b {
        y = y.add(&b.reshape(&[1, g.c_out, 1])?)?;
    }
    y.reshape(&g.out_shape())
}

/// The recorded convolution: geometry and tap runs (flip included).
#[derive(Debug)]
struct ConvOp {
    geom: ConvGeom,
    runs: Runs,
    flip: bool,
    /// The options it was called with, for the tangent rule.
    opts: ConvOptions,
}

impl CustomOp for ConvOp {
    fn name(&self) -> &str {
        OP
    }

    fn backward(
        &self,
        grad: &Tensor,
        inputs: &[Tensor],
        _output: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let g = &self.geom;
        let dtype = inputs[0].dtype();
        let grad = if grad.dtype() == dtype { grad.clone() } else { grad.to_dtype(dtype)? };
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let needs3 = [need(0), need(1), inputs.len() > 2 && need(2)];
        let (x, w, dy) = (inputs[0].compute_data(OP)?, inputs[1].compute_data(OP)?, grad.compute_data(OP)?);
        let to = |a: Option<FloatData>| a.map(|a| a.into_tensor(dtype));
        let (dx, dw, db) = match (x, w, dy) {
            (FloatData::F32(x), FloatData::F32(w), FloatData::F32(dy)) => {
                let (a, b, c) = backward_kernel(g, &self.runs, Some(&x), &w, &dy, needs3)?;
                (to(a.map(FloatData::F32)), to(b.map(FloatData::F32)), to(c.map(FloatData::F32)))
            }
            (FloatData::F64(x), FloatData::F64(w), FloatData::F64(dy)) => {
                let (a, b, c) = backward_kernel(g, &self.runs, Some(&x), &w, &dy, needs3)?;
                (to(a.map(FloatData::F64)), to(b.map(FloatData::F64)), to(c.map(FloatData::F64)))
            }
            _ => return Err(internal("conv backward: operands of one dtype expected")),
        };
        let mut out = vec![dx, dw];
        if inputs.len() > 2 {
            out.push(db);
        }
        Ok(out)
    }

    /// Convolution is bilinear: `ẏ = conv(ẋ, w) + conv(x, ẇ) + ḃ`, with the
    /// fused kernel (itself differentiable, so this nests).
    fn tangent(&self, inputs: &[Tensor], output: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let tb = tangents.get(2).and_then(Option::as_ref);
        // The bias tangent rides along in the second conv when there is one.
        let mut out = match &tangents[0] {
            Some(tx) => Some(conv(tx, w, None, &self.opts)?),
            None => None,
        };
        let mut bias_done = false;
        if let Some(tw) = &tangents[1] {
            let part = conv(x, tw, tb, &self.opts)?;
            bias_done = true;
            out = Some(match out {
                Some(acc) => acc.add(&part)?,
                None => part,
            });
        }
        let out = out.unwrap_or_else(|| output.zeros_like());
        match tb {
            Some(tb) if !bias_done => {
                let mut shape = vec![1; output.ndim()];
                shape[1] = tb.len();
                out.add(&tb.reshape(&shape)?)
            }
            _ => Ok(out),
        }
    }

    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        let g = &self.geom;
        let index = Window::index_tensor(&g.win.table(self.flip), g.win.p())?;
        conv_composite(&inputs[0], &inputs[1], inputs.get(2), g, &index).map(Some)
    }
}
