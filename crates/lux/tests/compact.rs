//! `compact!` (Lux's `@compact`): Lux's compact_tests.jl, case by case, with
//! batch-first shapes (Lux's `W * x` on a `(features, batch)` matrix is
//! `x · Wᵀ` on a `[batch, features]` one here).

use lux::ad::testing::{LayerCheck, check_layer};
use lux::prelude::*;

fn rng(seed: u64) -> RngState {
    RngState::seed_from_u64(seed)
}

fn vec32(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn linear_layer() -> Result<()> {
    let w = Tensor::from_vec(vec![1.0f32, 5.0, 10.0], &[3])?;
    let r = compact!(w = w.clone(), |x: &Tensor| w.mul(x)?.sum_all());
    let (ps, st) = setup(&mut rng(0), &r)?;
    assert_eq!(vec32(ps.tensor("w")?), vec![1.0, 5.0, 10.0]);
    assert_eq!(st, Tree::new());
    let call = |x: Tensor| apply_tensor(&r, x, &ps, &st).map(|(y, _)| y.to_scalar::<f32>().unwrap());
    assert_eq!(call(Tensor::ones(&[3], DType::F32)?)?, 1.0 + 5.0 + 10.0);
    assert_eq!(call(Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?)?, 1.0 + 2.0 * 5.0 + 3.0 * 10.0);
    // a 3×3 input broadcasts w over its rows
    assert_eq!(call(Tensor::ones(&[3, 3], DType::F32)?)?, 3.0 * (1.0 + 5.0 + 10.0));
    // ∂/∂x Σ w ⊙ x = w
    let g = gradient(
        |t| apply_tensor(&r, t.tensor("x")?, &ps, &st)?.0.sum_all(),
        &tree! { x: Tensor::ones(&[3], DType::F32)? },
    )?;
    assert_eq!(vec32(g.tensor("x")?), vec![1.0, 5.0, 10.0]);
    Ok(())
}

#[test]
fn linear_layer_with_activation_equals_dense() -> Result<()> {
    let (d_in, d_out) = (5, 7);
    let d = compact!(
        w = Tensor::randn(&mut rng(1), &[d_out, d_in], DType::F32)?,
        b = Tensor::zeros(&[d_out], DType::F32)?,
        act = Activation::Relu,
        |x: &Tensor| {
            let y = x.matmul(&w.transpose(0, 1)?)?;
            act.call_tensor(y.add(b)?)
        }
    );
    let (ps, st) = setup(&mut rng(0), &d)?;
    assert_eq!(ps.tensor("w")?.shape(), &[7, 5]);
    assert_eq!(ps.tensor("b")?.shape(), &[7]);
    // Activations are layers here: `act` is a sublayer with no parameters or state.
    assert_eq!(st, tree! { act: Tree::new() });
    let x = Tensor::randn(&mut rng(2), &[10, 5], DType::F32)?;
    let (y, _) = apply_tensor(&d, &x, &ps, &st)?;
    assert_eq!(y.shape(), &[10, 7]);
    assert!(vec32(&y).iter().all(|v| *v >= 0.0));

    // gradients w.r.t. ps: one per parameter, shaped as it
    let target = Tensor::randn(&mut rng(3), &[10, 7], DType::F32)?;
    let (loss, grads) = value_and_gradient(|p| apply_tensor(&d, &x, p, &st)?.0.sub(&target)?.square()?.sum_all(), &ps)?;
    assert!(loss.to_scalar::<f32>()?.is_finite());
    let shapes: Vec<Vec<usize>> = grads.tensors().iter().map(|(_, t)| t.shape().to_vec()).collect();
    assert_eq!(shapes, vec![vec![7, 5], vec![7]]);

    // the same numbers as a Dense(5 => 7, relu) with these weights
    let dense = Dense::new(d_in, d_out, Activation::Relu)?;
    let ps_dense = tree! { weight: ps.tensor("w")?.clone(), bias: ps.tensor("b")?.clone() };
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0], &[1, 5])?;
    let (want, _) = apply_tensor(&dense, &x, &ps_dense, &Tree::new())?;
    assert_close(&vec32(&apply_tensor(&d, &x, &ps, &st)?.0), &vec32(&want), 1e-6);
    check_layer(&d, &Tensor::randn(&mut rng(4), &[3, 5], DType::F32)?.into(), &LayerCheck::default())?;
    Ok(())
}

/// Lux's MLP test (hidden width 8 instead of 128, to keep the gradient check small).
#[test]
fn mlp_with_a_list_of_sublayers() -> Result<()> {
    let n = 3;
    let model = compact!(
        w1 = Dense::new(1, 8, Activation::Identity)?,
        w2 = (0..n).map(|_| Dense::new(8, 8, Activation::Identity)).collect::<Result<Vec<_>>>()?,
        w3 = Dense::new(8, 1, Activation::Identity)?,
        act = Activation::Relu,
        |x| {
            let mut embed = act.call(w1.call(x)?)?;
            for w in w2 {
                embed = act.call(w.call(&embed)?)?;
            }
            w3.call(&embed)
        }
    );
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!(ps.at("w1.weight")?.as_tensor()?.shape(), &[8, 1]);
    assert_eq!(ps.at("w1.bias")?.as_tensor()?.shape(), &[8]);
    assert_eq!(ps.get("w2")?.len(), n);
    for i in 1..=n {
        assert_eq!(ps.at(&format!("w2.{i}.weight"))?.as_tensor()?.shape(), &[8, 8]);
        assert_eq!(ps.at(&format!("w2.{i}.bias"))?.as_tensor()?.shape(), &[8]);
    }
    assert_eq!(ps.at("w3.weight")?.as_tensor()?.shape(), &[1, 8]);
    assert_eq!(model.param_count(), 16 + 3 * 72 + 9);
    let x = Tensor::randn(&mut rng(1), &[32, 1], DType::F32)?;
    assert_eq!(apply_tensor(&model, &x, &ps, &st)?.0.shape(), &[32, 1]);
    // sublayers with their own parameters, state and gradients
    check_layer(&model, &Tensor::randn(&mut rng(2), &[4, 1], DType::F32)?.into(), &LayerCheck::default())?;
    Ok(())
}

#[test]
fn string_representations() -> Result<()> {
    let model = compact!(w = Dense::new(32, 32, Activation::Identity)?, |(x, y): (&Tensor, &Tensor)| {
        let tmp = w.call_tensor(x)?.sum_all()?;
        tmp.add(y)
    });
    assert_eq!(
        display_model(&model),
        "\
compact!(
    w = Dense(32 => 32),                          # 1_056 parameters
) do (x, y)
    let tmp = w.call_tensor(x)?.sum_all()?;
    tmp.add(y)
end       # Total: 1_056 parameters,
          #        plus 0 states."
    );
    let (ps, st) = setup(&mut rng(0), &model)?;
    let x = Tensor::zeros(&[2, 32], DType::F32)?;
    let (y, _) = apply_tensor(&model, Tree::seq([x, Tensor::scalar(1.5f32)]), &ps, &st)?;
    // Σ over a zero input is 2·Σ bias
    let bias_sum: f32 = vec32(ps.at("w.bias")?.as_tensor()?).iter().sum();
    assert_close(&[y.to_scalar::<f32>()?], &[2.0 * bias_sum + 1.5], 1e-5);
    Ok(())
}

#[test]
fn custom_naming() -> Result<()> {
    let model = compact!(w = Dense::new(32, 32, Activation::Identity)?, name = "Linear(...)", |x| w.call(x));
    assert_eq!(display_model(&model), "Linear(...)                  # 1_056 parameters");
    assert_eq!(model.name(), Some("Linear(...)"));
    Ok(())
}

#[test]
fn hierarchical_models() -> Result<()> {
    let model1 =
        compact!(w1 = Dense::new(32, 32, Activation::Relu)?, w2 = Dense::new(32, 32, Activation::Relu)?, |x| w2
            .call(w1.call(x)?));
    let model2 = compact!(w1 = model1, w2 = Dense::new(32, 32, Activation::Relu)?, |x| w2.call(w1.call(x)?));
    assert_eq!(
        display_model(&model2),
        "\
compact!(
    w1 = compact!(
        w1 = Dense(32 => 32, relu),               # 1_056 parameters
        w2 = Dense(32 => 32, relu),               # 1_056 parameters
    ) do x
        w2.call(w1.call(x)?)
    end,
    w2 = Dense(32 => 32, relu),                   # 1_056 parameters
) do x
    w2.call(w1.call(x)?)
end       # Total: 3_168 parameters,
          #        plus 0 states."
    );
    let (ps, _) = setup(&mut rng(0), &model2)?;
    assert_eq!(ps.at("w1.w2.weight")?.as_tensor()?.shape(), &[32, 32]);
    Ok(())
}

#[test]
fn array_parameters_print_without_a_count() -> Result<()> {
    let model = compact!(
        x = Tensor::randn(&mut rng(0), &[32], DType::F64)?,
        w = Dense::new(32, 32, Activation::Identity)?,
        |s: &Tensor| w.call(x.mul(s)?)
    );
    assert_eq!(
        display_model(&model),
        "\
compact!(
    x = f64[32],
    w = Dense(32 => 32),                          # 1_056 parameters
) do s
    w.call(x.mul(s)?)
end       # Total: 1_088 parameters,
          #        plus 0 states."
    );
    Ok(())
}

#[test]
fn hierarchy_with_inner_and_outer_names() -> Result<()> {
    let inner = || -> Result<_> {
        Ok(compact!(w1 = Tensor::randn(&mut rng(0), &[32, 32], DType::F64)?, name = "Model(32)", |x: &Tensor| {
            x.matmul(&w1.transpose(0, 1)?)
        }))
    };
    let model = compact!(
        w1 = inner()?,
        w2 = Tensor::randn(&mut rng(1), &[32, 32], DType::F64)?,
        w3 = Tensor::randn(&mut rng(2), &[32], DType::F64)?,
        |x| w1.call_tensor(x)?.matmul(&w2.transpose(0, 1)?)
    );
    assert_eq!(
        display_model(&model),
        "\
compact!(
    w1 = Model(32),                               # 1_024 parameters
    w2 = f64[32, 32],
    w3 = f64[32],
) do x
    w1.call_tensor(x)?.matmul(&w2.transpose(0, 1)?)
end       # Total: 2_080 parameters,
          #        plus 0 states."
    );
    let outer = compact!(
        w1 = inner()?,
        w2 = Tensor::randn(&mut rng(1), &[32, 32], DType::F64)?,
        w3 = Tensor::randn(&mut rng(2), &[32], DType::F64)?,
        name = "Model(32)",
        |x| w1.call_tensor(x)?.matmul(&w2.transpose(0, 1)?)
    );
    assert_eq!(display_model(&outer), "Model(32)                    # 2_080 parameters");
    Ok(())
}

#[test]
fn iterable_inputs() -> Result<()> {
    let w1 = Tensor::randn(&mut rng(1), &[32, 32], DType::F64)?;
    let w2 = Tensor::randn(&mut rng(2), &[32, 32], DType::F64)?;
    let s = Tensor::randn(&mut rng(3), &[2, 32], DType::F64)?;
    // y = W₂ (W₁ s) per sample: s · W₁ᵀ · W₂ᵀ
    let want = s.matmul(&w1.transpose(0, 1)?)?.matmul(&w2.transpose(0, 1)?)?;
    let pair = compact!(x = (w1.clone(), w2.clone()), |s: &Tensor| {
        s.matmul(&x.0.transpose(0, 1)?)?.matmul(&x.1.transpose(0, 1)?)
    });
    let list = compact!(x = vec![w1.clone(), w2.clone()], |s: &Tensor| {
        s.matmul(&x[0].transpose(0, 1)?)?.matmul(&x[1].transpose(0, 1)?)
    });
    for model in [&pair as &dyn Layer, &list] {
        let (ps, st) = setup(&mut rng(0), model)?;
        // the tensors are the parameters, as given (shared buffers, as Lux's `===`)
        assert!(ps.at("x.0")?.as_tensor()?.shares_storage_with(&w1));
        assert!(ps.at("x.1")?.as_tensor()?.shares_storage_with(&w2));
        assert_eq!(st, Tree::new());
        assert_eq!(apply_tensor(model, &s, &ps, &st)?.0.to_vec::<f64>()?, want.to_vec::<f64>()?);
    }

    // a Vec of layers is indexable (0-based here; the tree keys are Lux's "1", "2")
    let model =
        compact!(x = vec![Dense::new(32, 32, Activation::Identity)?, Dense::new(32, 32, Activation::Identity)?], |s| x
            [1]
        .call(x[0].call(s)?));
    let (ps, st) = setup(&mut rng(0), &model)?;
    let s = Tensor::randn(&mut rng(4), &[2, 32], DType::F32)?;
    let lin = |k: &str, v: &Tensor| -> Result<Tensor> {
        v.matmul(&ps.at(&format!("x.{k}.weight"))?.as_tensor()?.transpose(0, 1)?)?
            .add(ps.at(&format!("x.{k}.bias"))?.as_tensor()?)
    };
    let want = lin("2", &lin("1", &s)?)?;
    assert_close(&vec32(&apply_tensor(&model, &s, &ps, &st)?.0), &vec32(&want), 1e-5);
    Ok(())
}

#[test]
fn function_values_are_constants() -> Result<()> {
    let model = compact!(f = |t: &Tensor| t.square(), |x: &Tensor| f(x));
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!((ps.clone(), st.clone()), (Tree::new(), Tree::new()));
    let x = Tensor::from_vec(vec![1.5f32, -2.0], &[2])?;
    assert_eq!(vec32(&apply_tensor(&model, &x, &ps, &st)?.0), vec![2.25, 4.0]);
    Ok(())
}

#[test]
fn keyword_argument_syntax() -> Result<()> {
    let (a_, b_, c) = (3i64, 4i64, 5i64);
    // `;` separates like `,`; a bare `c` is `c = c`
    let model = compact!(a = a_; b = b_, c, |x: i64| Ok(a + b * x + c * x * x));
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!(apply(&model, 2i64, &ps, &st)?.0, Tree::Int(3 + 4 * 2 + 5 * 4));
    Ok(())
}

#[test]
fn keyword_arguments_with_the_function_first() -> Result<()> {
    let model = compact!(|x: i64| Ok(x + a + b), a = 1, b = 2);
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!(apply(&model, 3i64, &ps, &st)?.0, Tree::Int(1 + 2 + 3));
    assert_eq!(
        display_model(&model),
        "\
compact!(
    a = 1,
    b = 2,
) do x
    Ok(x + a + b)
end       # Total: 0 parameters,
          #        plus 2 states."
    );
    Ok(())
}

#[test]
fn kwarg_printing() -> Result<()> {
    let model = compact!(a = 1, b = 2, z = tree! { a: 3i64, v: 1i64, k: 3i64, w: 2i64 }, c = 4, |x: i64| Ok(x + a + b));
    assert_eq!(
        display_model(&model),
        "\
compact!(
    a = 1,
    b = 2,
    z = {a: 3, v: 1, k: 3, w: 2},
    c = 4,
) do x
    Ok(x + a + b)
end       # Total: 0 parameters,
          #        plus 7 states."
    );
    Ok(())
}

#[test]
fn scoping_of_parameter_arguments() -> Result<()> {
    let model = compact!(w1 = 3, w2 = 5, |a: i64| {
        // a local function's arguments shadow the layer's names
        fn g(w1: i64, w2: i64) -> i64 {
            2 * w1 * w2
        }
        Ok((w1 + w2) * g(a, a))
    });
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!(apply(&model, 2i64, &ps, &st)?.0, Tree::Int((3 + 5) * 2 * 2 * 2));
    Ok(())
}

fn scaled_dense(d_in: usize, d_out: usize, act: Activation) -> Result<impl Layer> {
    Ok(compact!(
        w = Tensor::randn(&mut rng(0), &[d_out, d_in], DType::F32)?,
        b = Tensor::zeros(&[d_out], DType::F32)?,
        incr = 1,
        act = act,
        |x: &Tensor| {
            let y = x.matmul(&w.transpose(0, 1)?)?;
            incr *= 10;
            act.call_tensor(y.add(b)?)?.add_scalar(incr as f64)
        }
    ))
}

#[test]
fn updated_state_persists() -> Result<()> {
    let model = scaled_dense(5, 7, Activation::Relu)?;
    let (ps, st) = setup(&mut rng(0), &model)?;
    let x = Tensor::ones(&[10, 5], DType::F32)?;
    assert_eq!(st.get("incr")?, &Tree::Int(1));
    let (y, st_new) = apply_tensor(&model, &x, &ps, &st)?;
    assert_eq!(st_new.get("incr")?, &Tree::Int(10));
    assert!(vec32(&y).iter().all(|v| *v >= 10.0));
    let (_, st_new) = apply(&model, &x, &ps, &st_new)?;
    assert_eq!(st_new.get("incr")?, &Tree::Int(100));
    // the given state is not changed
    assert_eq!(st.get("incr")?, &Tree::Int(1));
    check_layer(&model, &x.into(), &LayerCheck::default())?;
    Ok(())
}

#[test]
fn parameters_reassigned_in_the_body_do_not_persist() -> Result<()> {
    let zero = Tensor::zeros(&[2], DType::F32)?;
    let model = compact!(w = Tensor::ones(&[2], DType::F32)?, |x: &Tensor| {
        w = &zero;
        x.mul(w)
    });
    let (ps, st) = setup(&mut rng(0), &model)?;
    let (y, st2) = apply_tensor(&model, Tensor::ones(&[2], DType::F32)?, &ps, &st)?;
    assert_eq!(vec32(&y), vec![0.0, 0.0]);
    assert_eq!(st2, st);
    assert_eq!(vec32(ps.tensor("w")?), vec![1.0, 1.0]);
    Ok(())
}

#[test]
fn multiple_returns() -> Result<()> {
    let model = compact!(a = 1, |x: &Tensor| {
        if x.to_scalar::<f64>()? > 0.0 {
            a += 1;
            return Ok(x.clone());
        }
        a -= 1;
        Ok(Tensor::scalar(-1.0f64))
    });
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!(st.get("a")?, &Tree::Int(1));
    let (y1, st1) = apply_tensor(&model, Tensor::scalar(2.0f64), &ps, &st)?;
    assert_eq!((y1.to_scalar::<f64>()?, st1.get("a")?), (2.0, &Tree::Int(2)));
    let (y2, st2) = apply_tensor(&model, Tensor::scalar(-2.0f64), &ps, &st)?;
    assert_eq!((y2.to_scalar::<f64>()?, st2.get("a")?), (-1.0, &Tree::Int(0)));
    // ∂y/∂x: 1 on the first branch; 0 on the second (Lux: `nothing`)
    let dx = |v: f64| -> Result<f64> {
        let g =
            gradient(|t| apply_tensor(&model, t.tensor("x")?, &ps, &st)?.0.sum_all(), &tree! { x: Tensor::scalar(v) })?;
        g.tensor("x")?.to_scalar::<f64>()
    };
    assert_eq!((dx(2.0)?, dx(-2.0)?), (1.0, 0.0));
    Ok(())
}

#[test]
fn init_functions() -> Result<()> {
    let model = compact!(a = init_fn(|rng| Tensor::randn(rng, &[3, 2], DType::F32)), |x: &Tensor| {
        x.matmul(&a.transpose(0, 1)?)
    });
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!(ps.tensor("a")?.shape(), &[3, 2]);
    assert_eq!(st, Tree::new());
    // drawn from the setup rng: another seed, other values
    assert_ne!(setup(&mut rng(1), &model)?.0, ps);
    assert_eq!(model.param_count(), 6);
    let x = Tensor::ones(&[10, 2], DType::F32)?;
    assert_eq!(apply_tensor(&model, &x, &ps, &st)?.0.shape(), &[10, 3]);
    check_layer(&model, &x.into(), &LayerCheck::default())?;

    let model = compact!(
        a = init_fn(|rng| Tensor::randn(rng, &[3, 2], DType::F32), parameter),
        b = 2,
        c = init_fn(|rng| Tensor::randn(rng, &[3], DType::F32), state),
        |x: &Tensor| x.matmul(&a.transpose(0, 1)?)?.add(&c)
    );
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!(ps.tensor("a")?.shape(), &[3, 2]);
    assert_eq!(st.get("b")?, &Tree::Int(2));
    assert_eq!(st.tensor("c")?.shape(), &[3]);
    assert_eq!((model.param_count(), model.state_count()), (6, 4));
    assert_eq!(apply_tensor(&model, Tensor::ones(&[10, 2], DType::F32)?, &ps, &st)?.0.shape(), &[10, 3]);
    Ok(())
}

#[test]
fn non_trainable_values_are_state() -> Result<()> {
    let model = compact!(a = non_trainable(Tensor::randn(&mut rng(5), &[3, 2], DType::F32)?), |x: &Tensor| {
        x.matmul(&a.transpose(0, 1)?)
    });
    let (ps, st) = setup(&mut rng(0), &model)?;
    assert_eq!(ps, Tree::new());
    assert_eq!(st.tensor("a")?.shape(), &[3, 2]);
    let (y, st2) = apply_tensor(&model, Tensor::ones(&[10, 2], DType::F32)?, &ps, &st)?;
    assert_eq!(y.shape(), &[10, 3]);
    assert_eq!(st2, st);
    assert!(display_model(&model).contains("    a = non_trainable(f32[3, 2]),\n"));
    Ok(())
}

#[test]
fn bad_trees_are_errors_naming_the_key() -> Result<()> {
    let model = compact!(w = Tensor::ones(&[2], DType::F32)?, incr = 1, |x: &Tensor| x.mul(w));
    let (ps, st) = setup(&mut rng(0), &model)?;
    let x = Tensor::ones(&[2], DType::F32)?;
    let err = apply(&model, &x, &Tree::new(), &st).unwrap_err();
    assert_eq!(err.to_string(), "missing key `w` at <root>");
    let err = apply(&model, &x, &ps, &tree! { incr: 1.5 }).unwrap_err();
    assert_eq!(err.to_string(), "structure mismatch at incr: expected an int, found a float");
    // an input of the wrong kind for the body's typed input
    let err = apply(&model, Tree::Bool(true), &ps, &st).unwrap_err();
    assert!(err.to_string().contains("bool"), "{err}");
    Ok(())
}

#[test]
fn in_a_chain_and_trained_with_the_training_api() -> Result<()> {
    // y = 2x − x³ on [-2, 2], as in Lux's @compact docs, with a compact! block in a Chain
    let xs: Vec<f32> = (0..41).map(|i| -2.0 + 0.1 * i as f32).collect();
    let x = Tensor::from_vec(xs.clone(), &[41, 1])?;
    let y = Tensor::from_vec(xs.iter().map(|v| 2.0 * v - v * v * v).collect(), &[41, 1])?;
    let block = compact!(d = Dense::new(16, 16, Activation::Identity)?, |h| {
        let h = h.as_tensor()?;
        h.add(&d.call_tensor(h)?)?.tanh()
    });
    let model = Chain::new((Dense::new(1, 16, Activation::Tanh)?, block, Dense::new(16, 1, Activation::Identity)?))?;
    let (ps, st) = setup(&mut rng(0), &model)?;
    let mut ts = TrainState::new(model, ps, st, Adam::new(0.01))?;
    let data = (x, y);
    let mut losses = Vec::new();
    for _ in 0..300 {
        losses.push(
            single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, false)?.loss.to_scalar::<f32>()?,
        );
    }
    assert!(losses[299] < losses[0] / 10.0, "{} → {}", losses[0], losses[299]);
    Ok(())
}

#[test]
fn the_second_argument_is_the_whole_ps() -> Result<()> {
    let model = compact!(
        w = Tensor::full(&[2], 3.0, DType::F32)?,
        d = Dense::new(2, 2, Activation::Identity)?,
        |x: &Tensor, p| {
            assert_eq!(p.keys().collect::<Vec<_>>(), vec!["d", "w"]);
            x.mul(p.tensor("w")?)
        }
    );
    let (ps, st) = setup(&mut rng(0), &model)?;
    let (y, _) = apply_tensor(&model, Tensor::ones(&[2], DType::F32)?, &ps, &st)?;
    assert_eq!(vec32(&y), vec![3.0, 3.0]);
    Ok(())
}

#[test]
fn converted_trees_give_f64_outputs() -> Result<()> {
    // Lux's `f64(ps)`, `f64(st)` on a compact layer's trees, and f16 through a StatefulLayer
    let model = compact!(
        d = Dense::new(3, 2, Activation::Identity)?,
        offset = non_trainable(Tensor::ones(&[2], DType::F32)?),
        calls = 0,
        |x: &Tensor| {
            calls += 1;
            d.call_tensor(x)?.add(&offset)
        }
    );
    let (ps, st) = setup(&mut rng(0), &model)?;
    let (ps64, st64) = (lux::precision::f64(&ps)?, lux::precision::f64(&st)?);
    assert_eq!(st64.get("calls")?, &Tree::Int(0)); // integers are untouched
    let half = lux::precision::f16(&StatefulLayer::new(&model, ps.clone(), st.clone()))?;
    let y16 = half.call_tensor(Tensor::ones(&[1, 3], DType::F16)?)?;
    assert_eq!((y16.dtype(), half.state().tensor("offset")?.dtype()), (DType::F16, DType::F16));
    let x = Tensor::randn(&mut rng(1), &[4, 3], DType::F32)?;
    let (y32, _) = apply_tensor(&model, &x, &ps, &st)?;
    let (y64, st64_new) = apply_tensor(&model, x.to_dtype(DType::F64)?, &ps64, &st64)?;
    assert_eq!((y32.dtype(), y64.dtype()), (DType::F32, DType::F64));
    assert_eq!(st64_new.tensor("offset")?.dtype(), DType::F64);
    assert_close(&vec32(&y64.to_dtype(DType::F32)?), &vec32(&y32), 1e-6);
    Ok(())
}

#[test]
fn value_holders_are_not_callable_layers() -> Result<()> {
    // Lux: `ValueStorage()(x, ps, st)` is an ArgumentError. Here the list of
    // sublayers and the printed values are children a caller could reach.
    let model = compact!(ws = vec![Dense::new(2, 2, Activation::Identity)?], k = 2, |x| ws[0].call(x));
    let Children::Named(children) = model.children() else { panic!("a compact! layer has named children") };
    let list = children.iter().find(|(k, _)| k == "ws").map(|(_, l)| *l).expect("ws is a child");
    assert_eq!(list.display_name(), "NamedTuple");
    let err = list.forward(&Tree::None, &Tree::new(), &Tree::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "compact! layer list: invalid argument: a list of sublayers is not a layer; call its elements"
    );
    let printed = model.printable_children().expect("printed children");
    let (_, k) = printed.iter().find(|(k, _)| k == "k").expect("k is printed");
    assert_eq!(k.describe(), "2");
    let err = k.forward(&Tree::None, &Tree::new(), &Tree::new()).unwrap_err();
    assert_eq!(err.to_string(), "compact! value: invalid argument: `2` is a value of a compact! layer, not a layer");
    Ok(())
}
