//! `lux-bench`: per-call times of the standard workloads, as medians.
//!
//! ```text
//! cargo run --release -p lux-bench -- [matmul] [grad] [tiny] [mnist] [wide] [conv] [lstm]
//!                                     [--seconds S] [--backend tape|compiled] [--json] [--smoke]
//! ```
//! `tiny` … `lstm` time one full training step (forward, loss, backward,
//! Adam update through `single_train_step_mut`): 5 warm-up steps, then steps
//! for about `S` seconds (default 3, at least 20 steps); they print the median
//! and minimum per step and the loss before and after, which must have
//! fallen. `grad` times the tiny MLP's `value_and_gradient` (fused and
//! unfused ops), `matmul` square matrix products. With nothing named, runs
//! all. `--json` prints the step workloads as one JSON object per line (the
//! peers script reads them); `--smoke` runs each a few times, quickly (CI).
//! Each step workload also reports how many heap allocations one step makes
//! (the binary counts them in its global allocator).
//! `--backend` picks the steps' reverse mode: `compiled` (the default,
//! `AutoCompiledTape`) or `tape` (`AutoTape`).

use lux::prelude::*;
use lux_bench::TinyMlp;
use lux_bench::steps::{Backend, StepWorkload, WORKLOADS};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

/// The system allocator, counting allocations so each step workload can
/// report how many it makes per step (one relaxed atomic add per call).
struct Counting;
static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `f` `reps` times after one warm-up call; returns the median.
fn time<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<Duration> {
    f()?;
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(f()?);
        v.push(t.elapsed());
    }
    Ok(median(v))
}

fn matmul(smoke: bool) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(1);
    let sizes: &[usize] = if smoke { &[64] } else { &[128, 256, 512, 1024, 2048] };
    for &n in sizes {
        for dt in [DType::F32, DType::F64] {
            let a = Tensor::randn(&mut rng, &[n, n], dt)?;
            let b = Tensor::randn(&mut rng, &[n, n], dt)?;
            let reps = if smoke { 1 } else { (2e10 / (2.0 * (n as f64).powi(3))).clamp(5.0, 200.0) as usize };
            let t = time(reps, || a.matmul(&b))?;
            let gflops = 2.0 * (n as f64).powi(3) / t.as_secs_f64() / 1e9;
            println!("matmul {dt} {n}x{n}x{n}: median {:>10.3} ms  {gflops:>7.1} GFLOP/s", t.as_secs_f64() * 1e3);
        }
    }
    Ok(())
}

fn tiny(smoke: bool) -> Result<()> {
    let w = TinyMlp::new()?;
    let reps = if smoke { 3 } else { 5000 };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let name = "tiny (MLP 4-16-16-1 tanh, MSE, batch 64, f32)";
    let fwd = time(reps, || w.loss(&w.ps))?;
    let vg = time(reps, || w.value_and_gradient())?;
    let fwd_plain = time(reps, || w.loss_unfused(&w.ps))?;
    let vg_plain = time(reps, || w.value_and_gradient_unfused())?;
    println!("{name}: forward median {:.1} µs (unfused ops {:.1} µs)", us(fwd), us(fwd_plain));
    println!("{name}: value_and_gradient median {:.1} µs (unfused ops {:.1} µs)", us(vg), us(vg_plain));
    Ok(())
}

/// Times training steps of one workload; `Err` if the loss did not fall.
fn train_steps(name: &str, backend: Backend, seconds: f64, smoke: bool, json: bool) -> Result<()> {
    let mut w = StepWorkload::with_backend(name, backend)?;
    let first = w.step()?;
    for _ in 0..if smoke { 1 } else { 4 } {
        w.step()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < if smoke { 2 } else { 20 } || (!smoke && start.elapsed().as_secs_f64() < seconds) {
        let t = Instant::now();
        std::hint::black_box(w.step()?);
        times.push(t.elapsed());
    }
    let before = allocations();
    let last = w.step()?;
    let allocs = allocations() - before;
    let steps = times.len();
    let min = *times.iter().min().expect("at least two steps were timed");
    let med = median(times);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if json {
        println!(
            "{{\"framework\": \"lux-rs\", \"workload\": \"{name}\", \"median_ms\": {}, \"min_ms\": {}, \"steps\": {steps}, \"loss_before\": {first}, \"loss_after\": {last}, \"allocations_per_step\": {allocs}}}",
            ms(med),
            ms(min)
        );
    } else {
        println!(
            "{name:<6} {}: median {:.3} ms, min {:.3} ms per step ({steps} steps, {allocs} allocations each); loss {first:.5} -> {last:.5}",
            w.description,
            ms(med),
            ms(min)
        );
    }
    if last.partial_cmp(&first) != Some(std::cmp::Ordering::Less) {
        return Err(LuxError::invalid_argument(
            "lux-bench",
            format!("{name}: the loss did not fall ({first} -> {last})"),
        ));
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let (smoke, json) = (flag("--smoke"), flag("--json"));
    let mut seconds = 3.0;
    let mut backend = Backend::Compiled;
    let mut named: Vec<&str> = Vec::new();
    let mut it = args.iter().map(String::as_str);
    while let Some(a) = it.next() {
        match a {
            "--smoke" | "--json" => {}
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or_else(|| LuxError::invalid_argument("lux-bench", "--seconds takes a positive number"))?
            }
            "--backend" => {
                backend = Backend::parse(it.next().unwrap_or_default())?;
            }
            name if ["matmul", "grad"].contains(&name) || WORKLOADS.contains(&name) => named.push(name),
            other => {
                return Err(LuxError::invalid_argument(
                    "lux-bench",
                    format!(
                        "unknown argument `{other}` (matmul, grad, {}, --seconds S, --backend tape|compiled, --json, --smoke)",
                        WORKLOADS.join(", ")
                    ),
                ));
            }
        }
    }
    let all = named.is_empty();
    if (all && !json) || named.contains(&"matmul") {
        matmul(smoke)?;
    }
    if (all && !json) || named.contains(&"grad") {
        tiny(smoke)?;
    }
    for name in WORKLOADS {
        if all || named.contains(&name) {
            train_steps(name, backend, seconds, smoke, json)?;
        }
    }
    Ok(())
}
