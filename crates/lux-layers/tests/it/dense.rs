//! Tests of `Dense`, `Bilinear` and `Scale` (Lux's `test/core_layers/basic_tests.jl`
//! translated batch-first, plus values against naive f64 loops written here).

use crate::common::randn;
use lux_ad::testing::{LayerCheck, check_layer};
use lux_core::{
    Children, DType, Layer, LuxError, Result, RngState, Tensor, Tree, apply_tensor, forward_child, setup, tree,
};
use lux_layers::init::Init;
use lux_layers::{Bilinear, Dense, Scale};
use lux_ops::Activation;

mod bilinear;
mod scale;

pub(crate) fn vals(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

/// The activations used below, written out from their definitions.
pub(crate) fn act_ref(a: Activation, z: f64) -> f64 {
    match a {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Softplus => (1.0 + z.exp()).ln(),
        other => panic!("no reference for {other:?}"),
    }
}

pub(crate) fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "element {i}: got {g}, want {w}");
    }
}

/// `act(x·Wᵀ + b)` by loops over a row-major `[m, in]` input.
fn dense_ref(x: &[f64], m: usize, w: &[f64], b: Option<&[f64]>, out: usize, inp: usize, a: Activation) -> Vec<f64> {
    let mut y = vec![0.0; m * out];
    for r in 0..m {
        for o in 0..out {
            let mut z = b.map_or(0.0, |b| b[o]);
            for i in 0..inp {
                z += x[r * inp + i] * w[o * inp + i];
            }
            y[r * out + o] = act_ref(a, z);
        }
    }
    y
}

pub(crate) fn opts(shape: &[usize]) -> LayerCheck {
    LayerCheck { output_shape: Some(shape.to_vec()), ..Default::default() }
}

// ----- Dense ---------------------------------------------------------------------------

#[test]
fn dense_passes_check_layer_in_f32_and_f64() {
    let cases: Vec<(Dense, Vec<usize>, Vec<usize>)> = vec![
        (Dense::new(3, 4, Activation::Identity).unwrap(), vec![5, 3], vec![5, 4]),
        (Dense::new(3, 4, Activation::Tanh).unwrap(), vec![3], vec![4]),
        (
            Dense::builder(3, 2).activation(Activation::Sigmoid).use_bias(false).build().unwrap(),
            vec![2, 4, 3],
            vec![2, 4, 2],
        ),
        (Dense::new(4, 3, Activation::Gelu).unwrap(), vec![6, 4], vec![6, 3]),
        (Dense::new(4, 3, Activation::Relu).unwrap(), vec![6, 4], vec![6, 3]),
    ];
    for (layer, xs, ys) in cases {
        for dtype in [DType::F32, DType::F64] {
            let layer = Dense::builder(layer.in_dims(), layer.out_dims())
                .activation(layer.activation())
                .use_bias(layer.use_bias())
                .dtype(dtype)
                .build()
                .unwrap();
            let x: Tree = randn(11, &xs, dtype).into();
            let report = check_layer(&layer, &x, &opts(&ys)).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
            let n_x: usize = xs.iter().product();
            assert_eq!(report.input_grad.unwrap().checked, n_x);
            assert_eq!(report.param_grad.unwrap().checked, layer.param_count());
        }
    }
}

#[test]
fn dense_matches_naive_loops() {
    let (inp, out, m) = (5, 3, 4);
    for act in [Activation::Identity, Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Softplus] {
        for use_bias in [true, false] {
            let layer = Dense::builder(inp, out).activation(act).use_bias(use_bias).dtype(DType::F64).build().unwrap();
            let w = randn(1, &[out, inp], DType::F64);
            let b = randn(2, &[out], DType::F64);
            let ps = if use_bias {
                tree! { weight: w.clone(), bias: b.clone() }
            } else {
                tree! { weight: w.clone() }
            };
            let x = randn(3, &[m, inp], DType::F64);
            let (y, st) = apply_tensor(&layer, &x, &ps, &Tree::new()).unwrap();
            assert_eq!(st, Tree::new());
            assert_eq!(y.shape(), &[m, out]);
            let bv = vals(&b);
            let want = dense_ref(&vals(&x), m, &vals(&w), use_bias.then_some(&bv[..]), out, inp, act);
            assert_close(&vals(&y), &want, 1e-12);
            // the same parameters in f32 give the f32 rounding of the same values
            let layer32 = Dense::builder(inp, out).activation(act).use_bias(use_bias).build().unwrap();
            let ps32 = ps.try_map(|_, t| t.to_dtype(DType::F32)).unwrap();
            let (y32, _) = apply_tensor(&layer32, x.to_dtype(DType::F32).unwrap(), &ps32, &Tree::new()).unwrap();
            assert_eq!(y32.dtype(), DType::F32);
            assert_close(&vals(&y32), &want, 1e-5);
        }
    }
}

#[test]
fn dense_applies_to_the_last_axis_of_any_rank() {
    let layer = Dense::new(3, 2, Activation::Tanh).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(4), &layer).unwrap();
    let x = randn(5, &[2, 4, 3], DType::F32);
    let (y, _) = apply_tensor(&layer, &x, &ps, &st).unwrap();
    assert_eq!(y.shape(), &[2, 4, 2]);
    let want = dense_ref(
        &vals(&x),
        8,
        &vals(ps.tensor("weight").unwrap()),
        Some(&vals(ps.tensor("bias").unwrap())),
        2,
        3,
        Activation::Tanh,
    );
    assert_close(&vals(&y), &want, 1e-6);
    // a single sample [in] gives [out], equal to the row of a batch of one
    let x1 = randn(6, &[3], DType::F32);
    let (y1, _) = apply_tensor(&layer, &x1, &ps, &st).unwrap();
    assert_eq!(y1.shape(), &[2]);
    let (yb, _) = apply_tensor(&layer, x1.reshape(&[1, 3]).unwrap(), &ps, &st).unwrap();
    assert_eq!(y1.to_vec::<f32>().unwrap(), yb.to_vec::<f32>().unwrap());
}

/// Lux's "constructors" testset.
#[test]
fn dense_lux_constructors() {
    let mut rng = RngState::seed_from_u64(12345);
    let layer = Dense::new(10, 100, Activation::Identity).unwrap();
    let (ps, st) = setup(&mut rng, &layer).unwrap();
    assert_eq!(ps.tensor("weight").unwrap().shape(), &[100, 10]);
    assert_eq!(ps.tensor("bias").unwrap().shape(), &[100]);
    assert_eq!(layer.activation(), Activation::Identity);
    assert_eq!(st, Tree::new());

    let layer = Dense::builder(10, 100).activation(Activation::Relu).use_bias(false).build().unwrap();
    let (ps, _) = setup(&mut rng, &layer).unwrap();
    assert!(!ps.contains_key("bias"));
    assert_eq!(ps.keys().collect::<Vec<_>>(), vec!["weight"]);
    assert_eq!(layer.activation(), Activation::Relu);
    assert_eq!((layer.param_count(), layer.state_count()), (1000, 0));
    assert_eq!(Dense::new(10, 100, Activation::Identity).unwrap().param_count(), 1100);
}

/// Lux's "dimensions" and "outputsize" testsets (Lux's `(10, 3, 2)` is `[2, 3, 10]` here).
#[test]
fn dense_lux_dimensions() {
    let layer = Dense::new(10, 5, Activation::Identity).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    for (xs, ys) in [(vec![10], vec![5]), (vec![2, 10], vec![2, 5]), (vec![2, 3, 10], vec![2, 3, 5])] {
        let (y, _) = apply_tensor(&layer, randn(1, &xs, DType::F64), &ps, &st).unwrap();
        assert_eq!(y.shape(), &ys[..]);
    }
}

/// Lux's "zeros" testset: ones weight, zeros bias.
#[test]
fn dense_lux_zeros() {
    let run = |inp: usize, out: usize, use_bias: bool, x: Tensor| -> Vec<f32> {
        let mut b = Dense::builder(inp, out).init_weight(Init::ones()).use_bias(use_bias);
        if use_bias {
            b = b.init_bias(Init::zeros());
        }
        let layer = b.build().unwrap();
        let (ps, st) = setup(&mut RngState::seed_from_u64(12345), &layer).unwrap();
        apply_tensor(&layer, &x, &ps, &st).unwrap().0.to_vec::<f32>().unwrap()
    };
    let ones = |s: &[usize]| Tensor::ones(s, DType::F32).unwrap();
    assert_eq!(run(10, 1, true, ones(&[1, 10])), vec![10.0]);
    assert_eq!(run(10, 1, true, ones(&[2, 10])), vec![10.0, 10.0]);
    assert_eq!(run(10, 2, true, ones(&[1, 10])), vec![10.0, 10.0]);
    // Lux's `[ones(10, 1) 2 * ones(10, 1)]` → `[10 20; 10 20]`: two samples.
    let two = Tensor::from_vec([vec![1.0f32; 10], vec![2.0f32; 10]].concat(), &[2, 10]).unwrap();
    assert_eq!(run(10, 2, true, two.clone()), vec![10.0, 10.0, 20.0, 20.0]);
    assert_eq!(run(10, 2, false, two), vec![10.0, 10.0, 20.0, 20.0]);
}

#[test]
fn dense_default_init_is_pytorch_style() {
    let (inp, out) = (400, 300);
    for act in [Activation::Identity, Activation::Relu, Activation::Tanh] {
        let layer = Dense::new(inp, out, act).unwrap();
        let (ps, _) = setup(&mut RngState::seed_from_u64(9), &layer).unwrap();
        let w = ps.tensor("weight").unwrap();
        assert_eq!(w.dtype(), DType::F32);
        // Lux: kaiming_uniform(gain = calculate_gain(act, √5)): 1, 2 and 5/3.
        let gain = match act {
            Activation::Relu => 2.0,
            Activation::Tanh => 5.0 / 3.0,
            _ => 1.0,
        };
        let bound = gain * (3.0 / inp as f64).sqrt();
        check_uniform(&vals(w), bound);
        check_uniform(&vals(ps.tensor("bias").unwrap()), 1.0 / (inp as f64).sqrt());
    }
}

/// Values in `[-a, a]`, mean 0 and variance `a²/3` within 5 standard errors,
/// and reaching close to both ends.
pub(crate) fn check_uniform(v: &[f64], a: f64) {
    let n = v.len() as f64;
    assert!(v.iter().all(|x| x.abs() <= a * (1.0 + 1e-6)), "a value outside ±{a}");
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| x * x).sum::<f64>() / n;
    // U(−a, a): sd of x is a/√3; x² has variance 4a⁴/45.
    assert!(mean.abs() <= 5.0 * a / 3f64.sqrt() / n.sqrt(), "mean {mean} for ±{a}");
    assert!((var - a * a / 3.0).abs() <= 5.0 * (4.0 * a.powi(4) / 45.0).sqrt() / n.sqrt(), "variance {var} for ±{a}");
    let max = v.iter().cloned().fold(f64::MIN, f64::max);
    let min = v.iter().cloned().fold(f64::MAX, f64::min);
    assert!(max > a * (1.0 - 30.0 / n) && min < -a * (1.0 - 30.0 / n), "range [{min}, {max}] for ±{a}");
}

#[test]
fn dense_describe_prints_as_lux() {
    let d = |i, o, a| Dense::new(i, o, a).unwrap().describe();
    assert_eq!(d(2, 16, Activation::Identity), "Dense(2 => 16)");
    assert_eq!(d(2, 16, Activation::Relu), "Dense(2 => 16, relu)");
    assert_eq!(d(2, 16, Activation::Sigmoid), "Dense(2 => 16, σ)");
    assert_eq!(d(784, 256, Activation::Gelu), "Dense(784 => 256, gelu_tanh)");
    assert_eq!(d(3, 1, Activation::LeakyRelu(0.2)), "Dense(3 => 1, leakyrelu(0.2))");
    let nb = |a| Dense::builder(2, 16).activation(a).use_bias(false).build().unwrap().describe();
    // Lux's show: `print(io, ", use_bias=false")`.
    assert_eq!(nb(Activation::Identity), "Dense(2 => 16, use_bias=false)");
    assert_eq!(nb(Activation::Sigmoid), "Dense(2 => 16, σ, use_bias=false)");
}

/// Lux's `match_eltype` in its default mode `none`: a float input of another
/// dtype meets the parameters by promotion (f32 weights with f64 input give
/// f64, as Lux's `eltype_matching.jl` "none" case).
#[test]
fn dense_promotes_input_with_parameter_dtype() {
    let layer = Dense::new(3, 2, Activation::Identity).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(1), &layer).unwrap();
    let x64 = randn(2, &[4, 3], DType::F64);
    let (y, _) = apply_tensor(&layer, &x64, &ps, &st).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    // The same as running with the f32 weights widened to f64 (exact).
    let ps64 = ps.try_map(|_, t| t.to_dtype(DType::F64)).unwrap();
    let (y_ref, _) = apply_tensor(&layer, &x64, &ps64, &st).unwrap();
    assert_eq!(y, y_ref);
    let layer64 = Dense::builder(3, 2).dtype(DType::F64).build().unwrap();
    let (ps64, _) = setup(&mut RngState::seed_from_u64(1), &layer64).unwrap();
    assert_eq!(ps64.tensor("bias").unwrap().dtype(), DType::F64);
    let (y, _) = apply_tensor(&layer64, x64.to_dtype(DType::F32).unwrap(), &ps64, &st).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    let ps16 = ps.try_map(|_, t| t.to_dtype(DType::F16)).unwrap();
    let (yh, _) = apply_tensor(&layer, x64.to_dtype(DType::F16).unwrap(), &ps16, &st).unwrap();
    assert_eq!(yh.dtype(), DType::F16);
    let (y, _) = apply_tensor(&layer, x64.to_dtype(DType::F32).unwrap(), &ps16, &st).unwrap();
    assert_eq!(y.dtype(), DType::F32);
}

#[test]
fn dense_bad_input_errors_name_the_layer_and_shapes() {
    let layer = Dense::new(784, 256, Activation::Identity).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
    let err = |x: Tree| layer.forward(&x, &ps, &st).unwrap_err();

    let e = err(Tensor::zeros(&[32, 783], DType::F32).unwrap().into());
    assert!(matches!(e, LuxError::Shape { .. }));
    assert_eq!(e.to_string(), "Dense(784 => 256): input has 783 features, expected 784 (input shape [32, 783])");
    let e = err(Tensor::zeros(&[], DType::F32).unwrap().into());
    assert_eq!(e.to_string(), "Dense(784 => 256): input is 0-d (a scalar), expected [.., 784] or [784]");
    let e = err(Tensor::zeros(&[2, 784], DType::I64).unwrap().into());
    assert_eq!(e.to_string(), "Dense(784 => 256): expected dtype a float input tensor, got i64");
    let e = err(Tree::seq([Tensor::zeros(&[784], DType::F32).unwrap()]));
    assert_eq!(
        e.to_string(),
        "structure mismatch at <root>: Dense(784 => 256): expects a tensor input, got a sequence"
    );
}

#[test]
fn dense_parameters_that_do_not_belong_are_errors() {
    let layer = Dense::new(3, 2, Activation::Relu).unwrap();
    let x: Tree = Tensor::ones(&[1, 3], DType::F32).unwrap().into();
    let w = Tensor::ones(&[2, 3], DType::F32).unwrap();
    let b = Tensor::ones(&[2], DType::F32).unwrap();
    let run = |ps: Tree| layer.forward(&x, &ps, &Tree::new()).unwrap_err().to_string();

    assert_eq!(
        run(tree! { weight: w.clone() }),
        "structure mismatch at <root>: Dense(3 => 2, relu): the parameters must hold [\"weight\", \"bias\"], got [\"weight\"]"
    );
    assert_eq!(
        run(tree! { weight: Tensor::ones(&[3, 2], DType::F32).unwrap(), bias: b.clone() }),
        "Dense(3 => 2, relu): the parameter `weight` has shape [3, 2], expected [2, 3]"
    );
    assert_eq!(
        run(tree! { weight: w.clone(), bias: Tensor::ones(&[3], DType::F32).unwrap() }),
        "Dense(3 => 2, relu): the parameter `bias` has shape [3], expected [2]"
    );
    assert_eq!(
        run(tree! { weight: w.clone(), bias: 1.0 }),
        "structure mismatch at bias: Dense(3 => 2, relu): the parameter `bias` must be a tensor, got a float"
    );
    assert_eq!(
        run(tree! { weight: Tensor::ones(&[2, 3], DType::I64).unwrap(), bias: b.clone() }),
        "Dense(3 => 2, relu): expected dtype a float `weight`, got i64"
    );
    // a layer without bias given a bias
    let nb = Dense::builder(3, 2).use_bias(false).build().unwrap();
    let e = nb.forward(&x, &tree! { weight: w, bias: b }, &Tree::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure mismatch at <root>: Dense(3 => 2, use_bias=false): the parameters must hold [\"weight\"], got [\"weight\", \"bias\"]"
    );
}

/// A container that runs two layers in sequence, to check the path in errors.
struct Two(Dense, Dense);
impl Layer for Two {
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let (h, s1) = forward_child("layer_1", &self.0, x, ps, st)?;
        let (y, s2) = forward_child("layer_2", &self.1, &h, ps, st)?;
        Ok((y, tree! { layer_1: s1, layer_2: s2 }))
    }
    fn children(&self) -> Children<'_> {
        Children::Named(vec![("layer_1".into(), &self.0 as &dyn Layer), ("layer_2".into(), &self.1)])
    }
}

#[test]
fn dense_error_in_a_container_names_the_path() {
    let model =
        Two(Dense::new(10, 783, Activation::Relu).unwrap(), Dense::new(784, 256, Activation::Identity).unwrap());
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).unwrap();
    let e = model.forward(&Tensor::ones(&[32, 10], DType::F32).unwrap().into(), &ps, &st).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dense(784 => 256) at layer_2: input has 783 features, expected 784 (input shape [32, 783])"
    );
}

#[test]
fn dense_constructor_errors() {
    assert_eq!(
        Dense::new(0, 3, Activation::Identity).unwrap_err().to_string(),
        "Dense(0 => 3): invalid argument: the input size must be positive, got 0"
    );
    assert_eq!(
        Dense::new(3, 0, Activation::Identity).unwrap_err().to_string(),
        "Dense(3 => 0): invalid argument: the output size must be positive, got 0"
    );
    let e = Dense::new(3, 2, Activation::Celu(0.0)).unwrap_err();
    assert!(matches!(e, LuxError::InvalidArgument { .. }), "{e}");
    assert!(e.to_string().starts_with("Dense(3 => 2, celu(0.0)): invalid argument:"), "{e}");
    let e = Dense::builder(3, 2).dtype(DType::I64).build().unwrap_err();
    assert_eq!(e.to_string(), "Dense(3 => 2): not supported for dtype i64");
    let e = Dense::builder(3, 2).init_weight(Init::normal(0.0, -1.0)).build().unwrap_err();
    assert!(e.to_string().starts_with("Dense(3 => 2): invalid argument:"), "{e}");
}

#[test]
fn dense_setup_is_deterministic_and_seed_dependent() {
    let layer = Dense::new(4, 3, Activation::Relu).unwrap();
    let a = setup(&mut RngState::seed_from_u64(5), &layer).unwrap();
    assert_eq!(a, setup(&mut RngState::seed_from_u64(5), &layer).unwrap());
    assert_ne!(a.0, setup(&mut RngState::seed_from_u64(6), &layer).unwrap().0);
}

#[test]
fn dense_family_passes_check_layer_in_half_precision() {
    for dtype in [DType::F16, DType::BF16] {
        let x: Tree = randn(1, &[4, 3], dtype).into();
        let layers: Vec<Box<dyn Layer>> = vec![
            Box::new(Dense::builder(3, 2).activation(Activation::Tanh).dtype(dtype).build().unwrap()),
            Box::new(Scale::builder(&[3]).dtype(dtype).build().unwrap()),
            Box::new(Bilinear::builder((3, 3), 2).dtype(dtype).build().unwrap()),
        ];
        for layer in layers {
            let r =
                check_layer(&layer, &x, &LayerCheck::default()).unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
            assert!(r.param_grad.is_some());
            let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
            let (y, _) = apply_tensor(&layer, x.clone(), &ps, &st).unwrap();
            assert_eq!(y.dtype(), dtype, "{}", layer.describe());
        }
    }
}

mod random_input {
    //! Random input shapes and dtypes: a call is `Ok` with the expected
    //! shape exactly when the input fits, an `Err` otherwise, never a panic.
    use super::*;
    use proptest::prelude::*;

    fn dtype() -> impl Strategy<Value = DType> {
        prop_oneof![Just(DType::F32), Just(DType::F64), Just(DType::F16), Just(DType::I64), Just(DType::Bool)]
    }

    fn input(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::zeros(shape, dtype).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn dense_random_shapes(shape in prop::collection::vec(0usize..5, 0..4), dt in dtype(), inp in 1usize..4, out in 1usize..4) {
            let layer = Dense::new(inp, out, Activation::Relu).unwrap();
            let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
            let r = apply_tensor(&layer, input(&shape, dt), &ps, &st);
            let fits = dt.is_float() && shape.last() == Some(&inp);
            prop_assert_eq!(r.is_ok(), fits, "{:?} {:?}: {:?}", shape, dt, r.as_ref().err());
            if let Ok((y, _)) = r {
                let mut want = shape.clone();
                *want.last_mut().unwrap() = out;
                prop_assert_eq!(y.shape(), &want[..]);
            }
        }

        #[test]
        fn scale_random_shapes(shape in prop::collection::vec(0usize..4, 0..4), dt in dtype(), d in 1usize..4) {
            let layer = Scale::new(&[d], Activation::Tanh).unwrap();
            let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
            let r = apply_tensor(&layer, input(&shape, dt), &ps, &st);
            let broadcasts = lux_core::broadcast_shapes(&shape, &[d]);
            prop_assert_eq!(r.is_ok(), dt.is_float() && broadcasts.is_ok(), "{:?} {:?}: {:?}", shape, dt, r.as_ref().err());
            if let Ok((y, _)) = r {
                prop_assert_eq!(y.shape(), &broadcasts.unwrap()[..]);
            }
        }

        #[test]
        fn bilinear_random_shapes(
            xs in prop::collection::vec(0usize..4, 0..4),
            ys in prop::collection::vec(0usize..4, 0..4),
            dt in dtype(),
        ) {
            let layer = Bilinear::new((2, 3), 2, Activation::Identity).unwrap();
            let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
            let r = apply_tensor(&layer, Tree::seq([input(&xs, dt), input(&ys, dt)]), &ps, &st);
            let fits = dt.is_float()
                && xs.last() == Some(&2)
                && ys.last() == Some(&3)
                && xs[..xs.len() - 1] == ys[..ys.len() - 1];
            prop_assert_eq!(r.is_ok(), fits, "{:?} {:?} {:?}: {:?}", xs, ys, dt, r.as_ref().err());
            if let Ok((y, _)) = r {
                let mut want = xs.clone();
                *want.last_mut().unwrap() = 2;
                prop_assert_eq!(y.shape(), &want[..]);
            }
        }

        #[test]
        fn embedding_random_indices(v in prop::collection::vec(-3i64..12, 0..8), vocab in 1usize..10) {
            let layer = lux_layers::Embedding::new(vocab, 2).unwrap();
            let (ps, st) = setup(&mut RngState::seed_from_u64(0), &layer).unwrap();
            let n = v.len();
            let fits = v.iter().all(|&i| i >= 0 && (i as usize) < vocab);
            let r = apply_tensor(&layer, Tensor::from_vec(v, &[n]).unwrap(), &ps, &st);
            prop_assert_eq!(r.is_ok(), fits);
            if let Ok((y, _)) = r {
                prop_assert_eq!(y.shape(), &[n, 2][..]);
            }
        }
    }
}
