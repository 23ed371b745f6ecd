//! Tests of the init layers.
