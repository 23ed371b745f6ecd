//! Criterion bench of `lux_ops::dense` (TODO issue 3).
fn main() {}
