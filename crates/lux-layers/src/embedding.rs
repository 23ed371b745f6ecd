//! The Embedding layer.
