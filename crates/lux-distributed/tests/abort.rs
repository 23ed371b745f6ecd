//! A rank that fails ends every rank of the job with its message, instead
//! of leaving the others waiting in a collective. The test starts
//! `mpirun -np 2` on this same binary, which then runs the scenario.

use lux_ad::AutoTape;
use lux_core::{DType, RngState, Tensor, setup};
use lux_distributed::{DistributedOptimizer, MpiBackend, initialize};
use lux_layers::Dense;
use lux_losses::MSELoss;
use lux_ops::Activation;
use lux_train::{Adam, TrainState, single_train_step_mut};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = "LUX_DISTRIBUTED_ABORT_SCENARIO";
const TEST: &str = "a_failing_rank_aborts_every_rank_with_its_message";
/// Far above the few seconds the job takes; reaching it means a hang.
const DEADLINE: Duration = Duration::from_secs(120);

/// Run by each rank under mpirun: rank 1 feeds a batch with the wrong
/// number of features, so its step fails while rank 0's step goes on into
/// the gradient all-reduce and waits there for rank 1.
fn scenario() {
    let backend = initialize(MpiBackend).expect("MPI could not start");
    let rank = backend.local_rank();
    let model = Dense::new(4, 2, Activation::Identity).expect("a layer");
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).expect("set up");
    let mut ts =
        TrainState::new(model, ps, st, DistributedOptimizer::new(&backend, Adam::default())).expect("train state");
    backend.abort_on_error(backend.synchronize(&mut ts, 0));
    let features = if rank == 1 { 5 } else { 4 };
    let mut rng = RngState::seed_from_u64(1);
    let data = (
        Tensor::randn(&mut rng, &[8, features], DType::F32).expect("x"),
        Tensor::zeros(&[8, 2], DType::F32).expect("y"),
    );
    let step = single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, false);
    backend.abort_on_error(step);
    // Rank 0 would wait here for ever without the abort.
    backend.barrier();
    println!("rank {rank}: the job went on after a failed rank");
}

#[test]
fn a_failing_rank_aborts_every_rank_with_its_message() {
    if std::env::var_os(SCENARIO).is_some() {
        scenario();
        return;
    }
    if std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some() {
        eprintln!("skipped: this test starts mpirun itself; run it without mpirun");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let start = Instant::now();
    let mut child = Command::new("mpirun")
        .args(["-np", "2", "--allow-run-as-root", "--oversubscribe", "-x", SCENARIO])
        .arg(&exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(SCENARIO, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun (openmpi-bin) must be installed for the mpi feature's tests");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mpirun") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("the job hung: mpirun still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let text = format!("{}{}", out.join().unwrap_or_default(), err.join().unwrap_or_default());
    eprintln!("mpirun ended with {status} after {:.2} s:\n{text}", elapsed.as_secs_f64());
    assert!(!status.success(), "the job must fail:\n{text}");
    assert!(text.contains("lux-distributed: rank 1 of 2 failed: "), "the failing rank names itself:\n{text}");
    assert!(text.contains("Dense(4 => 2)"), "the message names the layer:\n{text}");
    assert!(!text.contains("the job went on"), "no rank may go on:\n{text}");
}
