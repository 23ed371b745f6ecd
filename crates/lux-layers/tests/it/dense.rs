//! Tests of the dense layers.
