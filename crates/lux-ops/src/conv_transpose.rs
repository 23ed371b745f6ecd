//! Transposed convolution: the adjoint of [`conv`](fn@crate::conv) with
//! respect to its input (NNlib's `∇conv_data`, what Lux's `ConvTranspose`
//! computes).
//!
//! Layout: `x` is `[N, C_in, spatial…]` and the kernel `w` is
//! `[C_in, C_out / groups, k…]` (PyTorch's `ConvTranspose` layout, the same
//! memory as Lux's `(k…, C_out ÷ groups, C_in)` seen transposed); the bias is
//! `[C_out]`. `w` is the kernel of the *forward* convolution that maps
//! `C_out` channels to `C_in` channels, and `conv_transpose(x, w)` is the
//! vector-Jacobian product of that convolution with respect to its input,
//! evaluated at the cotangent `x`. So for every `a` of the output's shape,
//! `⟨conv(a, w), x⟩ = ⟨a, conv_transpose(x, w)⟩`.
//!
//! Output size per spatial dim (Lux's `conv_transpose_dims`):
//! `out = (in − 1)·stride + 1 + dilation·(k − 1) − pad_before − pad_after + output_padding`.
//! [`Padding::Same`] is Lux's `ConvTranspose` reading of `SamePad()`: the
//! padding of a `k − stride + 1` kernel (`dilation·(k − stride)` in total, the
//! odd element before), which makes `out = in · stride` at dilation 1.
//!
//! **Implementation.** The forward pass is the backward-data kernel of
//! [`conv`](fn@crate::conv) (`wᵀ · x` per group, then col2im); its backward
//! pass is a convolution (`∂x = conv(∂y, w)`) and the kernel gradient of
//! that convolution (`∂w`), fused in one custom op. When the backward pass
//! is itself differentiated (nested AD), the composite definition below
//! (a per-group `matmul` and an `index_add` scatter over the tap table) is
//! differentiated instead.

use crate::conv::{ConvGeom, ConvOptions, Padding, Runs, Window, backward_kernel, forward_kernel, internal, per_dim};
use crate::util::promote_floats;
use lux_core::{CustomOp, FloatData, LuxError, Result, Tensor};
use std::sync::Arc;

const OP: &str = "conv_transpose";

/// The geometry of a transposed convolution: that of the forward
/// convolution from the output (`C_out` channels) to the input.
fn resolve(x: &[usize], w: &[usize], b: Option<&[usize]>, opts: &ConvOptions, outpad: &[usize]) -> Result<ConvGeom> {
    if x.len() < 3 {
        return Err(LuxError::shape(
            OP,
            format!("x must be [N, C_in, spatial...] with at least one spatial dim, got shape {x:?}"),
        ));
    }
    if w.len() != x.len() {
        return Err(LuxError::shape(
            OP,
            format!("w {w:?} must be [C_in, C_out/groups, kernel...] with the rank of x {x:?} ({} dims)", x.len()),
        ));
    }
    let g = opts.groups;
    if g == 0 {
        return Err(LuxError::invalid_argument(OP, "groups must be positive, got 0"));
    }
    if x[1] != w[0] {
        return Err(LuxError::shape(OP, format!("x {x:?} has {} channels but w {w:?} expects {}", x[1], w[0])));
    }
    if w[0] % g != 0 {
        return Err(LuxError::shape(OP, format!("x {x:?} has {} channels, not divisible by groups={g}", w[0])));
    }
    let c_out = w[1].saturating_mul(g);
    if let Some(b) = b {
        if b != [c_out] {
            return Err(LuxError::shape(
                OP,
                format!("bias has shape {b:?} but w {w:?} gives {c_out} output channels (expected [{c_out}])"),
            ));
        }
    }
    let d = x.len() - 2;
    let k = &w[2..];
    if k.contains(&0) {
        return Err(LuxError::invalid_argument(OP, format!("kernel size {k:?} has a zero entry")));
    }
    let stride = per_dim(OP, "stride", &opts.stride, d, 1)?;
    let dilation = per_dim(OP, "dilation", &opts.dilation, d, 1)?;
    if stride.contains(&0) || dilation.contains(&0) {
        return Err(LuxError::invalid_argument(
            OP,
            format!("stride {stride:?} and dilation {dilation:?} must be positive"),
        ));
    }
    let outpad = per_dim(OP, "output padding", outpad, d, 0)?;
    let pad = match &opts.padding {
        Padding::Explicit(p) => per_dim(OP, "padding", p, d, (0, 0))?,
        Padding::Same => {
            if k.iter().zip(&stride).any(|(k, s)| k < s) {
                return Err(LuxError::invalid_argument(
                    OP,
                    format!(
                        "Same padding needs a kernel at least as large as the stride, got kernel {k:?} and stride {stride:?}"
                    ),
                ));
            }
            let total = |i: usize| dilation[i].saturating_mul(k[i] - stride[i]);
            (0..d).map(|i| (total(i).div_ceil(2), total(i) / 2)).collect()
        }
    };
    let mut out_sp = Vec::with_capacity(d);
    for i in 0..d {
        let full = (x[2 + i].saturating_sub(1))
            .saturating_mul(stride[i])
            .saturating_add(1)
            .saturating_add(dilation[i].saturating_mul(k[i] - 1))
            .saturating_add(outpad[i]);
        let cut = pad[i].0.saturating_add(pad[i].1);
        if x[2 + i] == 0 || full <= cut {
            return Err(LuxError::shape(
                OP,
                format!(
                    "input {x:?} with kernel {k:?}, stride {stride:?}, dilation {dilation:?} and padding {pad:?} gives an empty output"
                ),
            ));
        }
        out_sp.push(full - cut);
    }
    let mut a_shape = vec![x[0], c_out];
    a_shape.extend(&out_sp);
    let conv_opts = ConvOptions {
        stride: stride.clone(),
        padding: Padding::Explicit(pad.clone()),
        dilation,
        groups: g,
        flip_kernel: opts.flip_kernel,
    };
    let geom = ConvGeom::resolve(&a_shape, w, None, &conv_opts).map_err(|e| match e {
        LuxError::Shape { msg, .. } => LuxError::shape(OP, msg),
        other => other,
    })?;
    if geom.win.out_sp != x[2..] {
        return Err(LuxError::invalid_argument(
            OP,
            format!("output padding {outpad:?} must be smaller than the stride {stride:?}"),
        ));
    }
    lux_core::buffer_len::<f32>(OP, "output", &a_shape)?;
    Ok(geom)
}

/// Transposed convolution of `x: [N, C_in, spatial…]` with
/// `w: [C_in, C_out/groups, k…]`, plus an optional bias `b: [C_out]`; the
/// output is `[N, C_out, out…]` with
/// `out = (in − 1)·stride + 1 + dilation·(k − 1) − pad_before − pad_after + output_padding`
/// (see the [module docs](self)). `output_padding` (one value or one per
/// spatial dim; empty = 0) only lengthens the output and must be smaller
/// than the stride. `opts` are those of the forward convolution;
/// [`ConvOptions::flip_kernel`]`(true)` is Lux's default
/// (`cross_correlation = false`). Differentiable in `x`, `w` and `b`, to
/// any order.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::{conv::ConvOptions, conv_transpose};
/// // 1-d: each input value stamps the kernel [1, 10] at stride 2
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 1, 3])?;
/// let w = Tensor::from_vec(vec![1.0f32, 10.0], &[1, 1, 2])?;
/// let y = conv_transpose(&x, &w, None, &ConvOptions::new().stride(&[2]), &[])?;
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
/// // stride 1: overlapping stamps add up; the flipped kernel stamps [10, 1]
/// let y = conv_transpose(&x, &w, None, &ConvOptions::new().flip_kernel(true), &[])?;
/// assert_eq!(y.to_vec::<f32>()?, vec![10.0, 21.0, 32.0, 3.0]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// A shape error naming the shapes when `x` is not `[N, C_in, spatial…]`,
/// `w`'s rank differs, `x`'s channels are not `w`'s first dim, `C_in` is
/// not divisible by `groups`, the bias is not `[C_out]`, or the output
/// would be empty; an invalid-argument error for a zero stride, dilation,
/// group count or kernel size, an option list of the wrong length, `Same`
/// padding with a kernel smaller than the stride, or an output padding not
/// smaller than the stride; a dtype error for non-float operands.
pub fn conv_transpose(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    opts: &ConvOptions,
    output_padding: &[usize],
) -> Result<Tensor> {
    let geom = resolve(x.shape(), w.shape(), b.map(Tensor::shape), opts, output_padding)?;
    let mut operands = vec![x, w];
    operands.extend(b);
    let (dtype, cast) = promote_floats(OP, &operands)?;
    let runs = Runs::new(&geom.win, opts.flip_kernel);
    let values = match (cast[0].compute_data(OP)?, cast[1].compute_data(OP)?) {
        (FloatData::F32(x), FloatData::F32(w)) => {
            FloatData::F32(backward_kernel(&geom, &runs, None, &w, &x, [true, false, false])?.0.ok_or_else(missing)?)
        }
        (FloatData::F64(x), FloatData::F64(w)) => {
            FloatData::F64(backward_kernel(&geom, &runs, None, &w, &x, [true, false, false])?.0.ok_or_else(missing)?)
        }
        _ => return Err(internal("conv_transpose: operands of one dtype expected")),
    };
    let c_out = geom.c_in;
    let node = ConvTransposeOp {
        geom,
        runs,
        flip: opts.flip_kernel,
        opts: opts.clone(),
        output_padding: output_padding.to_vec(),
    };
    let y = Tensor::from_custom_op(values.into_tensor(dtype), Arc::new(node), &[&cast[0], &cast[1]])?;
    match cast.get(2) {
        None => Ok(y),
        Some(b) => {
            let mut shape = vec![1; y.ndim()];
            shape[1] = c_out;
            y.add(&b.reshape(&shape)?)
        }
    }
}

fn missing() -> LuxError {
    internal("conv_transpose: missing gradient")
}

/// The recorded transposed convolution: the forward convolution's geometry.
#[derive(Debug)]
struct ConvTransposeOp {
    geom: ConvGeom,
    runs: Runs,
    flip: bool,
    /// The options and output padding it was called with, for the tangent.
    opts: ConvOptions,
    output_padding: Vec<usize>,
}

impl CustomOp for ConvTransposeOp {
    fn name(&self) -> &str {
        OP
    }

    fn backward(&self, grad: &Tensor, inputs: &[Tensor], _: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let g = &self.geom;
        let dtype = inputs[0].dtype();
        let grad = if grad.dtype() == dtype { grad.clone() } else { grad.to_dtype(dtype)? };
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let (x, w, dy) = (inputs[0].compute_data(OP)?, inputs[1].compute_data(OP)?, grad.compute_data(OP)?);
        macro_rules! grads {
            ($v:ident, $x:expr, $w:expr, $dy:expr) => {{
                let dx =
                    if need(0) { Some(FloatData::$v(forward_kernel(g, &self.runs, &$dy, &$w, None)?)) } else { None };
                let dw = if need(1) {
                    let (_, dw, _) = backward_kernel(g, &self.runs, Some(&$dy), &$w, &$x, [false, true, false])?;
                    Some(FloatData::$v(dw.ok_or_else(missing)?))
                } else {
                    None
                };
                (dx, dw)
            }};
        }
        let (dx, dw) = match (x, w, dy) {
            (FloatData::F32(x), FloatData::F32(w), FloatData::F32(dy)) => grads!(F32, x, w, dy),
            (FloatData::F64(x), FloatData::F64(w), FloatData::F64(dy)) => grads!(F64, x, w, dy),
            _ => return Err(internal("conv_transpose backward: operands of one dtype expected")),
        };
        Ok(vec![dx.map(|d| d.into_tensor(dtype)), dw.map(|d| d.into_tensor(dtype))])
    }

    /// Bilinear in `(x, w)`: `ẏ = convᵀ(ẋ, w) + convᵀ(x, ẇ)`, with the fused
    /// kernel (itself differentiable).
    fn tangent(&self, inputs: &[Tensor], output: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let (opts, pad) = (&self.opts, &self.output_padding);
        match (&tangents[0], &tangents[1]) {
            (Some(tx), Some(tw)) => {
                conv_transpose(tx, w, None, opts, pad)?.add(&conv_transpose(x, tw, None, opts, pad)?)
            }
            (Some(tx), None) => conv_transpose(tx, w, None, opts, pad),
            (None, Some(tw)) => conv_transpose(x, tw, None, opts, pad),
            (None, None) => Ok(output.zeros_like()),
        }
    }

    /// Per group, the columns `wᵀ · x` (`[N, C_out/groups · Πk, Π in]`),
    /// scattered into the flattened output planes (one extra element for
    /// the padding taps, dropped afterwards) with `index_add` over the tap
    /// table.
    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        let g = &self.geom;
        let (x, w) = (&inputs[0], &inputs[1]);
        let (n, p, l, kk) = (g.n, g.win.p(), g.win.l(), g.win.kk());
        let (cog, rows) = (g.cog(), g.rows());
        let xf = x.reshape(&[n, g.groups, cog, l])?;
        let wf = w.reshape(&[g.groups, cog, rows])?;
        let mut cols = Vec::with_capacity(g.groups);
        for gi in 0..g.groups {
            let wg = wf.narrow(0, gi, 1)?.reshape(&[cog, rows])?;
            let xg = xf.narrow(1, gi, 1)?.reshape(&[n, cog, l])?;
            cols.push(wg.transpose(0, 1)?.matmul(&xg)?);
        }
        let cols = if cols.len() == 1 { cols.remove(0) } else { Tensor::concat(&cols, 1)? };
        let cols = cols.reshape(&[n, g.c_in, kk * l])?;
        let index = Window::index_tensor(&g.win.table(self.flip), p)?;
        let acc = Tensor::zeros(&[n, g.c_in, p + 1], x.dtype())?.index_add(2, &index, &cols)?;
        let mut shape = vec![n, g.c_in];
        shape.extend(&g.win.in_sp);
        acc.narrow(2, 0, p)?.reshape(&shape).map(Some)
    }
}
