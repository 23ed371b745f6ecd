// A value that cannot be shared between threads cannot be a compact! value.
use std::rc::Rc;

fn main() {
    let _ = lux::compact!(counter = Rc::new(1), |x| Ok(x.clone()));
}
