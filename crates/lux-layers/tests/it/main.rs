//! Integration tests of lux-layers, one module per layer family.

mod common;
mod conv;
mod dropout;
mod init;
mod pool;
mod upsample;
