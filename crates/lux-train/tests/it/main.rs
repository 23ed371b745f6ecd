//! Integration tests of lux-train.

mod rules;
mod train;
