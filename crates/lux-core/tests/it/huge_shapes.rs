//! Absurd and empty shapes: the repros of issue 15 (each an `Err`, never a
//! panic or abort, in debug and release) and a property test over random
//! huge/zero shapes across constructors and shape ops.

use lux_core::{DType, LuxError, Tensor};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const F32: DType = DType::F32;

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, F32).unwrap()
}

/// The error message of `r`, which must be an `Err` of kind `Shape` naming `op`.
fn shape_error(r: lux_core::Result<Tensor>, op: &str) -> String {
    match r {
        Ok(t) => panic!("{op}: expected an error, got a tensor of shape {:?}", t.shape()),
        Err(e @ LuxError::Shape { .. }) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{op}:")), "{msg}");
            msg
        }
        Err(e) => panic!("{op}: expected a shape error, got {e}"),
    }
}

#[test]
fn reshape_to_a_shape_whose_count_wraps_is_an_error() {
    // 3 · 6148914691236517206 wraps to 2 in usize arithmetic.
    let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    let msg = shape_error(x.reshape(&[3, 6148914691236517206]), "reshape");
    assert!(msg.contains("[3, 6148914691236517206]"), "{msg}");
    // 2^64 elements wraps to 0, the count of an empty tensor.
    shape_error(zeros(&[0]).reshape(&[1 << 32, 1 << 32]), "reshape");
    // …while an empty shape whose non-zero axes fit is a valid target.
    assert_eq!(zeros(&[0]).reshape(&[0, 1 << 62]).unwrap().shape(), &[0, 1 << 62]);
}

#[test]
fn constructors_follow_ndarrays_shape_rule() {
    // [0, usize::MAX] is empty, but ndarray refuses it: its non-zero product exceeds isize::MAX.
    let msg = shape_error(Tensor::zeros(&[0, usize::MAX], F32), "Tensor::full");
    assert!(msg.contains(&format!("{:?}", [0, usize::MAX])), "{msg}");
    assert!(Tensor::ones(&[0, usize::MAX], DType::I64).is_err());
    // [0, isize::MAX] is the largest valid empty shape.
    assert_eq!(Tensor::zeros(&[0, isize::MAX as usize], F32).unwrap().len(), 0);
    assert!(Tensor::zeros(&[0, isize::MAX as usize + 1], F32).is_err());
    // 2^64 claimed elements with no values: the count overflows (a debug-build panic before).
    shape_error(Tensor::from_vec(Vec::<f32>::new(), &[1 << 32, 1 << 32]), "Tensor::from_vec");
    shape_error(Tensor::from_slice::<i64>(&[], &[1 << 32, 1 << 32]), "Tensor::from_vec");
}

#[test]
fn huge_buffers_are_errors_naming_shape_and_bytes() {
    // 2^40 f32 = 2^42 bytes, above the 2^40-byte limit: Err, not an abort.
    let msg = shape_error(Tensor::zeros(&[1 << 40], F32), "Tensor::full");
    assert!(msg.contains("[1099511627776]") && msg.contains("4398046511104 bytes"), "{msg}");
    shape_error(Tensor::full(&[1 << 40], 2.0, DType::F64), "Tensor::full");
    let mut rng = StdRng::seed_from_u64(0);
    // rand/randn draw into an f64 buffer first: 2^43 bytes.
    let msg = shape_error(Tensor::rand(&mut rng, &[1 << 40], F32), "rand");
    assert!(msg.contains("8796093022208 bytes"), "{msg}");
    shape_error(Tensor::randn(&mut rng, &[1 << 40], F32), "randn");
    // One element past the limit for a 1-byte dtype; exactly the limit is
    // not refused by the limit (whether the allocator grants it depends on
    // the machine, so it is not asked here).
    assert!(Tensor::zeros(&[Tensor::MAX_BUFFER_BYTES + 1], DType::Bool).is_err());
    assert_eq!(Tensor::MAX_BUFFER_BYTES, 1 << 40);
}

#[test]
fn arange_with_too_many_values_is_an_error() {
    let msg = shape_error(Tensor::arange(0.0, 1e300, 1.0, F32), "arange");
    assert!(msg.contains("1e300"), "{msg}");
    shape_error(Tensor::arange(0.0, 1.0, 1e-300, F32), "arange");
    // (end − start) overflows to +inf.
    shape_error(Tensor::arange(-1e308, 1e308, 1.0, F32), "arange");
    // 2^40 values fit the index range, but not the buffer limit.
    shape_error(Tensor::arange(0.0, (1u64 << 40) as f64, 1.0, F32), "arange");
    // The documented value at the edges: an empty range is empty, and an odd
    // count is not rounded up.
    assert_eq!(Tensor::arange(1.0, 0.0, 1.0, F32).unwrap().shape(), &[0]);
    assert_eq!(Tensor::arange(0.0, 1.0, 0.4, DType::F64).unwrap().to_vec::<f64>().unwrap(), vec![0.0, 0.4, 0.8]);
}

#[test]
fn broadcast_to_huge_shapes_is_an_error() {
    // 2^64 elements: the count overflows.
    shape_error(zeros(&[1]).broadcast_to(&[1 << 32, 1 << 32]), "broadcast_to");
    // 2^40 f32: a valid shape, but 4 TiB.
    let msg = shape_error(zeros(&[1]).broadcast_to(&[1 << 40]), "broadcast_to");
    assert!(msg.contains("4398046511104 bytes"), "{msg}");
    // From a non-scalar source (the strided-copy path).
    shape_error(zeros(&[2]).broadcast_to(&[1 << 40, 2]), "broadcast_to");
    // A zero-size target with huge axes is fine.
    assert_eq!(zeros(&[1]).broadcast_to(&[0, 1 << 62]).unwrap().shape(), &[0, 1 << 62]);
}

#[test]
fn broadcasting_binary_ops_check_the_output_shape() {
    // The output [2^40, 2^40, 0] has no elements, but ndarray refuses it
    // (the product of its non-zero axes overflows isize): an error, as in ndarray.
    let (a, b) = (zeros(&[1, 1 << 40, 0]), zeros(&[1 << 40, 1, 0]));
    let msg = shape_error(a.add(&b), "add");
    assert!(msg.contains("[1099511627776, 1099511627776, 0]"), "{msg}");
    shape_error(a.mul(&b), "mul");
    shape_error(a.less(&b), "less");
    assert!(lux_core::broadcast_shapes(a.shape(), b.shape()).is_err());
    let cond = Tensor::zeros(&[1, 1 << 40, 0], DType::Bool).unwrap();
    shape_error(Tensor::where_(&cond, &a, &b), "where_");
    shape_error(Tensor::where_(&cond.logical_not().unwrap(), &b, &b), "where_");
    shape_error(cond.logical_and(&Tensor::zeros(&[1 << 40, 1, 0], DType::Bool).unwrap()), "logical_and");
    // An outer product of [2^20, 1] and [1, 2^20]: 2^40 f32 = 4 TiB.
    let (col, row) = (zeros(&[1 << 20, 1]), zeros(&[1, 1 << 20]));
    let msg = shape_error(col.add(&row), "add");
    assert!(msg.contains("[1048576, 1048576]") && msg.contains("4398046511104 bytes"), "{msg}");
    shape_error(col.sub(&row), "sub");
    shape_error(col.greater(&row), "greater");
    shape_error(Tensor::where_(&Tensor::zeros(&[1, 1 << 20], DType::Bool).unwrap(), &col, &col), "where_");
    // Shapes that merely do not broadcast keep their message.
    let msg = shape_error(zeros(&[3]).add(&zeros(&[4])), "add");
    assert!(msg.contains("shapes [3] and [4] do not broadcast"), "{msg}");
}

#[test]
fn matmul_with_a_huge_output_is_an_error() {
    // [2^40, 0] · [0, 2^40] would be 2^80 zeros.
    let msg = shape_error(zeros(&[1 << 40, 0]).matmul(&zeros(&[0, 1 << 40])), "matmul");
    assert!(msg.contains("[1099511627776, 1099511627776]"), "{msg}");
    // 2^40 f32 outputs exceed the buffer limit.
    shape_error(zeros(&[1 << 20, 0]).matmul(&zeros(&[0, 1 << 20])), "matmul");
    shape_error(zeros(&[1 << 20, 1]).matmul(&zeros(&[1, 1 << 20])), "matmul");
    // Broadcast batch axes that multiply out too far.
    let msg = shape_error(zeros(&[1 << 40, 1, 0, 1]).matmul(&zeros(&[1 << 40, 1, 0])), "matmul");
    assert!(msg.contains("[1099511627776, 1099511627776, 0, 0]") && msg.contains("too many elements"), "{msg}");
    // The documented value for k = 0: zeros.
    assert_eq!(zeros(&[2, 0]).matmul(&zeros(&[0, 3])).unwrap().to_vec::<f32>().unwrap(), vec![0.0; 6]);
}

#[test]
fn reductions_of_empty_inputs_with_huge_outputs_are_errors() {
    let x = zeros(&[0, 1 << 40]);
    let msg = shape_error(x.sum(&[0], false), "sum");
    assert!(msg.contains("[1099511627776]") && msg.contains("4398046511104 bytes"), "{msg}");
    shape_error(x.mean(&[0], true), "mean");
    // The documented values when the output is small: sum 0, mean NaN.
    let y = zeros(&[0, 3]);
    assert_eq!(y.sum(&[0], false).unwrap().to_vec::<f32>().unwrap(), vec![0.0; 3]);
    assert!(y.mean(&[0], false).unwrap().to_vec::<f32>().unwrap().iter().all(|v| v.is_nan()));
    // Reducing the huge axis leaves an empty output.
    assert_eq!(x.sum(&[1], false).unwrap().shape(), &[0]);
    // Folding one axis at a time would build a [2^20, 2^20] intermediate
    // (4 TiB) for a 4 MiB result (found by the property test below).
    let z = zeros(&[1 << 20, 0, 1 << 20]);
    assert_eq!(z.sum(&[0, 1], false).unwrap().to_vec::<f32>().unwrap(), vec![0.0; 1 << 20]);
    assert_eq!(z.sum_to(&[1 << 20]).unwrap().shape(), &[1 << 20]);
    shape_error(z.mean(&[1], true), "mean");
    let m = zeros(&[2, 0, 3]).mean(&[1], true).unwrap();
    assert_eq!(m.shape(), &[2, 1, 3]);
    assert!(m.to_vec::<f32>().unwrap().iter().all(|v| v.is_nan()), "the mean of nothing is NaN");
}

#[test]
fn concat_stack_and_index_select_check_their_outputs() {
    let big = zeros(&[1 << 62, 0]);
    // 2^62 + 2^62 = 2^63 rows of nothing: an invalid shape.
    shape_error(Tensor::concat(&[big.clone(), big.clone()], 0), "concat");
    // Four of them overflow usize.
    shape_error(Tensor::concat(&[big.clone(), big.clone(), big.clone(), big.clone()], 0), "concat");
    shape_error(Tensor::stack(&[big.clone(), big.clone()], 0), "concat");
    assert_eq!(Tensor::concat(&[big.clone(), zeros(&[1, 0])], 0).unwrap().shape(), &[(1 << 62) + 1, 0]);
    // Selecting row 0 of a [1, 2^20] table 2^20 times: 2^40 f32.
    let idx = Tensor::from_vec(vec![0i64; 1 << 20], &[1 << 20]).unwrap();
    shape_error(zeros(&[1, 1 << 20]).index_select(0, &idx), "index_select");
}

// ----- property test --------------------------------------------------------

fn axis_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => prop::sample::select(vec![0, 1, 2, 3]),
        2 => prop::sample::select(vec![1 << 20, 1 << 32, 1 << 40, 1 << 62, isize::MAX as usize, usize::MAX]),
    ]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(axis_len(), 0..5)
}

/// What the shape rule and the buffer limit say of an f32 buffer of `shape`
/// (reference arithmetic in u128).
#[derive(Debug, PartialEq, Clone, Copy)]
enum Size {
    /// Not a valid shape: the product of the non-zero axes exceeds isize::MAX.
    Invalid,
    /// Valid, but more than `Tensor::MAX_BUFFER_BYTES` as f32.
    OverLimit,
    /// At most 2^22 elements: cheap enough to build in a test.
    Small,
    /// Valid and within the limit, but too large to allocate in a test.
    Costly,
}

fn size(shape: &[usize]) -> Size {
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(1u128, |acc, &d| acc.checked_mul(d as u128));
    match nonzero {
        Some(p) if p <= isize::MAX as u128 => {
            let n = if shape.contains(&0) { 0 } else { p };
            if n * 4 > 1 << 40 {
                Size::OverLimit
            } else if n <= 1 << 22 {
                Size::Small
            } else {
                Size::Costly
            }
        }
        _ => Size::Invalid,
    }
}

/// Reference NumPy broadcast of shapes (None: they do not broadcast).
fn broadcast(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let n = shapes.iter().map(|s| s.len()).max()?;
    let mut out = vec![1; n];
    for s in shapes {
        for (o, &d) in out[n - s.len()..].iter_mut().zip(s.iter()) {
            *o = if *o == d || d == 1 {
                *o
            } else if *o == 1 {
                d
            } else {
                return None;
            };
        }
    }
    Some(out)
}

/// Reference output shape of NumPy's matmul.
fn matmul_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (m, k) = if a.len() == 1 { (None, a[0]) } else { (Some(a[a.len() - 2]), a[a.len() - 1]) };
    let (k2, n) = if b.len() == 1 { (b[0], None) } else { (b[b.len() - 2], Some(b[b.len() - 1])) };
    if k != k2 {
        return None;
    }
    let mut out = broadcast(&[&a[..a.len().saturating_sub(2)], &b[..b.len().saturating_sub(2)]])?;
    out.extend(m);
    out.extend(n);
    Some(out)
}

/// Runs `op` when its output (per the reference) is cheap or must be an
/// error; checks the outcome against the reference: shapes that do not fit
/// together, invalid shapes and over-limit buffers are `Err`, and an `Ok`
/// has the reference shape. Costly outputs are skipped (not allocated).
fn check(
    name: &str,
    want: Option<Vec<usize>>,
    op: impl FnOnce() -> lux_core::Result<Tensor>,
) -> Result<(), TestCaseError> {
    let verdict = want.as_deref().map(size);
    if verdict == Some(Size::Costly) {
        return Ok(());
    }
    match (op(), want, verdict) {
        (Ok(t), Some(w), Some(Size::Small)) => prop_assert_eq!(t.shape(), w.as_slice(), "{}", name),
        (Err(_), None | Some(_), Some(Size::Invalid | Size::OverLimit) | None) => {}
        (Err(e), _, Some(Size::Small)) => {
            // Small outputs may still be refused for reasons other than size
            // (dtype, axis), but never because they are too large.
            let msg = e.to_string();
            prop_assert!(!msg.contains("too many elements") && !msg.contains("bytes"), "{}: {}", name, msg);
        }
        (got, want, verdict) => prop_assert!(
            false,
            "{}: got {:?}, reference {:?} ({:?})",
            name,
            got.map(|t| t.shape().to_vec()),
            want,
            verdict
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn huge_and_zero_shapes_give_ok_or_err_never_a_panic(
        a in shape(),
        b in shape(),
        c in shape(),
        axis in -5isize..5,
        start in axis_len(),
        len in axis_len(),
        seed in any::<u64>(),
    ) {
        // Constructors on every shape.
        for s in [&a, &b, &c] {
            let want = Some(s.clone());
            check("zeros", want.clone(), || Tensor::zeros(s, F32))?;
            check("full", want.clone(), || Tensor::full(s, 1.5, DType::I64))?;
            check("rand", want.clone(), || Tensor::rand(&mut StdRng::seed_from_u64(seed), s, F32))?;
            check("randn", want, || Tensor::randn(&mut StdRng::seed_from_u64(seed), s, DType::F64))?;
            // No values: valid only for a valid empty shape.
            let r = Tensor::from_vec(Vec::<f32>::new(), s);
            prop_assert_eq!(r.is_ok(), size(s) != Size::Invalid && s.contains(&0), "from_vec {:?}", s);
        }
        // Operands: the shapes that can be built cheaply (including empty ones with huge axes).
        let operand = |s: &[usize]| (size(s) == Size::Small).then(|| Tensor::zeros(s, F32).unwrap());
        let (Some(x), Some(y)) = (operand(&a), operand(&b)) else { return Ok(()) };
        let cond = Tensor::zeros(&a, DType::Bool).unwrap();
        let same_count = c.iter().try_fold(1u128, |n, &d| n.checked_mul(d as u128)) == Some(x.len() as u128);
        check("reshape", (size(&c) != Size::Invalid && same_count).then(|| c.clone()), || x.reshape(&c))?;
        let fits = c.len() >= a.len() && a.iter().rev().zip(c.iter().rev()).all(|(&d, &s)| d == s || d == 1);
        check("broadcast_to", fits.then(|| c.clone()), || x.broadcast_to(&c))?;
        let out = broadcast(&[&a, &b]);
        check("add", out.clone(), || x.add(&y))?;
        check("mul", out.clone(), || x.mul(&y))?;
        check("less", out.clone(), || x.less(&y))?;
        check("where_", broadcast(&[&a, &a, &b]), || Tensor::where_(&cond, &x, &y))?;
        if let Some(z) = operand(&c) {
            check("where_ 3", broadcast(&[&a, &b, &c]), || Tensor::where_(&cond, &y, &z))?;
            check("sub 3", broadcast(&[&b, &c]), || y.sub(&z))?;
        }
        check("matmul", matmul_shape(&a, &b), || x.matmul(&y))?;
        // The remaining ops cannot produce an output larger than their
        // inputs unless the input is empty; they must simply not panic.
        let _ = Tensor::concat(&[x.clone(), y.clone()], axis);
        let _ = Tensor::concat(&[x.clone(), x.clone(), x.clone()], axis);
        let _ = Tensor::stack(&[x.clone(), x.clone()], axis);
        let _ = Tensor::stack(&[x.clone(), y.clone()], axis);
        let reduced = |keep: bool| -> Option<Vec<usize>> {
            let r = a.len() as isize;
            let ax = if axis < 0 { axis + r } else { axis };
            (0..r).contains(&ax).then(|| {
                a.iter().enumerate().filter_map(|(i, &d)| if i as isize == ax { keep.then_some(1) } else { Some(d) }).collect()
            })
        };
        check("sum", reduced(false), || x.sum(&[axis], false))?;
        check("mean", reduced(true), || x.mean(&[axis], true))?;
        if reduced(false).as_deref().map(size) != Some(Size::Costly) {
            let _ = x.max(&[axis], false);
            let _ = x.min(&[axis], true);
        }
        let _ = x.sum_all();
        let _ = x.permute(&(0..a.len()).rev().collect::<Vec<_>>());
        let _ = x.transpose(axis, 0);
        let _ = x.narrow(axis, start, len);
        let _ = x.squeeze(axis);
        let _ = x.unsqueeze(axis);
        let _ = x.sum_to(&b);
        let _ = x.argmax(axis, false);
        let index = Tensor::from_vec(vec![0i64, 1], &[2]).unwrap();
        let _ = x.index_select(axis, &index);
    }
}
