//! Tests of the containers layers.
