//! Integration tests of lux-train.

mod checkpoint;
mod compiled;
mod lux_api;
mod rules;
mod train;
