//! Lux's "FP Conversions" testset (utils_tests.jl) and the conversion rule.

use lux_core::{DType, RngState, Tensor, Tree, setup, tree};
use lux_layers::{BatchNorm, Chain, Dense};
use lux_ops::Activation;
use lux_precision::{ToPrecision, bf16, f16, f32, f64, to_dtype};

type Model = Chain<(Dense, Chain<(Dense, Dense)>, BatchNorm)>;

fn model() -> Model {
    let dense = |i, o| Dense::new(i, o, Activation::Relu).unwrap();
    Chain::new((dense(1, 5), Chain::new((dense(5, 5), dense(5, 1))).unwrap(), BatchNorm::new(1).unwrap())).unwrap()
}

const FLOAT_PATHS_PS: [&str; 8] = [
    "layer_1.weight",
    "layer_1.bias",
    "layer_2.layer_1.weight",
    "layer_2.layer_1.bias",
    "layer_2.layer_2.weight",
    "layer_2.layer_2.bias",
    "layer_3.scale",
    "layer_3.bias",
];

#[test]
fn lux_fp_conversions() {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model()).unwrap();
    for (dtype, conv) in [
        (DType::F16, f16::<Tree> as fn(&Tree) -> lux_core::Result<Tree>),
        (DType::BF16, bf16::<Tree>),
        (DType::F32, f32::<Tree>),
        (DType::F64, f64::<Tree>),
    ] {
        let ps_t = conv(&ps).unwrap();
        let st_t = conv(&st).unwrap();
        for p in FLOAT_PATHS_PS {
            assert_eq!(ps_t.tensor(p).unwrap().dtype(), dtype, "{p}");
        }
        for p in ["layer_3.running_mean", "layer_3.running_var"] {
            assert_eq!(st_t.tensor(p).unwrap().dtype(), dtype, "{p}");
        }
        // Empty states stay empty, the training flag is unchanged.
        assert_eq!(st_t.at("layer_1").unwrap(), &Tree::new());
        assert_eq!(st_t.at("layer_2").unwrap(), &tree! { layer_1: Tree::new(), layer_2: Tree::new() });
        assert_eq!(st_t.at("layer_3.training").unwrap(), &Tree::Bool(true));
        assert!(ps_t.same_structure(&ps) && st_t.same_structure(&st));
        // The model runs in the target type (f16/bf16 compute in f32, round once).
        let x = Tensor::randn(&mut RngState::seed_from_u64(2), &[4, 1], dtype).unwrap();
        let (y, st2) = lux_core::apply_tensor(&model(), &x, &ps_t, &st_t).unwrap();
        assert_eq!(y.dtype(), dtype);
        assert_eq!(st2.tensor("layer_3.running_mean").unwrap().dtype(), dtype);
        // to_dtype is the same conversion chosen at run time.
        assert_eq!(to_dtype(&ps, dtype).unwrap(), ps_t);
    }
}

#[test]
fn integer_bool_scalar_and_rng_leaves_are_untouched() {
    let t = tree! {
        labels: Tensor::from_vec(vec![1i64, 2, 3], &[3]).unwrap(),
        mask: Tensor::from_vec(vec![true, false], &[2]).unwrap(),
        step: 7i64,
        momentum: 0.1,
        rng: RngState::seed_from_u64(3),
        nothing: Tree::None,
        seq: Tree::seq([Tree::Tensor(Tensor::from_vec(vec![0.5f32], &[1]).unwrap()), Tree::Seq(vec![])]),
    };
    for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
        let c = to_dtype(&t, dtype).unwrap();
        for key in ["labels", "mask", "step", "momentum", "rng", "nothing"] {
            assert_eq!(c.get(key).unwrap(), t.get(key).unwrap(), "{key}");
        }
        assert_eq!(c.tensor("seq.0").unwrap().dtype(), dtype);
        assert_eq!(c.tensor("seq.0").unwrap().to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap(), vec![0.5]);
        assert_eq!(c.at("seq.1").unwrap(), &Tree::Seq(vec![]));
    }
    // A non-float target is refused.
    for bad in [DType::I64, DType::Bool] {
        assert!(matches!(to_dtype(&t, bad).unwrap_err(), lux_core::LuxError::InvalidArgument { .. }));
    }
    // Lux: f32([1.0, 2, 3]) has eltype Float32.
    let v = f32(&Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]).unwrap()).unwrap();
    assert_eq!((v.dtype(), v.to_vec::<f32>().unwrap()), (DType::F32, vec![1.0, 2.0, 3.0]));
}

/// Values spread over many binades, with subnormals, ±0, ±∞ and NaN.
fn awkward(dtype: DType) -> Tensor {
    let mut v: Vec<f64> = (0..400).map(|i| ((i as f64) * 0.37).sin() * 2f64.powi(i % 60 - 30)).collect();
    v.extend([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e-40, -3e-39, 6e-8, 65504.0]);
    Tensor::from_vec(v, &[409]).unwrap().to_dtype(dtype).unwrap()
}

fn bits(t: &Tensor) -> Vec<u64> {
    match t.dtype() {
        DType::F32 => t.to_vec::<f32>().unwrap().iter().map(|x| x.to_bits() as u64).collect(),
        DType::F64 => t.to_vec::<f64>().unwrap().iter().map(|x| x.to_bits()).collect(),
        // f16/bf16 widen exactly to f32.
        _ => t.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap().iter().map(|x| x.to_bits() as u64).collect(),
    }
}

#[test]
fn round_trips_through_a_wider_type_are_bit_exact() {
    let (ps, st) = setup(&mut RngState::seed_from_u64(5), &model()).unwrap();
    let back = f32(&f64(&ps).unwrap()).unwrap();
    for (p, t) in ps.tensors() {
        assert_eq!(bits(t), bits(back.tensor(&p).unwrap()), "{p}");
    }
    assert_eq!(f32(&f64(&st).unwrap()).unwrap(), st);
    for (narrow, wide) in [
        (DType::F32, DType::F64),
        (DType::F16, DType::F32),
        (DType::F16, DType::F64),
        (DType::BF16, DType::F32),
        (DType::BF16, DType::F64),
    ] {
        let x = awkward(narrow);
        let back = x.to_precision(wide).unwrap().to_precision(narrow).unwrap();
        assert_eq!(bits(&x), bits(&back), "{narrow} → {wide} → {narrow}");
    }
}

#[test]
fn narrowing_rounds_once_to_nearest() {
    // 1 + 2⁻¹¹ is halfway between two f16 values: ties to even gives 1.
    // 1 + 2⁻¹¹ + 2⁻³⁰ is just above: one rounding from f64 gives 1 + 2⁻¹⁰
    // (rounding through f32 first would lose the 2⁻³⁰ and give 1).
    let x = Tensor::from_vec(vec![1.0 + 2f64.powi(-11), 1.0 + 2f64.powi(-11) + 2f64.powi(-30)], &[2]).unwrap();
    let h = f16(&x).unwrap().to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(h, vec![1.0, 1.0 + 2f64.powi(-10)]);
    // The same for bf16 (8 significant bits), with the excess in the low
    // half of the f64 mantissa.
    let x = Tensor::from_vec(vec![1.0 + 2f64.powi(-8), 1.0 + 2f64.powi(-8) + 2f64.powi(-50)], &[2]).unwrap();
    let b = bf16(&x).unwrap().to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(b, vec![1.0, 1.0 + 2f64.powi(-7)]);
    // Against an exact reference: the nearest f16 (ties to even) by search
    // over all finite f16 values, for values in f16's normal range.
    let finite: Vec<f64> = (0u16..0x7C00).map(|b| lux_core::__private::half::f16::from_bits(b).to_f64()).collect();
    let xs: Vec<f64> = (0..2000).map(|i| 6.1e-5 + (i as f64).powf(1.7) * 0.0137 + (i as f64 * 1e-9)).collect();
    let got = f16(&Tensor::from_vec(xs.clone(), &[xs.len()]).unwrap())
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    for (x, g) in xs.iter().zip(got) {
        let i = finite.partition_point(|v| v < x);
        let (lo, hi) = (finite[i.saturating_sub(1)], finite[i.min(finite.len() - 1)]);
        let want = if x - lo < hi - x || (x - lo == hi - x && (i - 1) % 2 == 0) { lo } else { hi };
        assert_eq!(g, if *x == hi { hi } else { want }, "{x}");
    }
}

#[test]
fn pairs_vectors_and_options_convert_each_part() {
    let x = Tensor::ones(&[2], DType::F32).unwrap();
    let y = Tensor::from_vec(vec![0i64, 1], &[2]).unwrap();
    let (a, b) = f64(&(x.clone(), y.clone())).unwrap();
    assert_eq!((a.dtype(), b.dtype()), (DType::F64, DType::I64));
    let v = bf16(&vec![x.clone(), x.clone()]).unwrap();
    assert!(v.iter().all(|t| t.dtype() == DType::BF16));
    assert_eq!(f16(&Some(x)).unwrap().unwrap().dtype(), DType::F16);
    assert_eq!(f16(&None::<Tensor>).unwrap(), None);
}
