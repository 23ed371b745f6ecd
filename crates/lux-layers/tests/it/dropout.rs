//! Tests of the dropout layers.
