//! Integration tests of lux-layers, one module per layer family.

mod common;
mod dropout;
mod init;
mod recurrent;
