//! `lux-bench`: per-call times of the standard workloads, as medians.
//!
//! ```text
//! cargo run --release -p lux-bench -- [matmul] [tiny] [--smoke]
//! ```
//! With no workload named, runs all. `--smoke` runs each once, quickly (CI).

use lux::prelude::*;
use lux_bench::TinyMlp;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

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

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let named: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    let all = named.is_empty();
    for name in &named {
        if !["matmul", "tiny"].contains(name) {
            return Err(LuxError::InvalidArgument {
                op: "lux-bench".into(),
                msg: format!("unknown workload `{name}` (matmul, tiny)"),
            });
        }
    }
    if all || named.contains(&"matmul") {
        matmul(smoke)?;
    }
    if all || named.contains(&"tiny") {
        tiny(smoke)?;
    }
    Ok(())
}
