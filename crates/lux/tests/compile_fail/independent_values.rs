// Lux: the values are evaluated independently; a later one cannot use an earlier one.
fn main() {
    let _ = lux::compact!(y1 = 3, z = y1 * 2, |x| Ok(x.clone()));
}
