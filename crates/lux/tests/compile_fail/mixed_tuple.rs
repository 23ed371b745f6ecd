// Lux: a container combining Lux layers with non-Lux layers is not supported.
use lux::prelude::*;

fn main() -> Result<()> {
    let _ = lux::compact!(x = (Dense::new(2, 3, Activation::Identity)?, 1), |y| Ok(y.clone()));
    Ok(())
}
