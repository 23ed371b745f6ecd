//! # lux
//!
//! lux-rs, explicit-parameter deep learning in the style of Lux.jl. This
//! crate only re-exports the workspace crates; `use lux::prelude::*;` is
//! enough for the examples.
//!
//! | crate | holds |
//! |---|---|
//! | [`core`] (`lux-core`) | `Tensor`, autodiff record, `Tree`, `Layer`, `setup`/`apply` |
//! | [`ops`] (`lux-ops`) | activations, softmax, fused dense, conv, pooling, norms, dropout, embedding, LuxOps |
//! | [`ad`] (`lux-ad`) | `gradient`, `vjp`, `jvp`, `jacobian`, backends, `check_gradients` |
//!
//! ```
//! use lux::prelude::*;
//! let ps = tree! { w: Tensor::from_vec(vec![3.0f32], &[1])? };
//! let g = gradient(|p| p.tensor("w")?.square()?.sum_all(), &ps)?;
//! assert_eq!(g.tensor("w")?.to_vec::<f32>()?, vec![6.0]);
//! # Ok::<(), lux::Error>(())
//! ```
#![doc(test(attr(deny(warnings))))]

pub use lux_ad as ad;
pub use lux_core as core;
pub use lux_core::tree;
pub use lux_ops as ops;

/// The error type of every lux-rs crate.
pub type Error = lux_core::LuxError;

/// The names most programs need.
pub mod prelude {
    pub use lux_ad::{
        AdBackend, AutoFiniteDiff, AutoTape, Tolerances, check_gradients, gradient, jacobian, jvp, value_and_gradient,
        vjp,
    };
    pub use lux_core::tree;
    pub use lux_core::{DType, Layer, LuxError, Result, Tensor, Tree, apply, setup, stateless_apply};
    pub use lux_ops::Activation;
}
