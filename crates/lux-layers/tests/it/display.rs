//! Tests of the display layers.
