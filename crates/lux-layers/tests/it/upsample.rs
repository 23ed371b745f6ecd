//! Tests of the upsample layers.
