//! Fast, branch-free `f32` kernels for `exp`, `tanh` and the logistic
//! sigmoid, written so that a plain loop over a slice auto-vectorizes:
//! no libm calls, no data-dependent branches (only selects and clamps),
//! and no `mul_add`, which without FMA in the target features becomes a
//! call to libm's `fmaf`. Being free of `mul_add` also makes the results
//! identical on every target.
//!
//! # Method
//!
//! * `exp`: Cody–Waite reduction `x = n·ln2 + r` with `n = round(x·log2 e)`
//!   (rounded by adding the shifter 1.5·2²³, which also leaves `n` in the
//!   low mantissa bits). `LN2_HI` has 15 significant bits, so `n·LN2_HI` is
//!   exact and so is `r_hi = x − n·LN2_HI` (Sterbenz); `c = n·LN2_LO` is
//!   tiny. `eʳ ≈ 1 + r + r²·q(r)` on `[−ln2/2, ln2/2]`, `q` of degree 4
//!   minimizing the relative error of `eʳ` (a weighted Remez exchange run in
//!   60-digit arithmetic with mpmath; relative error 3.6e-9 ≈ 0.06·2⁻²⁴
//!   after rounding the coefficients to `f32`). `1 + r_hi` is kept as an
//!   exact pair `h + l` (Fast2Sum), so `eʳ = h + t`, `t = (l − c) + r²q`,
//!   has a single large rounding. The result is scaled by `2ⁿ¹·2ⁿ²`,
//!   `n₁ + n₂ = n`, both built from exponent bits: the first product is
//!   exact, so a subnormal result is rounded once and `n = 128` (results
//!   just below `f32::MAX`) needs no special case. The input is first
//!   clamped to `[−104, 89]` (a NaN passes through the clamp), which turns
//!   overflow into `+inf` and deep underflow into `+0` without a branch.
//! * `tanh`: for `|x| < 1`, `x + x³·P(x²)` with `P` of degree 7 (Remez on
//!   the relative error of `tanh`, 5.3e-10 ≈ 0.009·2⁻²⁴ with the `f32`
//!   coefficients); otherwise `1 − 2/(e^{2|x|} + 1)`, computed from the
//!   unrounded `h + t` so that `e^{2|x|} + 1` is rounded once; there the
//!   result is ≥ 0.76, so the subtraction does not cancel. The sign is
//!   restored with `copysign` (so `tanh(−0) = −0`, `tanh(±inf) = ±1`).
//! * `sigmoid`: `1/(1 + e⁻ˣ)` rewritten as `2⁻ⁿ/(2⁻ⁿ + h + t)` from the
//!   parts of `e⁻ˣ = 2ⁿ(h + t)`, so neither sign overflows; the denominator
//!   is kept as an exact pair and the quotient corrected for its low part
//!   (details in `sigmoid_f32`).
//!
//! # Accuracy (measured by the tests below)
//!
//! Errors against `f64` references: "ulp" is the distance to the reference
//! rounded to `f32` in the ordered bit representation; "vs exact" is
//! `|y − ref|` in units of the `f32` ulp at the reference. Maxima over all
//! 2³² `f32` inputs (`math_exhaustive_all_f32`, release):
//!
//! | function | max ulp | max vs exact (ulp) |
//! |---|---|---|
//! | `exp_f32` | 1 | 0.78 |
//! | `tanh_f32` | 1 | 1.05 |
//! | `sigmoid_f32` | 1 | 1.17 |
//!
//! So every result is the correctly rounded value or a neighbour of it
//! (an error below 1.5 ulp against the exact value cannot be 2 ulp from its
//! rounding). `exp`'s maximum is at a subnormal result (rounded twice: to
//! 24 bits, then to the subnormal grid); `tanh`'s is near the top of the
//! polynomial's interval.
//!
//! The default tests assert the same ulp bounds over a ~2M-point sweep
//! (linear, bit-pattern and boundary-window inputs) plus special values.

// `exp_f32` and `tanh_f32` back the f32 `exp`/`tanh` ops (via `Real`);
// `sigmoid_f32` and the slice kernels are for lux-ops' activations.
#![allow(dead_code)]

/// `log2(e)` rounded to `f32`.
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// High part of `ln 2` (`0x3f31_7200`: 15 significant bits, 9 trailing zero
/// bits), so `n·LN2_HI` is exact for `|n| < 2⁹`.
const LN2_HI: f32 = 6.931_457_5e-1;
/// `ln 2 − LN2_HI` rounded to `f32` (residual 5.5e-14).
const LN2_LO: f32 = 1.428_606_8e-6;
/// 1.5·2²³: adding it rounds `|t| < 2²²` to the nearest integer, which then
/// sits in the low mantissa bits.
const SHIFTER: f32 = 12_582_912.0;
/// Inputs are clamped to this range before reduction: `exp(89) = +inf` and
/// `exp(−104) < 2⁻¹⁵⁰` rounds to `+0` in `f32`.
const EXP_MAX_IN: f32 = 89.0;
const EXP_MIN_IN: f32 = -104.0;

/// `eʳ ≈ 1 + r + r²·(C2 + C3·r + C4·r² + C5·r³ + C6·r⁴)` on `[−ln2/2, ln2/2]`
/// (relative-error minimax, derived with a Remez exchange).
const EXP_C2: f32 = 4.999_999_4e-1;
const EXP_C3: f32 = 1.666_652_1e-1;
const EXP_C4: f32 = 4.166_839e-2;
const EXP_C5: f32 = 8.368_745e-3;
const EXP_C6: f32 = 1.381_454e-3;

/// Below this `|x|`, `tanh` uses the odd polynomial.
const TANH_POLY_MAX: f32 = 1.0;
/// `tanh x ≈ x + x³·(C3 + C5·s + … + C17·s⁷)`, `s = x²`, on `[0, 1]`:
/// relative-error minimax (Remez), coefficients rounded to `f32` one at a
/// time from the lowest, refitting the higher ones after each rounding
/// (max relative error 5.3e-10 ≈ 0.009·2⁻²⁴).
const TANH_C3: f32 = -3.333_332_8e-1;
const TANH_C5: f32 = 1.333_317_5e-1;
const TANH_C7: f32 = -5.395_072_3e-2;
const TANH_C9: f32 = 2.177_444_5e-2;
const TANH_C11: f32 = -8.571_457e-3;
const TANH_C13: f32 = 3.048_876_3e-3;
const TANH_C15: f32 = -8.218_962_5e-4;
const TANH_C17: f32 = 1.164_497_1e-4;

/// `eˣ ≈ (h + t)·s₁·s₂` (the sum taken exactly), with `s₁ = 2ⁿ¹`,
/// `s₂ = 2ⁿ²` and `h + t ≈ e^r ∈ [0.7, 1.42]` carrying ~30 bits; `|t|` is
/// at most ~0.07 and `h` is `1 + r_hi` exactly. `tanh` and `sigmoid`
/// combine the parts further without rounding their sum first.
#[inline(always)]
fn exp_parts(x: f32) -> (f32, f32, f32, f32) {
    // A NaN passes through `clamp` (both comparisons are false).
    exp_parts_in_range(x.clamp(EXP_MIN_IN, EXP_MAX_IN))
}

/// `exp_parts` for `x ∈ [−104, 104]` or NaN (the caller clamps).
#[inline(always)]
fn exp_parts_in_range(x: f32) -> (f32, f32, f32, f32) {
    let shifted = x * LOG2E + SHIFTER;
    let nf = shifted - SHIFTER;
    // The integer `n` sits in the low mantissa bits of `shifted`.
    let n = (shifted.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    // `r_hi` is exact; `c` is tiny (|c| < 2.2e-4) and nearly exact.
    let r_hi = x - nf * LN2_HI;
    let c = nf * LN2_LO;
    let r = r_hi - c;
    let r2 = r * r;
    let q = EXP_C2 + r * (EXP_C3 + r * (EXP_C4 + r * (EXP_C5 + r * EXP_C6)));
    // 1 + r_hi as an exact sum h + l (Fast2Sum, |1| ≥ |r_hi|), so that the
    // only large rounding left is h + t.
    let h = 1.0 + r_hi;
    let l = r_hi - (h - 1.0);
    let t = (l - c) + r2 * q;
    // 2ⁿ = 2ⁿ¹·2ⁿ² with both halves in the normal exponent range for
    // n ∈ [−151, 129].
    let n1 = n >> 1;
    let n2 = n.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((n2.wrapping_add(127) as u32) << 23);
    (h, t, s1, s2)
}

/// `eˣ` in `f32`, branch-free.
///
/// Max error over all `f32` inputs: 1 ulp (0.78 ulp
/// against the exact value). Overflows to `+inf` for `x ≥ 88.72284`, gives
/// correctly scaled subnormals down to `x ≈ −103.97` and `+0` below;
/// `exp(±inf) = +inf / +0`, `exp(NaN) = NaN`.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let (h, t, s1, s2) = exp_parts(x);
    // (h + t)·s₁ is exact, so a subnormal result is rounded only once and
    // results just below `f32::MAX` (n = 128) need no special case.
    ((h + t) * s1) * s2
}

/// `tanh x` in `f32`, odd and branch-free.
///
/// Max error over all `f32` inputs: 1 ulp (1.05 ulp
/// against the exact value). `tanh(±0) = ±0`, saturates to exactly `±1`
/// (also at `±inf`), `tanh(NaN) = NaN`.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let s = a * a;
    let poly = TANH_C3
        + s * (TANH_C5
            + s * (TANH_C7 + s * (TANH_C9 + s * (TANH_C11 + s * (TANH_C13 + s * (TANH_C15 + s * TANH_C17))))));
    let small = a + (a * s) * poly;
    // tanh a = 1 − 2/(e^{2a} + 1). Beyond 9.5 the result rounds to 1, and
    // clamping there keeps e^{2a} + 1 finite (a NaN passes through).
    let ac = if a > 9.5 { 9.5 } else { a };
    let (h, t, s1, s2) = exp_parts(ac + ac);
    let k = s1 * s2; // 2ⁿ, n ∈ [3, 28] where this branch is taken
    let big = h * k; // exact
    // d = big + 1 + t·k with a single rounding: Fast2Sum (big ≥ 1) for
    // big + 1, then the small terms.
    let sum = big + 1.0;
    let err = 1.0 - (sum - big);
    let d = sum + (err + t * k);
    let large = 1.0 - 2.0 / d;
    // NaN fails the comparison and takes the `large` path, which is NaN.
    let y = if a < TANH_POLY_MAX { small } else { large };
    y.copysign(x)
}

/// Logistic sigmoid `1/(1 + e⁻ˣ)` in `f32`, branch-free, stable for both
/// signs and faithful.
///
/// Max error over all `f32` inputs: 1 ulp (1.17 ulp
/// against the exact value). `sigmoid(±0) = 0.5`, `sigmoid(x ≥ 88) = 1`
/// (also `+inf`), deep negative inputs give the correctly scaled (possibly
/// subnormal) `eˣ` and `+0` below −104 (also `−inf`), `sigmoid(NaN) = NaN`.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    // With E = e⁻ˣ = 2ⁿ·(h + t) and u = 2⁻ⁿ = u₁·u₂:
    //   y = 1/(1 + E) = u₂ · u₁/D,   D = u + h + t ∈ [0.7, 2¹²⁷],
    // finite for either sign once −x is clamped to [−88, 104] (beyond, y
    // rounds to 1 or 0). The plain `e/(1 + e)` form reaches 2.4 ulp: the
    // roundings of e, of 1 + e and of the quotient add up.
    let m = (-x).clamp(-88.0, 104.0); // a NaN passes through
    let (h, t, s1, s2) = exp_parts_in_range(m);
    // 2⁻ⁿ¹ and 2⁻ⁿ² from the exponent bits of s₁ = 2ⁿ¹ and s₂ = 2ⁿ².
    let u1 = f32::from_bits(0x7f00_0000u32.wrapping_sub(s1.to_bits()));
    let u2 = f32::from_bits(0x7f00_0000u32.wrapping_sub(s2.to_bits()));
    let u = u1 * u2; // may underflow for n > 126, where it is negligible in D
    // D = d_hi + d_lo exactly (up to the tiny error of err + t): TwoSum for
    // u + h, then Fast2Sum with the small terms.
    let sum = u + h;
    let bb = sum - u;
    let err = (u - (sum - bb)) + (h - bb);
    let w = err + t;
    let d_hi = sum + w;
    let d_lo = w - (d_hi - sum);
    // u₁/D = q₀·(1 − d_lo/d_hi + …), q₀ = u₁/d_hi, and 1/d_hi ≈ q₀·s₁:
    // only q₀'s rounding and the final one are sizable, < 1.5 ulp in all,
    // so the result is never more than 1 ulp from the correctly rounded one.
    let q0 = u1 / d_hi;
    let c = (q0 * d_lo) * (q0 * s1);
    (q0 - c) * u2
}

/// `out[i] = exp_f32(input[i])`; the loop vectorizes.
///
/// # Panics
/// If the slices differ in length.
#[inline(never)]
pub(crate) fn exp_slice_f32(input: &[f32], out: &mut [f32]) {
    assert_eq!(input.len(), out.len(), "exp_slice_f32: length mismatch");
    for (o, &x) in out.iter_mut().zip(input) {
        *o = exp_f32(x);
    }
}

/// `out[i] = tanh_f32(input[i])`; the loop vectorizes.
///
/// # Panics
/// If the slices differ in length.
#[inline(never)]
pub(crate) fn tanh_slice_f32(input: &[f32], out: &mut [f32]) {
    assert_eq!(input.len(), out.len(), "tanh_slice_f32: length mismatch");
    for (o, &x) in out.iter_mut().zip(input) {
        *o = tanh_f32(x);
    }
}

/// `out[i] = sigmoid_f32(input[i])`; the loop vectorizes.
///
/// # Panics
/// If the slices differ in length.
#[inline(never)]
pub(crate) fn sigmoid_slice_f32(input: &[f32], out: &mut [f32]) {
    assert_eq!(input.len(), out.len(), "sigmoid_slice_f32: length mismatch");
    for (o, &x) in out.iter_mut().zip(input) {
        *o = sigmoid_f32(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Position of `x` on the ordered line of `f32` values (±0 coincide).
    fn ordered(x: f32) -> i64 {
        let b = i64::from(x.to_bits() as i32);
        if b < 0 { i64::from(i32::MIN) - b } else { b }
    }

    /// Ulp distance between two `f32`s; two NaNs are 0 apart, a NaN and a
    /// number infinitely far.
    fn ulp_dist(a: f32, b: f32) -> u64 {
        match (a.is_nan(), b.is_nan()) {
            (true, true) => 0,
            (false, false) => (ordered(a) - ordered(b)).unsigned_abs(),
            _ => u64::MAX,
        }
    }

    /// Error of `y` against the exact (`f64`) value `r`, in units of the
    /// `f32` ulp at `r`; `None` where that is not meaningful (NaN, results
    /// beyond `f32::MAX`).
    fn frac_ulp(y: f32, r: f64) -> Option<f64> {
        if r.is_nan() || r.abs() > f64::from(f32::MAX) || y.is_infinite() {
            return None;
        }
        let e = if r == 0.0 { -126 } else { ((r.abs().to_bits() >> 52) as i32 - 1023).max(-126) };
        Some((f64::from(y) - r).abs() / 2f64.powi(e - 23))
    }

    fn exp_ref(x: f32) -> f64 {
        f64::from(x).exp()
    }
    fn tanh_ref(x: f32) -> f64 {
        f64::from(x).tanh()
    }
    fn sigmoid_ref(x: f32) -> f64 {
        let x = f64::from(x);
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    #[derive(Debug, Default)]
    struct Stats {
        n: u64,
        max_ulp: u64,
        at: f32,
        max_frac: f64,
        at_frac: f32,
    }

    impl Stats {
        fn add(&mut self, x: f32, y: f32, r: f64) {
            self.n += 1;
            let d = ulp_dist(y, r as f32);
            if d > self.max_ulp {
                self.max_ulp = d;
                self.at = x;
            }
            if let Some(f) = frac_ulp(y, r) {
                if f > self.max_frac {
                    self.max_frac = f;
                    self.at_frac = x;
                }
            }
        }
        fn merge(mut self, o: Stats) -> Stats {
            self.n += o.n;
            if o.max_ulp > self.max_ulp {
                self.max_ulp = o.max_ulp;
                self.at = o.at;
            }
            if o.max_frac > self.max_frac {
                self.max_frac = o.max_frac;
                self.at_frac = o.at_frac;
            }
            self
        }
    }

    /// ~2M test inputs: a linear sweep of `[lo, hi]`, a sweep of the bit
    /// patterns of both signs with magnitude up to `max(|lo|, |hi|)` (so
    /// tiny and subnormal inputs are covered too), and the 4096 floats on
    /// either side of each point in `edges`.
    fn inputs(lo: f32, hi: f32, edges: &[f32]) -> Vec<f32> {
        let mut v = Vec::with_capacity(2_200_000);
        let n = 1_000_000u32;
        for i in 0..=n {
            v.push(lo + (hi - lo) * (i as f32 / n as f32));
        }
        let max_bits = lo.abs().max(hi.abs()).to_bits();
        let step = (max_bits / 500_000).max(1) as usize;
        for b in (0..=max_bits).step_by(step) {
            v.push(f32::from_bits(b));
            v.push(-f32::from_bits(b));
        }
        for &e in edges {
            let b = e.to_bits();
            for k in b.saturating_sub(4096)..=b.saturating_add(4096) {
                v.push(f32::from_bits(k));
            }
        }
        v
    }

    fn sweep(f: impl Fn(f32) -> f32, reference: impl Fn(f32) -> f64, xs: &[f32]) -> Stats {
        let mut s = Stats::default();
        for &x in xs {
            s.add(x, f(x), reference(x));
        }
        s
    }

    const SPECIALS: [f32; 16] = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        f32::EPSILON,
        1.0,
        -1.0,
        88.722_83,
        -103.972_08,
    ];

    #[test]
    fn math_exp_accuracy() {
        let edges = [88.722_84, -87.336_55, -103.972_08, -0.346_573_6, 0.346_573_6, 0.0];
        let xs = inputs(-110.0, 95.0, &edges);
        let s = sweep(exp_f32, exp_ref, &xs);
        eprintln!("exp_f32: {s:?}");
        assert!(s.max_ulp <= 1, "exp_f32: {s:?}");
        for x in SPECIALS {
            assert!(ulp_dist(exp_f32(x), exp_ref(x) as f32) <= 1, "exp_f32({x}) = {}", exp_f32(x));
        }
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-0.0), 1.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY).to_bits(), 0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(-f32::NAN).is_nan());
        assert_eq!(exp_f32(88.722_83), exp_ref(88.722_83) as f32);
        assert!(exp_f32(88.722_83).is_finite());
        assert_eq!(exp_f32(88.722_84), f32::INFINITY);
        assert_eq!(exp_f32(-103.0), exp_ref(-103.0) as f32);
        assert!(exp_f32(-103.0) > 0.0 && exp_f32(-103.0) < f32::MIN_POSITIVE);
        assert_eq!(exp_f32(-104.0).to_bits(), 0);
        assert_eq!(exp_f32(-1e30).to_bits(), 0);
        assert_eq!(exp_f32(f32::MAX), f32::INFINITY);
        assert_eq!(exp_f32(f32::MIN).to_bits(), 0);
    }

    #[test]
    fn math_tanh_accuracy() {
        let edges = [TANH_POLY_MAX, -TANH_POLY_MAX, 9.010_913, 9.5, 0.0, 1e-3];
        let xs = inputs(-12.0, 12.0, &edges);
        let s = sweep(tanh_f32, tanh_ref, &xs);
        eprintln!("tanh_f32: {s:?}");
        assert!(s.max_ulp <= 1, "tanh_f32: {s:?}");
        for x in SPECIALS {
            assert!(ulp_dist(tanh_f32(x), tanh_ref(x) as f32) <= 1, "tanh_f32({x}) = {}", tanh_f32(x));
        }
        assert_eq!(tanh_f32(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(f32::MAX), 1.0);
        assert_eq!(tanh_f32(f32::MIN), -1.0);
        assert_eq!(tanh_f32(20.0), 1.0);
        assert_eq!(tanh_f32(1e-45), 1e-45);
        assert!(tanh_f32(f32::NAN).is_nan());
        // Odd for every input of the sweep.
        for &x in &xs {
            assert_eq!(tanh_f32(-x).to_bits(), (-tanh_f32(x)).to_bits(), "x = {x}");
        }
    }

    #[test]
    fn math_sigmoid_accuracy() {
        let edges = [0.0, 88.0, 88.722_84, -87.336_55, -103.972_08, -104.0, 16.635_532, 17.328_68];
        let xs = inputs(-110.0, 110.0, &edges);
        let s = sweep(sigmoid_f32, sigmoid_ref, &xs);
        eprintln!("sigmoid_f32: {s:?}");
        assert!(s.max_ulp <= 1, "sigmoid_f32: {s:?}");
        for x in SPECIALS {
            assert!(ulp_dist(sigmoid_f32(x), sigmoid_ref(x) as f32) <= 1, "sigmoid_f32({x}) = {}", sigmoid_f32(x));
        }
        assert_eq!(sigmoid_f32(0.0), 0.5);
        assert_eq!(sigmoid_f32(-0.0), 0.5);
        assert_eq!(sigmoid_f32(f32::INFINITY), 1.0);
        assert_eq!(sigmoid_f32(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(sigmoid_f32(f32::MAX), 1.0);
        assert_eq!(sigmoid_f32(f32::MIN).to_bits(), 0);
        assert!(sigmoid_f32(f32::NAN).is_nan());
        // Deep negative inputs keep their subnormal value.
        assert_eq!(sigmoid_f32(-100.0), sigmoid_ref(-100.0) as f32);
        assert!(sigmoid_f32(-100.0) > 0.0);
    }

    #[test]
    fn math_slices_match_scalar() {
        let xs: Vec<f32> = (0..1037).map(|i| (i as f32 - 518.0) * 0.173).chain(SPECIALS).collect();
        let mut out = vec![0.0f32; xs.len()];
        type SliceFn = fn(&[f32], &mut [f32]);
        type ScalarFn = fn(f32) -> f32;
        let kernels: [(SliceFn, ScalarFn); 3] =
            [(exp_slice_f32, exp_f32), (tanh_slice_f32, tanh_f32), (sigmoid_slice_f32, sigmoid_f32)];
        for (slice_fn, scalar) in kernels {
            slice_fn(&xs, &mut out);
            for (&x, &y) in xs.iter().zip(&out) {
                assert_eq!(y.to_bits(), scalar(x).to_bits(), "x = {x}");
            }
        }
    }

    /// Every `f32` input (2³² of them); prints the maxima quoted in the
    /// module docs. Run with
    /// `cargo test --release -p lux-core --lib math_exhaustive -- --ignored --nocapture`.
    #[test]
    #[ignore = "slow: all 2^32 inputs; run in release"]
    fn math_exhaustive_all_f32() {
        use rayon::prelude::*;
        // Inputs with the top 16 bits in `hi`; `0..1 << 15` are the
        // non-negative ones (and NaNs), `1 << 15..1 << 16` the negative ones.
        let run = |name: &str, f: fn(f32) -> f32, r: fn(f32) -> f64, hi: std::ops::Range<u32>| {
            let s = hi
                .into_par_iter()
                .map(|hi| {
                    let mut s = Stats::default();
                    for lo in 0u32..1 << 16 {
                        let x = f32::from_bits(hi << 16 | lo);
                        s.add(x, f(x), r(x));
                    }
                    s
                })
                .reduce(Stats::default, Stats::merge);
            eprintln!("{name}: {s:?}");
            s
        };
        let e = run("exp_f32", exp_f32, exp_ref, 0..1 << 16);
        let t = run("tanh_f32", tanh_f32, tanh_ref, 0..1 << 16);
        let gp = run("sigmoid_f32 (x >= +0)", sigmoid_f32, sigmoid_ref, 0..1 << 15);
        let gn = run("sigmoid_f32 (x <= -0)", sigmoid_f32, sigmoid_ref, 1 << 15..1 << 16);
        let g = gp.merge(gn);
        assert!(e.max_ulp <= 1 && t.max_ulp <= 1 && g.max_ulp <= 1);
    }

    /// ns/element of libm vs these kernels over 1M elements. Run with
    /// `cargo test --release -p lux-core --lib math_timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing; run in release"]
    fn math_timing() {
        use std::hint::black_box;
        use std::time::Instant;
        const N: usize = 1 << 20;
        // Deterministic inputs spread over [-10, 10).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let xs: Vec<f32> = (0..N)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 * 20.0 - 10.0
            })
            .collect();
        let mut out = vec![0.0f32; N];
        let mut time = |f: &mut dyn FnMut(&[f32], &mut [f32])| {
            let mut best = f64::INFINITY;
            for _ in 0..30 {
                let t = Instant::now();
                f(black_box(&xs), black_box(&mut out));
                best = best.min(t.elapsed().as_secs_f64());
                black_box(&out);
            }
            best * 1e9 / N as f64
        };
        fn libm_exp(i: &[f32], o: &mut [f32]) {
            for (o, &x) in o.iter_mut().zip(i) {
                *o = x.exp();
            }
        }
        fn libm_tanh(i: &[f32], o: &mut [f32]) {
            for (o, &x) in o.iter_mut().zip(i) {
                *o = x.tanh();
            }
        }
        fn libm_sigmoid(i: &[f32], o: &mut [f32]) {
            for (o, &x) in o.iter_mut().zip(i) {
                *o = 1.0 / (1.0 + (-x).exp());
            }
        }
        let rows = [
            ("exp", time(&mut libm_exp), time(&mut exp_slice_f32)),
            ("tanh", time(&mut libm_tanh), time(&mut tanh_slice_f32)),
            ("sigmoid", time(&mut libm_sigmoid), time(&mut sigmoid_slice_f32)),
        ];
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        eprintln!("1M f32 elements, best of 30; loadavg: {}", load.trim());
        for (name, libm, ours) in rows {
            eprintln!("{name:>8}: libm {libm:6.2} ns/elem, lux {ours:6.2} ns/elem, speedup {:5.1}x", libm / ours);
        }
    }
}
