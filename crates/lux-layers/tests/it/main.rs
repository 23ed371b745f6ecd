//! Integration tests of lux-layers, one module per layer family.

mod basic;
mod containers;
mod conv;
mod dense;
mod display;
mod dropout;
mod init;
mod norm;
mod pool;
mod recurrent;
mod upsample;
