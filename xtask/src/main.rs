//! `cargo xtask <task>`: project automation, std only.
//!
//! * `ci` — the single gate, cheapest check first: `fmt --check`, clippy with
//!   `-D warnings`, the test suite, `doc --no-deps` with warnings denied, and a
//!   smoke run of the benchmark binary, then lux-core's tests again in release
//!   (the shape and allocation guards must hold with overflow checks off).
//! * `bench` — the `lux-bench` workloads in release mode (arguments are passed on).
//! * `mpi-tests` — the `mpi` feature (needs OpenMPI: `.ci/run` installs it):
//!   clippy and docs with it, one epoch of the digits example with `--distributed` on two ranks,
//!   lux-distributed's suite under `mpirun -np 2`, and its unit tests,
//!   doctests and abort test.

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

/// `mpirun` as cargo's runner for the test binaries: every rank runs the
/// suite. `--allow-run-as-root` because CI runs as root; `--oversubscribe`
/// because two ranks may exceed the slots mpirun counts on a small machine.
const MPIRUN: &str = r#"target.'cfg(all())'.runner = ["mpirun", "-np", "2", "--allow-run-as-root", "--oversubscribe"]"#;

fn mpi_tests() -> bool {
    let mut clippy = cargo();
    clippy.args(["clippy", "-p", "lux-distributed", "-p", "lux", "--all-targets", "--features", "lux/mpi"]);
    clippy.args(["--", "-D", "warnings"]);
    let mut doc = cargo();
    doc.args(["doc", "-p", "lux-distributed", "-p", "lux", "--features", "lux/mpi", "--no-deps"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    let mut suite = cargo();
    suite.args(["--config", MPIRUN, "test", "-p", "lux-distributed", "--features", "mpi", "--test", "mpi"]);
    let mut plain = cargo();
    plain.args(["test", "-p", "lux-distributed", "--features", "mpi", "--lib", "--test", "abort"]);
    let mut doctests = cargo();
    doctests.args(["test", "-p", "lux-distributed", "--features", "mpi", "--doc"]);
    let mut digits = cargo();
    digits.args(["--config", MPIRUN, "run", "-p", "lux", "--features", "mpi", "--example", "digits", "--"]);
    digits.args(["--distributed", "--epochs", "1", "--batch-size", "64", "--out", "target/digits-mpi"]);
    run("clippy --features mpi", clippy)
        && run("doc --features mpi", doc)
        && run("digits --distributed on 2 ranks, 1 epoch", digits)
        && run("lux-distributed under mpirun -np 2", suite)
        && run("lux-distributed unit and abort tests", plain)
        && run("lux-distributed doctests (single rank)", doctests)
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let ok = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("mpi-tests") => mpi_tests(),
        Some("bench") => {
            let mut c = cargo();
            c.args(["run", "--release", "-p", "lux-bench", "--"]).args(&args[1..]);
            run("bench", c)
        }
        _ => {
            eprintln!("usage: cargo xtask <ci | mpi-tests | bench [lux-bench args]>");
            false
        }
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
