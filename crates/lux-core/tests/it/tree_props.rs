//! Property tests for `Tree`: map/zip laws, serde round trips, and random
//! bad input (paths, keys, mismatched trees) giving `Err`, never a panic.

use lux_core::{DType, RngState, Tensor, Tree};
use proptest::prelude::*;

/// Values exactly representable in every float dtype's round trip through JSON.
fn dyadic() -> impl Strategy<Value = f64> {
    (-4096i32..4096).prop_map(|i| i as f64 / 64.0)
}

fn tensor() -> impl Strategy<Value = Tensor> {
    (prop::collection::vec(0usize..4, 0..3), 0usize..6).prop_flat_map(|(shape, dt)| {
        let n: usize = shape.iter().product();
        prop::collection::vec(dyadic(), n).prop_map(move |values| {
            let dtype = [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64, DType::Bool][dt];
            Tensor::from_vec(values, &shape).and_then(|t| t.to_dtype(dtype)).expect("valid shape")
        })
    })
}

fn leaf() -> impl Strategy<Value = Tree> {
    prop_oneof![
        4 => tensor().prop_map(Tree::Tensor),
        1 => any::<bool>().prop_map(Tree::Bool),
        1 => any::<i64>().prop_map(Tree::Int),
        1 => dyadic().prop_map(Tree::Float),
        1 => any::<u64>().prop_map(|s| Tree::Rng(RngState::seed_from_u64(s))),
        1 => Just(Tree::None),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "weight", "bias", "training", "layer_1", "0", "1"]).prop_map(String::from)
}

fn tree() -> impl Strategy<Value = Tree> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec((key(), inner.clone()), 0..4).prop_map(|entries| {
                let mut map = Tree::new();
                for (k, v) in entries {
                    map.insert(k, v).expect("valid key");
                }
                map
            }),
            prop::collection::vec(inner, 0..4).prop_map(Tree::Seq),
        ]
    })
}

/// Paths made of plausible and implausible segments, including empty ones.
fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            key(),
            Just(String::new()),
            Just("-1".to_string()),
            Just("99999999999999999999".into()),
            "[a-z0-9_]{1,3}"
        ],
        0..5,
    )
    .prop_map(|segs| segs.join("."))
}

/// A tree of the same structure with other tensor values.
fn ones_like(t: &Tree) -> Tree {
    t.map(|_, x| x.ones_like())
}

/// Fresh, unshared tensor buffers (so the in-place path is taken where it applies).
fn fresh(t: &Tree) -> Tree {
    t.try_map(|_, x| x.to_dtype(DType::F64)?.to_dtype(x.dtype())).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn map_identity_is_identity(t in tree()) {
        prop_assert_eq!(t.map(|_, x| x.clone()), t.clone());
        prop_assert_eq!(t.try_map(|_, x| Ok(x.clone())).unwrap(), t.clone());
        prop_assert_eq!(t.try_map_leaves(|_, leaf| Ok(leaf.clone())).unwrap(), t);
    }

    #[test]
    fn zip_map_left_projection_gives_left(t in tree()) {
        let other = ones_like(&t);
        prop_assert!(t.same_structure(&other));
        prop_assert_eq!(t.zip_map(&other, |_, x, _| Ok(x.clone())).unwrap(), t.clone());
        let right = t.zip_map(&other, |_, _, y| Ok(y.clone())).unwrap();
        prop_assert_eq!(right.tensors(), other.tensors());
    }

    #[test]
    fn serde_round_trip(t in tree()) {
        let json = serde_json::to_string(&t).unwrap();
        let back: Tree = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &t);
        let dtypes = |t: &Tree| t.tensors().into_iter().map(|(p, x)| (p, x.dtype())).collect::<Vec<_>>();
        prop_assert_eq!(dtypes(&back), dtypes(&t));
    }

    #[test]
    fn every_leaf_path_resolves(t in tree()) {
        for (path, leaf) in t.leaves() {
            prop_assert_eq!(t.at(&path).unwrap(), leaf);
        }
        let n: usize = t.tensors().iter().map(|(_, x)| x.len()).sum();
        prop_assert_eq!(t.param_count(), n);
        prop_assert!(t.state_count() >= t.param_count());
        prop_assert_eq!(t.state_count() - t.param_count(), t.leaves().len() - t.tensors().len());
    }

    #[test]
    fn random_paths_and_keys_never_panic(mut t in tree(), p in path(), k in "[a-z0-9._]{0,6}") {
        let found = t.at(&p).is_ok();
        prop_assert_eq!(t.at_mut(&p).is_ok(), found);
        if t.tensor(&p).is_ok() {
            prop_assert!(found);
        }
        let _ = t.tensor_mut(&p);
        prop_assert_eq!(t.contains_key(&k), t.get(&k).is_ok());
        let _ = t.get_mut(&k);
        let inserted = t.insert(k.clone(), Tree::None);
        if inserted.is_ok() {
            prop_assert_eq!(t.get(&k).unwrap(), &Tree::None);
        }
        let _ = t.remove(&k);
        let _ = t.replace_key(&k, Tree::Int(1));
    }

    #[test]
    fn mismatched_trees_give_err_not_panic(a in tree(), b in tree()) {
        let zipped = a.zip_map(&b, |_, x, _| Ok(x.clone()));
        prop_assert_eq!(zipped.is_ok(), a.same_structure(&b));
        let mut x = a.clone();
        if x.recursive_add(&b).is_err() {
            prop_assert_eq!(&x, &a, "an error leaves the tree unchanged");
        }
        let mut y = a.clone();
        if y.recursive_copyto(&b).is_err() {
            prop_assert_eq!(&y, &a);
        }
    }

    #[test]
    fn recursive_add_matches_out_of_place_add(t in tree()) {
        // Same dtypes: flags, rngs and bool tensors are equal on both sides and pass through.
        let a = fresh(&t);
        let b = ones_like(&a);
        let expected = a.zip_map(&b, |_, x, y| if x.dtype() == DType::Bool { Ok(x.clone()) } else { x.add(y) }).unwrap();
        let mut got = fresh(&a);
        got.recursive_add(&b).unwrap();
        prop_assert_eq!(got.tensors(), expected.tensors());
        for (path, x) in got.tensors() {
            prop_assert_eq!(x.dtype(), a.tensor(&path).unwrap().dtype());
        }
    }

    #[test]
    fn recursive_add_keeps_every_leafs_shape_and_dtype(t in tree(), width in 0usize..4) {
        // The addend: ones in another float width (i64 and bool tensors keep theirs).
        let other = [DType::F16, DType::BF16, DType::F32, DType::F64][width];
        let b = ones_like(&t).map(|_, x| if x.dtype().is_float() { x.to_dtype(other).unwrap() } else { x.clone() });
        let mut got = fresh(&t);
        got.recursive_add(&b).unwrap();
        prop_assert!(got.same_structure(&t));
        for (path, x) in t.tensors() {
            let y = got.tensor(&path).unwrap();
            prop_assert_eq!((y.dtype(), y.shape()), (x.dtype(), x.shape()));
            // The exact sum (dyadic values and 1 add exactly in f64), rounded once to the leaf's dtype.
            let sum: Vec<f64> = x.to_f64_vec().iter().map(|v| if x.dtype() == DType::Bool { *v } else { v + 1.0 }).collect();
            let expect = Tensor::from_vec(sum, x.shape()).unwrap().to_dtype(x.dtype()).unwrap();
            prop_assert_eq!(y, &expect, "{}", path);
        }
    }

    #[test]
    fn copyto_then_equal(t in tree()) {
        let src = ones_like(&t);
        let mut dst = t.clone();
        dst.recursive_copyto(&src).unwrap();
        let same_dtypes = src.zip_map(&dst, |_, s, d| s.to_dtype(d.dtype())).unwrap();
        prop_assert_eq!(dst, same_dtypes);
    }

    #[test]
    fn make_zero_forms_agree(t in tree()) {
        let z = t.recursive_make_zero();
        let mut m = t.clone();
        m.recursive_make_zero_mut();
        prop_assert_eq!(&z, &m);
        prop_assert!(z.same_structure(&t));
        prop_assert!(z.tensors().iter().all(|(_, x)| x.to_f64_vec().iter().all(|&v| v == 0.0)));
    }
}
