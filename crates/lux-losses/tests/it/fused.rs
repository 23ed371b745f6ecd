//! The fused kernels (logit cross-entropy, MSE) against their composite
//! forms (`fused(false)`) and independent f64 references: values in f32 and
//! f64, first-order gradients (finite differences), second-order gradients
//! (Hessian-vector products against finite differences of the gradient),
//! stability at ±1e4 logits, the parallel paths, half precision, bad input.

use crate::regression::{t, values};
use lux_ad::{Tolerances, check_gradients, check_jvp, gradient, hvp, value_and_gradient};
use lux_core::{DType, Result, Tensor, Tree, tree};
use lux_losses::{Agg, CrossEntropyLoss, LossFunction, MSELoss};

fn aggs() -> Vec<(&'static str, Agg)> {
    vec![
        ("mean", Agg::Mean),
        ("sum", Agg::Sum),
        ("none", Agg::None),
        ("custom", Agg::custom(|l| l.square()?.sum_all())),
    ]
}

fn assert_close(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    assert_eq!(got.dtype(), want.dtype(), "{what}");
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what} [{i}]: {a} vs {b}\n{g:?}\n{w:?}");
    }
}

/// Value and gradient w.r.t. ŷ of `loss(ŷ, y)` reduced to a scalar (the
/// sum of squares of the unreduced result for `Agg::None`, so every
/// element's gradient is exercised).
fn value_grad(loss: &dyn LossFunction, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
    let ps = tree! { x: x.clone() };
    let f = |t: &Tree| {
        let l = loss.call(t.tensor("x")?, y)?;
        if l.ndim() == 0 { Ok(l) } else { l.square()?.sum_all() }
    };
    let (_, g) = value_and_gradient(f, &ps).unwrap();
    (loss.call(x, y).unwrap(), g.tensor("x").unwrap().clone())
}

fn to_scalar_loss<'a>(loss: &'a dyn LossFunction, y: &'a Tensor) -> impl Fn(&Tree) -> Result<Tensor> + 'a {
    move |t: &Tree| {
        let l = loss.call(t.tensor("x")?, y)?;
        if l.ndim() == 0 { Ok(l) } else { l.square()?.sum_all() }
    }
}

/// Fused and composite agree in value and gradient (f32 and f64), and the
/// fused gradient, tangent and gradient of the tangent pass
/// finite-difference checks in f64.
fn fused_matches_composite(
    fused: &dyn LossFunction,
    composite: &dyn LossFunction,
    x: &[f64],
    shape: &[usize],
    y: &Tensor,
) {
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
        let xt = t(x, shape, dtype);
        let y = if y.dtype().is_float() { y.to_dtype(dtype).unwrap() } else { y.clone() };
        let (vf, gf) = value_grad(fused, &xt, &y);
        let (vc, gc) = value_grad(composite, &xt, &y);
        assert_close(&vf, &vc, tol, &format!("value {dtype:?}"));
        assert_close(&gf, &gc, tol, &format!("gradient {dtype:?}"));
    }
    let y64 = if y.dtype().is_float() { y.to_dtype(DType::F64).unwrap() } else { y.clone() };
    let ps = tree! { x: t(x, shape, DType::F64) };
    if let Err(e) = check_gradients(to_scalar_loss(fused, &y64), &ps, Tolerances { atol: 1e-6, rtol: 1e-5 }) {
        panic!("{e}");
    }
    // The fused kernel's tangent rule (forward mode) against central
    // differences and the adjoint identity, and its gradient (reverse-over-forward).
    let call = |p: &Tree| fused.call(p.tensor("x")?, &y64);
    if let Err(e) = check_jvp(call, &ps, Tolerances { atol: 1e-6, rtol: 1e-5 }) {
        panic!("tangent: {e}");
    }
    let v = tree! { x: ps.tensor("x").unwrap().cos().unwrap() };
    let of_tangent = |p: &Tree| lux_ad::jvp(call, p, &v)?.1.square()?.sum_all();
    if let Err(e) = check_gradients(of_tangent, &ps, Tolerances { atol: 1e-6, rtol: 1e-5 }) {
        panic!("gradient of the tangent: {e}");
    }
}

/// One-hot rows of `labels` along the last axis.
fn one_hot(labels: &[i64], classes: usize) -> Vec<f64> {
    let mut v = vec![0.0; labels.len() * classes];
    labels.iter().enumerate().for_each(|(r, &l)| v[r * classes + l as usize] = 1.0);
    v
}

/// Independent per-sample reference: `−Σ ỹ·(x − logsumexp x)` along the last axis.
fn ce_reference(x: &[f64], y: &[f64], classes: usize, alpha: f64) -> Vec<f64> {
    x.chunks(classes)
        .zip(y.chunks(classes))
        .map(|(xr, yr)| {
            let m = xr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + xr.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            xr.iter().zip(yr).map(|(v, t)| -((1.0 - alpha) * t + alpha / classes as f64) * (v - lse)).sum()
        })
        .collect()
}

#[test]
fn cross_entropy_fused_equals_reference() {
    let (rows, classes) = (5, 4);
    let x = values(1, rows * classes, -3.0, 3.0);
    let labels = [3i64, 0, 1, 1, 2];
    let soft = values(2, rows * classes, 0.0, 1.0);
    for alpha in [0.0, 0.2] {
        for (targets, dense) in [(one_hot(&labels, classes), false), (soft.clone(), true)] {
            let want = ce_reference(&x, &targets, classes, alpha);
            let y = if dense {
                t(&targets, &[rows, classes], DType::F64)
            } else {
                Tensor::from_vec(labels.to_vec(), &[rows]).unwrap()
            };
            for (dtype, tol) in [(DType::F64, 1e-13), (DType::F32, 1e-6)] {
                let loss = CrossEntropyLoss::new().logits(true).label_smoothing(alpha).agg(Agg::None);
                let yd = if dense { y.to_dtype(dtype).unwrap() } else { y.clone() };
                let got = loss.call(&t(&x, &[rows, classes], dtype), &yd).unwrap();
                assert_eq!((got.dtype(), got.shape()), (dtype, &[rows][..]));
                assert_close(
                    &got.to_dtype(DType::F64).unwrap(),
                    &Tensor::from_vec(want.clone(), &[rows]).unwrap(),
                    tol,
                    "ce",
                );
            }
        }
    }
}

#[test]
fn cross_entropy_fused_equals_composite_for_every_option() {
    let (rows, classes) = (4, 5);
    let x = values(3, rows * classes, -2.0, 2.0);
    let labels = Tensor::from_vec(vec![4i64, 0, 2, 2], &[rows]).unwrap();
    let hot = t(&one_hot(&[4, 0, 2, 2], classes), &[rows, classes], DType::F64);
    let soft = t(&values(4, rows * classes, 0.0, 1.0), &[rows, classes], DType::F64);
    let bools = Tensor::from_vec(
        one_hot(&[4, 0, 2, 2], classes).iter().map(|&v| v == 1.0).collect::<Vec<_>>(),
        &[rows, classes],
    )
    .unwrap();
    // targets that broadcast to ŷ's shape: one distribution for every row
    let shared = t(&values(5, classes, 0.0, 1.0), &[classes], DType::F64);
    for (name, agg) in aggs() {
        for alpha in [0.0, 0.3] {
            for (what, y) in
                [("labels", &labels), ("one-hot", &hot), ("soft", &soft), ("bool", &bools), ("broadcast", &shared)]
            {
                let loss = CrossEntropyLoss::new().logits(true).label_smoothing(alpha).agg(agg.clone());
                let composite = loss.clone().fused(false);
                eprintln!("{name} α={alpha} {what}");
                fused_matches_composite(&loss, &composite, &x, &[rows, classes], y);
            }
        }
    }
}

#[test]
fn cross_entropy_fused_on_any_axis() {
    // [2, 3, 4]: classes on axis 0, 1 (strided lanes) and 2 (contiguous).
    let shape = [2usize, 3, 4];
    let x = values(6, 24, -2.0, 2.0);
    for axis in [0isize, 1, -1] {
        let ax = axis.rem_euclid(3) as usize;
        let classes = shape[ax];
        let lshape: Vec<usize> = shape.iter().enumerate().filter(|&(k, _)| k != ax).map(|(_, &d)| d).collect();
        let n: usize = lshape.iter().product();
        let labels = Tensor::from_vec((0..n as i64).map(|i| (i * 7 + 1) % classes as i64).collect(), &lshape).unwrap();
        let soft = t(&values(7, 24, 0.0, 1.0), &shape, DType::F64);
        for alpha in [0.0, 0.25] {
            for y in [&labels, &soft] {
                let loss = CrossEntropyLoss::new().logits(true).dims(axis).label_smoothing(alpha).agg(Agg::None);
                fused_matches_composite(&loss, &loss.clone().fused(false), &x, &shape, y);
            }
        }
    }
}

#[test]
fn cross_entropy_fused_on_a_strided_view_and_mixed_dtypes() {
    // ŷ a transposed (non-contiguous) view; classes on axis 0.
    let x = t(&values(8, 12, -2.0, 2.0), &[4, 3], DType::F64).transpose(0, 1).unwrap();
    let labels = Tensor::from_vec(vec![0i64, 2, 1, 1], &[4]).unwrap();
    let loss = CrossEntropyLoss::new().logits(true).dims(0).agg(Agg::None);
    assert_close(
        &loss.call(&x, &labels).unwrap(),
        &loss.clone().fused(false).call(&x, &labels).unwrap(),
        1e-13,
        "view",
    );
    // f32 logits with f64 targets: an f64 result, computed in f64 (the
    // composite takes the log-softmax in f32, as Lux does, so it agrees to
    // f32 rounding only).
    let x32 = t(&values(9, 6, -2.0, 2.0), &[2, 3], DType::F32);
    let y = values(10, 6, 0.0, 1.0);
    let y64 = t(&y, &[2, 3], DType::F64);
    let fused = CrossEntropyLoss::new().logits(true).agg(Agg::None).call(&x32, &y64).unwrap();
    assert_eq!(fused.dtype(), DType::F64);
    let want = ce_reference(&x32.to_f64_vec(), &y, 3, 0.0);
    assert_close(&fused, &Tensor::from_vec(want, &[2]).unwrap(), 1e-14, "mixed");
    let composite = CrossEntropyLoss::new().logits(true).fused(false).agg(Agg::None).call(&x32, &y64).unwrap();
    assert_close(&fused, &composite, 1e-6, "mixed composite");
    let (_, g) = value_grad(&CrossEntropyLoss::new().logits(true), &x32, &y64);
    assert_eq!(g.dtype(), DType::F32);
}

#[test]
fn cross_entropy_fused_parallel_paths() {
    // Over the rayon threshold (2^16 elements): contiguous lanes, and
    // strided lanes (classes on the middle axis).
    for (shape, axis) in [(vec![130usize, 600], -1isize), (vec![40, 50, 40], 1)] {
        let n: usize = shape.iter().product();
        let ax = axis.rem_euclid(shape.len() as isize) as usize;
        let classes = shape[ax];
        let lshape: Vec<usize> = shape.iter().enumerate().filter(|&(k, _)| k != ax).map(|(_, &d)| d).collect();
        let lanes: usize = lshape.iter().product();
        let x = values(11, n, -4.0, 4.0);
        let labels = Tensor::from_vec((0..lanes as i64).map(|i| (i * 31) % classes as i64).collect(), &lshape).unwrap();
        let soft = t(&values(12, n, 0.0, 1.0), &shape, DType::F64);
        for y in [&labels, &soft] {
            for dtype in [DType::F32, DType::F64] {
                let loss = CrossEntropyLoss::new().logits(true).dims(axis).label_smoothing(0.1);
                let xt = t(&x, &shape, dtype);
                let y = if y.dtype().is_float() { y.to_dtype(dtype).unwrap() } else { y.clone() };
                let tol = if dtype == DType::F32 { 2e-5 } else { 1e-12 };
                let (vf, gf) = value_grad(&loss, &xt, &y);
                let (vc, gc) = value_grad(&loss.clone().fused(false), &xt, &y);
                assert_close(&vf, &vc, tol, "parallel value");
                assert_close(&gf, &gc, tol, "parallel gradient");
            }
        }
    }
}

#[test]
fn cross_entropy_fused_is_stable_at_large_logits() {
    // Row 0: the label's logit is −1e4 below the max; row 1: the label wins by 2e4.
    let x = [1e4, -1e4, 0.0, -1e4, 1e4, 5.0];
    let labels = Tensor::from_vec(vec![1i64, 1], &[2]).unwrap();
    let hot = t(&one_hot(&[1, 1], 3), &[2, 3], DType::F64);
    for dtype in [DType::F32, DType::F64] {
        for y in [&labels, &hot] {
            let y = if y.dtype().is_float() { y.to_dtype(dtype).unwrap() } else { y.clone() };
            let (v, g) = value_grad(&CrossEntropyLoss::new().logits(true).agg(Agg::Sum), &t(&x, &[2, 3], dtype), &y);
            assert_eq!(v.to_f64_vec(), vec![2e4]); // 2e4 + 0 exactly: log-sum-exp of the shifted row is 0 in either dtype
            assert_eq!(g.to_f64_vec(), vec![1.0, -1.0, 0.0, 0.0, 0.0, 0.0]);
            // smoothing: every class costs, still finite
            let (v, g) =
                value_grad(&CrossEntropyLoss::new().logits(true).label_smoothing(0.3), &t(&x, &[2, 3], dtype), &y);
            let want = ce_reference(&x, &one_hot(&[1, 1], 3), 3, 0.3);
            let want = (want[0] + want[1]) / 2.0;
            assert!((v.to_f64_vec()[0] - want).abs() <= 1e-6 * want.abs(), "{v:?} vs {want}");
            assert!(g.to_f64_vec().iter().all(|g| g.is_finite()), "{g:?}");
        }
    }
}

/// `hvp` of `loss(·, y)` at `x` along `v`, against central differences of
/// the (first-order, fused) gradient, and against the composite's `hvp`.
fn check_second_order(fused: &dyn LossFunction, composite: &dyn LossFunction, x: &Tensor, v: &Tensor, y: &Tensor) {
    let ps = tree! { x: x.clone() };
    let vs = tree! { x: v.clone() };
    let hv = hvp(to_scalar_loss(fused, y), &ps, &vs).unwrap().tensor("x").unwrap().to_f64_vec();
    let hv_c = hvp(to_scalar_loss(composite, y), &ps, &vs).unwrap().tensor("x").unwrap().to_f64_vec();
    let h = 1e-5;
    let grad_at = |s: f64| {
        let xs = x.add(&v.mul_scalar(s).unwrap()).unwrap();
        gradient(to_scalar_loss(fused, y), &tree! { x: xs }).unwrap().tensor("x").unwrap().to_f64_vec()
    };
    let (up, down) = (grad_at(h), grad_at(-h));
    let fd: Vec<f64> = up.iter().zip(&down).map(|(a, b)| (a - b) / (2.0 * h)).collect();
    assert!(hv.iter().any(|v| v.abs() > 1e-3), "a trivial Hessian-vector product proves nothing: {hv:?}");
    for i in 0..hv.len() {
        assert!(
            (hv[i] - fd[i]).abs() <= 1e-6 * (1.0 + fd[i].abs()),
            "[{i}] hvp {} vs fd {}\n{hv:?}\n{fd:?}",
            hv[i],
            fd[i]
        );
        assert!(
            (hv[i] - hv_c[i]).abs() <= 1e-12 * (1.0 + hv_c[i].abs()),
            "[{i}] fused {} vs composite {}",
            hv[i],
            hv_c[i]
        );
    }
}

#[test]
fn cross_entropy_fused_second_order() {
    let (rows, classes) = (3, 4);
    let x = t(&values(13, rows * classes, -2.0, 2.0), &[rows, classes], DType::F64);
    let v = t(&values(14, rows * classes, -1.0, 1.0), &[rows, classes], DType::F64);
    let labels = Tensor::from_vec(vec![1i64, 3, 0], &[rows]).unwrap();
    let soft = t(&values(15, rows * classes, 0.0, 1.0), &[rows, classes], DType::F64);
    for (_, agg) in aggs() {
        for alpha in [0.0, 0.2] {
            for y in [&labels, &soft] {
                let loss = CrossEntropyLoss::new().logits(true).label_smoothing(alpha).agg(agg.clone());
                check_second_order(&loss, &loss.clone().fused(false), &x, &v, y);
            }
        }
    }
    // classes on the first axis (strided lanes)
    let loss = CrossEntropyLoss::new().logits(true).dims(0);
    let labels = Tensor::from_vec(vec![0i64, 2, 1, 2], &[classes]).unwrap();
    check_second_order(&loss, &loss.clone().fused(false), &x, &v, &labels);
}

#[test]
fn cross_entropy_fused_bad_input() {
    let x = t(&values(16, 6, -1.0, 1.0), &[2, 3], DType::F32);
    let loss = CrossEntropyLoss::new().logits(true);
    for (labels, bad) in [(vec![0i64, 3], "label 3"), (vec![-2, 0], "label -2")] {
        let e = loss.call(&x, &Tensor::from_vec(labels, &[2]).unwrap()).unwrap_err().to_string();
        assert!(e.contains("CrossEntropyLoss") && e.contains(bad) && e.contains("3 classes"), "{e}");
    }
    let e = loss.call(&x, &Tensor::from_vec(vec![0i64, 1, 2], &[3]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("CrossEntropyLoss") && e.contains("[3]") && e.contains("[2, 3]"), "{e}");
    let e = loss.call(&x, &Tensor::zeros(&[2, 4], DType::F32).unwrap()).unwrap_err().to_string();
    assert!(e.contains("CrossEntropyLoss") && e.contains("[2, 3]") && e.contains("[2, 4]"), "{e}");
    let e = loss.clone().label_smoothing(-0.1).call(&x, &x).unwrap_err().to_string();
    assert!(e.contains("label_smoothing") && e.contains("-0.1"), "{e}");
    let e = loss.call(&Tensor::zeros(&[2, 3], DType::I64).unwrap(), &x).unwrap_err().to_string();
    assert!(e.contains("CrossEntropyLoss"), "{e}");
    // Empty batches are fine: a mean of nothing is NaN, a sum 0.
    let empty = Tensor::zeros(&[0, 3], DType::F32).unwrap();
    let none = Tensor::from_vec(Vec::<i64>::new(), &[0]).unwrap();
    assert_eq!(loss.clone().agg(Agg::Sum).call(&empty, &none).unwrap().to_f64_vec(), vec![0.0]);
}

#[test]
fn fused_half_precision_agrees_with_f32() {
    let (rows, classes) = (6, 5);
    let x = values(17, rows * classes, -3.0, 3.0);
    let labels = Tensor::from_vec(vec![0i64, 4, 2, 1, 3, 3], &[rows]).unwrap();
    let yp = values(18, rows * classes, -1.0, 1.0);
    let y = values(19, rows * classes, -1.0, 1.0);
    for dtype in [DType::F16, DType::BF16] {
        let tol = if dtype == DType::F16 { 1e-2 } else { 5e-2 };
        let ce = CrossEntropyLoss::new().logits(true).label_smoothing(0.1);
        let (v32, g32) = value_grad(&ce, &t(&x, &[rows, classes], DType::F32), &labels);
        let (vh, gh) = value_grad(&ce, &t(&x, &[rows, classes], dtype), &labels);
        assert_eq!((vh.dtype(), gh.dtype()), (dtype, dtype));
        assert_close(&vh.to_dtype(DType::F32).unwrap(), &v32, tol, "ce half value");
        assert_close(&gh.to_dtype(DType::F32).unwrap(), &g32, tol, "ce half gradient");
        let (v32, g32) =
            value_grad(&MSELoss::new(), &t(&yp, &[rows, classes], DType::F32), &t(&y, &[rows, classes], DType::F32));
        let (vh, gh) = value_grad(&MSELoss::new(), &t(&yp, &[rows, classes], dtype), &t(&y, &[rows, classes], dtype));
        assert_eq!((vh.dtype(), gh.dtype()), (dtype, dtype));
        assert_close(&vh.to_dtype(DType::F32).unwrap(), &v32, tol, "mse half value");
        assert_close(&gh.to_dtype(DType::F32).unwrap(), &g32, tol, "mse half gradient");
    }
}

#[test]
fn mse_fused_equals_reference_and_composite() {
    let (yp, y) = (values(20, 12, -2.0, 2.0), values(21, 12, -2.0, 2.0));
    let sq: Vec<f64> = yp.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).collect();
    let sum: f64 = sq.iter().sum();
    for (dtype, tol) in [(DType::F64, 1e-14), (DType::F32, 1e-6)] {
        let (a, b) = (t(&yp, &[3, 4], dtype), t(&y, &[3, 4], dtype));
        let got = |agg: Agg| MSELoss::new().agg(agg).call(&a, &b).unwrap().to_dtype(DType::F64).unwrap();
        assert_close(&got(Agg::Mean), &Tensor::scalar(sum / 12.0), tol, "mean");
        assert_close(&got(Agg::Sum), &Tensor::scalar(sum), tol, "sum");
        assert_close(&got(Agg::None), &Tensor::from_vec(sq.clone(), &[3, 4]).unwrap(), tol, "none");
    }
    let targets = [
        t(&y, &[3, 4], DType::F64),
        t(&y[..4], &[4], DType::F64), // broadcast to ŷ's shape
        Tensor::from_vec((0..12).map(|i| i % 3 - 1).collect::<Vec<i64>>(), &[3, 4]).unwrap(), // integers
        Tensor::from_vec((0..12).map(|i| i % 2 == 0).collect::<Vec<bool>>(), &[3, 4]).unwrap(), // bools
    ];
    for (_, agg) in aggs() {
        for y in &targets {
            let loss = MSELoss::new().agg(agg.clone());
            fused_matches_composite(&loss, &loss.clone().fused(false), &yp, &[3, 4], y);
        }
    }
    // targets that broadcast ŷ to a larger shape take the composite path
    let big = t(&values(22, 24, -1.0, 1.0), &[2, 3, 4], DType::F64);
    let l = MSELoss::new().agg(Agg::None).call(&t(&yp, &[3, 4], DType::F64), &big).unwrap();
    assert_eq!(l.shape(), &[2, 3, 4]);
}

#[test]
fn mse_fused_parallel_and_second_order() {
    // over the rayon threshold
    let n = 300 * 300;
    let (yp, y) = (values(23, n, -1.0, 1.0), values(24, n, -1.0, 1.0));
    let want: f64 = yp.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / n as f64;
    for (dtype, tol) in [(DType::F64, 1e-13), (DType::F32, 1e-6)] {
        let (a, b) = (t(&yp, &[300, 300], dtype), t(&y, &[300, 300], dtype));
        for (_, agg) in aggs() {
            let loss = MSELoss::new().agg(agg);
            let (vf, gf) = value_grad(&loss, &a, &b);
            let (vc, gc) = value_grad(&loss.clone().fused(false), &a, &b);
            assert_close(&vf, &vc, tol, "parallel value");
            assert_close(&gf, &gc, tol, "parallel gradient");
        }
        let got = MSELoss::new().call(&a, &b).unwrap().to_f64_vec()[0];
        assert!((got - want).abs() <= tol * want, "{got} vs {want}");
    }
    let (x, v) = (t(&yp[..12], &[3, 4], DType::F64), t(&values(25, 12, -1.0, 1.0), &[3, 4], DType::F64));
    let y = t(&y[..12], &[3, 4], DType::F64);
    for (_, agg) in aggs() {
        let loss = MSELoss::new().agg(agg);
        check_second_order(&loss, &loss.clone().fused(false), &x, &v, &y);
    }
}

#[test]
fn mse_fused_bad_input() {
    let (a, b) = (Tensor::zeros(&[2], DType::F32).unwrap(), Tensor::zeros(&[3], DType::F32).unwrap());
    let e = MSELoss::new().call(&a, &b).unwrap_err().to_string();
    assert!(e.contains("MSELoss") && e.contains("[2]") && e.contains("[3]"), "{e}");
    let e = MSELoss::new().call(&Tensor::zeros(&[2], DType::I64).unwrap(), &a).unwrap_err().to_string();
    assert!(e.contains("MSELoss"), "{e}");
    // Lux's misc cases
    let l = MSELoss::new()
        .agg(Agg::None)
        .call(&t(&[1.0, 3.0], &[2], DType::F64), &t(&[3.0, 1.0], &[2], DType::F64))
        .unwrap();
    assert_eq!(l.to_f64_vec(), vec![4.0, 4.0]);
    let l = MSELoss::new().agg(Agg::Sum).call(&Tensor::scalar(2.0f64), &Tensor::scalar(0.0f64)).unwrap();
    assert_eq!(l.to_f64_vec(), vec![4.0]);
}

#[test]
fn cross_entropy_fused_masked_logits_with_labels() {
    // A −∞ logit on a class that is not the label costs nothing and gets a
    // zero gradient (class indices, no smoothing).
    for dtype in [DType::F32, DType::F64] {
        let x = Tensor::from_vec(vec![0.0f64, f64::NEG_INFINITY, 3f64.ln()], &[1, 3]).unwrap().to_dtype(dtype).unwrap();
        let labels = Tensor::from_vec(vec![2i64], &[1]).unwrap();
        let (v, g) = value_grad(&CrossEntropyLoss::new().logits(true), &x, &labels);
        // softmax = [1/4, 0, 3/4]: loss = −log(3/4), ∂ = [1/4, 0, −1/4]
        assert_close(&v.to_dtype(DType::F64).unwrap(), &Tensor::scalar(-(0.75f64.ln())), 1e-6, "masked value");
        assert_close(
            &g.to_dtype(DType::F64).unwrap(),
            &Tensor::from_vec(vec![0.25, 0.0, -0.25], &[1, 3]).unwrap(),
            1e-6,
            "masked gradient",
        );
    }
}
