//! `compact!` (Lux's `@compact`): Lux's compact_tests.jl, case by case.

use lux::prelude::*;

fn rng() -> RngState {
    RngState::seed_from_u64(0)
}

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

#[test]
fn linear_layer() -> Result<()> {
    let w = Tensor::from_vec(vec![1.0f32, 5.0, 10.0], &[3])?;
    let r = compact!(w = w.clone(), |x: &Tensor| w.mul(x)?.sum_all());
    let (ps, st) = setup(&mut rng(), &r)?;
    assert_eq!(ps.tensor("w")?.to_vec::<f32>()?, vec![1.0, 5.0, 10.0]);
    assert_eq!(st, Tree::new());
    let (y, _) = apply_tensor(&r, t(&[1.0, 1.0, 1.0], &[3]), &ps, &st)?;
    assert_eq!(y.to_scalar::<f32>()?, 16.0);
    let (y, _) = apply_tensor(&r, t(&[1.0, 2.0, 3.0], &[3]), &ps, &st)?;
    assert_eq!(y.to_scalar::<f32>()?, 41.0);
    Ok(())
}

#[test]
fn updated_state() -> Result<()> {
    let model = compact!(incr = 1, |x: &Tensor| {
        incr *= 10;
        x.add_scalar(incr as f64)
    });
    let (ps, st) = setup(&mut rng(), &model)?;
    assert_eq!(st.get("incr")?.as_int()?, 1);
    let x = t(&[0.0], &[1]);
    let (_, st) = apply(&model, &x, &ps, &st)?;
    assert_eq!(st.get("incr")?.as_int()?, 10);
    let (y, st) = apply(&model, &x, &ps, &st)?;
    assert_eq!(st.get("incr")?.as_int()?, 100);
    assert_eq!(y.as_tensor()?.to_vec::<f32>()?, vec![100.0]);
    Ok(())
}

#[test]
fn sublayers() -> Result<()> {
    let model = compact!(
        w1 = Dense::new(1, 4, Activation::Relu)?,
        w2 = vec![Dense::new(4, 4, Activation::Relu)?, Dense::new(4, 4, Activation::Relu)?],
        w3 = Dense::new(4, 1, Activation::Identity)?,
        |x| {
            let mut h = w1.call(x)?;
            for w in w2 {
                h = w.call(&h)?;
            }
            w3.call_tensor(&h)
        }
    );
    let (ps, st) = setup(&mut rng(), &model)?;
    assert_eq!(ps.at("w2.2.weight")?.as_tensor()?.shape(), &[4, 4]);
    let (y, _) = apply_tensor(&model, Tensor::ones(&[5, 1], DType::F32)?, &ps, &st)?;
    assert_eq!(y.shape(), &[5, 1]);
    println!("{}", display_model(&model));
    Ok(())
}
