//! # lux-layers
//!
//! Lux's standard layers. Every layer is an immutable description
//! implementing [`lux_core::Layer`]: its parameters and state come from
//! [`lux_core::setup`] and are passed to every call.
//!
//! | module | contents |
//! |---|---|
//! | [`init`] | weight initialisers (Lux's WeightInitializers) |
//! | [`dropout`](mod@dropout) | `Dropout`, `AlphaDropout`, `VariationalHiddenDropout` |
//! | [`conv`](mod@conv) | `Conv`, `ConvTranspose` |
//! | [`pool`](mod@pool) | `MaxPool`, `MeanPool`, `LPPool`, their `Global…` and `Adaptive…` forms |
//! | [`upsample`](mod@upsample) | `Upsample`, `PixelShuffle` |
//!
//! The other standard layers of Lux (dense family, containers, norms,
//! convolution, pooling, recurrent cells) are being added (issue 14).
//!
//! Every layer type is also re-exported at the crate root.
//!
//! Conventions: batch first (`[batch, features]`, NCHW images,
//! `[batch, time, features]` sequences); parameters follow the dtype they
//! were built with (f32 by default); bad input is an `Err` whose message
//! names the layer (its `describe()`), and containers add where in the
//! model it happened (`Dense(784 => 256) at layer_2: …`).
#![doc(test(attr(deny(warnings))))]

pub mod conv;
pub mod dropout;
pub mod init;
pub mod pool;
pub mod upsample;
mod util;

pub use conv::{Conv, ConvBuilder, ConvTranspose, ConvTransposeBuilder};
pub use dropout::*;
pub use pool::*;
pub use upsample::*;
