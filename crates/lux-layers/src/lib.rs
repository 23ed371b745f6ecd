//! # lux-layers
//!
//! Lux's standard layers. Every layer is an immutable description
//! implementing [`lux_core::Layer`]: its parameters and state come from
//! [`lux_core::setup`] and are passed to every call.
//!
//! | module | contents |
//! |---|---|
//! | [`init`] | weight initialisers (Lux's WeightInitializers) |
//! | [`dense`](mod@dense) | `Dense`, `Bilinear`, `Scale` |
//! | [`embedding`](mod@embedding) | `Embedding` |
//! | [`maxout`](mod@maxout) | `Maxout` |
//! | [`containers`] | `Chain` (typed, `Vec`-boxed, named), `SkipConnection`, `Parallel`, `BranchLayer`, `PairwiseFusion`, `RepeatedLayer` |
//! | [`basic`] | `WrappedFunction`, `NoOpLayer`, `FlattenLayer`, `ReshapeLayer`, `SelectDim` |
//! | [`dropout`](mod@dropout) | `Dropout`, `AlphaDropout`, `VariationalHiddenDropout` |
//! | [`norm`] | `BatchNorm`, `GroupNorm`, `InstanceNorm`, `LayerNorm`, `WeightNorm` |
//! | [`conv`](mod@conv) | `Conv`, `ConvTranspose` |
//! | [`pool`](mod@pool) | `MaxPool`, `MeanPool`, `LPPool`, their `Global…` and `Adaptive…` forms |
//! | [`upsample`](mod@upsample) | `Upsample`, `PixelShuffle` |
//! | [`recurrent`] | `RNNCell`, `LSTMCell`, `GRUCell`, `Recurrence`, `StatefulRecurrentCell`, `BidirectionalRNN` |
//!
//! Plain activations (`lux_ops::Activation`) are layers too, and a user's
//! own `Layer` fits into every container. `docs/layers.md` maps every Lux
//! layer to its lux-rs name.
//!
//! Every layer type is also re-exported at the crate root.
//!
//! Conventions: batch first (`[batch, features]`, NCHW images,
//! `[batch, time, features]` sequences); parameters follow the dtype they
//! were built with (f32 by default); bad input is an `Err` whose message
//! names the layer (its `describe()`), and containers add where in the
//! model it happened (`Dense(784 => 256) at layer_2: …`).
#![doc(test(attr(deny(warnings))))]

pub mod basic;
pub mod containers;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod init;
pub mod maxout;
pub mod norm;
pub mod pool;
pub mod recurrent;
pub mod upsample;
mod util;

pub use basic::*;
pub use containers::*;
pub use conv::{Conv, ConvBuilder, ConvTranspose, ConvTransposeBuilder};
pub use dense::*;
pub use dropout::*;
pub use embedding::*;
pub use maxout::*;
pub use norm::*;
pub use pool::*;
pub use recurrent::*;
pub use upsample::*;
