//! Integration tests of lux-layers, one module per layer family.

mod common;
mod dense;
mod dropout;
mod embedding;
mod init;
mod maxout;
mod norm;
