//! `cargo xtask <task>`: project automation, std only.
//!
//! * `ci` — the single gate, cheapest check first: `fmt --check`, clippy with
//!   `-D warnings`, the test suite, `doc --no-deps` with warnings denied, and a
//!   smoke run of the benchmark binary, then lux-core's tests again in release
//!   (the shape and allocation guards must hold with overflow checks off).
//! * `bench` — the `lux-bench` workloads in release mode (arguments are passed on).

use std::env;
use std::process::{Command, ExitCode};

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(name: &str, mut cmd: Command) -> bool {
    eprintln!("\n==> xtask: {name}");
    match cmd.status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("xtask: `{name}` failed ({s})");
            false
        }
        Err(e) => {
            eprintln!("xtask: could not start `{name}`: {e}");
            false
        }
    }
}

fn ci() -> bool {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings");
    let mut bench = cargo();
    bench.args(["run", "--release", "-p", "lux-bench", "--", "--smoke"]);
    let mut release_core = cargo();
    release_core.args(["test", "--release", "-p", "lux-core", "--lib", "--tests"]);
    run("fmt --check", fmt)
        && run("clippy -D warnings", clippy)
        && run("test", test)
        && run("doc -D warnings", doc)
        && run("bench smoke", bench)
        && run("lux-core tests in release", release_core)
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let ok = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => {
            let mut c = cargo();
            c.args(["run", "--release", "-p", "lux-bench", "--"]).args(&args[1..]);
            run("bench", c)
        }
        _ => {
            eprintln!("usage: cargo xtask <ci | bench [lux-bench args]>");
            false
        }
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
