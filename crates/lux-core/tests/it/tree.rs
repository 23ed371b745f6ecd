//! `Tree`: construction, lookup, traversals, counts, recursive operations, serde.

use lux_core::__private::ndarray::Array1;
use lux_core::{DType, GradCall, LuxError, RngState, Tensor, Tree, tree};

type R = lux_core::Result<()>;

fn t32(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(values, shape).unwrap()
}

/// A tensor whose buffer address is known, to check in-place writes.
fn with_ptr(values: Vec<f32>) -> (Tensor, *const f32) {
    let a = Array1::from(values);
    let p = a.as_ptr();
    (Tensor::from_ndarray(a), p)
}

/// The buffer address of a tensor leaf (consumes the tree; no copy when unshared).
fn ptr_of(tree: Tree, path: &str) -> *const f32 {
    let t = tree.tensor(path).unwrap().clone();
    drop(tree);
    t.into_ndarray::<f32>().unwrap().as_ptr()
}

fn sample() -> Tree {
    tree! {
        layer_1: tree! { weight: t32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]), bias: t32(&[0.5, 0.5, 0.5], &[3]) },
        layer_2: Tree::new(),
        layer_3: tree! { running_mean: t32(&[0.0, 0.0], &[2]), training: true, rng: RngState::seed_from_u64(7) },
        steps: Tree::seq([Tree::Int(1), Tree::Float(2.5), Tree::None]),
    }
}

// ----- construction ------------------------------------------------------------

#[test]
fn constructors_and_conversions() {
    assert_eq!(Tree::new(), Tree::Map(vec![]));
    assert_eq!(Tree::default(), Tree::new());
    assert_eq!(tree! {}, Tree::new());
    assert_eq!(Tree::from(true), Tree::Bool(true));
    assert_eq!(Tree::from(3i64), Tree::Int(3));
    assert_eq!(Tree::from(3i32), Tree::Int(3));
    assert_eq!(Tree::from(3u32), Tree::Int(3));
    assert_eq!(Tree::from(0.5f64), Tree::Float(0.5));
    assert_eq!(Tree::from(0.5f32), Tree::Float(0.5));
    assert_eq!(Tree::from(()), Tree::None);
    assert_eq!(Tree::from(None::<bool>), Tree::None);
    assert_eq!(Tree::from(Some(1i64)), Tree::Int(1));
    assert_eq!(Tree::from(vec![1i64, 2]), Tree::Seq(vec![Tree::Int(1), Tree::Int(2)]));
    assert_eq!(Tree::from((1i64, true)), Tree::Seq(vec![Tree::Int(1), Tree::Bool(true)]));
    assert_eq!(Tree::from((1i64, true, ())), Tree::Seq(vec![Tree::Int(1), Tree::Bool(true), Tree::None]));
    let t = t32(&[1.0], &[1]);
    assert_eq!(Tree::from(&t), Tree::Tensor(t.clone()));
    assert_eq!(Tree::from(RngState::seed_from_u64(1)), Tree::Rng(RngState::seed_from_u64(1)));
}

#[test]
fn macro_keys_order_and_nesting() -> R {
    let x = t32(&[1.0, 2.0], &[2]);
    let t = tree! { b: x.clone(), "a": 1i64, 0: tree! { inner: false }, };
    assert_eq!(t.keys().collect::<Vec<_>>(), ["b", "a", "0"]);
    assert_eq!(t.at("0.inner")?, &Tree::Bool(false));
    assert_eq!(t.tensor("b")?, &x);
    // Unsuffixed literals work: integers become Int, floats Float.
    assert_eq!(
        tree! { n: 1, f: 2.5, neg: -3 },
        Tree::Map(vec![("n".into(), Tree::Int(1)), ("f".into(), Tree::Float(2.5)), ("neg".into(), Tree::Int(-3)),])
    );
    Ok(())
}

#[test]
fn tensor_round_trips_through_tree() -> R {
    let x = t32(&[1.0, 2.0], &[2]);
    let tree: Tree = x.clone().into();
    assert_eq!(tree.as_tensor()?, &x);
    let back: Tensor = tree.clone().try_into()?;
    assert!(back.shares_storage_with(&x));
    let r: &Tensor = (&tree).try_into()?;
    assert_eq!(r, &x);
    assert_eq!(tree.into_tensor()?, x);
    let err = Tensor::try_from(Tree::Bool(true)).unwrap_err();
    assert_eq!(err.to_string(), "structure mismatch at <root>: expected a tensor, found a bool");
    Ok(())
}

#[test]
fn insert_with_remove() -> R {
    let mut t = Tree::new();
    assert_eq!(t.insert("a", 1i64)?, None);
    assert_eq!(t.insert("b", 2i64)?, None);
    assert_eq!(t.insert("a", 3i64)?, Some(Tree::Int(1)));
    assert_eq!(t, tree! { a: 3i64, b: 2i64 }); // replaced in place, order kept
    assert!(matches!(t.insert("x.y", 1i64), Err(LuxError::InvalidArgument { .. })));
    assert!(matches!(t.insert("", 1i64), Err(LuxError::InvalidArgument { .. })));
    assert!(matches!(Tree::Int(1).insert("a", 1i64), Err(LuxError::Structure { .. })));
    assert!(Tree::Seq(vec![]).with("a", 1i64).is_err());
    let built = Tree::new().with("w", 1i64)?.with("v", true)?;
    assert_eq!(built, tree! { w: 1i64, v: true });
    assert_eq!(t.remove("a"), Some(Tree::Int(3)));
    assert_eq!(t.remove("a"), None);
    assert_eq!(Tree::Int(1).remove("a"), None);
    assert_eq!(t, tree! { b: 2i64 });
    Ok(())
}

#[test]
fn inspection() {
    let t = sample();
    assert_eq!(t.len(), 4);
    assert!(!t.is_empty());
    assert!(Tree::new().is_empty());
    assert!(Tree::Int(1).is_empty());
    assert!(!t.is_leaf());
    assert!(Tree::None.is_leaf());
    assert_eq!(Tree::Seq(vec![]).kind_name(), "sequence");
    assert_eq!(Tree::Int(1).keys().count(), 0);
}

// ----- lookup ---------------------------------------------------------------------

#[test]
fn get_at_and_tensor() -> R {
    let mut t = sample();
    assert_eq!(t.get("layer_2")?, &Tree::new());
    assert!(t.contains_key("layer_1"));
    assert!(!t.contains_key("layer_9"));
    assert_eq!(t.at("")?, &t);
    assert_eq!(t.at("layer_1.bias")?.as_tensor()?.shape(), &[3]);
    assert_eq!(t.at("steps.1")?, &Tree::Float(2.5));
    assert_eq!(t.get("steps")?.get("0")?, &Tree::Int(1));
    assert_eq!(t.tensor("layer_1.weight")?.shape(), &[3, 2]);
    *t.at_mut("steps.0")? = Tree::Int(10);
    assert_eq!(t.at("steps.0")?.as_int()?, 10);
    *t.get_mut("layer_2")? = Tree::Bool(true);
    assert!(t.get("layer_2")?.as_bool()?);
    *t.tensor_mut("layer_1.bias")? = t32(&[1.0], &[1]);
    assert_eq!(t.tensor("layer_1.bias")?.shape(), &[1]);
    t.at_mut("layer_3.rng")?.as_rng_mut()?;
    Ok(())
}

#[test]
fn lookup_errors_name_the_path() {
    let mut t = sample();
    let msg = |e: LuxError| e.to_string();
    assert_eq!(msg(t.at("layer_2.bias").unwrap_err()), "missing key `bias` at layer_2");
    assert_eq!(msg(t.get("nope").unwrap_err()), "missing key `nope` at <root>");
    assert_eq!(
        msg(t.at("layer_1.bias.x").unwrap_err()),
        "structure mismatch at layer_1.bias: cannot look up `x` in a tensor leaf"
    );
    assert_eq!(msg(t.at("steps.3").unwrap_err()), "missing key `3` at steps");
    assert_eq!(msg(t.at("steps.x").unwrap_err()), "missing key `x` at steps");
    assert_eq!(msg(t.at("steps.-1").unwrap_err()), "missing key `-1` at steps");
    assert_eq!(msg(t.at("steps.+1").unwrap_err()), "missing key `+1` at steps");
    assert_eq!(msg(t.at("steps.01").unwrap_err()), "missing key `01` at steps");
    assert!(t.at("steps.00").is_err());
    assert!(matches!(t.at("layer_1..bias"), Err(LuxError::InvalidArgument { .. })));
    assert!(matches!(t.at("."), Err(LuxError::InvalidArgument { .. })));
    assert!(matches!(t.at_mut("layer_1.").map(|_| ()), Err(LuxError::InvalidArgument { .. })));
    assert_eq!(
        msg(t.tensor("layer_3.training").unwrap_err()),
        "structure mismatch at layer_3.training: expected a tensor, found a bool"
    );
    assert_eq!(
        msg(t.tensor_mut("layer_3").map(|_| ()).unwrap_err()),
        "structure mismatch at layer_3: expected a tensor, found a map"
    );
    assert!(matches!(t.get_mut("zz").map(|_| ()), Err(LuxError::MissingKey { .. })));
    assert_eq!(t.at("layer_2.x").unwrap_err(), LuxError::MissingKey { key: "x".into(), path: "layer_2".into() });
}

#[test]
fn leaf_accessors() {
    assert_eq!(Tree::Bool(true).as_bool(), Ok(true));
    assert_eq!(Tree::Int(2).as_int(), Ok(2));
    assert_eq!(Tree::Float(2.0).as_float(), Ok(2.0));
    assert!(Tree::Int(2).as_float().is_err());
    assert!(Tree::Float(2.0).as_int().is_err());
    assert!(Tree::None.as_bool().is_err());
    assert!(Tree::None.as_rng_mut().is_err());
    assert!(Tree::None.as_tensor_mut().is_err());
    assert_eq!(Tree::new().as_map().map(|m| m.len()), Ok(0));
    assert!(Tree::new().as_seq().is_err());
    assert_eq!(Tree::Seq(vec![Tree::None]).as_seq().map(|s| s.len()), Ok(1));
    assert!(Tree::None.as_map().is_err());
    assert_eq!(bool::try_from(Tree::Bool(false)), Ok(false));
    assert_eq!(i64::try_from(Tree::Int(4)), Ok(4));
    assert_eq!(f64::try_from(Tree::Float(0.25)), Ok(0.25));
    assert!(i64::try_from(Tree::None).is_err());
}

// ----- traversals -------------------------------------------------------------------

#[test]
fn leaves_and_tensors_in_order() {
    let t = sample();
    let paths: Vec<String> = t.leaves().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "layer_1.weight",
            "layer_1.bias",
            "layer_3.running_mean",
            "layer_3.training",
            "layer_3.rng",
            "steps.0",
            "steps.1",
            "steps.2"
        ]
    );
    let tensors: Vec<String> = t.tensors().into_iter().map(|(p, _)| p).collect();
    assert_eq!(tensors, ["layer_1.weight", "layer_1.bias", "layer_3.running_mean"]);
    // A bare leaf is its own only leaf, at the empty path.
    assert_eq!(Tree::Int(1).leaves(), vec![(String::new(), &Tree::Int(1))]);
    assert!(Tree::new().leaves().is_empty());
}

#[test]
fn mutable_leaves_and_visits() -> R {
    let mut t = sample();
    for (path, leaf) in t.leaves_mut() {
        if path == "steps.2" {
            *leaf = Tree::Int(99);
        }
    }
    assert_eq!(t.at("steps.2")?, &Tree::Int(99));
    for (_, x) in t.tensors_mut() {
        *x = x.mul_scalar(2.0)?;
    }
    assert_eq!(t.tensor("layer_1.bias")?.to_vec::<f32>()?, vec![1.0, 1.0, 1.0]);
    let mut count = 0;
    t.visit_mut(|_, leaf| {
        if let Tree::Int(i) = leaf {
            *i += 1;
            count += 1;
        }
    });
    assert_eq!(count, 2);
    assert_eq!(t.at("steps.0")?, &Tree::Int(2));
    let mut seen = Vec::new();
    t.visit(|p, _| seen.push(p.to_string()));
    assert_eq!(seen.len(), 8);
    let err = t.try_visit(|p, leaf| {
        if leaf.is_leaf() && p == "layer_3.training" { Err(LuxError::Unsupported(p.into())) } else { Ok(()) }
    });
    assert_eq!(err, Err(LuxError::Unsupported("layer_3.training".into())));
    Ok(())
}

#[test]
fn map_keeps_structure_and_non_tensor_leaves() -> R {
    let t = sample();
    let mut paths = Vec::new();
    let doubled = t.map(|p, x| {
        paths.push(p.to_string());
        x.mul_scalar(2.0).unwrap()
    });
    assert_eq!(paths, ["layer_1.weight", "layer_1.bias", "layer_3.running_mean"]);
    assert!(doubled.same_structure(&t));
    assert_eq!(doubled.tensor("layer_1.bias")?.to_vec::<f32>()?, vec![1.0, 1.0, 1.0]);
    assert_eq!(doubled.get("steps")?, t.get("steps")?);
    assert_eq!(doubled.at("layer_3.rng")?, t.at("layer_3.rng")?);
    assert_eq!(doubled.get("layer_2")?, &Tree::new());
    assert_eq!(t.recursive_map(|_, x| x.clone()), t);

    let f64s = t.try_map(|_, x| x.to_dtype(DType::F64))?;
    assert_eq!(f64s.recursive_eltype(), DType::F64);
    let err = t.try_map(|p, _| Err(LuxError::Unsupported(p.to_string()))).unwrap_err();
    assert_eq!(err, LuxError::Unsupported("layer_1.weight".into()));

    // The general form sees every leaf and may change its kind.
    let flags = t.try_map_leaves(|_, leaf| Ok(Tree::Bool(matches!(leaf, Tree::Tensor(_)))))?;
    assert_eq!(flags.at("layer_1.weight")?, &Tree::Bool(true));
    assert_eq!(flags.at("steps.0")?, &Tree::Bool(false));
    Ok(())
}

#[test]
fn zip_map_combines_tensors_and_keeps_left_leaves() -> R {
    let a = sample();
    let mut b = a.map(|_, x| x.ones_like());
    *b.at_mut("layer_3.training")? = Tree::Bool(false);
    *b.at_mut("steps.0")? = Tree::Int(-5);
    let mut paths = Vec::new();
    let sum = a.zip_map(&b, |p, x, y| {
        paths.push(p.to_string());
        x.add(y)
    })?;
    assert_eq!(paths, ["layer_1.weight", "layer_1.bias", "layer_3.running_mean"]);
    assert_eq!(sum.tensor("layer_1.bias")?.to_vec::<f32>()?, vec![1.5, 1.5, 1.5]);
    assert_eq!(sum.at("layer_3.training")?, &Tree::Bool(true)); // the left one
    assert_eq!(sum.at("steps.0")?, &Tree::Int(1));
    let err = a.zip_map(&b, |p, _, _| Err(LuxError::Unsupported(p.to_string()))).unwrap_err();
    assert_eq!(err, LuxError::Unsupported("layer_1.weight".into()));

    let both = a.try_zip_map_leaves(&b, |_, x, y| Ok(Tree::Bool(x == y)))?;
    assert_eq!(both.at("layer_3.rng")?, &Tree::Bool(true));
    assert_eq!(both.at("layer_3.training")?, &Tree::Bool(false));
    Ok(())
}

#[test]
fn zip_map_mismatches_name_the_path() -> R {
    let a = sample();
    let keep = |_: &str, x: &Tensor, _: &Tensor| Ok(x.clone());
    let err = |b: &Tree| a.zip_map(b, keep).unwrap_err().to_string();

    let mut b = a.clone();
    b.at_mut("layer_1")?.remove("bias");
    assert_eq!(err(&b), "structure mismatch at layer_1: keys differ: [weight, bias] vs [weight]");

    let mut b = a.clone();
    *b.at_mut("layer_3.training")? = Tree::Int(1);
    assert_eq!(err(&b), "structure mismatch at layer_3.training: a bool leaf vs an int leaf");

    let mut b = a.clone();
    *b.at_mut("steps")? = Tree::seq([1i64]);
    assert_eq!(err(&b), "structure mismatch at steps: sequence of length 3 vs sequence of length 1");

    let mut b = a.clone();
    *b.at_mut("layer_1.weight")? = Tree::new();
    assert_eq!(err(&b), "structure mismatch at layer_1.weight: a tensor vs a map");

    let mut b = a.clone();
    *b.at_mut("layer_2")? = Tree::seq(Vec::<Tree>::new());
    assert_eq!(err(&b), "structure mismatch at layer_2: a map vs a sequence");

    // Same keys in another order is another structure.
    let x = tree! { a: 1i64, b: 2i64 };
    let y = tree! { b: 2i64, a: 1i64 };
    assert!(!x.same_structure(&y));
    assert!(matches!(x.zip_map(&y, keep), Err(LuxError::Structure { .. })));
    Ok(())
}

#[test]
fn same_structure_ignores_values_and_shapes() -> R {
    let a = sample();
    let mut b = a.map(|_, x| Tensor::zeros(&[7], DType::F64).unwrap_or_else(|_| x.clone()));
    *b.at_mut("steps.0")? = Tree::Int(42);
    assert!(a.same_structure(&b));
    assert_eq!(a.structure_check(&b), Ok(()));
    *b.at_mut("steps.2")? = Tree::Bool(true);
    assert!(!a.same_structure(&b));
    assert_eq!(
        a.structure_check(&b).unwrap_err().to_string(),
        "structure mismatch at steps.2: a none leaf vs a bool leaf"
    );
    assert!(Tree::Int(1).same_structure(&Tree::Int(2)));
    assert!(!Tree::Int(1).same_structure(&Tree::new()));
    Ok(())
}

// ----- counts and dtypes ----------------------------------------------------------------

#[test]
fn param_and_state_counts_follow_lux() -> R {
    // LuxCore abstractluxlayer.jl: parameterlength(zeros(10, 2)) == 20, statelength(Val(true)) == 1,
    // statelength((zeros(10), zeros(5, 2))) == 20 and its NamedTuple variant.
    assert_eq!(Tree::from(Tensor::zeros(&[10, 2], DType::F64)?).param_count(), 20);
    assert_eq!(Tree::Bool(true).state_count(), 1);
    let pair = Tree::from((Tensor::zeros(&[10], DType::F64)?, Tensor::zeros(&[5, 2], DType::F64)?));
    assert_eq!(pair.state_count(), 20);
    let nt = tree! { x: Tensor::zeros(&[10], DType::F64)?, y: Tensor::zeros(&[5, 2], DType::F64)? };
    assert_eq!(nt.state_count(), 20);
    assert_eq!(nt.param_count(), 20);

    let t = sample();
    assert_eq!(t.param_count(), 6 + 3 + 2);
    // + training, rng, and the three step leaves (1, 2.5, None): every non-tensor leaf counts 1.
    assert_eq!(t.state_count(), 11 + 5);
    assert_eq!(Tree::new().param_count(), 0);
    assert_eq!(Tree::new().state_count(), 0);
    assert_eq!(Tree::None.state_count(), 1);
    Ok(())
}

#[test]
fn recursive_eltype_rules() -> R {
    let z = |dt| Tree::from(Tensor::zeros(&[2], dt).unwrap());
    // Lux utils_tests.jl: randn(3, 2) → Float64, nothing → Bool, 3.0 → Float64.
    assert_eq!(z(DType::F64).recursive_eltype(), DType::F64);
    assert_eq!(Tree::None.recursive_eltype(), DType::Bool);
    assert_eq!(Tree::Float(3.0).recursive_eltype(), DType::F64);
    assert_eq!(Tree::new().recursive_eltype(), DType::Bool);
    assert_eq!(
        tree! { training: true, rng: RngState::seed_from_u64(1), e: Tree::None }.recursive_eltype(),
        DType::Bool
    );
    assert_eq!(Tree::Int(3).recursive_eltype(), DType::I64);
    assert_eq!(tree! { a: z(DType::I64), b: z(DType::Bool) }.recursive_eltype(), DType::I64);
    assert_eq!(tree! { a: z(DType::I64), b: z(DType::F16) }.recursive_eltype(), DType::F16);
    assert_eq!(tree! { a: z(DType::F16), b: z(DType::BF16) }.recursive_eltype(), DType::F32);
    assert_eq!(tree! { a: z(DType::F32), b: Tree::seq([z(DType::F64)]) }.recursive_eltype(), DType::F64);
    // A Float leaf is an f64 and counts as such.
    assert_eq!(tree! { a: z(DType::F32), momentum: 0.9 }.recursive_eltype(), DType::F64);
    Ok(())
}

#[test]
fn replace_key_replaces_leaves_only() {
    let st = tree! { training: tree! { training: true }, x: tree! { training: 1i64 }, s: Tree::seq([true]) };
    let out = st.replace_key("training", Tree::Bool(false));
    // The container under `training` is searched, not replaced.
    assert_eq!(out, tree! { training: tree! { training: false }, x: tree! { training: false }, s: Tree::seq([true]) });
    // Sequence indices never match a key.
    assert_eq!(st.replace_key("0", Tree::None), st);
    let mut m = st.clone();
    assert_eq!(m.replace_key_mut("training", &Tree::Int(0)), 2);
    assert_eq!(Tree::Int(1).replace_key("x", Tree::None), Tree::Int(1));
}

// ----- recursive operations ---------------------------------------------------------------

#[test]
fn recursive_add_writes_in_place_when_unshared() -> R {
    let (x, p) = with_ptr(vec![1.0, 2.0, 3.0]);
    let mut acc = tree! { w: x, n: 1i64, f: 0.5, e: Tree::None };
    acc.recursive_add(&tree! { w: t32(&[10.0, 20.0, 30.0], &[3]), n: 2i64, f: 1i64, e: Tree::None })?;
    assert_eq!(acc.tensor("w")?.to_vec::<f32>()?, vec![11.0, 22.0, 33.0]);
    assert_eq!(acc.get("n")?, &Tree::Int(3));
    assert_eq!(acc.get("f")?, &Tree::Float(1.5));
    assert_eq!(acc.get("e")?, &Tree::None);
    assert_eq!(ptr_of(acc, "w"), p, "the buffer was reused");

    // Broadcasting into the left shape is still in place.
    let (x, p) = with_ptr(vec![1.0, 2.0, 3.0, 4.0]);
    let mut acc = tree! { w: x.reshape(&[2, 2])? };
    drop(x);
    acc.recursive_add(&tree! { w: t32(&[1.0, 1.0], &[2]) })?;
    assert_eq!(acc.tensor("w")?.to_vec::<f32>()?, vec![2.0, 3.0, 4.0, 5.0]);
    assert_eq!(ptr_of(acc, "w"), p);
    Ok(())
}

#[test]
fn recursive_add_never_mutates_a_shared_buffer() -> R {
    let x = t32(&[1.0, 2.0], &[2]);
    let mut acc = tree! { w: x.clone() };
    acc.recursive_add(&tree! { w: t32(&[1.0, 1.0], &[2]) })?;
    assert_eq!(acc.tensor("w")?.to_vec::<f32>()?, vec![2.0, 3.0]);
    assert_eq!(x.to_vec::<f32>()?, vec![1.0, 2.0], "the other holder sees no change");
    assert!(!acc.tensor("w")?.shares_storage_with(&x));

    // Adding a tree to a clone of itself: the two share every buffer.
    let a = tree! { x: t32(&[1.0, 2.0], &[2]), y: Tree::seq([t32(&[3.0], &[1])]) };
    let mut b = a.clone();
    b.recursive_add(&a)?;
    assert_eq!(a, tree! { x: t32(&[1.0, 2.0], &[2]), y: Tree::seq([t32(&[3.0], &[1])]) }, "the original is untouched");
    assert_eq!(b, tree! { x: t32(&[2.0, 4.0], &[2]), y: Tree::seq([t32(&[6.0], &[1])]) });
    Ok(())
}

#[test]
fn recursive_add_keeps_the_accumulators_dtype_and_shape() -> R {
    // f32 += f64 stays f32: the sum 1 + 0.1 is computed in f64 and rounded once to f32.
    let mut acc = tree! { w: t32(&[1.0], &[1]) };
    acc.recursive_add(&tree! { w: Tensor::from_vec(vec![0.1f64], &[1])? })?;
    assert_eq!(acc.tensor("w")?.dtype(), DType::F32);
    assert_eq!(acc.tensor("w")?.to_vec::<f32>()?, vec![(1.0f64 + 0.1) as f32]);
    // f64 += f32 → f64 in place.
    let (mut acc, p) = {
        let a = lux_core::__private::ndarray::Array1::from(vec![1.0f64]);
        let p = a.as_ptr();
        (tree! { w: Tensor::from_ndarray(a) }, p)
    };
    acc.recursive_add(&tree! { w: t32(&[0.5], &[1]) })?;
    assert_eq!(acc.tensor("w")?.to_vec::<f64>()?, vec![1.5]);
    let w = acc.remove("w").map(Tree::into_tensor).transpose()?.map(|t| t.into_ndarray::<f64>());
    assert_eq!(w.transpose()?.map(|a| a.as_ptr()), Some(p), "in place");
    // f16 += f32 stays f16 and rounds once: 1 + (2⁻¹¹ + 2⁻²²) lies just above the midpoint
    // between the f16 neighbours 1 and 1 + 2⁻¹⁰, so it rounds up. (Rounding the addend to f16
    // first would drop the 2⁻²² and the tie would round to even, giving 1.)
    let b = 2f32.powi(-11) + 2f32.powi(-22);
    let mut acc = tree! { h: Tensor::ones(&[1], DType::F16)? };
    acc.recursive_add(&tree! { h: t32(&[b], &[1]) })?;
    let h = acc.tensor("h")?;
    assert_eq!(h.dtype(), DType::F16);
    assert_eq!(h.to_f64_vec(), vec![1.0 + 2f64.powi(-10)]);
    // bf16 += f16, a 0-d f64 addend broadcast into [2].
    let mut acc = tree! { a: Tensor::ones(&[2], DType::BF16)?, s: Tensor::ones(&[2], DType::F32)? };
    acc.recursive_add(&tree! { a: Tensor::full(&[2], 0.5, DType::F16)?, s: Tensor::scalar(0.25f64) })?;
    assert_eq!((acc.tensor("a")?.dtype(), acc.tensor("a")?.to_f64_vec()), (DType::BF16, vec![1.5, 1.5]));
    assert_eq!((acc.tensor("s")?.dtype(), acc.tensor("s")?.to_f64_vec()), (DType::F32, vec![1.25, 1.25]));
    // i64 accumulates i64 and bool; float addends into f32 from ints too.
    let mut acc = tree! { i: Tensor::from_vec(vec![1i64, 2], &[2])?, f: t32(&[0.5, 0.5], &[2]) };
    acc.recursive_add(
        &tree! { i: Tensor::from_vec(vec![true, false], &[2])?, f: Tensor::from_vec(vec![1i64, -1], &[2])? },
    )?;
    assert_eq!(acc.tensor("i")?.to_vec::<i64>()?, vec![2, 2]);
    assert_eq!(acc.tensor("f")?.to_vec::<f32>()?, vec![1.5, -0.5]);
    // Equal bool tensors (masks) pass through, unchanged.
    let mask = Tensor::from_vec(vec![true, false], &[2])?;
    let mut acc = tree! { m: mask.clone() };
    acc.recursive_add(&tree! { m: mask.clone() })?;
    assert_eq!(acc.tensor("m")?, &mask);
    // f16 in place rounds like the out-of-place kernel.
    let h = Tensor::from_vec(vec![1.0f32, 1000.0], &[2])?.to_dtype(DType::F16)?;
    let expect = h.add(&h)?;
    let mut acc = tree! { h: h.to_dtype(DType::F32)?.to_dtype(DType::F16)? };
    acc.recursive_add(&tree! { h: h.clone() })?;
    assert_eq!(acc.tensor("h")?, &expect);
    Ok(())
}

#[test]
fn recursive_add_on_tracked_tensors_stays_differentiable() -> R {
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
    let mut call = GradCall::new();
    let xt = call.track(&x)?;
    let mut acc = tree! { w: xt.clone() };
    acc.recursive_add(&tree! { w: xt.clone() })?; // 2x
    let y = acc.tensor("w")?.sum_all()?;
    assert_eq!(call.backward(&y, None)?[0].to_vec::<f64>()?, vec![2.0, 2.0]);
    assert_eq!(x.to_vec::<f64>()?, vec![1.0, 2.0]);
    Ok(())
}

#[test]
fn recursive_add_errors_leave_self_unchanged() -> R {
    let before = tree! { a: t32(&[1.0, 2.0], &[2]), b: t32(&[1.0, 2.0], &[2]) };
    let mut acc = before.clone();
    let err = acc.recursive_add(&tree! { a: t32(&[1.0, 1.0], &[2]), b: t32(&[1.0, 1.0, 1.0], &[3]) }).unwrap_err();
    assert!(matches!(err, LuxError::Shape { .. }));
    assert!(err.to_string().contains("at b"), "{err}");
    assert_eq!(acc, before);
    let err = acc.recursive_add(&tree! { a: t32(&[1.0, 1.0], &[2]) }).unwrap_err();
    assert!(matches!(err, LuxError::Structure { .. }));
    let mut t = tree! { x: t32(&[1.0], &[1]) };
    assert_eq!(
        t.recursive_add(&tree! { x: 1.0 }).unwrap_err().to_string(),
        "structure mismatch at x: recursive_add: cannot combine a tensor leaf with a float leaf"
    );
    Ok(())
}

#[test]
fn recursive_add_rejects_what_would_change_a_leaf() -> R {
    let before = tree! {
        w: t32(&[1.0, 2.0, 3.0], &[3]),
        i: Tensor::from_vec(vec![1i64], &[1])?,
        m: Tensor::from_vec(vec![true], &[1])?,
        n: 1i64,
    };
    let with = |key: &str, value: Tree| before.replace_key(key, value);
    let err = |other: &Tree| {
        let mut acc = before.clone();
        let e = acc.recursive_add(other).unwrap_err();
        assert_eq!(acc, before, "nothing was written");
        e
    };
    // The issue's repro: [3] += [2, 3] used to succeed and turn the leaf into [2, 3].
    let e = err(&with("w", t32(&[0.0; 6], &[2, 3]).into()));
    assert!(matches!(e, LuxError::Shape { .. }));
    assert_eq!(
        e.to_string(),
        "recursive_add: at w: cannot add shape [2, 3] into shape [3] (the accumulator keeps its shape)"
    );
    let e = err(&with("w", t32(&[0.0, 0.0], &[2]).into()));
    assert!(e.to_string().contains("shape [2] into shape [3]"), "{e}");
    let e = err(&with("i", t32(&[0.5], &[1]).into()));
    assert!(matches!(e, LuxError::DType { got: DType::F32, .. }));
    assert_eq!(
        e.to_string(),
        "recursive_add at i: expected dtype i64 or bool (an i64 accumulator keeps its dtype; a float would be truncated), got f32"
    );
    let e = err(&with("m", Tensor::from_vec(vec![false], &[1])?.into()));
    assert_eq!(
        e.to_string(),
        "recursive_add: invalid argument: at m: a bool tensor is kept, not added, so both trees must hold the same one; got bool[1] and a different bool[1]"
    );
    assert!(err(&with("m", Tensor::from_vec(vec![1i64], &[1])?.into())).to_string().ends_with("a different i64[1]"));
    let e = err(&with("n", Tree::Float(0.5)));
    assert_eq!(
        e.to_string(),
        "recursive_add: invalid argument: at n: cannot add the float 0.5 into an int leaf (an int accumulator stays an int)"
    );
    // A Float accumulator takes an Int.
    let mut f = Tree::Float(0.5);
    f.recursive_add(&Tree::Int(2))?;
    assert_eq!(f, Tree::Float(2.5));
    Ok(())
}

#[test]
fn recursive_add_of_two_states_keeps_equal_flags_and_rngs() -> R {
    // Adding two copies of a model state: the flag and the rng are kept, the statistics add.
    let st =
        tree! { running_mean: t32(&[1.0, 2.0], &[2]), training: true, rng: RngState::seed_from_u64(3), e: Tree::None };
    let mut acc = st.clone();
    acc.recursive_add(&st)?;
    assert_eq!(
        acc,
        tree! { running_mean: t32(&[2.0, 4.0], &[2]), training: true, rng: RngState::seed_from_u64(3), e: Tree::None }
    );
    // What really is wrong when they differ.
    let mut acc = st.clone();
    let e = acc.recursive_add(&st.replace_key("training", Tree::Bool(false))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "recursive_add: invalid argument: at training: the flags differ (true vs false); flags are kept, not added, so both trees must hold the same value"
    );
    let e = acc.recursive_add(&st.replace_key("rng", RngState::seed_from_u64(4).into())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "recursive_add: invalid argument: at rng: the rng states differ; rngs are kept, not added, so both trees must hold the same state"
    );
    assert_eq!(acc, st, "nothing was written");
    // Different kinds are a structure mismatch, and say so.
    let e = acc.recursive_add(&st.replace_key("training", Tree::Int(1))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure mismatch at training: recursive_add: cannot combine a bool leaf with an int leaf"
    );
    Ok(())
}

#[test]
fn recursive_copyto_copies_values() -> R {
    let (x, p) = with_ptr(vec![0.0, 0.0]);
    let mut dst = tree! { w: x, n: 0i64, flag: false, r: RngState::seed_from_u64(1), e: Tree::None };
    let src = tree! { w: Tensor::from_vec(vec![1.5f64, -2.0], &[2])?, n: 4i64, flag: true, r: RngState::seed_from_u64(2), e: Tree::None };
    dst.recursive_copyto(&src)?;
    assert_eq!(dst.tensor("w")?.dtype(), DType::F32, "keeps its dtype");
    assert_eq!(dst.tensor("w")?.to_vec::<f32>()?, vec![1.5, -2.0]);
    assert_eq!(dst.get("n")?, &Tree::Int(4));
    assert_eq!(dst.get("flag")?, &Tree::Bool(true));
    assert_eq!(dst.get("r")?, &Tree::Rng(RngState::seed_from_u64(2)));
    assert_eq!(ptr_of(dst, "w"), p, "copied into the existing buffer");

    // A shared destination buffer is not written: the other holder keeps its values.
    let x = t32(&[0.0, 0.0], &[2]);
    let mut dst = tree! { w: x.clone() };
    let y = t32(&[3.0, 4.0], &[2]);
    dst.recursive_copyto(&tree! { w: y.clone() })?;
    assert_eq!(x.to_vec::<f32>()?, vec![0.0, 0.0]);
    assert_eq!(dst.tensor("w")?, &y);
    assert!(!dst.tensor("w")?.shares_storage_with(&y), "a copy, not an alias");
    Ok(())
}

#[test]
fn recursive_copyto_errors() -> R {
    let before = tree! { a: t32(&[1.0, 2.0], &[2]), b: t32(&[1.0, 2.0], &[2]) };
    let mut dst = before.clone();
    let err = dst.recursive_copyto(&tree! { a: t32(&[5.0, 5.0], &[2]), b: t32(&[1.0, 2.0], &[1, 2]) }).unwrap_err();
    assert!(matches!(err, LuxError::Shape { .. }));
    assert_eq!(err.to_string(), "recursive_copyto: at b: cannot copy shape [1, 2] into shape [2]");
    assert_eq!(dst, before, "nothing was written");
    assert!(matches!(dst.recursive_copyto(&tree! { a: 1.0, b: 2.0 }), Err(LuxError::Structure { .. })));
    assert!(Tree::Int(1).recursive_copyto(&Tree::Float(1.0)).is_err());
    assert!(dst.recursive_copyto(&Tree::new()).is_err());
    // A conversion that would truncate is an error, not a silent 1.5 → 1.
    let mut ints = tree! { i: Tensor::from_vec(vec![0i64], &[1])?, m: Tensor::from_vec(vec![false], &[1])? };
    let e =
        ints.recursive_copyto(&tree! { i: t32(&[1.5], &[1]), m: Tensor::from_vec(vec![false], &[1])? }).unwrap_err();
    assert_eq!(
        e.to_string(),
        "recursive_copyto at i: expected dtype a dtype that converts to i64 without truncating, got f32"
    );
    let e = ints
        .recursive_copyto(&tree! { i: Tensor::from_vec(vec![0i64], &[1])?, m: Tensor::from_vec(vec![2i64], &[1])? })
        .unwrap_err();
    assert!(matches!(e, LuxError::DType { got: DType::I64, .. }), "{e}");
    ints.recursive_copyto(&tree! { i: Tensor::from_vec(vec![true], &[1])?, m: Tensor::from_vec(vec![true], &[1])? })?;
    assert_eq!(ints.tensor("i")?.to_vec::<i64>()?, vec![1]);
    Ok(())
}

#[test]
fn recursive_make_zero_keeps_none_bool_rng() -> R {
    // Port of Lux utils_tests.jl "recursive_make_zero".
    let nt = tree! {
        a: 1.0,
        b: t32(&[1.0, 2.0], &[2]),
        c: Tree::seq([t32(&[1.0, 2.0], &[2]), t32(&[1.0, 2.0, 3.0, 4.0], &[4])]),
        d: (Tensor::ones(&[3], DType::F64)?, Tensor::ones(&[5], DType::F64)?),
        e: Tree::None,
        f: Tree::Int(2),
        g: true,
        r: RngState::seed_from_u64(3),
    };
    let z = nt.recursive_make_zero();
    assert!(z.same_structure(&nt));
    assert_eq!(z.get("e")?, &Tree::None);
    assert_eq!(z.get("g")?, &Tree::Bool(true));
    assert_eq!(z.get("r")?, nt.get("r")?);
    assert_eq!(z.get("a")?, &Tree::Float(0.0));
    assert_eq!(z.get("f")?, &Tree::Int(0));
    for (_, t) in z.tensors() {
        assert!(t.to_f64_vec().iter().all(|&v| v == 0.0));
    }
    assert_eq!(z.tensor("d.1")?.dtype(), DType::F64);
    assert_eq!(nt.tensor("b")?.to_vec::<f32>()?, vec![1.0, 2.0], "the original is untouched");
    Ok(())
}

#[test]
fn recursive_make_zero_mut_zeroes_unshared_buffers_in_place() -> R {
    let (x, p) = with_ptr(vec![1.0, 2.0]);
    let shared = t32(&[5.0, 6.0], &[2]);
    let mut nt = tree! { x: x, s: shared.clone(), a: 1.0, n: 3i64, e: Tree::None, g: true };
    nt.recursive_make_zero_mut();
    assert_eq!(nt.tensor("s")?.to_vec::<f32>()?, vec![0.0, 0.0]);
    assert_eq!(shared.to_vec::<f32>()?, vec![5.0, 6.0], "a shared buffer is replaced, not written");
    assert_eq!(nt.get("a")?, &Tree::Float(0.0));
    assert_eq!(nt.get("n")?, &Tree::Int(0));
    assert_eq!(nt.get("e")?, &Tree::None);
    assert_eq!(nt.get("g")?, &Tree::Bool(true));
    assert_eq!(nt.tensor("x")?.to_vec::<f32>()?, vec![0.0, 0.0]);
    assert_eq!(ptr_of(nt, "x"), p);
    Ok(())
}

// ----- serde, display, rng -------------------------------------------------------------------

#[test]
fn serde_round_trip_preserves_everything() -> R {
    let t = tree! {
        f32s: t32(&[1.5, -2.25], &[2]),
        f16s: Tensor::from_vec(vec![0.5f32, 3.0], &[1, 2])?.to_dtype(DType::F16)?,
        bf16s: Tensor::from_vec(vec![0.5f32, 3.0], &[2, 1])?.to_dtype(DType::BF16)?,
        f64s: Tensor::scalar(0.1f64),
        ints: Tensor::from_vec(vec![1i64, -2, 3], &[3])?,
        bools: Tensor::from_vec(vec![true, false], &[2])?,
        nested: tree! { seq: Tree::seq([Tree::Int(-7), Tree::Float(1.0), Tree::Float(-0.1)]), e: Tree::new(), s: Tree::Seq(vec![]) },
        flag: false,
        rng: RngState::seed_from_u64(99),
        nothing: Tree::None,
    };
    let json = serde_json::to_string(&t).map_err(|e| LuxError::Io(e.to_string()))?;
    let back: Tree = serde_json::from_str(&json).map_err(|e| LuxError::Io(e.to_string()))?;
    assert_eq!(back, t);
    for (path, x) in t.tensors() {
        assert_eq!(back.tensor(&path)?.dtype(), x.dtype(), "{path}");
    }
    // An RNG continues the same stream after the round trip.
    use rand::RngExt;
    let (mut r1, mut r2) = (t.get("rng")?.clone(), back.get("rng")?.clone());
    assert_eq!(r1.as_rng_mut()?.random::<u64>(), r2.as_rng_mut()?.random::<u64>());
    assert!(serde_json::from_str::<Tree>(r#"{"map":[["a",{"bogus":1}]]}"#).is_err());
    Ok(())
}

#[test]
fn serde_format_is_tagged_and_ordered() -> R {
    let t = tree! { training: true, n: 1i64, e: Tree::None, s: Tree::seq([0.5]) };
    let json = serde_json::to_string(&t).map_err(|e| LuxError::Io(e.to_string()))?;
    assert_eq!(
        json,
        r#"{"map":[["training",{"bool":true}],["n",{"int":1}],["e","none"],["s",{"seq":[{"float":0.5}]}]]}"#
    );
    Ok(())
}

#[test]
fn empty_tensor_serde_round_trip() {
    for dtype in [DType::F32, DType::F64, DType::I64, DType::Bool] {
        let t = Tree::from(Tensor::zeros(&[0, 3], dtype).unwrap());
        let back: Tree = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}

#[test]
fn display_is_compact_and_shows_small_leaves() -> R {
    let t = tree! { w: t32(&[1.0, 2.0], &[1, 2]), s: Tree::seq([Tree::None, Tree::Float(1.0)]), r: RngState::seed_from_u64(1) };
    assert_eq!(t.to_string(), "{w: f32[1, 2] [[1.0, 2.0]], s: (none, 1.0), r: rng}");
    // Up to 8 elements show their values; 9 show only dtype and shape.
    let t = tree! {
        eight: Tensor::arange(0.0, 8.0, 1.0, DType::I64)?.reshape(&[2, 4])?,
        nine: Tensor::zeros(&[3, 3], DType::F32)?,
        s: Tensor::scalar(0.5f64),
        m: Tensor::from_vec(vec![true], &[1])?,
    };
    assert_eq!(
        t.to_string(),
        "{eight: i64[2, 4] [[0, 1, 2, 3], [4, 5, 6, 7]], nine: f32[3, 3], s: f64[] 0.5, m: bool[1] [true]}"
    );
    Ok(())
}

#[test]
fn serde_keeps_non_finite_and_exact_floats() -> R {
    let t = tree! {
        x: Tensor::from_vec(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.1], &[4])?,
        stat: f64::NAN,
        hi: f64::INFINITY,
        lo: f64::NEG_INFINITY,
        tenth: 0.1,
        tiny: f64::from_bits(1),
    };
    let json = serde_json::to_string(&t).map_err(|e| LuxError::Io(e.to_string()))?;
    assert!(json.contains(r#"["stat",{"float":"NaN"}]"#), "{json}");
    let back: Tree = serde_json::from_str(&json).map_err(|e| LuxError::Io(e.to_string()))?;
    let x = back.tensor("x")?.to_vec::<f32>()?;
    assert!(x[0].is_nan() && x[1] == f32::INFINITY && x[2] == f32::NEG_INFINITY && x[3] == 0.1);
    assert!(back.get("stat")?.as_float()?.is_nan());
    assert_eq!(back.get("hi")?.as_float()?, f64::INFINITY);
    assert_eq!(back.get("lo")?.as_float()?, f64::NEG_INFINITY);
    assert_eq!(back.get("tenth")?.as_float()?.to_bits(), 0.1f64.to_bits());
    assert_eq!(back.get("tiny")?.as_float()?.to_bits(), 1);
    assert!(serde_json::from_str::<Tree>(r#"{"float":"nope"}"#).is_err());
    Ok(())
}

#[test]
fn rng_state_replicates_and_seeds() -> R {
    use rand::{RngExt, SeedableRng};
    let mut a = RngState::seed_from_u64(1234);
    let mut b = a.clone();
    let xs: Vec<f64> = (0..4).map(|_| a.random()).collect();
    let ys: Vec<f64> = (0..4).map(|_| b.random()).collect();
    assert_eq!(xs, ys);
    assert_ne!(a, RngState::seed_from_u64(1234), "drawing advances the state");
    assert_eq!(<RngState as SeedableRng>::seed_from_u64(5), RngState::seed_from_u64(5));
    let mut parent = RngState::seed_from_u64(0);
    let child = RngState::from_rng(&mut parent);
    assert_ne!(child, RngState::seed_from_u64(0));
    assert_eq!(RngState::from(child.clone().into_inner()), child);
    assert_eq!(RngState::from_seed([0; 32]).inner(), RngState::from_seed([0; 32]).inner());
    let mut bytes = [0u8; 5];
    a.fill(&mut bytes[..]);
    // The immutable accessor sees the same generator as the mutable one.
    let mut st = Tree::from(RngState::seed_from_u64(9));
    assert_eq!(st.as_rng()?, &RngState::seed_from_u64(9));
    let drawn: u64 = st.as_rng_mut()?.random();
    assert_eq!(drawn, RngState::seed_from_u64(9).random::<u64>());
    assert_ne!(st.as_rng()?, &RngState::seed_from_u64(9), "as_rng sees the advanced state");
    assert_eq!(
        Tree::Int(1).as_rng().unwrap_err().to_string(),
        "structure mismatch at <root>: expected an rng, found an int"
    );
    Ok(())
}
