//! Weight initialisers: distributions (moments within a few standard
//! errors, exact support), structure (orthogonality, per-column sparsity,
//! identity layout), determinism, dtypes and errors. Expected values come
//! from the formulas (and naive f64 references written here), never from
//! the code under test.

use lux_core::{DType, LuxError, Result, Tensor};
use lux_layers::init::{self, Init, calculate_gain, fans};
use lux_ops::Activation;
use rand::SeedableRng;
use rand::rngs::StdRng;

const FLOATS: [DType; 4] = [DType::F16, DType::BF16, DType::F32, DType::F64];

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn sample(init: &Init, shape: &[usize], seed: u64) -> Result<Vec<f64>> {
    let t = init.init(&mut rng(seed), shape, DType::F64)?;
    assert_eq!(t.shape(), shape);
    assert_eq!(t.dtype(), DType::F64);
    t.to_vec::<f64>()
}

fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var)
}

/// Mean and variance of `v` against a distribution with mean `mu`,
/// variance `var` and fourth central moment `mu4`: within 5 standard
/// errors (`σ/√n` for the mean, `√((μ₄ − σ⁴)/n)` for the variance).
fn check_moments(what: &str, v: &[f64], mu: f64, var: f64, mu4: f64) {
    let n = v.len() as f64;
    let (m, s2) = moments(v);
    let se_mean = (var / n).sqrt();
    let se_var = ((mu4 - var * var) / n).sqrt();
    assert!((m - mu).abs() <= 5.0 * se_mean, "{what}: mean {m}, expected {mu} ± {}", 5.0 * se_mean);
    assert!((s2 - var).abs() <= 5.0 * se_var, "{what}: variance {s2}, expected {var} ± {}", 5.0 * se_var);
}

/// Symmetric uniform on (−a, a): var a²/3, μ₄ a⁴/5; every value inside.
fn check_uniform(what: &str, v: &[f64], a: f64) {
    assert!(v.iter().all(|x| x.abs() <= a), "{what}: a value outside ±{a}");
    // The extremes come close to ±a (a 1-in-n quantile from each end).
    let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!(max > a * (1.0 - 20.0 / v.len() as f64), "{what}: max |x| = {max}, bound {a}");
    check_moments(what, v, 0.0, a * a / 3.0, a.powi(4) / 5.0);
}

/// Normal N(mu, std²): var std², μ₄ 3std⁴.
fn check_normal(what: &str, v: &[f64], mu: f64, std: f64) {
    check_moments(what, v, mu, std * std, 3.0 * std.powi(4));
}

#[test]
fn fans_follow_lux_in_lux_rs_layouts() {
    assert_eq!(fans(&[]), (1, 1));
    assert_eq!(fans(&[7]), (1, 7));
    assert_eq!(fans(&[3, 5]), (5, 3));
    assert_eq!(fans(&[8, 3, 5, 5]), (75, 200));
    assert_eq!(fans(&[4, 2, 3]), (6, 12));
    assert_eq!(fans(&[usize::MAX, 2, 2]), (4, usize::MAX));
}

#[test]
fn glorot_uniform_and_normal_have_the_glorot_scale() -> Result<()> {
    // [out, in] = [200, 100]: a = √(6/300).
    let v = sample(&Init::glorot_uniform(), &[200, 100], 1)?;
    check_uniform("glorot_uniform", &v, (6.0f64 / 300.0).sqrt());
    let v = sample(&Init::glorot_uniform().with_gain(0.5)?, &[40, 10, 3, 3], 2)?;
    check_uniform("glorot_uniform(gain=0.5)", &v, 0.5 * (6.0f64 / (90.0 + 360.0)).sqrt());
    // [100, 50, 3]: fan_in 150, fan_out 300.
    let v = sample(&Init::glorot_normal(), &[100, 50, 3], 3)?;
    check_normal("glorot_normal", &v, 0.0, (2.0f64 / 450.0).sqrt());
    let v = sample(&Init::glorot_normal().with_gain(3.0)?, &[20000], 4)?; // [n]: fans (1, n)
    check_normal("glorot_normal(gain=3)", &v, 0.0, 3.0 * (2.0f64 / 20001.0).sqrt());
    Ok(())
}

#[test]
fn kaiming_uniform_and_normal_have_the_he_scale() -> Result<()> {
    // Default gain √2: b = √2·√(3/fan_in), fan_in = 32·9.
    let v = sample(&Init::kaiming_uniform(), &[64, 32, 3, 3], 5)?;
    check_uniform("kaiming_uniform", &v, 2.0f64.sqrt() * (3.0f64 / 288.0).sqrt());
    let v = sample(&Init::kaiming_uniform().with_gain(1.0)?, &[300, 70], 6)?;
    check_uniform("kaiming_uniform(gain=1)", &v, (3.0f64 / 70.0).sqrt());
    let v = sample(&Init::kaiming_normal(), &[300, 70], 7)?;
    check_normal("kaiming_normal", &v, 0.0, 2.0f64.sqrt() / 70.0f64.sqrt());
    let v = sample(&Init::kaiming_normal().with_gain(0.1)?, &[16, 4, 5, 5], 8)?;
    check_normal("kaiming_normal(gain=0.1)", &v, 0.0, 0.1 / 100.0f64.sqrt());
    Ok(())
}

#[test]
fn uniform_and_normal_have_their_parameters() -> Result<()> {
    let v = sample(&Init::uniform(-1.0, 3.0), &[20000], 9)?;
    assert!(v.iter().all(|&x| (-1.0..3.0).contains(&x)));
    let shifted: Vec<f64> = v.iter().map(|x| x - 1.0).collect();
    check_uniform("uniform(-1, 3)", &shifted, 2.0);
    let v = sample(&Init::normal(2.5, 0.3), &[20000], 10)?;
    check_normal("normal(2.5, 0.3)", &v, 2.5, 0.3);
    let v = sample(&Init::normal(-1.0, 1.0).with_std(0.0)?, &[5], 10)?;
    assert_eq!(v, vec![-1.0; 5]);
    Ok(())
}

/// Simpson's rule for ∫ₐᵇ f with `k` (even) intervals.
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, k: usize) -> f64 {
    let h = (b - a) / k as f64;
    let inner: f64 = (1..k).map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 }).sum();
    (f(a) + f(b) + inner) * h / 3.0
}

#[test]
fn truncated_normal_matches_the_truncated_density() -> Result<()> {
    for (mean, std, lo, hi, seed) in [(0.0, 1.0, -2.0, 2.0, 11), (0.5, 2.0, -1.0, 3.0, 12), (1.0, 0.5, 1.5, 4.0, 13)] {
        let init = Init::truncated_normal().with_mean(mean)?.with_std(std)?.with_bounds(lo, hi)?;
        let v = sample(&init, &[40000], seed)?;
        assert!(v.iter().all(|&x| (lo..=hi).contains(&x)), "{init}: a value outside the bounds");
        // Moments of the density ∝ exp(−(x−μ)²/2σ²) on [lo, hi], by quadrature.
        let dens = |x: f64| (-(x - mean) * (x - mean) / (2.0 * std * std)).exp();
        let z = simpson(dens, lo, hi, 4000);
        let mu = simpson(|x| x * dens(x), lo, hi, 4000) / z;
        let var = simpson(|x| (x - mu).powi(2) * dens(x), lo, hi, 4000) / z;
        let mu4 = simpson(|x| (x - mu).powi(4) * dens(x), lo, hi, 4000) / z;
        check_moments(&init.to_string(), &v, mu, var, mu4);
        // The mass of the lower half of [lo, hi] (a binomial proportion).
        let mid = 0.5 * (lo + hi);
        let p = simpson(dens, lo, mid, 4000) / z;
        let frac = v.iter().filter(|&&x| x < mid).count() as f64 / v.len() as f64;
        let se = (p * (1.0 - p) / v.len() as f64).sqrt();
        assert!((frac - p).abs() <= 5.0 * se, "{init}: P(x < {mid}) = {frac}, expected {p}");
    }
    // The bounds hold exactly after rounding to every dtype (−2 and 2 are exact in each).
    for dtype in FLOATS {
        let t = Init::truncated_normal().init(&mut rng(14), &[2000], dtype)?.to_dtype(DType::F64)?;
        assert!(t.to_vec::<f64>()?.iter().all(|x| (-2.0..=2.0).contains(x)), "{dtype}");
    }
    // An interval far in one tail: f64 cannot resolve its probability.
    let far = Init::truncated_normal().with_bounds(40.0, 41.0)?;
    assert!(matches!(far.init(&mut rng(0), &[3], DType::F32), Err(LuxError::InvalidArgument { .. })));
    Ok(())
}

/// Classical Gram–Schmidt of the columns of a row-major `m × n` matrix
/// (`m ≥ n`): the Q of the QR decomposition with a positive diagonal of R.
fn gram_schmidt(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    let mut q = vec![0.0; m * n];
    for j in 0..n {
        let mut v: Vec<f64> = (0..m).map(|i| a[i * n + j]).collect();
        for _pass in 0..2 {
            for k in 0..j {
                let d: f64 = (0..m).map(|i| q[i * n + k] * v[i]).sum();
                for i in 0..m {
                    v[i] -= d * q[i * n + k];
                }
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for i in 0..m {
            q[i * n + j] = v[i] / norm;
        }
    }
    q
}

/// `W·Wᵀ` (rows = true) or `Wᵀ·W` of a row-major `m × n` matrix.
fn gram(w: &[f64], m: usize, n: usize, rows: bool) -> Vec<f64> {
    let (k, len) = if rows { (m, n) } else { (n, m) };
    let at = |a: usize, i: usize| if rows { w[a * n + i] } else { w[i * n + a] };
    let mut g = vec![0.0; k * k];
    for a in 0..k {
        for b in 0..k {
            g[a * k + b] = (0..len).map(|i| at(a, i) * at(b, i)).sum();
        }
    }
    g
}

#[test]
fn orthogonal_is_semi_orthogonal_in_f32_for_tall_wide_and_kernel_shapes() -> Result<()> {
    for (shape, gain) in [(vec![20, 8], 1.0), (vec![8, 20], 1.0), (vec![6, 6], 1.0), (vec![4, 3, 3, 3], 2.0)] {
        let init = Init::orthogonal().with_gain(gain)?;
        let w = init.init(&mut rng(21), &shape, DType::F32)?;
        assert_eq!(w.shape(), &shape[..]);
        let w: Vec<f64> = w.to_vec::<f32>()?.into_iter().map(f64::from).collect();
        let (m, n) = (shape[0], shape[1..].iter().product::<usize>());
        let rows = m <= n; // the smaller side is orthonormal
        let g = gram(&w, m, n, rows);
        let k = m.min(n);
        for a in 0..k {
            for b in 0..k {
                let want = if a == b { gain * gain } else { 0.0 };
                assert!((g[a * k + b] - want).abs() <= 1e-5 * gain * gain, "{shape:?}: G[{a},{b}] = {}", g[a * k + b]);
            }
        }
    }
    Ok(())
}

#[test]
fn orthogonal_is_the_sign_corrected_q_of_the_same_normal_draw() -> Result<()> {
    // Tall: Q of randn(rows, cols) with diag(R) > 0; wide: the transpose of the tall case.
    for (rows, cols) in [(7usize, 4usize), (5, 5), (3, 9)] {
        let got = Init::orthogonal().init(&mut rng(22), &[rows, cols], DType::F64)?.to_vec::<f64>()?;
        let (m, n) = (rows.max(cols), rows.min(cols));
        let a = Tensor::randn(&mut rng(22), &[m, n], DType::F64)?.to_vec::<f64>()?;
        let q = gram_schmidt(&a, m, n);
        for i in 0..rows {
            for j in 0..cols {
                let want = if rows >= cols { q[i * n + j] } else { q[j * n + i] };
                assert!((got[i * cols + j] - want).abs() < 1e-10, "[{rows}, {cols}] at ({i}, {j})");
            }
        }
    }
    Ok(())
}

#[test]
fn sparse_init_zeros_exactly_the_lux_count_per_column() -> Result<()> {
    for (rows, cols, sparsity) in [(50usize, 30usize, 0.3), (10, 40, 0.1), (7, 5, 0.9), (6, 3, 0.0)] {
        let init = Init::sparse(sparsity);
        let v = sample(&init, &[rows, cols], 31)?;
        // Lux: ⌈sparsity·rows⌉ in f64 (0.3·50 → 15, 0.1·10 → 1, 0.9·7 = 6.3 → 7: a whole column).
        let zeros = (sparsity * rows as f64).ceil() as usize;
        for j in 0..cols {
            let count = (0..rows).filter(|&i| v[i * cols + j] == 0.0).count();
            assert_eq!(count, zeros, "{init} [{rows}, {cols}]: column {j}");
        }
    }
    // The non-zero entries are N(0, 0.01²) (here with std 0.5).
    let v = sample(&Init::sparse(0.25).with_std(0.5)?, &[200, 100], 32)?;
    let nonzero: Vec<f64> = v.into_iter().filter(|&x| x != 0.0).collect();
    assert_eq!(nonzero.len(), 150 * 100);
    check_normal("sparse_init nonzeros", &nonzero, 0.0, 0.5);
    let v = sample(&Init::sparse(0.5), &[400, 50], 33)?;
    let nonzero: Vec<f64> = v.into_iter().filter(|&x| x != 0.0).collect();
    check_normal("sparse_init(std=0.01) nonzeros", &nonzero, 0.0, 0.01);
    // The zero positions differ between columns (shuffled per column).
    let v = sample(&Init::sparse(0.5), &[20, 2], 34)?;
    let pattern = |j: usize| (0..20).map(|i| v[i * 2 + j] == 0.0).collect::<Vec<_>>();
    assert_ne!(pattern(0), pattern(1));
    assert_ne!(pattern(0), (0..20).map(|i| i < 10).collect::<Vec<_>>());
    for bad in [vec![4], vec![2, 3, 4], vec![]] {
        assert!(matches!(Init::sparse(0.2).init(&mut rng(0), &bad, DType::F32), Err(LuxError::Shape { .. })));
    }
    Ok(())
}

#[test]
fn identity_init_places_gain_as_lux_does() -> Result<()> {
    let get = |init: &Init, shape: &[usize]| init.init(&mut rng(0), shape, DType::F64)?.to_vec::<f64>();
    // Lux's doctest: identity_init(5, 5) is the identity.
    assert_eq!(get(&Init::identity(), &[5, 5])?, Tensor::eye(5, 5, DType::F64)?.to_vec::<f64>()?);
    // Lux's doctest (3, 3, 1, 1; gain 1.5) is [out, in, k, k] = [1, 1, 3, 3] here: 1.5 at the centre.
    let k = get(&Init::identity().with_gain(1.5)?, &[1, 1, 3, 3])?;
    assert_eq!(k, vec![0.0, 0.0, 0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0]);
    // A bias: zeros.
    assert_eq!(get(&Init::identity(), &[4])?, vec![0.0; 4]);
    // Non-square: ones on the leading diagonal; shift rotates along the first axis.
    let w = get(&Init::identity().with_shift(1)?, &[4, 6])?;
    let mut want = vec![0.0; 24];
    for i in 0..4 {
        want[((i + 1) % 4) * 6 + i] = 1.0;
    }
    assert_eq!(w, want);
    let w = get(&Init::identity().with_shift(-1)?.with_gain(2.0)?, &[3, 2])?;
    assert_eq!(w, vec![0.0, 2.0, 0.0, 0.0, 2.0, 0.0]); // rows (0−1) mod 3 = 2 and 0
    // A 1-d conv kernel [out, in, k] = [3, 2, 4]: centre (4 − 1)/2 = 1; shift moves out and in.
    let w = get(&Init::identity().with_shift(1)?, &[3, 2, 4])?;
    let mut want = vec![0.0; 24];
    for i in 0..2 {
        want[((i + 1) % 3) * 8 + ((i + 1) % 2) * 4 + 1] = 1.0;
    }
    assert_eq!(w, want);
    assert!(matches!(Init::identity().init(&mut rng(0), &[], DType::F32), Err(LuxError::Shape { .. })));
    Ok(())
}

fn every_init() -> Result<Vec<Init>> {
    Ok(vec![
        Init::glorot_uniform(),
        Init::glorot_normal(),
        Init::kaiming_uniform(),
        Init::kaiming_normal(),
        Init::truncated_normal(),
        Init::orthogonal(),
        Init::sparse(0.3),
        Init::identity().with_shift(1)?,
        Init::zeros(),
        Init::ones(),
        Init::uniform(-0.5, 2.0),
        Init::normal(1.0, 0.2),
        Init::custom("randn", |rng, shape, dtype| Tensor::randn(rng, shape, dtype)),
    ])
}

#[test]
fn every_init_is_deterministic_by_seed_and_the_same_in_every_dtype() -> Result<()> {
    let shape = [6, 5];
    for init in every_init()? {
        let a = init.init(&mut rng(41), &shape, DType::F64)?;
        let b = init.init(&mut rng(41), &shape, DType::F64)?;
        assert_eq!(a.to_vec::<f64>()?, b.to_vec::<f64>()?, "{init}");
        let random = !matches!(init.name(), "zeros" | "ones" | "identity_init");
        if random {
            let c = init.init(&mut rng(42), &shape, DType::F64)?;
            assert_ne!(a.to_vec::<f64>()?, c.to_vec::<f64>()?, "{init}: another seed, same values");
        }
        for dtype in FLOATS {
            let t = init.init(&mut rng(41), &shape, dtype)?;
            assert_eq!((t.shape(), t.dtype()), (&shape[..], dtype), "{init}");
            // Drawn in f64 and rounded once (custom: the closure's own draw in that dtype).
            if init.name() != "randn" {
                assert_eq!(t.to_f64_vec(), a.to_dtype(dtype)?.to_f64_vec(), "{init} in {dtype}");
            }
        }
        // An empty shape draws nothing and is empty.
        if init.name() != "sparse_init" {
            assert_eq!(init.init(&mut rng(0), &[0, 3], DType::F32)?.shape(), &[0, 3], "{init}");
        }
    }
    Ok(())
}

#[test]
fn integer_dtypes_only_for_zeros_and_ones() -> Result<()> {
    assert_eq!(Init::ones().init(&mut rng(0), &[2], DType::I64)?.to_vec::<i64>()?, vec![1, 1]);
    assert_eq!(Init::zeros().init(&mut rng(0), &[2], DType::Bool)?.to_vec::<bool>()?, vec![false, false]);
    for init in every_init()? {
        if matches!(init.name(), "zeros" | "ones" | "randn") {
            continue;
        }
        for dtype in [DType::I64, DType::Bool] {
            let err = init.init(&mut rng(0), &[3, 3], dtype).unwrap_err();
            assert!(matches!(err, LuxError::UnsupportedDType { .. }), "{init} {dtype}: {err}");
        }
    }
    Ok(())
}

#[test]
fn display_shows_lux_names_and_options() -> Result<()> {
    let cases = [
        (Init::glorot_uniform(), "glorot_uniform(gain=1)"),
        (Init::glorot_normal().with_gain(0.5)?, "glorot_normal(gain=0.5)"),
        (Init::kaiming_uniform(), "kaiming_uniform(gain=1.4142135623730951)"),
        (Init::kaiming_normal().with_gain(2.0)?, "kaiming_normal(gain=2)"),
        (Init::truncated_normal(), "truncated_normal(mean=0, std=1, lo=-2, hi=2)"),
        (Init::orthogonal(), "orthogonal(gain=1)"),
        (Init::sparse(0.3), "sparse_init(sparsity=0.3, std=0.01)"),
        (Init::identity().with_shift(-2)?, "identity_init(gain=1, shift=-2)"),
        (Init::zeros(), "zeros"),
        (Init::ones(), "ones"),
        (Init::uniform(-1.0, 1.0), "uniform(lo=-1, hi=1)"),
        (Init::normal(0.0, 0.02), "normal(mean=0, std=0.02)"),
    ];
    for (init, text) in cases {
        assert_eq!(init.to_string(), text);
        assert_eq!(format!("{init:?}"), text);
    }
    assert_eq!(Init::glorot_uniform(), Init::glorot_uniform().with_gain(1.0)?);
    assert_ne!(Init::glorot_uniform(), Init::glorot_normal());
    let c = Init::custom("mine", |_, s, d| Tensor::zeros(s, d));
    assert_eq!(c, c.clone());
    assert_ne!(c, Init::custom("mine", |_, s, d| Tensor::zeros(s, d)));
    Ok(())
}

#[test]
fn invalid_options_and_shapes_are_errors() {
    let invalid = |r: Result<Init>| matches!(r, Err(LuxError::InvalidArgument { .. }));
    assert!(invalid(Init::glorot_uniform().with_gain(f64::NAN)));
    assert!(invalid(Init::glorot_normal().with_gain(0.0)));
    assert!(invalid(Init::kaiming_uniform().with_gain(-1.0)));
    assert!(invalid(Init::kaiming_normal().with_gain(f64::INFINITY)));
    assert!(invalid(Init::orthogonal().with_gain(f64::NAN)));
    assert!(invalid(Init::truncated_normal().with_std(-1.0)));
    assert!(invalid(Init::truncated_normal().with_std(0.0)));
    assert!(invalid(Init::truncated_normal().with_mean(f64::NAN)));
    assert!(invalid(Init::truncated_normal().with_bounds(2.0, -2.0)));
    assert!(invalid(Init::truncated_normal().with_bounds(1.0, 1.0)));
    assert!(invalid(Init::truncated_normal().with_bounds(f64::NEG_INFINITY, 0.0)));
    assert!(invalid(Init::sparse(0.1).with_sparsity(1.0)));
    assert!(invalid(Init::sparse(0.1).with_sparsity(-0.1)));
    assert!(invalid(Init::sparse(0.1).with_std(-0.01)));
    assert!(invalid(Init::uniform(0.0, 1.0).with_bounds(0.0, f64::INFINITY)));
    assert!(invalid(Init::normal(0.0, 1.0).with_std(f64::NAN)));
    // Options an initialiser does not have.
    assert!(invalid(Init::zeros().with_gain(1.0)));
    assert!(invalid(Init::glorot_uniform().with_std(1.0)));
    assert!(invalid(Init::orthogonal().with_shift(1)));
    assert!(invalid(Init::normal(0.0, 1.0).with_sparsity(0.5)));
    assert!(invalid(Init::identity().with_bounds(0.0, 1.0)));
    // Unchecked constructors fail at init, naming the initialiser.
    let mut r = rng(0);
    for (init, needle) in [
        (Init::sparse(1.0), "sparse_init"),
        (Init::sparse(f64::NAN), "sparsity"),
        (Init::uniform(1.0, 0.0), "uniform(lo=1, hi=0)"),
        (Init::normal(0.0, -1.0), "std must be"),
    ] {
        let err = init.init(&mut r, &[3, 3], DType::F32).unwrap_err();
        assert!(matches!(err, LuxError::InvalidArgument { .. }) && err.to_string().contains(needle), "{err}");
    }
    // Shapes.
    let err = Init::orthogonal().init(&mut r, &[5], DType::F32).unwrap_err();
    assert!(matches!(err, LuxError::Shape { .. }) && err.to_string().contains("[5]"), "{err}");
    assert!(Init::orthogonal().init(&mut r, &[], DType::F32).is_err());
    for init in every_init().unwrap() {
        assert!(init.init(&mut r, &[1 << 40, 1 << 40], DType::F32).is_err(), "{init}: huge shape");
    }
    // A custom initialiser must honour the shape and dtype.
    let wrong = Init::custom("wrong", |_, _, d| Tensor::zeros(&[2], d));
    let err = wrong.init(&mut r, &[3], DType::F32).unwrap_err();
    assert!(matches!(err, LuxError::Shape { .. }) && err.to_string().contains("wrong"), "{err}");
    let f64_only = Init::custom("f64_only", |_, s, _| Tensor::zeros(s, DType::F64));
    assert!(matches!(f64_only.init(&mut r, &[3], DType::F32), Err(LuxError::DType { .. })));
}

#[test]
fn free_functions_equal_the_default_inits() -> Result<()> {
    type Free = fn(&mut dyn rand::Rng, &[usize], DType) -> Result<Tensor>;
    let pairs: [(Free, Init); 9] = [
        (init::glorot_uniform, Init::glorot_uniform()),
        (init::glorot_normal, Init::glorot_normal()),
        (init::kaiming_uniform, Init::kaiming_uniform()),
        (init::kaiming_normal, Init::kaiming_normal()),
        (init::truncated_normal, Init::truncated_normal()),
        (init::orthogonal, Init::orthogonal()),
        (init::identity_init, Init::identity()),
        (init::zeros, Init::zeros()),
        (init::ones, Init::ones()),
    ];
    for (f, init) in pairs {
        let a = f(&mut rng(51), &[4, 3], DType::F32)?.to_vec::<f32>()?;
        assert_eq!(a, init.init(&mut rng(51), &[4, 3], DType::F32)?.to_vec::<f32>()?, "{init}");
    }
    let a = init::sparse_init(&mut rng(52), &[4, 3], DType::F32, 0.5)?.to_vec::<f32>()?;
    assert_eq!(a, Init::sparse(0.5).init(&mut rng(52), &[4, 3], DType::F32)?.to_vec::<f32>()?);
    Ok(())
}

#[test]
fn calculate_gain_is_luxs_table() {
    assert_eq!(calculate_gain(Activation::Identity), 1.0);
    assert_eq!(calculate_gain(Activation::Sigmoid), 1.0);
    assert_eq!(calculate_gain(Activation::Relu), 2.0);
    assert_eq!(calculate_gain(Activation::Tanh), 5.0 / 3.0);
    assert_eq!(calculate_gain(Activation::Selu), 0.75);
    assert!((calculate_gain(Activation::LeakyRelu(0.01)) - 1.0 / 3.0f64.sqrt()).abs() < 1e-15);
    assert_eq!(calculate_gain(Activation::Swish), 1.0);
}
