//! Tests of the conv layers.
