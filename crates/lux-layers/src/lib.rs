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
//! | [`recurrent`] | `RNNCell`, `LSTMCell`, `GRUCell`, `Recurrence`, `StatefulRecurrentCell`, `BidirectionalRNN` |
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

pub mod dropout;
pub mod init;
pub mod recurrent;
mod util;

pub use dropout::*;
pub use recurrent::*;
