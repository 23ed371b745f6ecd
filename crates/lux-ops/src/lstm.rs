//! The LSTM cell update as one fused op.
//!
//! Written with elementwise ops, one LSTM step is four gate slices, three
//! sigmoids and two tanhs (each copying its non-contiguous slice), three
//! products and a sum: a dozen small ops per time step, each with its own
//! output buffer and record. Here the whole update is one pass over the
//! stacked gates, its backward one more (the gate values are recomputed
//! from the inputs rather than stored), and the composite form stays for
//! nested AD and forward mode. The scalar kernels are the activations'
//! own, in the same order, so the values equal the elementwise form's.

use crate::util::check_float;
use lux_core::{CustomOp, FloatData, LuxError, Real, Result, Tensor};
use ndarray::{ArcArray, IxDyn};
use std::sync::Arc;

const OP: &str = "lstm_cell";

/// One LSTM update from the stacked gate pre-activations and the previous
/// cell state: with `gates = [a_i, a_f, a_g, a_o]` along the last axis
/// (Lux's order; `[…, 4h]`) and `c` of shape `[…, h]`,
/// `c' = σ(a_f)·c + σ(a_i)·tanh(a_g)` and `h' = σ(a_o)·tanh(c')`; returns
/// `(h', c')`. Differentiable to any order, in both modes.
///
/// ```
/// use lux_core::Tensor;
/// use lux_ops::lstm_cell;
/// // h = 1: all gate pre-activations 0, so σ = ½ and tanh(a_g) = 0.
/// let gates = Tensor::zeros(&[1, 4], lux_core::DType::F64)?;
/// let c = Tensor::from_vec(vec![2.0f64], &[1, 1])?;
/// let (h, c2) = lstm_cell(&gates, &c)?;
/// assert_eq!(c2.to_vec::<f64>()?, vec![1.0]); // ½·2 + ½·0
/// assert_eq!(h.to_vec::<f64>()?, vec![0.5 * 1.0f64.tanh()]);
/// # Ok::<(), lux_core::LuxError>(())
/// ```
///
/// # Errors
/// Either input is not a float tensor, their dtypes differ, or the shapes
/// do not match `[…, 4h]` and `[…, h]`.
pub fn lstm_cell(gates: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor)> {
    check_float(OP, gates)?;
    check_float(OP, c)?;
    let h = check_shapes(gates, c)?;
    if gates.dtype() != c.dtype() {
        return Err(LuxError::invalid_argument(
            OP,
            format!("the gates ({}) and the cell state ({}) must have one dtype", gates.dtype(), c.dtype()),
        ));
    }
    let mut shape = c.shape().to_vec();
    *shape.last_mut().expect("at least one axis") *= 2;
    let out = match (gates.compute_data(OP)?, c.compute_data(OP)?) {
        (FloatData::F32(a), FloatData::F32(s)) => FloatData::F32(forward_kernel(&a, &s, h, &shape)?),
        (FloatData::F64(a), FloatData::F64(s)) => FloatData::F64(forward_kernel(&a, &s, h, &shape)?),
        _ => unreachable!("one dtype computes in one precision"),
    };
    let both = Tensor::from_custom_op(out.into_tensor(gates.dtype()), Arc::new(LstmCellOp { h }), &[gates, c])?;
    Ok((both.narrow(-1, 0, h)?, both.narrow(-1, h, h)?))
}

/// `h` from `gates: […, 4h]` and `c: […, h]`.
fn check_shapes(gates: &Tensor, c: &Tensor) -> Result<usize> {
    let (gs, cs) = (gates.shape(), c.shape());
    let ok = !gs.is_empty()
        && gs.len() == cs.len()
        && gs[..gs.len() - 1] == cs[..cs.len() - 1]
        && gs[gs.len() - 1] == 4 * cs[cs.len() - 1];
    if !ok {
        return Err(LuxError::shape(
            OP,
            format!("expects gates [..., 4h] and a cell state [..., h], got {gs:?} and {cs:?}"),
        ));
    }
    Ok(cs[cs.len() - 1])
}

/// The gate values in gate-major order: `[σ(a_i) | σ(a_f) | tanh(a_g) |
/// σ(a_o)]`, each block `rows·h` long, so the loops over them are long and
/// vectorise (a row's blocks are only `h` wide).
fn gate_values<T: Real>(a: &[T], h: usize) -> Result<Vec<T>> {
    let n = a.len() / 4;
    let mut v = lux_core::alloc_buffer::<T>(OP, "gate values", &[a.len()])?;
    v.resize(a.len(), T::zero());
    for (r, row) in a.chunks(4 * h).enumerate() {
        for k in 0..4 {
            v[k * n + r * h..k * n + (r + 1) * h].copy_from_slice(&row[k * h..(k + 1) * h]);
        }
    }
    let (ifg, o) = v.split_at_mut(3 * n);
    let (if_, g) = ifg.split_at_mut(2 * n);
    sigmoid_in_place(if_);
    tanh_in_place(g);
    sigmoid_in_place(o);
    Ok(v)
}

lux_core::with_simd! {
    fn sigmoid_in_place<T: Real>(x: &mut [T]) {
        for v in x.iter_mut() {
            *v = v.sigmoid_k();
        }
    }
}

lux_core::with_simd! {
    fn tanh_in_place<T: Real>(x: &mut [T]) {
        for v in x.iter_mut() {
            *v = v.tanh_k();
        }
    }
}

lux_core::with_simd! {
    /// `cn = f·c + i·g` and `hn = o·tanh(cn)`, all gate-major.
    fn combine<T: Real>(v: &[T], c: &[T], cn: &mut [T], hn: &mut [T]) {
        let n = c.len();
        let (i, f, g, o) = (&v[..n], &v[n..2 * n], &v[2 * n..3 * n], &v[3 * n..]);
        for k in 0..n {
            cn[k] = f[k] * c[k] + i[k] * g[k];
        }
        for k in 0..n {
            hn[k] = o[k] * cn[k].tanh_k();
        }
    }
}

/// `shape = […, 2h]`: `h'` then `c'` along the last axis.
fn forward_kernel<T: Real>(
    a: &ArcArray<T, IxDyn>,
    s: &ArcArray<T, IxDyn>,
    h: usize,
    shape: &[usize],
) -> Result<ArcArray<T, IxDyn>> {
    let (a, s) = (a.as_standard_layout(), s.as_standard_layout());
    let (a, s) = (a.as_slice().expect("standard layout"), s.as_slice().expect("standard layout"));
    let mut out = lux_core::alloc_buffer::<T>(OP, "output", shape)?;
    out.resize(2 * s.len(), T::zero());
    if h > 0 {
        let v = gate_values(a, h)?;
        let mut hc = lux_core::alloc_buffer::<T>(OP, "new state", &[2 * s.len()])?;
        hc.resize(2 * s.len(), T::zero());
        let (hn, cn) = hc.split_at_mut(s.len());
        combine(&v, s, cn, hn);
        for ((o, hr), cr) in out.chunks_mut(2 * h).zip(hn.chunks(h)).zip(cn.chunks(h)) {
            o[..h].copy_from_slice(hr);
            o[h..].copy_from_slice(cr);
        }
    }
    Ok(ArcArray::from_shape_vec(IxDyn(shape), out).expect("the shape holds the buffer").into_shared())
}

#[derive(Debug)]
struct LstmCellOp {
    h: usize,
}

impl CustomOp for LstmCellOp {
    fn name(&self) -> &str {
        OP
    }

    /// With `t = tanh(c')` and the output cotangents `ḡ_h`, `ḡ_c`:
    /// `ḡ = ḡ_c + ḡ_h·o·(1 − t²)`, then `ā_i = ḡ·g·i(1−i)`,
    /// `ā_f = ḡ·c·f(1−f)`, `ā_g = ḡ·i·(1−g²)`, `ā_o = ḡ_h·t·o(1−o)` and
    /// `c̄ = ḡ·f`.
    fn backward(&self, grad: &Tensor, inputs: &[Tensor], output: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (gates, c) = (&inputs[0], &inputs[1]);
        let h = self.h;
        let dtype = gates.dtype();
        let data = (gates.compute_data(OP)?, c.compute_data(OP)?, grad.compute_data(OP)?, output.compute_data(OP)?);
        let (da, dc) = match data {
            (FloatData::F32(a), FloatData::F32(s), FloatData::F32(g), FloatData::F32(y)) => {
                let (da, dc) = backward_kernel(&a, &s, &g, &y, h)?;
                (FloatData::F32(da), FloatData::F32(dc))
            }
            (FloatData::F64(a), FloatData::F64(s), FloatData::F64(g), FloatData::F64(y)) => {
                let (da, dc) = backward_kernel(&a, &s, &g, &y, h)?;
                (FloatData::F64(da), FloatData::F64(dc))
            }
            _ => unreachable!("one dtype computes in one precision"),
        };
        let da = da.into_tensor(dtype).reshape(gates.shape())?;
        let dc = dc.into_tensor(dtype).reshape(c.shape())?;
        Ok(vec![Some(da), Some(dc)])
    }

    fn tangent(&self, inputs: &[Tensor], _: &Tensor, tangents: &[Option<Tensor>]) -> Result<Tensor> {
        lux_core::forward::composite_tangent(self, inputs, tangents)
    }

    fn composite(&self, inputs: &[Tensor]) -> Result<Option<Tensor>> {
        let (gates, c) = (&inputs[0], &inputs[1]);
        let g = crate::lux_ops::multigate(gates, 4)?;
        let (sigmoid, tanh) = (crate::activation::sigmoid, crate::activation::tanh);
        let cn = sigmoid(&g[1])?.mul(c)?.add(&sigmoid(&g[0])?.mul(&tanh(&g[2])?)?)?;
        let hn = sigmoid(&g[3])?.mul(&tanh(&cn)?)?;
        Tensor::concat(&[hn, cn], -1).map(Some)
    }
}

type Pair<T> = (ArcArray<T, IxDyn>, ArcArray<T, IxDyn>);

lux_core::with_simd! {
    /// Overwrites the gate-major gate values `v` with the gates' cotangents
    /// and fills `dc`, given the cotangents `gh`, `gc` and the new cell
    /// state `cn`, all gate-major.
    fn backward_gate_major<T: Real>(c: &[T], gh: &[T], gc: &[T], cn: &[T], v: &mut [T], dc: &mut [T]) {
        let one = T::one();
        let n = c.len();
        let (i, rest) = v.split_at_mut(n);
        let (f, rest) = rest.split_at_mut(n);
        let (g, o) = rest.split_at_mut(n);
        for k in 0..n {
            let t = cn[k].tanh_k();
            let gt = gc[k] + gh[k] * o[k] * (one - t * t);
            let (ik, fk, gk, ok) = (i[k], f[k], g[k], o[k]);
            i[k] = gt * gk * (ik * (one - ik));
            f[k] = gt * c[k] * (fk * (one - fk));
            g[k] = gt * ik * (one - gk * gk);
            o[k] = gh[k] * t * (ok * (one - ok));
            dc[k] = gt * fk;
        }
    }
}

fn backward_kernel<T: Real>(
    a: &ArcArray<T, IxDyn>,
    s: &ArcArray<T, IxDyn>,
    g: &ArcArray<T, IxDyn>,
    y: &ArcArray<T, IxDyn>,
    h: usize,
) -> Result<Pair<T>> {
    let (a, s, g, y) = (a.as_standard_layout(), s.as_standard_layout(), g.as_standard_layout(), y.as_standard_layout());
    let [a, s, g, y] = [&a, &s, &g, &y].map(|v| v.as_slice().expect("standard layout"));
    let mut da = lux_core::alloc_buffer::<T>(OP, "gate gradient", &[a.len()])?;
    da.resize(a.len(), T::zero());
    let mut dc = lux_core::alloc_buffer::<T>(OP, "cell gradient", &[s.len()])?;
    dc.resize(s.len(), T::zero());
    if h > 0 {
        // The gate values again (cheaper than keeping them), gate-major.
        let mut v = gate_values(a, h)?;
        let n = s.len();
        let mut split = lux_core::alloc_buffer::<T>(OP, "cotangents", &[3 * n])?;
        split.resize(3 * n, T::zero());
        let (gh, rest) = split.split_at_mut(n);
        let (gc, cn) = rest.split_at_mut(n);
        for (r, (gr, yr)) in g.chunks(2 * h).zip(y.chunks(2 * h)).enumerate() {
            gh[r * h..(r + 1) * h].copy_from_slice(&gr[..h]);
            gc[r * h..(r + 1) * h].copy_from_slice(&gr[h..]);
            cn[r * h..(r + 1) * h].copy_from_slice(&yr[h..]);
        }
        backward_gate_major(s, gh, gc, cn, &mut v, &mut dc);
        for (r, row) in da.chunks_mut(4 * h).enumerate() {
            for k in 0..4 {
                row[k * h..(k + 1) * h].copy_from_slice(&v[k * n + r * h..k * n + (r + 1) * h]);
            }
        }
    }
    let da = ArcArray::from_shape_vec(IxDyn(&[a.len()]), da).expect("one axis").into_shared();
    let dc = ArcArray::from_shape_vec(IxDyn(&[s.len()]), dc).expect("one axis").into_shared();
    Ok((da, dc))
}
