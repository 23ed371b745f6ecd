//! Run-time selection of the instruction set for hot elementwise loops.
//!
//! The release build targets baseline x86-64 (SSE2), since the machines it
//! runs on differ; a loop compiled for that uses 4-lane vectors even on a
//! CPU with 16. [`with_simd!`](crate::with_simd) compiles a loop body three
//! times — baseline, AVX2+FMA and AVX-512 — and runs the widest the CPU
//! offers, detected once at run time. The kernels it wraps use no
//! `mul_add` (see `ops::math`), so the three copies give identical bits;
//! only the vector width differs.
//!
//! `LUX_SIMD=baseline|avx2|avx512` (read once) caps the level, e.g. to
//! measure what the wide paths gain.

use std::sync::atomic::{AtomicU8, Ordering};

/// The vector instruction sets [`with_simd!`](crate::with_simd) chooses from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// What every x86-64 (or other) CPU has.
    Baseline,
    /// AVX2 and FMA (Haswell and later).
    Avx2,
    /// AVX-512 F/BW/DQ/VL (Skylake-SP, Ice Lake, Sapphire Rapids, Zen 4 …).
    Avx512,
}

static LEVEL: AtomicU8 = AtomicU8::new(u8::MAX);

/// The widest instruction set this CPU offers (detected on first use).
///
/// ```
/// use lux_core::simd::{simd_level, SimdLevel};
/// assert!(simd_level() >= SimdLevel::Baseline);
/// ```
pub fn simd_level() -> SimdLevel {
    match LEVEL.load(Ordering::Relaxed) {
        0 => SimdLevel::Baseline,
        1 => SimdLevel::Avx2,
        2 => SimdLevel::Avx512,
        _ => {
            let cap = match std::env::var("LUX_SIMD").as_deref() {
                Ok("baseline") => SimdLevel::Baseline,
                Ok("avx2") => SimdLevel::Avx2,
                _ => SimdLevel::Avx512,
            };
            let level = detect().min(cap);
            LEVEL.store(level as u8, Ordering::Relaxed);
            level
        }
    }
}

/// Makes [`with_simd!`](crate::with_simd) loops use `level`, or the widest
/// the CPU has if that is narrower; returns the level now in force. For
/// tests and measurements: every level gives the same results.
///
/// ```
/// use lux_core::simd::{set_simd_level, simd_level, SimdLevel};
/// let widest = simd_level(); // detected
/// assert_eq!(set_simd_level(SimdLevel::Baseline), SimdLevel::Baseline);
/// assert_eq!(set_simd_level(SimdLevel::Avx512), widest); // no wider than the CPU
/// ```
pub fn set_simd_level(level: SimdLevel) -> SimdLevel {
    let level = level.min(detect());
    LEVEL.store(level as u8, Ordering::Relaxed);
    level
}

#[cfg(target_arch = "x86_64")]
fn detect() -> SimdLevel {
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("fma")
    {
        SimdLevel::Avx512
    } else if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        SimdLevel::Avx2
    } else {
        SimdLevel::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> SimdLevel {
    SimdLevel::Baseline
}

/// Defines `fn $name` whose body is compiled for baseline, AVX2+FMA and
/// AVX-512, and runs the copy [`simd_level`](crate::simd::simd_level)
/// picks. Use it for loops over slices whose scalar code inlines
/// (`#[inline(always)]` kernels): the body must be safe code, and give the
/// same results on every path (no `mul_add`).
///
/// ```
/// lux_core::with_simd! {
///     /// `y[i] = 2·x[i] + 1`.
///     fn affine(x: &[f32], y: &mut [f32]) {
///         for (o, &v) in y.iter_mut().zip(x) {
///             *o = 2.0 * v + 1.0;
///         }
///     }
/// }
/// let mut y = [0.0f32; 3];
/// affine(&[1.0, 2.0, 3.0], &mut y);
/// assert_eq!(y, [3.0, 5.0, 7.0]);
/// ```
#[macro_export]
macro_rules! with_simd {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$($g:ident : $b:path),*>)? ($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[inline]
        $vis fn $name $(<$($g: $b),*>)? ($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                fn avx512 $(<$($g: $b),*>)? ($($arg: $ty),*) $body
                #[target_feature(enable = "avx2,fma")]
                fn avx2 $(<$($g: $b),*>)? ($($arg: $ty),*) $body
                match $crate::simd::simd_level() {
                    // SAFETY: the CPU was checked to have these features.
                    $crate::simd::SimdLevel::Avx512 => return unsafe { avx512 $(::<$($g),*>)? ($($arg),*) },
                    // SAFETY: as above.
                    $crate::simd::SimdLevel::Avx2 => return unsafe { avx2 $(::<$($g),*>)? ($($arg),*) },
                    $crate::simd::SimdLevel::Baseline => {}
                }
            }
            $body
        }
    };
}
