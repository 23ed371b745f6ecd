//! Tests of `lux_ops::dense`.
use crate::*;
use lux_ad::gradient;
use lux_core::{LuxError, tree};
use lux_ops::{Activation, dense::dense};

/// Independent f64 definitions of the activations used below.
fn act_ref(a: Activation, z: f64) -> f64 {
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    match a {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Sigmoid => sig(z),
        Activation::Swish => z * sig(z),
        Activation::Gelu => 0.5 * z * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (z + 0.044715 * z.powi(3))).tanh()),
        other => panic!("no reference for {other:?}"),
    }
}

/// act(x·Wᵀ + b) by explicit loops over row-major f64 copies.
fn dense_ref(x: &Tensor, w: &Tensor, b: Option<&Tensor>, a: Activation) -> Vec<f64> {
    let (xv, wv) = (x.contiguous().unwrap().to_f64_vec(), w.contiguous().unwrap().to_f64_vec());
    let (n, k) = (w.shape()[0], w.shape()[1]);
    let m = xv.len() / k;
    let bv = b.map(|b| b.to_f64_vec()).unwrap_or_else(|| vec![0.0; n]);
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let z: f64 = (0..k).map(|p| xv[i * k + p] * wv[j * k + p]).sum::<f64>() + bv[j];
            out.push(act_ref(a, z));
        }
    }
    out
}

const ACTS: [Activation; 6] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::Swish,
    Activation::Gelu,
];

#[test]
fn forward_matches_loops_for_all_shapes() -> Result<()> {
    for a in ACTS {
        let (x, w, b) = (randn(1, &[5, 3]), randn(2, &[4, 3]), randn(3, &[4]));
        let y = dense(&x, &w, Some(&b), a)?;
        assert_eq!(y.shape(), &[5, 4]);
        assert_close(&y.to_f64_vec(), &dense_ref(&x, &w, Some(&b), a), 1e-12);
        // No bias; leading batch axes; a single vector.
        assert_close(&dense(&x, &w, None, a)?.to_f64_vec(), &dense_ref(&x, &w, None, a), 1e-12);
        let x3 = randn(4, &[2, 3, 3]);
        let y3 = dense(&x3, &w, Some(&b), a)?;
        assert_eq!(y3.shape(), &[2, 3, 4]);
        assert_close(&y3.to_f64_vec(), &dense_ref(&x3, &w, Some(&b), a), 1e-12);
        let x1 = randn(5, &[3]);
        let y1 = dense(&x1, &w, Some(&b), a)?;
        assert_eq!(y1.shape(), &[4]);
        assert_close(&y1.to_f64_vec(), &dense_ref(&x1, &w, Some(&b), a), 1e-12);
        // Non-contiguous x and W (transposed views).
        let (xt, wt) = (randn(6, &[3, 5]).transpose(0, 1)?, randn(7, &[3, 4]).transpose(0, 1)?);
        assert_close(&dense(&xt, &wt, Some(&b), a)?.to_f64_vec(), &dense_ref(&xt, &wt, Some(&b), a), 1e-12);
    }
    Ok(())
}

#[test]
fn large_f32_forward_and_backward_match_f64_reference() -> Result<()> {
    // 300×256 outputs take the parallel bias+activation path.
    let (x, w, b) = (randn(8, &[300, 40]), randn(9, &[256, 40]).mul_scalar(0.2)?, randn(10, &[256]));
    for a in [Activation::Relu, Activation::Gelu] {
        let want = dense_ref(&x, &w, Some(&b), a);
        let (x32, w32, b32) = (x.to_dtype(DType::F32)?, w.to_dtype(DType::F32)?, b.to_dtype(DType::F32)?);
        let y = dense(&x32, &w32, Some(&b32), a)?;
        assert_eq!(y.dtype(), DType::F32);
        assert_close(&y.to_f64_vec(), &want, 1e-5);
        // Fused gradients equal the unfused composition's.
        let ps = tree! { x: x32.clone(), w: w32.clone(), b: b32.clone() };
        let fused = gradient(|p| dense(p.tensor("x")?, p.tensor("w")?, Some(p.tensor("b")?), a)?.sum_all(), &ps)?;
        let plain = gradient(
            |p| {
                let z = p.tensor("x")?.matmul(&p.tensor("w")?.transpose(0, 1)?)?.add(p.tensor("b")?)?;
                // relu and gelu written with primitive ops
                let y = if a == Activation::Relu {
                    z.maximum(&z.zeros_like())?
                } else {
                    let c = (2.0 / std::f64::consts::PI).sqrt();
                    let inner = z.add(&z.powf(3.0)?.mul_scalar(0.044715)?)?.mul_scalar(c)?.tanh()?;
                    z.mul(&inner.add_scalar(1.0)?)?.mul_scalar(0.5)?
                };
                y.sum_all()
            },
            &ps,
        )?;
        for k in ["x", "w", "b"] {
            assert_close(&fused.tensor(k)?.to_f64_vec(), &plain.tensor(k)?.to_f64_vec(), 1e-4);
        }
    }
    Ok(())
}

#[test]
fn gradients_match_finite_differences() -> Result<()> {
    for a in ACTS {
        // Shift pre-activations away from relu's kink at 0.
        let b = randn(3, &[4]).add_scalar(if a == Activation::Relu { 0.05 } else { 0.0 })?;
        check_op(|v| dense(&v[0], &v[1], Some(&v[2]), a), &[randn(1, &[5, 3]), randn(2, &[4, 3]), b.clone()]);
        check_op(|v| dense(&v[0], &v[1], None, a), &[randn(4, &[2, 3, 3]), randn(5, &[4, 3])]);
        check_op(
            |v| dense(&v[0], &v[1], Some(&v[2]), a),
            &[randn(6, &[3, 5]).transpose(0, 1)?, randn(7, &[3, 4]).transpose(0, 1)?, b],
        );
    }
    Ok(())
}

#[test]
fn gradient_of_gradient_matches_finite_differences() {
    // The function under check returns ∂/∂x Σ dense(x, W, b)², itself a
    // gradient: its gradient goes through the composite fallback.
    for a in [Activation::Tanh, Activation::Swish, Activation::Identity] {
        check_op(
            |v| {
                let (w, b) = (v[1].clone(), v[2].clone());
                let inner = tree! { x: v[0].clone() };
                let g = gradient(|p| dense(p.tensor("x")?, &w, Some(&b), a)?.square()?.sum_all(), &inner)?;
                Ok(g.tensor("x")?.clone())
            },
            &[randn(1, &[3, 4]), randn(2, &[2, 4]), randn(3, &[2])],
        );
    }
}

#[test]
fn mixed_and_half_dtypes() -> Result<()> {
    let (x, w, b) = (randn(1, &[3, 4]), randn(2, &[2, 4]), randn(3, &[2]));
    let want = dense_ref(&x, &w, Some(&b), Activation::Tanh);
    // f32 with an f64 bias promotes to f64.
    let y = dense(&x.to_dtype(DType::F32)?, &w.to_dtype(DType::F32)?, Some(&b), Activation::Tanh)?;
    assert_eq!(y.dtype(), DType::F64);
    assert_close(&y.to_f64_vec(), &want, 1e-6);
    for d in [DType::F16, DType::BF16] {
        let y = dense(&x.to_dtype(d)?, &w.to_dtype(d)?, Some(&b.to_dtype(d)?), Activation::Tanh)?;
        assert_eq!(y.dtype(), d);
        assert_close(&y.to_f64_vec(), &want, 3e-2);
    }
    Ok(())
}

#[test]
fn invalid_arguments_name_the_shapes() {
    let (x, w) = (randn(1, &[8, 783]), randn(2, &[256, 784]));
    let e = dense(&x, &w, None, Activation::Relu).unwrap_err();
    assert!(matches!(e, LuxError::Shape { .. }));
    let msg = e.to_string();
    assert!(msg.contains("783") && msg.contains("[256, 784]") && msg.contains("[8, 783]"), "{msg}");
    let e = dense(&randn(1, &[8, 784]), &w, Some(&randn(3, &[255])), Activation::Relu).unwrap_err().to_string();
    assert!(e.contains("[255]") && e.contains("[256]"), "{e}");
    let e = dense(&randn(1, &[8, 4]), &randn(2, &[4]), None, Activation::Relu).unwrap_err().to_string();
    assert!(e.contains("[out, in]") && e.contains("[4]"), "{e}");
    // a 0-d input: the message says so instead of "has 0 features"
    let e = dense(&Tensor::scalar(1.0f64), &randn(2, &[3, 1]), None, Activation::Relu).unwrap_err();
    assert!(matches!(e, LuxError::Shape { .. }));
    let msg = e.to_string();
    assert!(
        msg.starts_with("dense") && msg.contains("0-d") && msg.contains("[3, 1]") && !msg.contains("0 features"),
        "{msg}"
    );
    // The activation's parameter is checked as in `Activation::apply`.
    for bad in [Activation::Celu(0.0), Activation::LeakyRelu(f64::NAN), Activation::Elu(f64::INFINITY)] {
        let e = dense(&randn(1, &[2, 3]), &randn(2, &[4, 3]), None, bad).unwrap_err();
        assert!(matches!(e, LuxError::InvalidArgument { .. }), "{bad:?}: {e}");
    }
    // empty operands whose output would hold 2^40 f32 values (4 TiB)
    let empty = Tensor::zeros(&[1 << 20, 0], DType::F32).unwrap();
    let e = dense(&empty, &empty, None, Activation::Identity).unwrap_err().to_string();
    assert!(
        e.starts_with("dense")
            && e.contains("output of shape [1048576, 1048576] is too large")
            && e.contains("4398046511104 bytes"),
        "{e}"
    );
    let ints = Tensor::from_vec(vec![1i64; 4], &[1, 4]).unwrap();
    assert!(matches!(dense(&ints, &randn(2, &[2, 4]), None, Activation::Relu), Err(LuxError::UnsupportedDType { .. })));
}
