// Lux: a container combining Lux layers with non-Lux layers is not supported.
use lux::prelude::*;

fn main() -> Result<()> {
    let _ = lux::compact!(x = (Dense::new(2, 3, Activation::Identity)?, 1), |y| Ok(y.clone()));
    Ok(())
}

// A tuple of layers is not a list of sublayers: use an array or a Vec.
fn tuple_of_layers() -> Result<()> {
    let _ = lux::compact!(x = (Dense::new(2, 3, Activation::Identity)?, Dense::new(3, 3, Activation::Identity)?), |y| Ok(y.clone()));
    Ok(())
}
