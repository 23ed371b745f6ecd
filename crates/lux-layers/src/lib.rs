//! # lux-layers
//!
//! Lux's standard layers. Every layer is an immutable description
//! implementing [`lux_core::Layer`]: its parameters and state come from
//! [`lux_core::setup`] and are passed to every call.
//!
//! | module | layers |
//! |---|---|
//! | [`init`] | weight initialisers (Lux's WeightInitializers) |
//! | [`dense`](mod@dense) | `Dense`, `Bilinear`, `Scale`, `Maxout` |
//! | [`embedding`](mod@embedding) | `Embedding` |
//! | [`containers`] | `Chain`, `SkipConnection`, `Parallel`, `BranchLayer`, `PairwiseFusion`, `RepeatedLayer` |
//! | [`basic`] | `WrappedFunction`, `NoOpLayer`, `FlattenLayer`, `ReshapeLayer`, `SelectDim`, activations as layers |
//! | [`dropout`](mod@dropout) | `Dropout`, `AlphaDropout`, `VariationalHiddenDropout` |
//! | [`norm`] | `BatchNorm`, `LayerNorm`, `GroupNorm`, `InstanceNorm`, `WeightNorm` |
//! | [`conv`](mod@conv) | `Conv`, `ConvTranspose` |
//! | [`pool`] | max/mean/LP pooling, global and adaptive pools |
//! | [`upsample`] | `Upsample`, `PixelShuffle` |
//! | [`recurrent`] | `RNNCell`, `LSTMCell`, `GRUCell`, `Recurrence`, `StatefulRecurrentCell`, `BidirectionalRNN` |
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
pub mod norm;
pub mod pool;
pub mod recurrent;
pub mod upsample;
mod util;

pub use basic::*;
pub use containers::*;
pub use conv::*;
pub use dense::*;
pub use dropout::*;
pub use embedding::*;
pub use norm::*;
pub use pool::*;
pub use recurrent::*;
pub use upsample::*;
