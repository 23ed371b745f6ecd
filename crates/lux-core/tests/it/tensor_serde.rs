//! Tensor serde through JSON: every float dtype round-trips bit-exactly,
//! NaN and ±∞ survive, and malformed shapes are errors, not panics.

use half::{bf16, f16};
use lux_core::{DType, Tensor};
use proptest::prelude::*;

fn round_trip(t: &Tensor) -> Tensor {
    let json = serde_json::to_string(t).unwrap();
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Equal bit for bit, except that any NaN matches any NaN (the payload is not kept).
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan())
}

/// Every f64 bit pattern: normals, subnormals, ±0, ±∞ and NaNs.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => any::<u64>().prop_map(f64::from_bits),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MIN_POSITIVE, 0.1]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn floats_round_trip_bit_exactly(v in prop::collection::vec(any_f64(), 0..12)) {
        let n = v.len();
        let tensors = [
            Tensor::from_vec(v.clone(), &[n]).unwrap(),
            Tensor::from_vec(v.iter().map(|&x| x as f32).collect::<Vec<_>>(), &[n]).unwrap(),
            Tensor::from_vec(v.iter().map(|&x| f16::from_f64(x)).collect::<Vec<_>>(), &[n]).unwrap(),
            Tensor::from_vec(v.iter().map(|&x| bf16::from_f64(x)).collect::<Vec<_>>(), &[n]).unwrap(),
        ];
        for t in &tensors {
            let back = round_trip(t);
            prop_assert_eq!(back.dtype(), t.dtype());
            prop_assert_eq!(back.shape(), t.shape());
            prop_assert!(same_bits(&back.to_f64_vec(), &t.to_f64_vec()), "{} {:?} vs {:?}", t.dtype(), t.to_f64_vec(), back.to_f64_vec());
        }
    }
}

#[test]
fn non_finite_values_are_strings_among_numbers() {
    let t = Tensor::from_vec(vec![1.0f32, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0], &[5]).unwrap();
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(json, r#"{"shape":[5],"dtype":"f32","data":[1.0,"NaN","inf","-inf",-0.0]}"#);
    // Integers are read as floats, and the three spellings only.
    let t: Tensor = serde_json::from_str(r#"{"shape":[2],"dtype":"f64","data":[1,-2]}"#).unwrap();
    assert_eq!(t.to_vec::<f64>().unwrap(), vec![1.0, -2.0]);
    for bad in [r#""nan""#, r#""Infinity""#, "null", "true"] {
        let json = format!(r#"{{"shape":[1],"dtype":"f32","data":[{bad}]}}"#);
        assert!(serde_json::from_str::<Tensor>(&json).is_err(), "{json}");
    }
}

#[test]
fn absurd_or_mismatched_shapes_are_errors() {
    // The element count wraps to 0 in usize (2³² · 2³² = 2⁶⁴): an error, not a panic or an empty tensor.
    for json in [
        r#"{"shape":[4294967296,4294967296],"dtype":"f32","data":[]}"#,
        r#"{"shape":[18446744073709551615,2],"dtype":"i64","data":[]}"#,
        r#"{"shape":[4294967296,4294967296,0],"dtype":"bool","data":[]}"#,
        r#"{"shape":[2,2],"dtype":"i64","data":[1,2,3]}"#,
        r#"{"shape":[],"dtype":"f16","data":[]}"#,
        r#"{"shape":[1],"dtype":"f32","data":[1.0,2.0]}"#,
    ] {
        let r = std::panic::catch_unwind(|| serde_json::from_str::<Tensor>(json));
        assert!(matches!(r, Ok(Err(_))), "{json}");
    }
    let ok: Tensor = serde_json::from_str(r#"{"shape":[0,3],"dtype":"f64","data":[]}"#).unwrap();
    assert_eq!((ok.shape(), ok.dtype()), (&[0, 3][..], DType::F64));
}
