//! Sliding-window geometry shared by convolution and pooling: option
//! lists expanded per spatial dim, output sizes, the tap table (which input
//! position each window tap reads at each output position) and its run
//! form for fast im2col/col2im, and the batch splitting over the rayon pool.

use crate::conv::Padding;
use lux_core::{LuxError, Real, Result, Tensor};
use rayon::prelude::*;
use std::ops::Range;

/// Marks a window tap that falls on the padding in a [`Window::table`].
pub(crate) const NONE: u32 = u32::MAX;

/// A per-dimension option list expanded to `d` entries.
pub(crate) fn per_dim<T: Clone>(op: &str, name: &str, v: &[T], d: usize, default: T) -> Result<Vec<T>> {
    match v.len() {
        0 => Ok(vec![default; d]),
        1 => Ok(vec![v[0].clone(); d]),
        n if n == d => Ok(v.to_vec()),
        n => Err(LuxError::invalid_argument(
            op,
            format!("{name} has {n} entries but the input has {d} spatial dim{}", if d == 1 { "" } else { "s" }),
        )),
    }
}

/// The resolved geometry of a sliding window over the spatial dims of an
/// `[N, C, spatial…]` input.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    pub in_sp: Vec<usize>,
    pub k: Vec<usize>,
    pub stride: Vec<usize>,
    pub dilation: Vec<usize>,
    pub pad: Vec<(usize, usize)>,
    pub out_sp: Vec<usize>,
}

impl Window {
    /// Validates the options against the input shape `x` (rank ≥ 3, checked
    /// by the caller) and a window `k` of one entry per spatial dim.
    /// `what` names the window in messages ("kernel", "window").
    pub(crate) fn resolve(
        op: &str,
        what: &str,
        x: &[usize],
        k: &[usize],
        stride: &[usize],
        dilation: &[usize],
        padding: &Padding,
    ) -> Result<Window> {
        let d = x.len() - 2;
        let in_sp = x[2..].to_vec();
        if k.contains(&0) {
            return Err(LuxError::invalid_argument(op, format!("{what} size {k:?} has a zero entry")));
        }
        let stride = per_dim(op, "stride", stride, d, 1)?;
        if stride.contains(&0) {
            return Err(LuxError::invalid_argument(op, format!("stride {stride:?} must be positive")));
        }
        let dilation = per_dim(op, "dilation", dilation, d, 1)?;
        if dilation.contains(&0) {
            return Err(LuxError::invalid_argument(op, format!("dilation {dilation:?} must be positive")));
        }
        let eff: Vec<usize> =
            k.iter().zip(&dilation).map(|(&k, &dl)| dl.saturating_mul(k - 1).saturating_add(1)).collect();
        let pad = match padding {
            Padding::Explicit(p) => per_dim(op, "padding", p, d, (0, 0))?,
            Padding::Same => eff.iter().map(|&e| ((e - 1).div_ceil(2), (e - 1) / 2)).collect(),
        };
        let padded: Vec<usize> =
            in_sp.iter().zip(&pad).map(|(&i, &(b, a))| i.saturating_add(b).saturating_add(a)).collect();
        if eff.iter().zip(&padded).any(|(e, p)| e > p) {
            let dil = if dilation.iter().all(|&v| v == 1) { String::new() } else { format!(", dilation {dilation:?}") };
            return Err(LuxError::shape(
                op,
                format!(
                    "{what} {k:?}{dil} spans {eff:?}, larger than the padded input {padded:?} (input {x:?}, padding {pad:?})"
                ),
            ));
        }
        let out_sp: Vec<usize> = eff.iter().zip(&padded).zip(&stride).map(|((e, p), s)| (p - e) / s + 1).collect();
        let too_big =
            |dims: &[usize]| dims.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).is_none_or(|n| n >= NONE as usize);
        let taps = k.iter().chain(&out_sp).copied().collect::<Vec<_>>();
        if too_big(&in_sp) || too_big(&taps) || padded.iter().any(|&p| p >= NONE as usize) {
            return Err(LuxError::shape(
                op,
                format!(
                    "input {x:?} with {what} {k:?} and padding {pad:?} is too large (a padded spatial dim, spatial plane or window table reaches 2^32 elements)"
                ),
            ));
        }
        Ok(Window { in_sp, k: k.to_vec(), stride, dilation, pad, out_sp })
    }

    /// Number of taps of the window, `Π k`.
    pub(crate) fn kk(&self) -> usize {
        self.k.iter().product()
    }
    /// Number of output positions per plane, `Π out`.
    pub(crate) fn l(&self) -> usize {
        self.out_sp.iter().product()
    }
    /// Number of input positions per plane, `Π in`.
    pub(crate) fn p(&self) -> usize {
        self.in_sp.iter().product()
    }

    /// The tap table: entry `[tap · L + l]` is the flat position in an input
    /// plane read by window tap `tap` (row-major over `k`) at output position
    /// `l` (row-major over the output), or [`NONE`] on the padding. With
    /// `flip`, tap `t` reads the position of tap `Πk − 1 − t` (the kernel
    /// reversed along every spatial axis).
    pub(crate) fn table(&self, flip: bool) -> Vec<u32> {
        let d = self.k.len();
        let (kk, l) = (self.kk(), self.l());
        let mut istride = vec![1usize; d];
        for i in (0..d.saturating_sub(1)).rev() {
            istride[i] = istride[i + 1] * self.in_sp[i + 1];
        }
        let mut tab = vec![NONE; kk * l];
        let mut kidx = vec![0usize; d];
        let mut oidx = vec![0usize; d];
        let mut koff = vec![0isize; d];
        for tap in 0..kk {
            for i in 0..d {
                let kd = if flip { self.k[i] - 1 - kidx[i] } else { kidx[i] };
                koff[i] = (kd * self.dilation[i]) as isize - self.pad[i].0 as isize;
            }
            oidx.iter_mut().for_each(|o| *o = 0);
            for slot in &mut tab[tap * l..(tap + 1) * l] {
                let mut flat = 0usize;
                let mut inside = true;
                for i in 0..d {
                    let c = (oidx[i] * self.stride[i]) as isize + koff[i];
                    if c < 0 || c >= self.in_sp[i] as isize {
                        inside = false;
                        break;
                    }
                    flat += c as usize * istride[i];
                }
                if inside {
                    *slot = flat as u32;
                }
                odometer(&mut oidx, &self.out_sp);
            }
            odometer(&mut kidx, &self.k);
        }
        tab
    }

    /// The tap table as an i64 index tensor for the composite definitions,
    /// padding taps pointing at position `Π in` (one extra element appended
    /// to each flattened plane).
    pub(crate) fn index_tensor(tab: &[u32], p: usize) -> Result<Tensor> {
        let idx: Vec<i64> = tab.iter().map(|&i| if i == NONE { p as i64 } else { i as i64 }).collect();
        Tensor::from_vec(idx, &[tab.len()])
    }
}

/// Advances a row-major multi-index.
fn odometer(idx: &mut [usize], dims: &[usize]) {
    for i in (0..idx.len()).rev() {
        idx[i] += 1;
        if idx[i] < dims[i] {
            return;
        }
        idx[i] = 0;
    }
}

/// The tap table of a [`Window`] in run form, for fast im2col/col2im:
/// along the last spatial dim a tap reads a strided run of the input row,
/// so each `(tap, outer output position)` pair is one base offset (or
/// [`NONE`] when an outer coordinate is on the padding) plus, per tap, the
/// range of inner output positions that fall inside the input.
#[derive(Clone, Debug)]
pub(crate) struct Runs {
    /// Output size along the last spatial dim.
    inner: usize,
    /// Number of outer output positions (`Π out` over the other dims).
    outer: usize,
    /// Stride along the last spatial dim.
    step: usize,
    /// Per tap: input offset along the last dim at inner position 0 (may be
    /// negative), and the inner positions `lo..hi` that read the input.
    taps: Vec<(isize, usize, usize)>,
    /// Per `(tap, outer)`: flat input offset of the row, or [`NONE`].
    base: Vec<u32>,
    /// A 1×…×1 kernel with stride 1 and no padding: the column matrix is
    /// the input itself.
    pub(crate) identity: bool,
}

impl Runs {
    pub(crate) fn new(w: &Window, flip: bool) -> Runs {
        let d = w.k.len();
        let last = d - 1;
        let (inner, step, in_last) = (w.out_sp[last], w.stride[last], w.in_sp[last] as isize);
        let outer: usize = w.out_sp[..last].iter().product();
        let kk = w.kk();
        let mut istride = vec![1usize; d];
        for i in (0..last).rev() {
            istride[i] = istride[i + 1] * w.in_sp[i + 1];
        }
        let mut taps = Vec::with_capacity(kk);
        let mut base = vec![NONE; kk * outer];
        let mut kidx = vec![0usize; d];
        let mut oidx = vec![0usize; last];
        for t in 0..kk {
            let off = |i: usize| {
                let kd = if flip { w.k[i] - 1 - kidx[i] } else { kidx[i] };
                (kd * w.dilation[i]) as isize - w.pad[i].0 as isize
            };
            // inner position o reads o·step + a, inside when 0 ≤ o·step + a < in_last
            let a = off(last);
            let lo = if a >= 0 { 0 } else { (a.unsigned_abs()).div_ceil(step) }.min(inner);
            let hi = if in_last - 1 - a < 0 { 0 } else { ((in_last - 1 - a) as usize / step + 1).min(inner) };
            taps.push((a, lo, hi.max(lo)));
            oidx.iter_mut().for_each(|o| *o = 0);
            for q in 0..outer {
                let mut flat = 0usize;
                let mut inside = true;
                for i in 0..last {
                    let c = (oidx[i] * w.stride[i]) as isize + off(i);
                    if c < 0 || c >= w.in_sp[i] as isize {
                        inside = false;
                        break;
                    }
                    flat += c as usize * istride[i];
                }
                if inside {
                    base[t * outer + q] = flat as u32;
                }
                odometer(&mut oidx, &w.out_sp[..last]);
            }
            odometer(&mut kidx, &w.k);
        }
        let identity = kk == 1 && w.stride.iter().all(|&s| s == 1) && w.pad.iter().all(|&p| p == (0, 0));
        Runs { inner, outer, step, taps, base, identity }
    }

    /// Calls `f(tap, out, src, len)` for every run of the window in tap
    /// order (row-major over the window), then in output order: tap `tap`
    /// at the `len` consecutive output positions `out..out + len` (flat
    /// in an output plane) reads the input positions `src, src + step, …`
    /// (flat in an input plane). Taps on the padding are skipped.
    pub(crate) fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize, usize)) {
        for (t, &(a, lo, hi)) in self.taps.iter().enumerate() {
            if lo == hi {
                continue;
            }
            for (q, &b) in self.base[t * self.outer..(t + 1) * self.outer].iter().enumerate() {
                if b != NONE {
                    f(t, q * self.inner + lo, (b as isize + (lo * self.step) as isize + a) as usize, hi - lo);
                }
            }
        }
    }

    /// The stride along the last spatial dim (the step between the input
    /// positions of a run).
    pub(crate) fn step(&self) -> usize {
        self.step
    }

    /// Gathers the receptive fields of `planes` (each `p` values) into
    /// `col`, `[planes · Πk, Π out]` row-major.
    pub(crate) fn im2col<T: Real>(&self, planes: &[T], p: usize, col: &mut [T]) {
        let (kk, l) = (self.taps.len(), self.inner * self.outer);
        if p == 0 {
            // an empty input, all padding
            col.fill(T::zero());
            return;
        }
        for (c, xc) in planes.chunks_exact(p).enumerate() {
            for (t, &(a, lo, hi)) in self.taps.iter().enumerate() {
                let row = &mut col[(c * kk + t) * l..(c * kk + t + 1) * l];
                for (seg, &b) in row.chunks_exact_mut(self.inner).zip(&self.base[t * self.outer..(t + 1) * self.outer])
                {
                    if b == NONE || lo == hi {
                        seg.fill(T::zero());
                        continue;
                    }
                    seg[..lo].fill(T::zero());
                    seg[hi..].fill(T::zero());
                    let start = (b as isize + (lo * self.step) as isize + a) as usize;
                    if self.step == 1 {
                        seg[lo..hi].copy_from_slice(&xc[start..start + hi - lo]);
                    } else {
                        for (v, &xv) in seg[lo..hi].iter_mut().zip(xc[start..].iter().step_by(self.step)) {
                            *v = xv;
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of [`Runs::im2col`]: adds `col` into `planes`.
    pub(crate) fn col2im<T: Real>(&self, col: &[T], p: usize, planes: &mut [T]) {
        let (kk, l) = (self.taps.len(), self.inner * self.outer);
        if p == 0 {
            return;
        }
        for (c, xc) in planes.chunks_exact_mut(p).enumerate() {
            for (t, &(a, lo, hi)) in self.taps.iter().enumerate() {
                let row = &col[(c * kk + t) * l..(c * kk + t + 1) * l];
                for (seg, &b) in row.chunks_exact(self.inner).zip(&self.base[t * self.outer..(t + 1) * self.outer]) {
                    if b == NONE || lo == hi {
                        continue;
                    }
                    let start = (b as isize + (lo * self.step) as isize + a) as usize;
                    add_strided(&seg[lo..hi], &mut xc[start..], self.step);
                }
            }
        }
    }
}

/// `dst[j · step] += src[j]` (vectorised when `step == 1`).
#[inline]
pub(crate) fn add_strided<T: Real>(src: &[T], dst: &mut [T], step: usize) {
    if step == 1 {
        dst[..src.len()].iter_mut().zip(src).for_each(|(d, &v)| *d += v);
    } else {
        src.iter().zip(dst.iter_mut().step_by(step)).for_each(|(&v, d)| *d += v);
    }
}

/// `Σ v`, with eight partial sums so that it vectorises.
pub(crate) fn sum8<T: Real>(v: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let tail: T = rest.iter().copied().sum();
    acc.iter().copied().sum::<T>() + tail
}

pub(crate) fn internal(what: &str) -> LuxError {
    LuxError::Unsupported(format!("internal error in {what}"))
}

/// Products with fewer multiply-adds than this run on one thread.
const PAR_WORK: usize = 1 << 17;

/// Runs `f(samples, out_part)` over contiguous parts of the batch, in
/// parallel when `work` is large: `out` holds `sample_out` elements per
/// sample and is split accordingly (it may be empty with `sample_out = 0`).
/// Returns each part's result, in order.
pub(crate) fn batch_parts<T: Send, R: Send>(
    n: usize,
    work: usize,
    out: &mut [T],
    sample_out: usize,
    f: impl Fn(Range<usize>, &mut [T]) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = rayon::current_num_threads();
    let parts = if work >= PAR_WORK && n >= 2 { threads.min(n) } else { 1 };
    if parts <= 1 {
        return Ok(vec![f(0..n, out)?]);
    }
    let per = n.div_ceil(parts);
    let mut jobs = Vec::with_capacity(parts);
    let mut rest = out;
    let mut start = 0;
    while start < n {
        let end = (start + per).min(n);
        let (a, b) = std::mem::take(&mut rest).split_at_mut((end - start) * sample_out);
        jobs.push((start..end, a));
        rest = b;
        start = end;
    }
    jobs.into_par_iter().map(|(r, o)| f(r, o)).collect()
}
