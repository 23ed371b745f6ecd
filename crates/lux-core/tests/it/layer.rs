//! The `Layer` trait with small hand-written layers: the LuxCore contract
//! (counts agree with `ps`/`st`), containers, wrappers, state, modes,
//! printing and serde.

use lux_core::{
    COUNT_SEED, Children, DType, Layer, LuxError, ModelDisplay, Result, RngState, Tensor, Tree, apply, display_model,
    empty_state, forward_child, setup, stateless_apply, test_mode, train_mode, tree, update_state,
};
use rand::{Rng, RngExt};

// ----- test layers ------------------------------------------------------------------

/// `y = x · Wᵀ + b`, `W: [out, in]`, `b: [out]`; weights uniform in [-1, 1).
struct Linear {
    inp: usize,
    out: usize,
}

impl Layer for Linear {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        let w = Tensor::rand(rng, &[self.out, self.inp], DType::F32)?.mul_scalar(2.0)?.add_scalar(-1.0)?;
        Ok(tree! { weight: w, bias: Tensor::zeros(&[self.out], DType::F32)? })
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let x = x.as_tensor()?;
        if x.ndim() != 2 || x.shape()[1] != self.inp {
            return Err(LuxError::Shape {
                op: self.describe(),
                msg: format!(
                    "input of shape {:?} has {} features, expected {}",
                    x.shape(),
                    x.shape().last().unwrap_or(&0),
                    self.inp
                ),
            });
        }
        let y = x.matmul(&ps.tensor("weight")?.transpose(0, 1)?)?.add(ps.tensor("bias")?)?;
        Ok((y.into(), st.clone()))
    }
    fn describe(&self) -> String {
        format!("Linear({} => {})", self.inp, self.out)
    }
}

/// Passes its input through and counts calls in its state.
struct Counter;

impl Layer for Counter {
    fn init_state(&self, _rng: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { count: 0i64, training: true })
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let mut st = st.clone();
        let n = st.get("count")?.as_int()?;
        st.insert("count", n + 1)?;
        Ok((x.clone(), st))
    }
}

/// A state with an RNG drawn at setup (to check the order of draws).
struct Noisy;

impl Layer for Noisy {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { w: Tensor::rand(rng, &[2], DType::F64)? })
    }
    fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { rng: RngState::from_rng(rng), training: true })
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let mut st = st.clone();
        let draw: f64 = st.get_mut("rng")?.as_rng_mut()?.random();
        Ok((Tree::Float(draw), st.with("last", x.clone())?))
    }
}

/// Two layers in sequence, nested under `first` and `second`.
struct Pair<A, B> {
    first: A,
    second: B,
}

impl<A: Layer, B: Layer> Layer for Pair<A, B> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let (h, st1) = forward_child("first", &self.first, x, ps, st)?;
        let (y, st2) = forward_child("second", &self.second, &h, ps, st)?;
        Ok((y, tree! { first: st1, second: st2 }))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(vec![("first".into(), &self.first as &dyn Layer), ("second".into(), &self.second)])
    }
}

/// A Lux-style `Chain` with named children (`layer_1 … layer_n` by default).
struct Chain(Vec<(String, Box<dyn Layer>)>);

fn chain(layers: Vec<Box<dyn Layer>>) -> Chain {
    Chain(layers.into_iter().enumerate().map(|(i, l)| (format!("layer_{}", i + 1), l)).collect())
}

impl Layer for Chain {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let mut x = x.clone();
        let mut new_st = Tree::new();
        for (name, layer) in &self.0 {
            let (y, s) = forward_child(name, layer.as_ref(), &x, ps, st)?;
            new_st.insert(name.clone(), s)?;
            x = y;
        }
        Ok((x, new_st))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(self.0.iter().map(|(n, l)| (n.clone(), l.as_ref())).collect())
    }
}

/// A leaf layer that only exists to be printed: given text, parameters and state.
struct Fake {
    text: &'static str,
    ps: Tree,
    st: Tree,
}

fn fake(text: &'static str, params: usize, states: usize) -> Box<dyn Layer> {
    let zeros = |n| {
        if n == 0 {
            Tree::new()
        } else {
            tree! { x: Tensor::zeros(&[n], DType::F32).unwrap() }
        }
    };
    Box::new(Fake { text, ps: zeros(params), st: zeros(states) })
}

impl Layer for Fake {
    fn init_params(&self, _: &mut dyn Rng) -> Result<Tree> {
        Ok(self.ps.clone())
    }
    fn init_state(&self, _: &mut dyn Rng) -> Result<Tree> {
        Ok(self.st.clone())
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
    fn describe(&self) -> String {
        self.text.to_string()
    }
}

/// Wraps a layer: same parameters and state, un-nested.
struct Wrapper<L>(L);

impl<L: Layer> Layer for Wrapper<L> {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        self.0.forward(x, ps, st)
    }
    fn children(&self) -> Children<'_> {
        Children::Wrapped(&self.0)
    }
}

/// A leaf layer with a generic parameter, for the default display name.
struct Generic<T>(std::marker::PhantomData<T>);

impl<T: Send + Sync> Layer for Generic<T> {
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
}

/// A container that also has a parameter of its own: it must override the counts.
struct WithOwn(Linear);

impl Layer for WithOwn {
    fn init_params(&self, rng: &mut dyn Rng) -> Result<Tree> {
        Ok(tree! { inner: self.0.init_params(rng)?, scale: Tensor::ones(&[1], DType::F32)? })
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
    fn param_count(&self) -> usize {
        self.0.param_count() + 1
    }
    fn children(&self) -> Children<'_> {
        Children::Named(vec![("inner".into(), &self.0 as &dyn Layer)])
    }
}

fn rng() -> RngState {
    RngState::seed_from_u64(0)
}

fn x(batch: usize, features: usize) -> Tensor {
    let values: Vec<f32> = (0..batch * features).map(|i| i as f32 * 0.1).collect();
    Tensor::from_vec(values, &[batch, features]).unwrap()
}

/// LuxCore's contract: the layer's counts equal those of what `setup` makes.
fn check_counts(layer: &dyn Layer) -> Result<(Tree, Tree)> {
    let (ps, st) = setup(&mut rng(), layer)?;
    assert_eq!(layer.param_count(), ps.param_count(), "param_count of {}", layer.describe());
    assert_eq!(layer.state_count(), st.state_count(), "state_count of {}", layer.describe());
    Ok((ps, st))
}

// ----- the tests -----------------------------------------------------------------------

#[test]
fn leaf_layer_defaults_and_forward() -> Result<()> {
    let layer = Linear { inp: 3, out: 2 };
    let (ps, st) = check_counts(&layer)?;
    assert_eq!(layer.param_count(), 8);
    assert_eq!(st, Tree::new());
    assert_eq!(ps.tensor("weight")?.shape(), &[2, 3]);
    let (y, st2) = apply(&layer, x(4, 3), &ps, &st)?;
    assert_eq!(y.as_tensor()?.shape(), &[4, 2]);
    assert_eq!(st2, st);
    // y = x · Wᵀ + b by hand for the first row.
    let w = ps.tensor("weight")?.to_vec::<f32>()?;
    let row0 = [0.0f32, 0.1, 0.2];
    let expect0: f32 = (0..3).map(|j| row0[j] * w[j]).sum();
    assert!((y.as_tensor()?.to_vec::<f32>()?[0] - expect0).abs() < 1e-6);
    assert_eq!(layer.display_name(), "Linear");
    assert_eq!(Generic::<Vec<u8>>(Default::default()).display_name(), "Generic");
    assert_eq!(Counter.describe(), "Counter");
    Ok(())
}

#[test]
fn wrong_input_width_names_shapes() -> Result<()> {
    let layer = Linear { inp: 3, out: 2 };
    let (ps, st) = setup(&mut rng(), &layer)?;
    let err = apply(&layer, x(4, 5), &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "Linear(3 => 2): input of shape [4, 5] has 5 features, expected 3");
    // Not a tensor at all.
    assert!(matches!(apply(&layer, Tree::new(), &ps, &st), Err(LuxError::Structure { .. })));
    // Parameters of the wrong layer.
    let err = apply(&layer, x(4, 3), &Tree::new(), &st).unwrap_err();
    assert_eq!(err.to_string(), "missing key `weight` at <root>");
    Ok(())
}

#[test]
fn setup_is_deterministic_and_draws_params_first() -> Result<()> {
    let layer = Noisy;
    let (ps1, st1) = setup(&mut rng(), &layer)?;
    let (ps2, st2) = setup(&mut rng(), &layer)?;
    assert_eq!((&ps1, &st1), (&ps2, &st2));
    let mut r = rng();
    let ps3 = layer.init_params(&mut r)?;
    let st3 = layer.init_state(&mut r)?;
    assert_eq!((ps3, st3), (ps1, st1));
    // Counts materialise with the fixed seed, whatever the rng.
    assert_eq!(COUNT_SEED, 1234);
    assert_eq!(layer.state_count(), 2);
    check_counts(&layer)?;
    Ok(())
}

#[test]
fn stateful_layer_updates_its_state() -> Result<()> {
    let layer = Counter;
    let (ps, st) = check_counts(&layer)?;
    assert_eq!(layer.state_count(), 2);
    assert_eq!(layer.param_count(), 0);
    let (_, st) = apply(&layer, x(1, 1), &ps, &st)?;
    let (y, st) = apply(&layer, x(1, 1), &ps, &st)?;
    assert_eq!(st.get("count")?, &Tree::Int(2));
    assert_eq!(y.as_tensor()?, &x(1, 1));
    // The state keeps its structure.
    assert!(st.same_structure(&setup(&mut rng(), &layer)?.1));
    // Without a state it fails, naming what is missing.
    assert_eq!(stateless_apply(&layer, x(1, 1), &ps).unwrap_err().to_string(), "missing key `count` at <root>");

    let noisy = Noisy;
    let (ps, st) = setup(&mut rng(), &noisy)?;
    let (a, st_a) = apply(&noisy, Tree::None, &ps, &st)?;
    let (b, _) = apply(&noisy, Tree::None, &ps, &st_a)?;
    let (a2, _) = apply(&noisy, Tree::None, &ps, &st)?;
    assert_ne!(a, b, "the rng in the state advances");
    assert_eq!(a, a2, "the same state gives the same draw");
    Ok(())
}

#[test]
fn container_nests_by_child_name() -> Result<()> {
    let model =
        Pair { first: Linear { inp: 3, out: 4 }, second: Pair { first: Counter, second: Linear { inp: 4, out: 2 } } };
    let (ps, st) = check_counts(&model)?;
    assert_eq!(ps.keys().collect::<Vec<_>>(), ["first", "second"]);
    assert_eq!(ps.tensor("first.weight")?.shape(), &[4, 3]);
    assert_eq!(ps.tensor("second.second.weight")?.shape(), &[2, 4]);
    assert_eq!(ps.at("second.first")?, &Tree::new());
    assert_eq!(
        st,
        tree! { first: Tree::new(), second: tree! { first: tree! { count: 0i64, training: true }, second: Tree::new() } }
    );
    assert_eq!(model.param_count(), 16 + 10);
    assert_eq!(model.state_count(), 2);

    let (y, st2) = apply(&model, x(5, 3), &ps, &st)?;
    assert_eq!(y.as_tensor()?.shape(), &[5, 2]);
    assert_eq!(st2.at("second.first.count")?, &Tree::Int(1));
    assert!(st2.same_structure(&st));

    // The same result by hand.
    let (h, _) = apply(&model.first, x(5, 3), ps.get("first")?, st.get("first")?)?;
    let (h, _) = apply(&model.second.second, h, ps.at("second.second")?, &Tree::new())?;
    assert_eq!(h, y);

    // A single child is nested too (Lux: even for a 1-tuple).
    let one = WithOwn(Linear { inp: 1, out: 1 });
    let (ps, _) = check_counts(&one)?;
    assert_eq!(ps.keys().collect::<Vec<_>>(), ["inner", "scale"]);
    Ok(())
}

#[test]
fn errors_inside_containers_name_the_path() -> Result<()> {
    let model =
        chain(vec![Box::new(Linear { inp: 3, out: 4 }), Box::new(chain(vec![Box::new(Linear { inp: 5, out: 1 })]))]);
    let (ps, st) = setup(&mut rng(), &model)?;
    let err = apply(&model, x(2, 3), &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "Linear(5 => 1) at layer_2.layer_1: input of shape [2, 4] has 4 features, expected 5");
    let model =
        chain(vec![Box::new(Linear { inp: 3, out: 4 }), Box::new(chain(vec![Box::new(Linear { inp: 4, out: 1 })]))]);
    let (ps, st) = setup(&mut rng(), &model)?;
    assert_eq!(apply(&model, x(2, 3), &ps, &st)?.0.as_tensor()?.shape(), &[2, 1]);
    let mut bad = ps.clone();
    bad.at_mut("layer_2.layer_1")?.remove("bias");
    let err = apply(&model, x(2, 3), &bad, &st).unwrap_err();
    assert_eq!(err, LuxError::MissingKey { key: "bias".into(), path: "layer_2.layer_1".into() });
    assert_eq!(err.to_string(), "missing key `bias` at layer_2.layer_1");
    let err = apply(&model, x(2, 3), &Tree::new(), &st).unwrap_err();
    assert_eq!(err.to_string(), "missing key `layer_1` at <root>");
    let err = apply(&model, Tree::Int(1), &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "structure mismatch at layer_1: expected a tensor, found an int");
    Ok(())
}

#[test]
fn wrapper_unwraps() -> Result<()> {
    let inner = Pair { first: Linear { inp: 2, out: 2 }, second: Counter };
    let (ps_inner, st_inner) = setup(&mut rng(), &inner)?;
    let wrapped = Wrapper(inner);
    let (ps, st) = check_counts(&wrapped)?;
    assert_eq!(ps, ps_inner);
    assert_eq!(st, st_inner);
    assert_eq!(ps.keys().collect::<Vec<_>>(), ["first", "second"]);
    assert_eq!(wrapped.param_count(), 6);
    assert_eq!(wrapped.state_count(), 2);
    let (y, _) = apply(&wrapped, x(3, 2), &ps, &st)?;
    let (y2, _) = apply(&wrapped.0, x(3, 2), &ps, &st)?;
    assert_eq!(y, y2);
    assert_eq!(empty_state(&wrapped), tree! { first: Tree::new(), second: Tree::new() });
    Ok(())
}

#[test]
fn stateless_apply_equals_apply_with_empty_state() -> Result<()> {
    // LuxCore: for plain, container and wrapper layers.
    let plain = Linear { inp: 3, out: 2 };
    let container = Pair { first: Linear { inp: 3, out: 3 }, second: Linear { inp: 3, out: 1 } };
    let wrapper = Wrapper(Pair { first: Linear { inp: 3, out: 3 }, second: Linear { inp: 3, out: 1 } });
    let layers: [&dyn Layer; 3] = [&plain, &container, &wrapper];
    for layer in layers {
        let (ps, _) = setup(&mut rng(), layer)?;
        let empty = empty_state(layer);
        assert_eq!(stateless_apply(layer, x(2, 3), &ps)?, apply(layer, x(2, 3), &ps, &empty)?.0);
    }
    assert_eq!(empty_state(&plain), Tree::new());
    assert_eq!(empty_state(&container), tree! { first: Tree::new(), second: Tree::new() });
    Ok(())
}

#[test]
fn boxed_and_shared_layers_forward_everything() -> Result<()> {
    let boxed: Box<dyn Layer> = Box::new(Linear { inp: 2, out: 3 });
    let shared: std::sync::Arc<dyn Layer> =
        std::sync::Arc::new(Pair { first: Counter, second: Linear { inp: 2, out: 1 } });
    assert_eq!(boxed.describe(), "Linear(2 => 3)");
    assert_eq!(boxed.display_name(), "Linear");
    assert_eq!(boxed.param_count(), 9);
    assert_eq!(shared.display_name(), "Pair");
    assert_eq!(shared.state_count(), 2);
    assert!(matches!(shared.children(), Children::Named(c) if c.len() == 2));
    check_counts(&boxed)?;
    check_counts(&shared)?;
    let (ps, st) = setup(&mut rng(), &boxed)?;
    assert_eq!(apply(&boxed, x(1, 2), &ps, &st)?.0.as_tensor()?.shape(), &[1, 3]);
    Ok(())
}

#[test]
fn update_state_api() {
    // Port of LuxCore misc.jl "update_state API".
    let st = tree! {
        layer_1: tree! { training: true, val: 1i64 },
        layer_2: tree! { layer_1: tree! { val: 2i64 }, layer_2: tree! { training: true } },
    };
    let st_ = test_mode(&st);
    assert_eq!(st_.at("layer_1.training"), Ok(&Tree::Bool(false)));
    assert_eq!(st_.at("layer_2.layer_2.training"), Ok(&Tree::Bool(false)));
    assert_eq!(st_.at("layer_1.val"), st.at("layer_1.val"));
    assert_eq!(st_.at("layer_2.layer_1.val"), st.at("layer_2.layer_1.val"));

    let st = st_;
    let st_ = train_mode(&st);
    assert_eq!(st_.at("layer_1.training"), Ok(&Tree::Bool(true)));
    assert_eq!(st_.at("layer_2.layer_2.training"), Ok(&Tree::Bool(true)));
    assert_eq!(st_.at("layer_1.val"), st.at("layer_1.val"));
    assert_eq!(st_.at("layer_2.layer_1.val"), st.at("layer_2.layer_1.val"));

    let st_ = update_state(&st, "val", -1i64);
    assert_eq!(st_.at("layer_1.training"), st.at("layer_1.training"));
    assert_eq!(st_.at("layer_2.layer_2.training"), st.at("layer_2.layer_2.training"));
    assert_eq!(st_.at("layer_1.val"), Ok(&Tree::Int(-1)));
    assert_eq!(st_.at("layer_2.layer_1.val"), Ok(&Tree::Int(-1)));
    // test_mode is idempotent.
    assert_eq!(test_mode(&test_mode(&st)), test_mode(&st));
}

#[test]
fn issue_849_nested_training_key() {
    // Port of LuxCore misc.jl "nested `training` key: Issue Lux.jl#849".
    let st = tree! {
        encoder: tree! { layer_1: Tree::new(), layer_2: tree! { training: true } },
        μ: Tree::new(),
        logσ: Tree::new(),
        decoder: tree! {
            layer_1: Tree::new(),
            layer_2: Tree::new(),
            layer_3: Tree::new(),
            layer_4: tree! { running_mean: Tensor::zeros(&[2], DType::F32).unwrap(), training: true },
        },
        rng: RngState::seed_from_u64(0),
        training: true,
    };
    let flags = |s: &Tree| {
        ["encoder.layer_2.training", "decoder.layer_4.training", "training"]
            .map(|p| s.at(p).unwrap().as_bool().unwrap())
    };
    assert_eq!(flags(&st), [true; 3]);
    let st_test = test_mode(&st);
    assert_eq!(flags(&st_test), [false; 3]);
    let st_train = train_mode(&st_test);
    assert_eq!(flags(&st_train), [true; 3]);
    assert_eq!(st_train, st, "everything else is untouched");
    assert_eq!(st_test.at("rng"), st.at("rng"));
    assert_eq!(st_test.at("decoder.layer_4.running_mean"), st.at("decoder.layer_4.running_mean"));
}

#[test]
fn printing_matches_lux() {
    let dense = |i, o| Box::new(Linear { inp: i, out: o }) as Box<dyn Layer>;
    let model = chain(vec![dense(2, 16), dense(16, 16), dense(16, 1)]);
    let expected = "\
Chain(
    layer_1 = Linear(2 => 16),                    # 48 parameters
    layer_2 = Linear(16 => 16),                   # 272 parameters
    layer_3 = Linear(16 => 1),                    # 17 parameters
)         # Total: 337 parameters,
          #        plus 0 states.";
    assert_eq!(display_model(&model), expected);
    assert_eq!(ModelDisplay(&model).to_string(), expected);

    // Nested containers, state counts, a wrapper, groups of identical consecutive layers.
    let model = chain(vec![
        dense(2, 4),
        Box::new(chain(vec![dense(4, 4), dense(4, 4), dense(4, 4), Box::new(Counter)])),
        Box::new(Counter),
        Box::new(Wrapper(Noisy)),
        dense(400, 300),
    ]);
    let expected = "\
Chain(
    layer_1 = Linear(2 => 4),                     # 12 parameters
    layer_2 = Chain(
        layer_(1-3) = Linear(4 => 4),             # 60 (20 x 3) parameters
        layer_4 = Counter,
    ),
    layer_3 = Counter,
    layer_4 = Wrapper(
        layer = Noisy,                            # 2 parameters, plus 2 non-trainable
    ),
    layer_5 = Linear(400 => 300),                 # 120_300 parameters
)         # Total: 120_374 parameters,
          #        plus 6 states.";
    assert_eq!(display_model(&model), expected);

    // A leaf layer alone prints on one line.
    // Lux pads a top-level leaf to column 29.
    assert_eq!(display_model(&Linear { inp: 2, out: 3 }), format!("Linear(2 => 3){}# 9 parameters", " ".repeat(15)));
    assert_eq!(display_model(&Noisy), format!("Noisy{}# 2 parameters, plus 2 non-trainable", " ".repeat(24)));
    // A long line keeps a two-space gap.
    assert_eq!(
        display_model(fake("BatchNorm(3, affine=true, track_stats=true)", 6, 7).as_ref()),
        "BatchNorm(3, affine=true, track_stats=true)  # 6 parameters, plus 7 non-trainable"
    );
    assert_eq!(display_model(&Counter), "Counter");
}

#[test]
fn printing_reproduces_lux_doc_examples() {
    // Lux src/layers/containers.jl, `Chain` docstring.
    let model = chain(vec![
        fake("Dense(2 => 3, relu)", 9, 0),
        fake("BatchNorm(3, affine=true, track_stats=true)", 6, 7),
        fake("Dense(3 => 2)", 8, 0),
    ]);
    assert_eq!(
        display_model(&model),
        "\
Chain(
    layer_1 = Dense(2 => 3, relu),                # 9 parameters
    layer_2 = BatchNorm(3, affine=true, track_stats=true),  # 6 parameters, plus 7 non-trainable
    layer_3 = Dense(3 => 2),                      # 8 parameters
)         # Total: 23 parameters,
          #        plus 7 states."
    );
    // Lux src/contrib/share_parameters.jl: names from keyword arguments, nested Chains.
    let named = |v: Vec<(&str, Box<dyn Layer>)>| Chain(v.into_iter().map(|(n, l)| (n.to_string(), l)).collect());
    let model = named(vec![
        ("d1", fake("Dense(2 => 4, tanh)", 12, 0)),
        ("d3", Box::new(named(vec![("l1", fake("Dense(4 => 2)", 10, 0)), ("l2", fake("Dense(2 => 4)", 12, 0))]))),
        ("d2", fake("Dense(4 => 2)", 10, 0)),
    ]);
    assert_eq!(
        display_model(&model),
        "\
Chain(
    d1 = Dense(2 => 4, tanh),                     # 12 parameters
    d3 = Chain(
        l1 = Dense(4 => 2),                       # 10 parameters
        l2 = Dense(2 => 4),                       # 12 parameters
    ),
    d2 = Dense(4 => 2),                           # 10 parameters
)         # Total: 44 parameters,
          #        plus 0 states."
    );
    // Lux `Parallel` and `BranchLayer` docstrings: identical consecutive layers are grouped.
    let model = chain(vec![fake("Dense(2 => 1)", 3, 0), fake("Dense(2 => 1)", 3, 0)]);
    assert_eq!(
        display_model(&model),
        "\
Chain(
    layer_(1-2) = Dense(2 => 1),                  # 6 (3 x 2) parameters
)         # Total: 6 parameters,
          #        plus 0 states."
    );
    let model = chain(vec![fake("NoOpLayer()", 0, 0), fake("NoOpLayer()", 0, 0), fake("NoOpLayer()", 0, 0)]);
    assert_eq!(
        display_model(&model),
        "\
Chain(
    layer_(1-3) = NoOpLayer(),
)         # Total: 0 parameters,
          #        plus 0 states."
    );
    // Non-consecutive names or different layers are not grouped; a state is multiplied too.
    let model = named(vec![
        ("a1", fake("X", 1, 1)),
        ("a2", fake("X", 1, 1)),
        ("a4", fake("X", 1, 1)),
        ("b", fake("X", 1, 1)),
        ("a5", fake("Y", 1, 0)),
    ]);
    assert_eq!(
        display_model(&model),
        "\
Chain(
    a(1-2) = X,                                   # 2 (1 x 2) parameters, plus 2 (1 x 2) non-trainable
    a4 = X,                                       # 1 parameters, plus 1 non-trainable
    b = X,                                        # 1 parameters, plus 1 non-trainable
    a5 = Y,                                       # 1 parameters
)         # Total: 5 parameters,
          #        plus 4 states."
    );
}

#[test]
fn params_and_states_serde_round_trip() -> Result<()> {
    let model = Pair { first: Counter, second: Pair { first: Linear { inp: 2, out: 2 }, second: Noisy } };
    let (ps, st) = setup(&mut rng(), &model)?;
    let io = |e: serde_json::Error| LuxError::Io(e.to_string());
    let ps2: Tree = serde_json::from_str(&serde_json::to_string(&ps).map_err(io)?).map_err(io)?;
    let st2: Tree = serde_json::from_str(&serde_json::to_string(&st).map_err(io)?).map_err(io)?;
    assert_eq!(ps2, ps);
    assert_eq!(st2, st);
    // The restored state continues exactly as the original.
    assert_eq!(apply(&model, x(1, 2), &ps2, &st2)?, apply(&model, x(1, 2), &ps, &st)?);
    Ok(())
}

// ----- tensor apply and shape-only counts ---------------------------------------------

#[test]
fn apply_tensor_unwraps_the_output() -> Result<()> {
    let layer = Linear { inp: 3, out: 2 };
    let (ps, st) = setup(&mut rng(), &layer)?;
    let (y, st2) = lux_core::apply_tensor(&layer, x(4, 3), &ps, &st)?;
    assert_eq!(&y, apply(&layer, x(4, 3), &ps, &st)?.0.as_tensor()?);
    assert_eq!(st2, st);
    // A layer whose output is not a tensor is an error naming it.
    let err = lux_core::apply_tensor(&Noisy, Tree::None, &setup(&mut rng(), &Noisy)?.0, &setup(&mut rng(), &Noisy)?.1)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "structure mismatch at <root>: Noisy: apply_tensor expects a tensor output, got a float"
    );
    // Errors of the layer itself pass through.
    let err = lux_core::apply_tensor(&layer, x(4, 5), &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "Linear(3 => 2): input of shape [4, 5] has 5 features, expected 3");
    Ok(())
}

/// Calls of `Huge`'s `init_params`/`init_state` (only `Huge` touches it).
static HUGE_INITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A leaf layer whose parameters would take 2 × 16 GiB, with declared shapes.
struct Huge;

impl Layer for Huge {
    fn init_params(&self, _: &mut dyn Rng) -> Result<Tree> {
        HUGE_INITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let big = [1usize << 16, 1 << 16];
        Ok(tree! { a: Tensor::zeros(&big, DType::F32)?, b: Tensor::zeros(&big, DType::F32)? })
    }
    fn init_state(&self, _: &mut dyn Rng) -> Result<Tree> {
        HUGE_INITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(tree! { training: true, mean: Tensor::zeros(&[1 << 16], DType::F32)? })
    }
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![1 << 16, 1 << 16]; 2])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![vec![], vec![1 << 16]])
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
}

#[test]
fn declared_shapes_count_without_building_anything() {
    assert_eq!(Huge.param_count(), 1 << 33);
    assert_eq!(Huge.state_count(), 1 + (1 << 16));
    // Printing asks for counts many times, inside containers too.
    let model = chain(vec![Box::new(Huge), fake("Tiny", 3, 0)]);
    let shown = display_model(&model);
    assert!(shown.contains("# 8_589_934_592 parameters, plus 65_537 non-trainable"), "{shown}");
    assert!(shown.contains("Total: 8_589_934_595 parameters"), "{shown}");
    assert_eq!(HUGE_INITS.load(std::sync::atomic::Ordering::SeqCst), 0, "no init_params/init_state call");
    // Undeclared shapes fall back to building the leaves once per count.
    let counted = Counted { inits: Default::default() };
    assert_eq!(counted.param_count(), 6);
    assert_eq!(counted.inits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A small leaf layer without declared shapes, counting its inits.
struct Counted {
    inits: std::sync::atomic::AtomicUsize,
}

impl Layer for Counted {
    fn init_params(&self, _: &mut dyn Rng) -> Result<Tree> {
        self.inits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(tree! { w: Tensor::zeros(&[2, 3], DType::F32)? })
    }
    fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        Ok((x.clone(), st.clone()))
    }
}

#[test]
fn declared_shapes_agree_with_what_setup_builds() -> Result<()> {
    /// Small enough to build: the declared counts must match the built trees.
    struct Declared;
    impl Layer for Declared {
        fn init_params(&self, _: &mut dyn Rng) -> Result<Tree> {
            Ok(tree! { w: Tensor::zeros(&[4, 3], DType::F32)?, b: Tensor::zeros(&[4], DType::F32)? })
        }
        fn init_state(&self, rng: &mut dyn Rng) -> Result<Tree> {
            Ok(tree! { training: true, rng: RngState::from_rng(rng), mean: Tensor::zeros(&[4], DType::F32)? })
        }
        fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
            Some(vec![vec![4, 3], vec![4]])
        }
        fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
            Some(vec![vec![], vec![], vec![4]])
        }
        fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
            Ok((x.clone(), st.clone()))
        }
    }
    let (ps, st) = check_counts(&Declared)?;
    assert_eq!((ps.param_count(), st.state_count()), (16, 6));
    // Through Box and Arc too.
    let boxed: Box<dyn Layer> = Box::new(Declared);
    assert_eq!((boxed.param_count(), boxed.state_count()), (16, 6));
    Ok(())
}
