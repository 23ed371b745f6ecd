// The macro's own input errors, with Lux's messages, each pointing at the token.
fn empty() {
    let _ = lux::compact!();
}

fn no_function() {
    let _ = lux::compact!(a = 1);
}

fn positional() {
    let _ = lux::compact!(2, a = 1, |x| Ok(x.clone()));
}

fn name_only() {
    let _ = lux::compact!(name = "Model", |x| Ok(x.clone()));
}

fn three_arguments() {
    let _ = lux::compact!(a = 1, |x, p, q| Ok(x.clone()));
}

fn init_fn_kind() {
    let _ = lux::compact!(a = init_fn(|rng| lux::core::Tensor::randn(rng, &[3], lux::core::DType::F32), param), |x| Ok(x.clone()));
}

fn main() {}
