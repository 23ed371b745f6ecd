//! Tests of the pool layers.
