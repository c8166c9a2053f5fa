//! The factory: which engine a config gets, and the errors where the asked-for engine cannot
//! run.

use experiments::config::{EngineName, RunConfig};
use experiments::run::{execute, resolve_engine};

#[test]
fn auto_picks_the_fused_engine_only_where_it_applies() {
    let cfg = |sets: &[&str]| {
        let all: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        RunConfig::load(None, &all).expect("config")
    };
    assert_eq!(resolve_engine(&cfg(&[])), EngineName::Fused);
    // Full-batch Adam and K classes: fused.
    assert_eq!(
        resolve_engine(&cfg(&["train.optimizer=\"adam\""])),
        EngineName::Fused
    );
    assert_eq!(
        resolve_engine(&cfg(&[
            "data.model=\"multiclass\"",
            "data.d=10",
            "data.n=30"
        ])),
        EngineName::Fused
    );
    // Mini-batches, SGD and nonlinear models: Burn.
    for sets in [
        &["train.optimizer=\"adam\"", "train.batch_size=10"][..],
        &["train.optimizer=\"sgd\"", "train.batch_size=10"][..],
        &["model.kind=\"mlp\"", "model.hidden=[8]"][..],
    ] {
        assert_eq!(resolve_engine(&cfg(sets)), EngineName::Burn, "{sets:?}");
    }
    assert_eq!(
        resolve_engine(&cfg(&["train.engine=\"burn\""])),
        EngineName::Burn
    );
    // The summary names the engine.
    let small = [
        "dtype=\"f64\"",
        "data.d=10",
        "data.n=30",
        "data.n_test=20",
        "train.steps=20",
    ];
    let result = execute(&cfg(&small), false).expect("runs");
    assert_eq!(result.summary["engine"], "fused");
    let multiclass = [
        &small[..],
        &["data.model=\"multiclass\"", "train.optimizer=\"adam\""],
    ]
    .concat();
    let result = execute(&cfg(&multiclass), false).expect("runs");
    assert_eq!(result.summary["engine"], "fused");
    // Asking for the fused engine where it cannot run is a typed error naming the key.
    let err = RunConfig::load(
        None,
        &[
            "train.engine=\"fused\"".into(),
            "train.optimizer=\"sgd\"".into(),
        ],
    )
    .and_then(|c| c.validate().map(|_| c))
    .expect_err("fused sgd is rejected");
    let text = err.to_string();
    assert!(
        text.contains("train.engine") && text.contains("fused"),
        "{text}"
    );
}

#[test]
fn a_gpu_backend_given_a_host_engine_gets_a_note_and_auto_trains_on_the_device() {
    use experiments::run::host_engine_note;
    let cfg = |sets: &[&str]| {
        let all: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        RunConfig::load(None, &all).expect("config")
    };
    // auto on a GPU backend: the Burn engine, on the device; no note.
    let gpu = cfg(&["backend=\"wgpu\""]);
    assert_eq!(resolve_engine(&gpu), EngineName::Burn);
    assert_eq!(host_engine_note(&gpu, resolve_engine(&gpu)), None);
    // The fused engine asked for on a GPU backend: one line that says so.
    let fused = cfg(&["backend=\"wgpu\"", "train.engine=\"fused\""]);
    let note = host_engine_note(&fused, resolve_engine(&fused)).expect("a note");
    assert!(
        note.contains("--backend wgpu") && note.contains("fused host engine"),
        "{note}"
    );
    assert!(!note.contains('\n'));
    // An exact solver on a GPU backend, too.
    let newton = cfg(&["backend=\"wgpu\"", "train.optimizer=\"newton\""]);
    let note = host_engine_note(&newton, resolve_engine(&newton)).expect("a note");
    assert!(note.contains("exact solver (newton)"), "{note}");
    // Nothing to say on a CPU backend.
    let cpu = cfg(&["train.engine=\"fused\""]);
    assert_eq!(host_engine_note(&cpu, resolve_engine(&cpu)), None);
}

/// `train.fused_kernel` stays out of the stored config while it is `auto`, so that sweeps
/// stored before the key existed still match their config on resume; a chosen kernel is
/// stored and reads back, and reaches the engine.
#[test]
fn the_fused_kernel_is_stored_only_when_chosen() {
    let cfg = |sets: &[&str]| {
        let all: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        RunConfig::load(None, &all).expect("config")
    };
    let auto = serde_json::to_value(cfg(&[])).expect("serialises");
    assert!(
        auto["train"].get("fused_kernel").is_none(),
        "{}",
        auto["train"]
    );
    let blocked = cfg(&["train.fused_kernel=\"blocked\""]);
    let stored = serde_json::to_value(&blocked).expect("serialises");
    assert_eq!(stored["train"]["fused_kernel"], "blocked");
    let back: RunConfig = serde_json::from_value(stored).expect("reads back");
    assert_eq!(back, blocked);
    let spec = experiments::run::train_spec(&blocked).expect("spec");
    assert_eq!(
        spec.fused_kernel,
        logit_reg_train::fused::FusedKernel::Blocked
    );
}

#[test]
fn step_loop_work_counts_two_products_per_step_and_one_read_of_x() {
    use experiments::figures::MachineRates;
    use experiments::sweep::{StepLoopWork, step_loop_work};
    let cfg = |sets: &[&str]| {
        let all: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        RunConfig::load(None, &all).expect("config")
    };
    // Binary, M = 2, f32: 50 steps × 4 · N · d · M flops; 50 × N · d · 4 bytes.
    let binary = cfg(&[
        "data.n=100",
        "data.d=10",
        "loss.alpha=[0.0, 0.4]",
        "train.steps=50",
    ]);
    assert_eq!(
        step_loop_work(&binary),
        Some(StepLoopWork {
            flops: 50.0 * 4.0 * 100.0 * 10.0 * 2.0,
            x_bytes: 50.0 * 100.0 * 10.0 * 4.0,
        })
    );
    // d ≥ 0.7 N takes the dual form: 2 · N² · M flops a step and half the N × N Gram matrix
    // read, plus N² · d once to form it; the primal form when asked for.
    let wide = cfg(&[
        "data.n=100",
        "data.d=80",
        "loss.alpha=[0.0, 0.4]",
        "train.steps=50",
    ]);
    assert!(experiments::run::takes_dual_form(&wide));
    assert_eq!(
        step_loop_work(&wide),
        Some(StepLoopWork {
            flops: 50.0 * 2.0 * 100.0 * 100.0 * 2.0 + 100.0 * 100.0 * 80.0,
            x_bytes: 50.0 * 0.5 * 100.0 * 100.0 * 4.0,
        })
    );
    let mut primal = wide.clone();
    primal.train.fused_kernel = logit_reg_train::fused::FusedKernel::Pipelined;
    assert!(!experiments::run::takes_dual_form(&primal));
    assert_eq!(
        step_loop_work(&primal).map(|w| w.flops),
        Some(50.0 * 4.0 * 100.0 * 80.0 * 2.0)
    );
    // K = 3 classes with a bias column, f64: width d + 1, M·K columns, 8 bytes an entry.
    let classes = cfg(&[
        "data.model=\"multiclass\"",
        "data.k=3",
        "data.n=60",
        "data.d=10",
        "train.steps=7",
        "dtype=\"f64\"",
    ]);
    assert_eq!(
        step_loop_work(&classes),
        Some(StepLoopWork {
            flops: 7.0 * 4.0 * 60.0 * 11.0 * 3.0,
            x_bytes: 7.0 * 60.0 * 11.0 * 8.0,
        })
    );
    // Mini-batch Adam: each step uses batch_size rows; the steps are epochs × N / batch.
    let mini = cfg(&[
        "data.n=100",
        "data.d=10",
        "train.optimizer=\"adam\"",
        "train.batch_size=20",
        "train.epochs=3",
    ]);
    assert_eq!(
        step_loop_work(&mini),
        Some(StepLoopWork {
            flops: 15.0 * 4.0 * 20.0 * 10.0,
            x_bytes: 15.0 * 20.0 * 10.0 * 4.0,
        })
    );
    // No step loop of this form: an exact solver, a nonlinear model.
    assert_eq!(step_loop_work(&cfg(&["train.optimizer=\"newton\""])), None);
    assert_eq!(
        step_loop_work(&cfg(&["model.kind=\"mlp\"", "model.hidden=[8]"])),
        None
    );
    // The floor is the longer of the flops at the GEMM rate and the bytes at the cache rate.
    let rates = MachineRates {
        gemm_gflops: 100.0,
        cache_gbps: 50.0,
    };
    let work = |flops: f64, x_bytes: f64| StepLoopWork { flops, x_bytes };
    assert_eq!(rates.floor_seconds(work(200e9, 50e9)), 2.0);
    assert_eq!(rates.floor_seconds(work(100e9, 150e9)), 3.0);
}
