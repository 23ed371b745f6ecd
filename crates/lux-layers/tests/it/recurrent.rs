//! Tests of the recurrent layers.
