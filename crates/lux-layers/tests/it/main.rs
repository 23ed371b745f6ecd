//! Integration tests of lux-layers, one module per layer family.

mod common;
mod dense;
mod conv;
mod dropout;
mod embedding;
mod init;
mod maxout;
mod norm;
mod pool;
mod upsample;
