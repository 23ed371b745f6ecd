//! # lux-ops
//!
//! Neural-network operations on [`lux_core::Tensor`], each differentiable,
//! with fused forward kernels and hand-written backward rules where that
//! pays, and Lux's `LuxOps` helpers.
//!
//! | module | ops |
//! |---|---|
//! | [`activation`] | [`Activation`] and relu, relu6, leakyrelu, elu, gelu (tanh and erf), sigmoid, hardsigmoid, logsigmoid, tanh, hardtanh, softplus, softsign, swish, mish, selu, celu |
//! | [`softmax`](mod@softmax) | softmax, logsoftmax, logsumexp along any axis |
//! | [`dense`](mod@dense) | the fused `activation(x·Wᵀ + b)` kernel |
//! | [`conv`](mod@conv) | N-d convolution (stride, padding, dilation, groups) |
//! | [`conv_transpose`](mod@conv_transpose) | transposed convolution (the adjoint of `conv` in its input) |
//! | [`pool`] | max/mean/Lp pooling, global and adaptive pooling |
//! | [`upsample`] | nearest and (bi/tri)linear upsampling, pixel shuffle |
//! | [`norm`] | batch, layer, group and instance normalisation |
//! | [`dropout`](mod@dropout) | dropout and alpha-dropout with an explicit rng |
//! | [`embedding`](mod@embedding) | embedding lookup, one-hot |
//! | [`lux_ops`] | `eachslice`, `foldl_init`, `getproperty`, `xlogx`, `xlogy`, `istraining`, `multigate` |
//!
//! Every op is also re-exported at the crate root (`lux_ops::softmax`,
//! `lux_ops::dense`, …).
//!
//! ```
//! use lux_core::Tensor;
//! let logits = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 3])?;
//! let p = lux_ops::softmax(&lux_ops::relu(&logits)?, -1)?;
//! let total: f32 = p.to_vec::<f32>()?.iter().sum();
//! assert!((total - 1.0).abs() < 1e-6);
//! # Ok::<(), lux_core::LuxError>(())
//! ```
//!
//! Conventions (see `docs/conventions.md` in the repository): batch first (`[batch, features]`, NCHW
//! images, `[batch, time, features]` sequences); every `axis` is signed,
//! `-1` = last. Bad input is an `Err` naming the op and the shapes.
//!
//! **How fused ops stay differentiable to any order:** each op is a
//! [`lux_core::CustomOp`] with a fast backward kernel, used for first-order
//! gradients, and a composite definition with primitive ops
//! ([`CustomOp::composite`](lux_core::CustomOp::composite)), which the
//! autodiff engine differentiates instead when the backward pass is itself
//! differentiated (a gradient inside a gradient).
#![doc(test(attr(deny(warnings))))]

pub mod activation;
pub mod conv;
pub mod conv_transpose;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod lstm;
pub mod lux_ops;
pub mod norm;
pub mod pool;
pub mod softmax;
pub mod upsample;
mod util;
mod window;

pub use activation::{
    Activation, celu, elu, gelu, gelu_erf, hardsigmoid, hardtanh, leakyrelu, logsigmoid, mish, relu, relu6, selu,
    sigmoid, silu, softplus, softsign, swish, tanh,
};
pub use conv::{ConvOptions, Padding, conv};
pub use conv_transpose::conv_transpose;
pub use dense::dense;
pub use dropout::{alpha_dropout, dropout, dropout_dims, dropout_mask};
pub use embedding::{embedding, one_hot};
pub use lstm::lstm_cell;
pub use lux_ops::{eachslice, foldl_init, getproperty, istraining, multigate, xlogx, xlogy};
pub use norm::{
    NormOptions, RunningStats, batch_norm, group_norm, instance_norm, instance_norm_with_stats, layer_norm,
};
pub use pool::{
    PoolOptions, adaptive_lp_pool, adaptive_max_pool, adaptive_mean_pool, global_lp_pool, global_max_pool,
    global_mean_pool, lp_pool, max_pool, mean_pool,
};
pub use softmax::{logsoftmax, logsumexp, softmax};
pub use upsample::{pixel_shuffle, upsample_bilinear, upsample_linear, upsample_nearest, upsample_nearest_size};
