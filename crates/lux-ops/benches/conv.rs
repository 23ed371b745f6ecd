//! Criterion bench of `lux_ops::conv` (TODO issue 3).
fn main() {}
