//! Tests of the basic layers.
