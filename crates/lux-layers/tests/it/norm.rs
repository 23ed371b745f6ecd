//! Tests of the norm layers.
