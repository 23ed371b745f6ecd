//! Tests of the containers (translating Lux's `test/core_layers/containers_tests.jl`,
//! batch first, plus values against naive f64 references, naming, errors and
//! `check_layer`).

use crate::common::{Affine, Counter, affine_ref, assert_close, randn, vals64};
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{DType, Layer, RngState, Tensor, Tree, apply, apply_tensor, setup, tree};
use lux_layers::{
    BranchLayer, Chain, Connection, Func, NoOpLayer, PairwiseFusion, Parallel, RepeatedLayer, SkipConnection,
    WrappedFunction,
};
use lux_ops::Activation;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn setup0<L: Layer + ?Sized>(layer: &L) -> (Tree, Tree) {
    setup(&mut RngState::seed_from_u64(0), layer).unwrap()
}

fn keys(t: &Tree) -> Vec<String> {
    t.keys().map(str::to_string).collect()
}

/// Concatenation along the batch axis (Julia's `hcat` on Lux's column-major arrays).
fn hcat() -> Func {
    Func::new("hcat", |xs: &[Tree]| {
        let ts: Vec<Tensor> = xs.iter().map(|x| x.as_tensor().cloned()).collect::<lux_core::Result<_>>()?;
        Tensor::concat(&ts, 0).map(Tree::from)
    })
    .unwrap()
}

fn zero_fn() -> WrappedFunction<impl Fn(&Tree) -> lux_core::Result<Tree> + Send + Sync> {
    WrappedFunction::new("zero", |x: &Tree| Ok(x.as_tensor()?.zeros_like().into())).unwrap()
}

fn tanh64(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.tanh()).collect()
}

// ----- Chain -------------------------------------------------------------------------

#[test]
fn chain_matches_the_composition_of_its_layers() {
    let model = Chain::new((Affine { inp: 3, out: 4 }, Activation::Tanh, Affine { inp: 4, out: 2 })).unwrap();
    let (ps, st) = setup0(&model);
    assert_eq!(keys(&ps), ["layer_1", "layer_2", "layer_3"]);
    assert_eq!(ps.get("layer_2").unwrap(), &Tree::new());
    let x = randn(1, &[5, 3], DType::F32);
    let (y, st2) = apply_tensor(&model, &x, &ps, &st).unwrap();
    assert_eq!(y.shape(), &[5, 2]);
    assert_eq!(st2, st);
    let h =
        tanh64(&affine_ref(&vals64(&x), 5, ps.tensor("layer_1.weight").unwrap(), ps.tensor("layer_1.bias").unwrap()));
    let want = affine_ref(&h, 5, ps.tensor("layer_3.weight").unwrap(), ps.tensor("layer_3.bias").unwrap());
    assert_close(&vals64(&y), &want, 1e-5);
    assert_eq!(model.param_count(), 3 * 4 + 4 + 4 * 2 + 2);
}

#[test]
fn chain_from_boxed_vec_equals_the_typed_chain() {
    let typed = Chain::new((Affine { inp: 3, out: 4 }, Activation::Relu, Affine { inp: 4, out: 1 })).unwrap();
    let layers: Vec<Box<dyn Layer>> =
        vec![Box::new(Affine { inp: 3, out: 4 }), Box::new(Activation::Relu), Box::new(Affine { inp: 4, out: 1 })];
    let boxed = Chain::new(layers).unwrap();
    let (ps, st) = setup0(&typed);
    assert_eq!(setup0(&boxed), (ps.clone(), st.clone()));
    let x = randn(2, &[6, 3], DType::F32);
    assert_eq!(apply(&typed, &x, &ps, &st).unwrap(), apply(&boxed, &x, &ps, &st).unwrap());
    assert_eq!(boxed.len(), 3);
    assert_eq!(typed.param_count(), boxed.param_count());
}

#[test]
fn chain_named_layers_keep_their_names() {
    // Lux: Chain(; l1 = Dense(10 => 5, σ), d52 = Dense(5 => 2, tanh), d21 = Dense(2 => 1))
    let model = Chain::named([
        ("l1", Box::new(Chain::new((Affine { inp: 10, out: 5 }, Activation::Sigmoid)).unwrap()) as Box<dyn Layer>),
        ("d52", Box::new(Chain::new((Affine { inp: 5, out: 2 }, Activation::Tanh)).unwrap())),
        ("d21", Box::new(Affine { inp: 2, out: 1 })),
    ])
    .unwrap();
    let (ps, st) = setup0(&model);
    assert_eq!(keys(&ps), ["l1", "d52", "d21"]);
    assert_eq!(keys(&st), ["l1", "d52", "d21"]);
    assert_eq!(ps.tensor("l1.layer_1.weight").unwrap().shape(), &[5, 10]);
    let (y, _) = apply_tensor(&model, randn(3, &[1, 10], DType::F32), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[1, 1]);
    // with_names on a typed chain
    let typed = Chain::new((Affine { inp: 2, out: 2 }, NoOpLayer)).unwrap().with_names(["enc", "dec"]).unwrap();
    assert_eq!(keys(&setup0(&typed).0), ["enc", "dec"]);
}

#[test]
fn chain_rejects_bad_names() {
    let err = Chain::new((NoOpLayer, NoOpLayer)).unwrap().with_names(["a", "a"]).err().unwrap();
    assert_eq!(err.to_string(), "Chain: invalid argument: layer name \"a\" is given twice");
    let err = Chain::new((NoOpLayer, NoOpLayer)).unwrap().with_names(["a"]).err().unwrap();
    assert_eq!(err.to_string(), "Chain: invalid argument: 1 names given for 2 layers");
    let err = Chain::named([("x.y", NoOpLayer)]).err().unwrap();
    assert_eq!(err.to_string(), "Chain: invalid argument: layer name \"x.y\" is empty or contains `.`");
    assert!(Chain::named([("", NoOpLayer)]).is_err());
}

#[test]
fn chain_indexing_and_field_access() {
    // Lux: encoder[1] == encoder.layer_1, autoencoder[1] == autoencoder.encoder,
    // autoencoder.layer_1 throws.
    let encoder = Chain::new((Affine { inp: 10, out: 5 }, Activation::Sigmoid)).unwrap();
    let decoder = Chain::new((Affine { inp: 5, out: 10 }, Activation::Sigmoid)).unwrap();
    let auto = Chain::new((encoder, decoder)).unwrap().with_names(["encoder", "decoder"]).unwrap();
    assert_eq!(auto.len(), 2);
    assert!(!auto.is_empty());
    assert_eq!(auto.get(0).unwrap().param_count(), 55);
    assert_eq!(auto.get_named("encoder").unwrap().param_count(), 55);
    assert_eq!(auto.get_named("decoder").unwrap().param_count(), 60);
    assert!(auto.get_named("layer_1").is_none());
    assert!(auto.get(2).is_none());
    // typed access to the layers
    assert_eq!(auto.layers().0.get_named("layer_1").unwrap().describe(), "Affine(10 => 5)");
    assert_eq!(auto.layers().1.get(1).unwrap().describe(), "WrappedFunction(σ)");
}

#[test]
fn chain_threads_each_layers_state() {
    let model = Chain::new((Counter, Activation::Tanh, Counter)).unwrap();
    let (ps, st) = setup0(&model);
    assert_eq!(st, tree! { layer_1: tree! { count: 0i64 }, layer_2: Tree::new(), layer_3: tree! { count: 0i64 } });
    let x = randn(4, &[2, 2], DType::F32);
    let (_, st) = apply(&model, &x, &ps, &st).unwrap();
    let (_, st) = apply(&model, &x, &ps, &st).unwrap();
    assert_eq!(st.at("layer_1.count").unwrap(), &Tree::Int(2));
    assert_eq!(st.at("layer_3.count").unwrap(), &Tree::Int(2));
    assert_eq!(model.state_count(), 2);
}

#[test]
fn empty_chain_is_the_identity() {
    let model = Chain::new(Vec::<Box<dyn Layer>>::new()).unwrap();
    let (ps, st) = setup0(&model);
    assert_eq!((ps.clone(), st.clone()), (Tree::new(), Tree::new()));
    let x = randn(5, &[2, 3], DType::F32);
    assert_eq!(apply_tensor(&model, &x, &ps, &st).unwrap().0, x);
}

#[test]
fn chain_errors_name_the_layer_path() {
    let model = Chain::new((Affine { inp: 3, out: 3 }, Affine { inp: 4, out: 2 })).unwrap();
    let (ps, st) = setup0(&model);
    let x = randn(6, &[2, 3], DType::F32);
    let err = apply(&model, &x, &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "Affine(4 => 2) at layer_2: input has 3 features, expected 4");

    let nested =
        Chain::new((Affine { inp: 3, out: 3 }, Chain::new((Activation::Tanh, Affine { inp: 4, out: 2 })).unwrap()))
            .unwrap();
    let (ps, st) = setup0(&nested);
    let err = apply(&nested, &x, &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "Affine(4 => 2) at layer_2.layer_2: input has 3 features, expected 4");

    // ps/st that do not belong to the model
    let mut bad = ps.clone();
    bad.remove("layer_2");
    assert_eq!(apply(&nested, &x, &bad, &st).unwrap_err().to_string(), "missing key `layer_2` at <root>");
    let mut bad = ps.clone();
    bad.get_mut("layer_2").unwrap().remove("layer_1");
    assert_eq!(apply(&nested, &x, &bad, &st).unwrap_err().to_string(), "missing key `layer_1` at layer_2");
    let mut bad = ps.clone();
    bad.at_mut("layer_1").unwrap().remove("bias");
    assert_eq!(apply(&nested, &x, &bad, &st).unwrap_err().to_string(), "missing key `bias` at layer_1");
    let err = apply(&nested, &x, &Tree::None, &st).unwrap_err();
    assert!(err.to_string().contains("structure mismatch"), "{err}");
}

#[test]
fn chain_passes_check_layer() {
    let x: Tree = randn(7, &[3, 3], DType::F32).into();
    let model = Chain::new((Affine { inp: 3, out: 4 }, Activation::Tanh, Counter, Affine { inp: 4, out: 2 })).unwrap();
    let report = check_layer(&model, &x, &LayerCheck { output_shape: Some(vec![3, 2]), ..Default::default() }).unwrap();
    assert_eq!(report.param_count, 16 + 10);
    assert_eq!(report.state_count, 1);
    let boxed: Vec<Box<dyn Layer>> = vec![Box::new(Affine { inp: 3, out: 2 }), Box::new(Activation::Sigmoid)];
    check_layer(&Chain::new(boxed).unwrap(), &x, &LayerCheck::default()).unwrap();
}

// ----- SkipConnection ----------------------------------------------------------------

#[test]
fn skip_connection_zero_sum_and_concat_size() {
    // Lux: SkipConnection(WrappedFunction(zero), .+)(x) == x
    let layer = SkipConnection::new(zero_fn(), Func::add()).unwrap();
    let (ps, st) = setup0(&layer);
    let x = randn(8, &[10, 10, 10, 10], DType::F32);
    assert_eq!(apply_tensor(&layer, &x, &ps, &st).unwrap().0, x);
    // Lux: SkipConnection(Dense(10, 10), hcat) on (10, 2) → (10, 4); batch first: [4, 10]
    let layer = SkipConnection::new(Affine { inp: 10, out: 10 }, hcat()).unwrap();
    let (ps, st) = setup0(&layer);
    assert_eq!(keys(&ps), ["weight", "bias"]); // a wrapper: the layer's parameters, un-nested
    let (y, _) = apply_tensor(&layer, randn(9, &[2, 10], DType::F32), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[4, 10]);
}

#[test]
fn skip_connection_residual_values() {
    let layer =
        SkipConnection::new(Chain::new((Affine { inp: 3, out: 3 }, Activation::Tanh)).unwrap(), Func::add()).unwrap();
    let (ps, st) = setup0(&layer);
    assert_eq!(keys(&ps), ["layer_1", "layer_2"]);
    let x = randn(10, &[4, 3], DType::F32);
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let xv = vals64(&x);
    let h = tanh64(&affine_ref(&xv, 4, ps.tensor("layer_1.weight").unwrap(), ps.tensor("layer_1.bias").unwrap()));
    let want: Vec<f64> = h.iter().zip(&xv).map(|(a, b)| a + b).collect();
    assert_close(&vals64(&y), &want, 1e-5);
}

#[test]
fn skip_connection_with_a_layer_connection_nests_its_trees() {
    // The connection layer receives (layer(x), x): here it keeps the first entry
    // and adds an affine map of the second.
    struct FirstPlusAffine(Affine);
    impl Layer for FirstPlusAffine {
        fn init_params(&self, rng: &mut dyn rand::Rng) -> lux_core::Result<Tree> {
            self.0.init_params(rng)
        }
        fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
            self.0.param_shapes()
        }
        fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> lux_core::Result<(Tree, Tree)> {
            let xs = x.as_seq()?;
            let (z, st) = self.0.forward(&xs[1], ps, st)?;
            Ok((xs[0].as_tensor()?.add(z.as_tensor()?)?.into(), st))
        }
    }
    let layer = SkipConnection::new(Counter, Connection::layer(FirstPlusAffine(Affine { inp: 2, out: 2 }))).unwrap();
    let (ps, st) = setup0(&layer);
    assert_eq!(keys(&ps), ["layers", "connection"]);
    assert_eq!(st, tree! { layers: tree! { count: 0i64 }, connection: Tree::new() });
    let x = randn(11, &[3, 2], DType::F32);
    let (y, st2) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(st2.at("layers.count").unwrap(), &Tree::Int(1));
    let xv = vals64(&x);
    let z = affine_ref(&xv, 3, ps.tensor("connection.weight").unwrap(), ps.tensor("connection.bias").unwrap());
    let want: Vec<f64> = xv.iter().zip(&z).map(|(a, b)| a + b).collect();
    assert_close(&vals64(&y), &want, 1e-5);
    assert_eq!(layer.param_count(), 6);
    check_layer(&layer, &x.into(), &LayerCheck::default()).unwrap();
}

#[test]
fn skip_connection_errors_name_the_connection() {
    let layer = SkipConnection::new(Affine { inp: 3, out: 2 }, Func::add()).unwrap();
    let (ps, st) = setup0(&layer);
    let err = apply(&layer, randn(12, &[4, 3], DType::F32), &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "+ at connection: shapes [4, 2] and [4, 3] differ");
    // an error inside the wrapped layer has no extra path (its ps are un-nested)
    let err = apply(&layer, randn(12, &[4, 5], DType::F32), &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "Affine(3 => 2): input has 5 features, expected 3");
}

#[test]
fn skip_connection_passes_check_layer() {
    let x: Tree = randn(13, &[3, 4], DType::F32).into();
    let layer =
        SkipConnection::new(Chain::new((Affine { inp: 4, out: 4 }, Activation::Tanh)).unwrap(), Func::add()).unwrap();
    check_layer(&layer, &x, &LayerCheck { output_shape: Some(vec![3, 4]), ..Default::default() }).unwrap();
    check_layer(&SkipConnection::new(Activation::Relu, Func::vcat()).unwrap(), &x, &LayerCheck::default()).unwrap();
}

// ----- Parallel ----------------------------------------------------------------------

#[test]
fn parallel_zero_sum_and_concat_size() {
    // Lux: Parallel(+, WrappedFunction(zero), NoOpLayer())(x) == x
    let layer = Parallel::new(Func::add(), (zero_fn(), NoOpLayer)).unwrap();
    let (ps, st) = setup0(&layer);
    let x = randn(14, &[10, 10, 10, 10], DType::F64);
    assert_eq!(apply_tensor(&layer, &x, &ps, &st).unwrap().0, x);
    // Lux: Parallel(hcat, Dense(10, 10), NoOpLayer()) on (10, 2) → (10, 4)
    let layer = Parallel::new(hcat(), (Affine { inp: 10, out: 10 }, NoOpLayer)).unwrap();
    let (ps, st) = setup0(&layer);
    let (y, _) = apply_tensor(&layer, randn(15, &[2, 10], DType::F32), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[4, 10]);
}

#[test]
fn parallel_vararg_input_goes_one_entry_per_layer() {
    // Lux: Parallel(+, Dense(10, 2), Dense(5, 2), Dense(4, 2)) on a tuple of three inputs
    let layer =
        Parallel::new(Func::add(), (Affine { inp: 10, out: 2 }, Affine { inp: 5, out: 2 }, Affine { inp: 4, out: 2 }))
            .unwrap();
    let (ps, st) = setup0(&layer);
    let xs = [randn(16, &[1, 10], DType::F32), randn(17, &[1, 5], DType::F32), randn(18, &[1, 4], DType::F32)];
    let (y, _) = apply_tensor(&layer, Tree::seq(xs.iter()), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[1, 2]);
    let mut want = vec![0.0; 2];
    for (i, x) in xs.iter().enumerate() {
        let name = format!("layer_{}", i + 1);
        let w = ps.tensor(&format!("{name}.weight")).unwrap();
        let b = ps.tensor(&format!("{name}.bias")).unwrap();
        for (acc, v) in want.iter_mut().zip(affine_ref(&vals64(x), 1, w, b)) {
            *acc += v;
        }
    }
    assert_close(&vals64(&y), &want, 1e-5);
    // named layers (Lux: Parallel(+; d102 = …, d52 = …, d42 = …))
    let named = layer.with_names(["d102", "d52", "d42"]).unwrap();
    let (ps, st) = setup0(&named);
    assert_eq!(keys(&ps), ["d102", "d52", "d42"]);
    assert_eq!(apply_tensor(&named, Tree::seq(xs.iter()), &ps, &st).unwrap().0.shape(), &[1, 2]);
    // a tuple of the wrong length
    let err = apply(&named, Tree::seq(xs[..2].iter()), &ps, &st).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Parallel: invalid argument: the input is a tuple of 2 entries, expected 3 (one per layer)"
    );
}

#[test]
fn parallel_connection_is_called_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = {
        let calls = calls.clone();
        Func::new("f_cnt", move |xs: &[Tree]| {
            calls.fetch_add(1, Ordering::SeqCst);
            Func::add().call(xs)
        })
        .unwrap()
    };
    let sin = WrappedFunction::new("sin", |x: &Tree| Ok(x.as_tensor()?.sin()?.into())).unwrap();
    let cos = WrappedFunction::new("cos", |x: &Tree| Ok(x.as_tensor()?.cos()?.into())).unwrap();
    let layer = Parallel::new(counted.clone(), (sin, cos, Activation::Tanh)).unwrap();
    let (ps, st) = setup0(&layer);
    let x = Tensor::from_vec(vec![1.0f64], &[1]).unwrap();
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!((y.to_vec::<f64>().unwrap()[0] - (1f64.sin() + 1f64.cos() + 1f64.tanh())).abs() < 1e-12);
    let three = [1.0f64, 2.0, 3.0].map(|v| Tensor::from_vec(vec![v], &[1]).unwrap());
    let (y, _) = apply_tensor(&layer, Tree::seq(three.iter()), &ps, &st).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!((y.to_vec::<f64>().unwrap()[0] - (1f64.sin() + 2f64.cos() + 3f64.tanh())).abs() < 1e-12);
    let single = Parallel::new(counted, (Activation::Tanh,)).unwrap();
    let (ps1, st1) = setup0(&single);
    apply(&single, &x, &ps1, &st1).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn parallel_with_a_layer_connection_nests_its_trees() {
    // Lux's "layer connection": Parallel(ConcatLayer(), Dense(10, 5), Dense(10, 3)) → (8, 2)
    let concat = Func::vcat();
    let layer = Parallel::new(
        Connection::layer(Chain::new((concat, Counter)).unwrap()),
        (Affine { inp: 10, out: 5 }, Affine { inp: 10, out: 3 }),
    )
    .unwrap();
    let (ps, st) = setup0(&layer);
    assert_eq!(keys(&ps), ["layers", "connection"]);
    assert_eq!(keys(&st), ["layers", "connection"]);
    assert_eq!(keys(ps.get("layers").unwrap()), ["layer_1", "layer_2"]);
    let x = randn(19, &[2, 10], DType::F32);
    let (y, st2) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(y.shape(), &[2, 8]);
    assert_eq!(st2.at("connection.layer_2.count").unwrap(), &Tree::Int(1));
    assert_eq!(layer.param_count(), 55 + 33);
    // an error in a branch names the nested path
    let err = apply(&layer, randn(19, &[2, 9], DType::F32), &ps, &st).unwrap_err();
    assert_eq!(err.to_string(), "Affine(10 => 5) at layers.layer_1: input has 9 features, expected 10");
    check_layer(&layer, &x.into(), &LayerCheck::default()).unwrap();
}

#[test]
fn parallel_tuple_returns_the_outputs() {
    // Lux's doc example: Parallel(nothing, Dense(2, 1), Dense(2, 1)) on (x1, x2)
    let layer = Parallel::tuple((Affine { inp: 2, out: 1 }, Affine { inp: 2, out: 1 })).unwrap();
    let (ps, st) = setup0(&layer);
    let (x1, x2) = (randn(20, &[1, 2], DType::F32), randn(21, &[1, 2], DType::F32));
    let (y, _) = apply(&layer, Tree::seq([&x1, &x2]), &ps, &st).unwrap();
    let ys = y.as_seq().unwrap();
    assert_eq!(ys.len(), 2);
    for (i, (yi, xi)) in ys.iter().zip([&x1, &x2]).enumerate() {
        let name = format!("layer_{}", i + 1);
        let want = affine_ref(
            &vals64(xi),
            1,
            ps.tensor(&format!("{name}.weight")).unwrap(),
            ps.tensor(&format!("{name}.bias")).unwrap(),
        );
        assert_close(&vals64(yi.as_tensor().unwrap()), &want, 1e-5);
    }
    check_layer(&layer, &Tree::seq([&x1, &x2]), &LayerCheck::default()).unwrap();
}

// ----- PairwiseFusion ----------------------------------------------------------------

fn scalar(v: f64) -> Tensor {
    Tensor::from_vec(vec![v], &[1]).unwrap()
}

#[test]
fn pairwise_fusion_follows_luxs_order_of_operations() {
    // Lux: PairwiseFusion(vcat, x -> x .+ 1, x -> x .+ 2, x -> x .^ 3)
    let layer = PairwiseFusion::new(
        Func::vcat(),
        (
            WrappedFunction::new("plus1", |x: &Tree| Ok(x.as_tensor()?.add_scalar(1.0)?.into())).unwrap(),
            WrappedFunction::new("plus2", |x: &Tree| Ok(x.as_tensor()?.add_scalar(2.0)?.into())).unwrap(),
            WrappedFunction::new("cube", |x: &Tree| Ok(x.as_tensor()?.powf(3.0)?.into())).unwrap(),
        ),
    )
    .unwrap();
    let (ps, st) = setup0(&layer);
    let (y, _) = apply_tensor(&layer, Tree::seq([2.0, 10.0, 20.0, 40.0].map(scalar)), &ps, &st).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![125.0, 1728.0, 8000.0, 40.0]);
    let (y, _) = apply_tensor(&layer, scalar(7.0), &ps, &st).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![1000.0, 729.0, 343.0, 7.0]);
    let err = apply(&layer, Tree::seq([2.0, 10.0].map(scalar)), &ps, &st).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PairwiseFusion: invalid argument: the input is a tuple of 2 entries, expected 4 (one more than the layers)"
    );
}

#[test]
fn pairwise_fusion_sizes_and_names() {
    // Lux: PairwiseFusion(+, Dense(1, 30), Dense(30, 10)) on ((1,10), (30,10), (10,10)) → (10, 10)
    let xs = [randn(22, &[10, 1], DType::F32), randn(23, &[10, 30], DType::F32), randn(24, &[10, 10], DType::F32)];
    let layer = PairwiseFusion::new(Func::add(), (Affine { inp: 1, out: 30 }, Affine { inp: 30, out: 10 })).unwrap();
    let (ps, st) = setup0(&layer);
    let (y, _) = apply_tensor(&layer, Tree::seq(xs.iter()), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[10, 10]);
    // reference: y1 = A1(x1) + x2, y = A2(y1) + x3
    let y1: Vec<f64> =
        affine_ref(&vals64(&xs[0]), 10, ps.tensor("layer_1.weight").unwrap(), ps.tensor("layer_1.bias").unwrap())
            .iter()
            .zip(vals64(&xs[1]))
            .map(|(a, b)| a + b)
            .collect();
    let want: Vec<f64> = affine_ref(&y1, 10, ps.tensor("layer_2.weight").unwrap(), ps.tensor("layer_2.bias").unwrap())
        .iter()
        .zip(vals64(&xs[2]))
        .map(|(a, b)| a + b)
        .collect();
    assert_close(&vals64(&y), &want, 1e-4);
    let named = layer.with_names(["d1", "d2"]).unwrap();
    let (ps, st) = setup0(&named);
    assert_eq!(keys(&ps), ["d1", "d2"]);
    assert_eq!(apply_tensor(&named, Tree::seq(xs.iter()), &ps, &st).unwrap().0.shape(), &[10, 10]);
    // Lux: PairwiseFusion(.+, Dense(1, 10), Dense(10, 1)) on a single (1, 10) input → (1, 10)
    let single = PairwiseFusion::new(
        Func::new("broadcast +", |xs: &[Tree]| xs[0].as_tensor()?.add(xs[1].as_tensor()?).map(Tree::from)).unwrap(),
        (Affine { inp: 1, out: 10 }, Affine { inp: 10, out: 1 }),
    )
    .unwrap();
    let (ps, st) = setup0(&single);
    let (y, _) = apply_tensor(&single, randn(25, &[10, 1], DType::F32), &ps, &st).unwrap();
    assert_eq!(y.shape(), &[10, 1]);
    check_layer(&named, &Tree::seq(xs.iter()), &LayerCheck::default()).unwrap();
}

// ----- BranchLayer -------------------------------------------------------------------

#[test]
fn branch_layer_gives_each_layers_output() {
    // Lux: BranchLayer(Dense(10, 10), Dense(10, 10)); y_i == layer_i(x, ps.layer_i, st.layer_i)
    let layer = BranchLayer::new((Affine { inp: 10, out: 10 }, Affine { inp: 10, out: 10 })).unwrap();
    let (ps, st) = setup0(&layer);
    let x = randn(26, &[1, 10], DType::F32);
    let (y, _) = apply(&layer, &x, &ps, &st).unwrap();
    let ys = y.as_seq().unwrap();
    let l1 = Affine { inp: 10, out: 10 };
    assert_eq!(ys[0], l1.forward(&x.clone().into(), ps.get("layer_1").unwrap(), st.get("layer_1").unwrap()).unwrap().0);
    assert_eq!(ys[1], l1.forward(&x.clone().into(), ps.get("layer_2").unwrap(), st.get("layer_2").unwrap()).unwrap().0);
    assert_ne!(ys[0], ys[1]);
    // named (Lux: BranchLayer(; d1 = …, d2 = …))
    let named = layer.with_names(["d1", "d2"]).unwrap();
    assert_eq!(keys(&setup0(&named).0), ["d1", "d2"]);
    // a tuple input goes whole to every layer
    let pair = BranchLayer::new((NoOpLayer, NoOpLayer)).unwrap();
    let input = Tree::seq([Tree::Int(1), Tree::Int(2)]);
    let (y, _) = apply(&pair, input.clone(), &setup0(&pair).0, &setup0(&pair).1).unwrap();
    assert_eq!(y, Tree::seq([input.clone(), input]));
}

#[test]
fn branch_layer_fusion_function_and_layer() {
    // Lux: BranchLayer(Dense(10, 5), Dense(10, 5); fusion = +) ≈ y1 + y2
    let plain = BranchLayer::new((Affine { inp: 10, out: 5 }, Affine { inp: 10, out: 5 })).unwrap();
    let fused =
        BranchLayer::new((Affine { inp: 10, out: 5 }, Affine { inp: 10, out: 5 })).unwrap().with_fusion(Func::add());
    let (ps, st) = setup0(&fused);
    assert_eq!(setup0(&plain).0, ps);
    let x = randn(27, &[1, 10], DType::F32);
    let (y, _) = apply_tensor(&fused, &x, &ps, &st).unwrap();
    let (ys, _) = apply(&plain, &x, &ps, &st).unwrap();
    let ys = ys.as_seq().unwrap();
    let want: Vec<f64> =
        vals64(ys[0].as_tensor().unwrap()).iter().zip(vals64(ys[1].as_tensor().unwrap())).map(|(a, b)| a + b).collect();
    assert_close(&vals64(&y), &want, 1e-6);
    // Lux: BranchLayer(Dense(10, 5), Dense(10, 3); fusion = ConcatLayer()) → (8, 1), ps has layers and fusion
    let layer = BranchLayer::new((Affine { inp: 10, out: 5 }, Affine { inp: 10, out: 3 }))
        .unwrap()
        .with_fusion(Connection::layer(Func::vcat()));
    let (ps, st) = setup0(&layer);
    assert_eq!(keys(&ps), ["layers", "fusion"]);
    assert_eq!(keys(&st), ["layers", "fusion"]);
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(y.shape(), &[1, 8]);
    check_layer(&layer, &x.clone().into(), &LayerCheck::default()).unwrap();
    check_layer(&fused, &x.into(), &LayerCheck::default()).unwrap();
}

// ----- RepeatedLayer -----------------------------------------------------------------

#[test]
fn repeated_layer_applies_its_model_repeatedly() {
    let layer = RepeatedLayer::builder(Chain::new((Affine { inp: 2, out: 2 }, Activation::Tanh)).unwrap())
        .repeats(4)
        .build()
        .unwrap();
    let (ps, st) = setup0(&layer);
    assert_eq!(keys(&ps), ["layer_1", "layer_2"]); // a wrapper: the model's parameters
    let x = randn(28, &[12, 2], DType::F32);
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(y.shape(), &[12, 2]);
    let (w, b) = (ps.tensor("layer_1.weight").unwrap(), ps.tensor("layer_1.bias").unwrap());
    let mut h = vals64(&x);
    for _ in 0..4 {
        h = tanh64(&affine_ref(&h, 12, w, b));
    }
    assert_close(&vals64(&y), &h, 1e-5);
}

#[test]
fn repeated_layer_with_input_injection() {
    // Lux's test layer: Parallel(+, Dense(2 => 2), Dense(2 => 2)) with input injection
    let layer = RepeatedLayer::builder(
        Parallel::new(Func::add(), (Affine { inp: 2, out: 2 }, Affine { inp: 2, out: 2 })).unwrap(),
    )
    .repeats(4)
    .input_injection(true)
    .build()
    .unwrap();
    let (ps, st) = setup0(&layer);
    let x = randn(29, &[12, 2], DType::F32);
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let xv = vals64(&x);
    let mut h = xv.clone();
    for _ in 0..4 {
        let a = affine_ref(&h, 12, ps.tensor("layer_1.weight").unwrap(), ps.tensor("layer_1.bias").unwrap());
        let b = affine_ref(&xv, 12, ps.tensor("layer_2.weight").unwrap(), ps.tensor("layer_2.bias").unwrap());
        h = a.iter().zip(&b).map(|(p, q)| p + q).collect();
    }
    assert_close(&vals64(&y), &h, 1e-4);
    check_layer(&layer, &x.into(), &LayerCheck { output_shape: Some(vec![12, 2]), ..Default::default() }).unwrap();
}

#[test]
fn repeated_layer_threads_the_state_through_every_repeat() {
    let layer = RepeatedLayer::builder(Counter).repeats(5).build().unwrap();
    let (ps, st) = setup0(&layer);
    assert_eq!(st, tree! { count: 0i64 });
    let (_, st) = apply(&layer, Tree::Float(1.0), &ps, &st).unwrap();
    assert_eq!(st, tree! { count: 5i64 });
    assert_eq!(RepeatedLayer::new(NoOpLayer).unwrap().repeats(), 10);
    let err = RepeatedLayer::builder(NoOpLayer).repeats(0).build().err().unwrap();
    assert_eq!(err.to_string(), "RepeatedLayer: invalid argument: repeats must be at least 1");
}

#[test]
fn repeated_layer_passes_check_layer() {
    let x: Tree = randn(30, &[3, 2], DType::F32).into();
    for injection in [false, true] {
        let model: Box<dyn Layer> = if injection {
            Box::new(Parallel::new(Func::add(), (Affine { inp: 2, out: 2 }, Activation::Tanh)).unwrap())
        } else {
            Box::new(Chain::new((Affine { inp: 2, out: 2 }, Activation::Tanh)).unwrap())
        };
        let layer = RepeatedLayer::builder(model).repeats(3).input_injection(injection).build().unwrap();
        check_layer(&layer, &x, &LayerCheck { output_shape: Some(vec![3, 2]), ..Default::default() }).unwrap();
    }
}

// ----- everything fits everywhere ----------------------------------------------------

/// A user's layer and plain activations go into every container, typed and boxed.
#[test]
fn user_layers_and_activations_fit_every_container() {
    let x: Tree = randn(31, &[2, 3], DType::F32).into();
    let opts = LayerCheck::default();
    let a = || Affine { inp: 3, out: 3 };
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Chain::new((a(), Activation::Relu, Counter)).unwrap()),
        Box::new(SkipConnection::new(a(), Func::add()).unwrap()),
        Box::new(SkipConnection::new(Activation::Tanh, Func::add()).unwrap()),
        Box::new(Parallel::new(Func::add(), (a(), Activation::Sigmoid, Counter)).unwrap()),
        Box::new(BranchLayer::new((a(), Activation::Tanh)).unwrap().with_fusion(Func::add())),
        Box::new(BranchLayer::new((Activation::Tanh, Counter)).unwrap().with_fusion(Connection::layer(Func::add()))),
        Box::new(PairwiseFusion::new(Func::add(), (a(), Activation::Tanh)).unwrap()),
        Box::new(RepeatedLayer::builder(a()).repeats(2).build().unwrap()),
        Box::new(RepeatedLayer::builder(Activation::Tanh).repeats(2).build().unwrap()),
        Box::new(Chain::new(vec![Box::new(a()) as Box<dyn Layer>, Box::new(Activation::Gelu)]).unwrap()),
    ];
    for layer in &layers {
        check_layer(layer, &x, &opts).unwrap_or_else(|e| panic!("{}: {e}", lux_core::display_model(layer)));
    }
    // and the containers nest in one another
    let nested = Chain::new(layers).unwrap();
    let report = check_layer(&nested, &x, &opts).unwrap();
    assert_eq!(report.param_count, 7 * 12);
    assert_eq!(report.state_count, 3);
}

#[test]
fn skip_connection_with_a_binary_closure() {
    // connection(layer(x), x) = layer(x) ⊙ x, as a two-argument closure
    let gate = Func::binary("gate", |y: &Tree, x: &Tree| Ok(y.as_tensor()?.mul(x.as_tensor()?)?.into())).unwrap();
    let layer = SkipConnection::new(Activation::Sigmoid, gate).unwrap();
    let (ps, st) = setup0(&layer);
    let x = randn(43, &[3, 2], DType::F64);
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    let want: Vec<f64> = vals64(&x).iter().map(|v| v / (1.0 + (-v).exp())).collect();
    assert_close(&vals64(&y), &want, 1e-12);
    check_layer(&layer, &x.into(), &LayerCheck::default()).unwrap();
}

#[test]
fn func_errors() {
    assert!(Func::new("", |xs: &[Tree]| Ok(xs[0].clone())).is_err());
    let err = Func::add().call(&[Tree::Int(1)]).unwrap_err();
    assert_eq!(err.to_string(), "+: invalid argument: expects tensors, got a int");
    let err = Func::vcat().call(&[]).unwrap_err();
    assert_eq!(err.to_string(), "vcat: invalid argument: needs at least one argument");
    let err = Func::vcat().call(&[scalar(1.0).into(), Tensor::zeros(&[2, 2], DType::F64).unwrap().into()]).unwrap_err();
    assert!(err.to_string().starts_with("vcat: "), "{err}");
}

// ----- with the library's Dense ------------------------------------------------------

#[test]
fn chain_of_dense_layers_as_in_luxs_tests() {
    use lux_layers::Dense;
    // Lux: Chain(Dense(10 => 5, σ), Dense(5 => 2, tanh), Dense(2 => 1)) on (10, 1) → (1, 1)
    let model = Chain::new((
        Dense::new(10, 5, Activation::Sigmoid).unwrap(),
        Dense::new(5, 2, Activation::Tanh).unwrap(),
        Dense::new(2, 1, Activation::Identity).unwrap(),
    ))
    .unwrap();
    let (ps, st) = setup0(&model);
    let x = randn(40, &[1, 10], DType::F32);
    assert_eq!(apply_tensor(&model, &x, &ps, &st).unwrap().0.shape(), &[1, 1]);
    check_layer(&model, &randn(41, &[3, 10], DType::F32).into(), &LayerCheck::default()).unwrap();
    // Lux's "constructors": Dense(2 => 3), Dense(3 => 2), x .+ 1, x .+ 2, NoOpLayer()
    // gives W2 (W1 x + b1) + b2 + 1 + 2
    let plus = |v: f64| {
        WrappedFunction::new(format!("f{v}"), move |x: &Tree| Ok(x.as_tensor()?.add_scalar(v)?.into())).unwrap()
    };
    let model = Chain::new((
        Dense::new(2, 3, Activation::Identity).unwrap(),
        Dense::new(3, 2, Activation::Identity).unwrap(),
        plus(1.0),
        plus(2.0),
        NoOpLayer,
    ))
    .unwrap();
    assert_eq!(model.len(), 5);
    let (ps, st) = setup0(&model);
    let x = randn(42, &[5, 2], DType::F32);
    let (y, _) = apply_tensor(&model, &x, &ps, &st).unwrap();
    assert_eq!(y.shape(), &[5, 2]);
    let h = affine_ref(&vals64(&x), 5, ps.tensor("layer_1.weight").unwrap(), ps.tensor("layer_1.bias").unwrap());
    let want: Vec<f64> = affine_ref(&h, 5, ps.tensor("layer_2.weight").unwrap(), ps.tensor("layer_2.bias").unwrap())
        .iter()
        .map(|v| v + 3.0)
        .collect();
    assert_close(&vals64(&y), &want, 1e-5);
    // the brief's error message, from the library's Dense
    let mnist = Chain::new((
        Dense::new(784, 256, Activation::Relu).unwrap(),
        Dense::new(256, 10, Activation::Identity).unwrap(),
    ))
    .unwrap();
    let nested = Chain::new((Activation::Identity, mnist)).unwrap();
    let (ps, st) = setup0(&nested);
    let err = apply(&nested, Tensor::zeros(&[2, 783], DType::F32).unwrap(), &ps, &st).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dense(784 => 256, relu) at layer_2.layer_1: input has 783 features, expected 784 (input shape [2, 783])"
    );
}

/// Lux's "Coupling Type Instability #416" model runs and gives the expected values.
#[test]
fn branch_and_nested_parallel_coupling() {
    use lux_layers::Dense;
    let froggie = Chain::new((
        BranchLayer::new((NoOpLayer, NoOpLayer)).unwrap(),
        Parallel::tuple((
            Parallel::new(Func::add(), (Dense::new(1, 1, Activation::Identity).unwrap(), NoOpLayer)).unwrap(),
            Dense::new(1, 1, Activation::Identity).unwrap(),
        ))
        .unwrap(),
    ))
    .unwrap();
    let (ps, st) = setup0(&froggie);
    let x = Tensor::from_vec(vec![1.0f32], &[1, 1]).unwrap();
    let (y, _) = apply(&froggie, &x, &ps, &st).unwrap();
    let ys = y.as_seq().unwrap();
    let p = |path: &str| vals64(ps.tensor(path).unwrap())[0];
    let first = p("layer_2.layer_1.layer_1.weight") + p("layer_2.layer_1.layer_1.bias") + 1.0;
    let second = p("layer_2.layer_2.weight") + p("layer_2.layer_2.bias");
    assert_close(&vals64(ys[0].as_tensor().unwrap()), &[first], 1e-6);
    assert_close(&vals64(ys[1].as_tensor().unwrap()), &[second], 1e-6);
}
