//! The fused dense kernel `activation(x·Wᵀ + b)`, the hot path of every MLP.
//!
//! Forward: one GEMM straight into the output buffer, then **one** pass that
//! adds the bias and applies the activation in place. The pre-activation
//! values are kept only when a gradient is being taken *and* the
//! activation's derivative needs them (e.g. gelu, swish); for relu, tanh,
//! sigmoid, identity… the derivative is read off the output.
//!
//! Backward: one fused pass `dz = g ⊙ f'(z)` (none at all for the identity),
//! then `dx = dz·W`, `dW = dzᵀ·x` and `db = Σ_batch dz`, each only when that
//! input needs a gradient. When the saved values are themselves tracked (a
//! gradient of a gradient) the rule is the vector-Jacobian product of the
//! composite `activation(x.matmul(Wᵀ) + b)`.

use crate::Activation;
use crate::util::{filled, promote_floats};
use lux_core::{CustomOp, DType, FloatData, LuxError, Real, Result, Tensor, gemm_new};
use ndarray::{ArcArray, Array2, ArrayView2, Axis, Ix2, IxDyn};
use std::sync::Arc;

/// `activation(x·Wᵀ + b)`: the fused dense (fully connected) layer kernel.
///
/// `x` is `[..., in]` (any number of leading batch axes, or none), `w` is
/// `[out, in]` (Lux's `Dense` weight, same memory layout), `b` is `[out]`;
/// the result is `[..., out]`. Differentiable in `x`, `w` and `b` to any
/// order. Operands of different float dtypes are promoted; f16/bf16 compute
/// in f32 and round once.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::{Activation, dense::dense};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2])?;
/// let w = Tensor::from_vec(vec![1.0f32, 1.0, -1.0, -1.0], &[2, 2])?;
/// let b = Tensor::from_vec(vec![0.5f32, 0.5], &[2])?;
/// let y = dense(&x, &w, Some(&b), Activation::Relu)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![3.5, 0.0]); // relu([3.5, -2.5])
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// `w` is not 2-d, `x` is 0-d or its last axis differs from `w`'s second,
/// `b` is not `[out]`, an operand is not a float tensor, or the
/// activation's parameter is invalid (e.g. `Celu(0.0)`), or the output is
/// too large to allocate (e.g. `[2^20, 2^20]` from empty `[2^20, 0]`
/// operands). The message names the shapes, e.g. `input has 783 features but
/// the weight [256, 784] expects 784`.
pub fn dense(x: &Tensor, w: &Tensor, b: Option<&Tensor>, activation: Activation) -> Result<Tensor> {
    const OP: &str = "dense";
    activation.validate()?;
    if w.ndim() != 2 {
        return Err(LuxError::shape(OP, format!("the weight must be [out, in], got shape {:?}", w.shape())));
    }
    let (n_out, n_in) = (w.shape()[0], w.shape()[1]);
    let Some(&features) = x.shape().last() else {
        return Err(LuxError::shape(
            OP,
            format!(
                "the input is a 0-d tensor (a scalar); it needs a features axis [..., {n_in}] for the weight {:?}",
                w.shape()
            ),
        ));
    };
    if features != n_in {
        return Err(LuxError::shape(
            OP,
            format!(
                "input of shape {:?} has {features} features but the weight {:?} expects {n_in}",
                x.shape(),
                w.shape()
            ),
        ));
    }
    if let Some(b) = b {
        if b.shape() != [n_out] {
            return Err(LuxError::shape(
                OP,
                format!("the bias must have shape [{n_out}] for the weight {:?}, got {:?}", w.shape(), b.shape()),
            ));
        }
    }
    let mut operands = vec![x, w];
    operands.extend(b);
    let (dtype, cast) = promote_floats(OP, &operands)?;
    // Any leading axes are one batch axis for the kernel.
    let lead = &x.shape()[..x.ndim() - 1];
    let m: usize = lead.iter().product();
    // A 2-d input is used as it is, strided or not (the GEMM takes strides).
    let x2 = if x.ndim() == 2 { cast[0].clone() } else { cast[0].reshape(&[m, n_in])? };
    let y2 = dense_2d(&x2, &cast[1], cast.get(2), activation, dtype)?;
    let mut out_shape = lead.to_vec();
    out_shape.push(n_out);
    y2.reshape(&out_shape)
}

/// The kernel proper on `[m, in]` inputs of one float dtype.
fn dense_2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, act: Activation, dtype: DType) -> Result<Tensor> {
    let tracked = x.is_tracked() || w.is_tracked() || b.is_some_and(Tensor::is_tracked);
    let keep_pre = tracked && !act.derivative_from_output() && act != Activation::Identity;
    let xd = x.compute_data("dense")?;
    let wd = w.compute_data("dense")?;
    let bd = b.map(|b| b.compute_data("dense")).transpose()?;
    // The operands were promoted to one float dtype.
    let bias = bd.as_ref();
    let (y, pre) = match (xd, wd) {
        (FloatData::F32(x), FloatData::F32(w)) => {
            let (y, pre) = forward(&x, &w, bias.and_then(FloatData::array), act, keep_pre)?;
            (FloatData::F32(y), pre.map(FloatData::F32))
        }
        (FloatData::F64(x), FloatData::F64(w)) => {
            let (y, pre) = forward(&x, &w, bias.and_then(FloatData::array), act, keep_pre)?;
            (FloatData::F64(y), pre.map(FloatData::F64))
        }
        _ => unreachable!("operands were promoted to one float dtype"),
    };
    let op = DenseOp { activation: act, pre_activation: pre };
    let mut inputs = vec![x, w];
    inputs.extend(b);
    Tensor::from_custom_op(y.into_tensor(dtype), Arc::new(op), &inputs)
}

/// `y = f(x·Wᵀ + b)`; also returns `x·Wᵀ + b` when asked to keep it.
#[allow(clippy::type_complexity)]
fn forward<T: Real>(
    x: &ArcArray<T, IxDyn>,
    w: &ArcArray<T, IxDyn>,
    b: Option<&ArcArray<T, IxDyn>>,
    act: Activation,
    keep_pre: bool,
) -> Result<(ArcArray<T, IxDyn>, Option<ArcArray<T, IxDyn>>)> {
    let x = view2(x)?;
    let w = view2(w)?;
    let (m, n) = (x.nrows(), w.nrows());
    // [m, n] can be huge for empty operands (x [m, 0], w [n, 0]).
    let mut z = gemm_new("dense", "output", T::one(), x, w.t())?;
    // A contiguous bias (the usual case) is borrowed, not copied.
    let bias_std = b.map(|b| b.as_standard_layout());
    let zero_bias: Vec<T>;
    let bias: &[T] = match &bias_std {
        Some(b) => b.as_slice().expect("standard layout"),
        None => {
            zero_bias = vec![T::zero(); n];
            &zero_bias
        }
    };
    let zs = z.as_slice_mut().expect("fresh arrays are contiguous");
    let mut pre = None;
    if keep_pre {
        Activation::Identity.bias_forward_rows(zs, bias);
        let z = zs.to_vec();
        act.forward_slice(&z, zs);
        pre = Some(z);
    } else {
        act.bias_forward_rows(zs, bias);
    }
    let y = z.into_dyn().into_shared();
    let pre = pre.map(|p| ArcArray::from_shape_vec(IxDyn(&[m, n]), p).expect("same size"));
    Ok((y, pre))
}

fn view2<T: Real>(a: &ArcArray<T, IxDyn>) -> Result<ArrayView2<'_, T>> {
    a.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| LuxError::shape("dense", format!("expected 2-d, got {:?}", a.shape())))
}

/// The record of one `dense` application.
#[derive(Debug)]
struct DenseOp {
    activation: Activation,
    /// `x·Wᵀ + b`, kept only when the activation's derivative needs it.
    pre_activation: Option<FloatData>,
}

impl CustomOp for DenseOp {
    fn name(&self) -> &str {
        "dense"
    }

    fn backward(&self, g: &Tensor, inputs: &[Tensor], output: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let act = self.activation;
        let dtype = output.dtype();
        let gd = g.compute_data("dense backward")?;
        let yd = output.compute_data("dense backward")?;
        let xd = inputs[0].compute_data("dense backward")?;
        let wd = inputs[1].compute_data("dense backward")?;
        let has_bias = inputs.len() == 3;
        let pre = self.pre_activation.as_ref();
        let grads = match (gd, yd, xd, wd) {
            (FloatData::F32(g), FloatData::F32(y), FloatData::F32(x), FloatData::F32(w)) => {
                let pre = pre.and_then(FloatData::array);
                backward(act, &g, &y, pre, &x, &w, has_bias, needs)?.map(|a| a.map(FloatData::F32))
            }
            (FloatData::F64(g), FloatData::F64(y), FloatData::F64(x), FloatData::F64(w)) => {
                let pre = pre.and_then(FloatData::array);
                backward(act, &g, &y, pre, &x, &w, has_bias, needs)?.map(|a| a.map(FloatData::F64))
            }
            _ => return Err(LuxError::Unsupported("dense backward: mixed dtypes".into())),
        };
        Ok(grads.into_iter().take(inputs.len()).map(|d| d.map(|d| d.into_tensor(dtype))).collect())
    }

    /// `ż = ẋ·Wᵀ + x·Ẇᵀ + ḃ` with the dense kernel itself (so it stays fast
    /// and differentiable), then `ẏ = f'(z) ⊙ ż` with the fused activation
    /// kernel when nothing is tracked, else through the composite.
    fn tangent(&self, inputs: &[Tensor], output: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let mut zdot: Option<Tensor> = None;
        let mut add = |t: Tensor| -> Result<()> {
            zdot = Some(match zdot.take() {
                Some(acc) => acc.add(&t)?,
                None => t,
            });
            Ok(())
        };
        if let Some(tx) = &tangents[0] {
            add(dense(tx, w, None, Activation::Identity)?)?;
        }
        let tb = tangents.get(2).and_then(Option::as_ref);
        match &tangents[1] {
            Some(tw) => add(dense(x, tw, tb, Activation::Identity)?)?,
            None => {
                if let Some(tb) = tb {
                    add(tb.broadcast_to(output.shape())?)?;
                }
            }
        }
        let zdot = zdot.unwrap_or_else(|| output.zeros_like());
        let act = self.activation;
        if act == Activation::Identity {
            return Ok(zdot);
        }
        let plain = !zdot.is_tracked() && !output.is_tracked() && inputs.iter().all(|t| !t.is_tracked());
        let pre = match &self.pre_activation {
            Some(p) => Some(p.clone().into_tensor(output.dtype())),
            None if act.derivative_from_output() => None,
            None => return lux_core::forward::composite_tangent(self, inputs, tangents),
        };
        if plain {
            crate::activation::times_derivative(act, &zdot, pre.as_ref().unwrap_or(output), output)
        } else {
            lux_core::forward::composite_tangent(self, inputs, tangents)
        }
    }

    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        let z = inputs[0].matmul(&inputs[1].transpose(0, 1)?)?;
        let z = if inputs.len() == 3 { z.add(&inputs[2])? } else { z };
        self.activation.composite(&z).map(Some)
    }
}

/// A zeroed `rows × cols` buffer from [`filled`], so that the buffer pool
/// serves it (as [`gemm_new`] does for the products' outputs) instead of
/// a fresh allocation faulted in every step.
fn zeros2<T: Real>(what: &str, (rows, cols): (usize, usize)) -> Result<Array2<T>> {
    let v = filled("dense", what, &[rows, cols], T::zero())?;
    Array2::from_shape_vec((rows, cols), v).map_err(|_| LuxError::Unsupported(format!("dense: {what} shape")))
}

/// `[dx, dW, db]` for `y = f(x·Wᵀ + b)`, each computed only when needed.
#[allow(clippy::type_complexity)]
fn backward<T: Real>(
    act: Activation,
    g: &ArcArray<T, IxDyn>,
    y: &ArcArray<T, IxDyn>,
    pre: Option<&ArcArray<T, IxDyn>>,
    x: &ArcArray<T, IxDyn>,
    w: &ArcArray<T, IxDyn>,
    has_bias: bool,
    needs: &[bool],
) -> Result<[Option<ArcArray<T, IxDyn>>; 3]> {
    let g2 = view2(g)?;
    let x2 = view2(x)?;
    let w2 = view2(w)?;
    // dz = g ⊙ f'(z) in one pass; for the identity it is g itself.
    let dz_owned;
    let dz = if act == Activation::Identity {
        g2
    } else {
        let (gs, ys) = (g.as_standard_layout(), y.as_standard_layout());
        let (gs, ys) = (gs.as_slice().expect("standard layout"), ys.as_slice().expect("standard layout"));
        let mut dz = zeros2("dz", g2.dim())?;
        let out = dz.as_slice_mut().expect("fresh arrays are contiguous");
        match pre {
            Some(z) => act.backward_slice(gs, z.as_slice().expect("kept contiguous"), ys, out),
            None => act.backward_slice(gs, &[], ys, out),
        }
        dz_owned = dz;
        dz_owned.view()
    };
    let dx = if needs[0] {
        Some(gemm_new("dense", "input gradient", T::one(), dz, w2)?.into_dyn().into_shared())
    } else {
        None
    };
    let dw = if needs[1] {
        Some(gemm_new("dense", "weight gradient", T::one(), dz.t(), x2)?.into_dyn().into_shared())
    } else {
        None
    };
    let db = if has_bias && needs[2] { Some(dz.sum_axis(Axis(0)).into_dyn().into_shared()) } else { None };
    Ok([dx, dw, db])
}
