//! The command line, as a library so that it can be tested; `main.rs` only calls [`main_with`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use logit_reg_model::{Backend, Precision};
use logit_reg_train::EngineName;
use logit_reg_train::fused::FusedKernel;

use crate::ExperimentError;
use crate::config::{RunConfig, fields_help};
use crate::figures::Scale;
use crate::run::run_to_dir;
use crate::store::DirLock;

/// `--backend`: the compute backends (those not compiled in are refused when the device is
/// made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Burn's Flex CPU backend (the default).
    Flex,
    /// Burn's NdArray CPU backend.
    Ndarray,
    /// WGPU (build with `--features wgpu`).
    Wgpu,
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Self {
        match arg {
            BackendArg::Flex => Backend::Flex,
            BackendArg::Ndarray => Backend::Ndarray,
            BackendArg::Wgpu => Backend::Wgpu,
        }
    }
}

/// `--dtype`: the float precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    /// 32-bit floats (the default).
    F32,
    /// 64-bit floats.
    F64,
}

impl From<DtypeArg> for Precision {
    fn from(arg: DtypeArg) -> Self {
        match arg {
            DtypeArg::F32 => Precision::F32,
            DtypeArg::F64 => Precision::F64,
        }
    }
}

/// `--engines` of `bench`: the implementations of the GD step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// Burn's autodiff loop.
    Burn,
    /// The fused host engine, its kernel chosen by the number of runs.
    Fused,
    /// The fused host engine with the pipelined kernel.
    FusedPipelined,
    /// The fused host engine with the blocked (GEMM) kernel.
    FusedBlocked,
    /// The fused host engine in the dual form (one product with the N×N Gram matrix).
    FusedDual,
}

impl EngineArg {
    /// The engine and the fused kernel this choice times.
    pub fn engine(self) -> (EngineName, FusedKernel) {
        match self {
            EngineArg::Burn => (EngineName::Burn, FusedKernel::Auto),
            EngineArg::Fused => (EngineName::Fused, FusedKernel::Auto),
            EngineArg::FusedPipelined => (EngineName::Fused, FusedKernel::Pipelined),
            EngineArg::FusedBlocked => (EngineName::Fused, FusedKernel::Blocked),
            EngineArg::FusedDual => (EngineName::Fused, FusedKernel::Dual),
        }
    }

    /// The name on the command line and in the printed table.
    pub fn name(self) -> &'static str {
        match self {
            EngineArg::Burn => "burn",
            EngineArg::Fused => "fused",
            EngineArg::FusedPipelined => "fused-pipelined",
            EngineArg::FusedBlocked => "fused-blocked",
            EngineArg::FusedDual => "fused-dual",
        }
    }
}

/// A figure id that the registry knows.
pub fn figure_id(text: &str) -> Result<u32, String> {
    let unknown = || {
        format!(
            "figure {text} has no preset (figures: {})",
            crate::figures::figure_list()
        )
    };
    let id: u32 = text.trim().parse().map_err(|_| unknown())?;
    crate::figures::figure(id)
        .map(|f| f.id)
        .map_err(|_| unknown())
}

/// The help of a figure id: the figures the registry knows.
fn figure_id_help() -> String {
    format!(
        "The paper's figure number: one of {}",
        crate::figures::figure_list()
    )
}

/// The help of `--only`.
fn only_help() -> String {
    format!(
        "Only these figures (comma-separated; default all: {})",
        crate::figures::figure_list()
    )
}

/// A problem size `NxD` with N, D ≥ 1.
fn problem_size(text: &str) -> Result<(usize, usize), String> {
    text.trim()
        .split_once('x')
        .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
        .filter(|&(n, d)| n > 0 && d > 0)
        .ok_or_else(|| format!("{text} is not NxD with N, D >= 1 (e.g. 2000x1400)"))
}

/// The implicit bias of logit regularisation: training runs, sweeps and paper figures.
#[derive(Debug, Parser)]
#[command(name = "experiments", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Hide the progress bar and the info logs.
    #[arg(long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also log every batch and solver run (the debug level; `RUST_LOG` overrides both flags).
    #[arg(long, global = true)]
    pub verbose: bool,
}

/// Real command lines, shown under each subcommand's help.
const RUN_EXAMPLES: &str = "Examples:
  experiments run --set 'loss.alpha=[0, 0.2]' --set data.d=140 --set data.n=200 --out runs/two
  experiments run --config experiments/configs/standard.toml --dtype f64 --json --out runs/std";
const SWEEP_EXAMPLES: &str = "Examples:
  experiments sweep --spec experiments/sweeps/threshold_quick.toml --out runs/threshold
  experiments sweep --spec experiments/sweeps/penalties_quick.toml --dtype f64 --out runs/penalties";
const FIGURE_EXAMPLES: &str = "Examples:
  experiments figure 16 --scale quick --out runs/fig16
  experiments figure 6 --scale paper --set train.threads=2 --out runs/fig6-paper";
const REPRODUCE_EXAMPLES: &str = "Examples:
  experiments reproduce --scale quick --out runs/reproduce
  experiments reproduce --scale paper --only 4,13,19,20 --out runs/paper
  experiments reproduce --scale paper --estimate --out runs/paper";
const BENCH_EXAMPLES: &str = "Examples:
  experiments bench --sizes 2000x1400 --runs 1,8 --engines fused
  experiments bench --dtype f64 --engines burn,fused";
const THEORY_EXAMPLES: &str = "Examples:
  experiments theory --lambda 0.7 --sigma-f 0.5 --alpha 0.2
  experiments theory --lambda 0.4 --sigma-n 2 --alpha 0.4";

/// The help after `run`'s options: examples, then every config field.
fn run_after_help() -> String {
    format!("{RUN_EXAMPLES}\n\n{}", fields_help())
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one configured batch of runs (M = length of loss.alpha or train.lr) and write
    /// config.json, metrics.csv, summary.json (and histograms.csv) to --out.
    #[command(after_help = RUN_EXAMPLES, after_long_help = run_after_help())]
    Run(RunArgs),
    /// Run a sweep: a TOML grid over config fields (see `experiments::sweep`), batched where runs
    /// share data, resumable; writes OUT/index.csv and OUT/batches/*.
    #[command(after_help = SWEEP_EXAMPLES)]
    Sweep(SweepArgs),
    /// Time the full-batch GD step (ms/step, GB/s of X read, GFLOP/s) and probe the machine's
    /// memory bandwidth and GEMM rate; prints a Markdown table. One precision per invocation.
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// Time the MLP training step (mini-batch rows, forward, cross-entropy, backward, Adam) as
    /// `experiments run` takes it, for comparison with PyTorch (benches/network_peers.py).
    #[command(after_help = BENCH_MLP_EXAMPLES)]
    BenchMlp(BenchMlpArgs),
    /// Time the ConvNet training step (mini-batch rows, forward, cross-entropy, backward,
    /// Adam) as `experiments run` takes it, for comparison with PyTorch (benches/network_peers.py).
    #[command(after_help = BENCH_CNN_EXAMPLES)]
    BenchCnn(BenchCnnArgs),
    /// Reproduce one of the paper's figures: its sweeps, figure.svg/png with theory overlaid,
    /// index.csv and report.md in --out.
    #[command(after_help = FIGURE_EXAMPLES)]
    Figure(FigureArgs),
    /// Reproduce every figure into OUT/fig<id>/ and write OUT/report.md over all of them.
    #[command(after_help = REPRODUCE_EXAMPLES)]
    Reproduce(ReproduceArgs),
    /// Print the closed-form predictions (z*, loss floor, C², cos θ₁, accuracy, thresholds) for
    /// one parameter point, as JSON.
    #[command(after_help = THEORY_EXAMPLES)]
    Theory(TheoryArgs),
    /// Run a figure, the reproduction or a sweep as a Slurm job array: writes OUT/slurm/
    /// (array.sh, report.sh, submit.sh); with --submit, submits them.
    #[command(after_help = SLURM_EXAMPLES)]
    Slurm(crate::slurm::SlurmArgs),
}

const SLURM_EXAMPLES: &str = "Examples:
  experiments slurm figure 16 --scale paper --tasks 32 --time 1:00:00 --out /shared/runs/fig16 --submit
  experiments slurm reproduce --scale paper --tasks 64 --partition cpu --out /shared/runs/paper
  experiments slurm sweep my-sweep.toml --tasks 8 --sbatch=--qos=long --out /shared/runs/sweep

Tasks run `--shard I/N` of the same command; the report job runs it without --shard after
every task succeeds. After a failure, run OUT/slurm/submit.sh again: only missing batches train.";

const BENCH_MLP_EXAMPLES: &str = "Examples:
  experiments bench-mlp --d 64 --hidden 64 --batch 50 --n 1000
  experiments bench-mlp --d 784 --hidden 256,256 --batch 128 --n 8192 --runs 1,4 --dtype f64

Prints one line per run count: ms per step (the median), with the shapes. benches/network_peers.py
times the same step in PyTorch and prints both.";

const BENCH_CNN_EXAMPLES: &str = "Examples:
  experiments bench-cnn --image 1,8,8 --channels 16,32 --batch 50 --n 1000 --runs 1,6
  experiments bench-cnn --image 3,32,32 --channels 32,64 --batch 128 --n 4096

Prints one line per run count: ms per step (the median), with the shapes. benches/network_peers.py
times the same step in PyTorch and prints both.";

/// The flags every step benchmark shares.
#[derive(Debug, clap::Args)]
pub struct StepBenchFlags {
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Flex)]
    pub backend: BackendArg,
    /// Float precision.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Classes K.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..))]
    pub classes: u64,
    /// Samples the mini-batches are drawn from.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..))]
    pub n: u64,
    /// Mini-batch size (at most --n).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// Runs side by side M, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: Vec<u64>,
    /// Untimed steps first.
    #[arg(long, default_value_t = 20)]
    pub warmup: u64,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub iters: u64,
}

/// Arguments of `experiments bench-mlp`.
#[derive(Debug, clap::Args)]
pub struct BenchMlpArgs {
    /// Input dimension d.
    #[arg(long, default_value_t = 784, value_parser = clap::value_parser!(u64).range(1..))]
    pub d: u64,
    /// Hidden widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "256,256", value_parser = clap::value_parser!(u64).range(1..))]
    pub hidden: Vec<u64>,
    /// Backend, precision, data and timing.
    #[command(flatten)]
    pub step: StepBenchFlags,
}

/// Arguments of `experiments bench-cnn`.
#[derive(Debug, clap::Args)]
pub struct BenchCnnArgs {
    /// Input image shape: channels,height,width.
    #[arg(long, value_delimiter = ',', default_value = "1,28,28", value_parser = clap::value_parser!(u64).range(1..))]
    pub image: Vec<u64>,
    /// Output channels of each 3x3 convolution block, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32", value_parser = clap::value_parser!(u64).range(1..))]
    pub channels: Vec<u64>,
    /// Backend, precision, data and timing.
    #[command(flatten)]
    pub step: StepBenchFlags,
}

/// Times `network`'s step for each run count of `flags`, one line each.
fn run_step_bench(
    flags: &StepBenchFlags,
    network: crate::bench::BenchNetwork,
    shapes: &str,
) -> Result<(), ExperimentError> {
    if flags.batch > flags.n {
        return Err(ExperimentError::flag(
            "--batch",
            format!(
                "{} is above --n {} (allowed: 1..=--n)",
                flags.batch, flags.n
            ),
        ));
    }
    let backend = Backend::from(flags.backend);
    let precision = Precision::from(flags.dtype);
    let device = logit_reg_model::make_device(backend, precision)
        .map_err(ExperimentError::model)?
        .autodiff();
    for &m in &flags.runs {
        let bench = crate::bench::NetworkBench {
            network: network.clone(),
            classes: flags.classes as usize,
            n: flags.n as usize,
            batch: flags.batch as usize,
            m: m as usize,
            warmup: flags.warmup,
            iters: flags.iters,
        };
        let ms = crate::bench::time_network_step(&device, &bench)?;
        println!(
            "logit-reg {} {}: {shapes} classes={} batch={} runs={m}: {ms:.4} ms/step",
            backend.name(),
            precision.name(),
            flags.classes,
            flags.batch
        );
    }
    Ok(())
}

fn run_bench_mlp(args: &BenchMlpArgs) -> Result<(), ExperimentError> {
    let hidden: Vec<usize> = args.hidden.iter().map(|&h| h as usize).collect();
    let shapes = format!("d={} hidden={hidden:?}", args.d);
    let network = crate::bench::BenchNetwork::Mlp {
        d: args.d as usize,
        hidden,
    };
    run_step_bench(&args.step, network, &shapes)
}

fn run_bench_cnn(args: &BenchCnnArgs) -> Result<(), ExperimentError> {
    let [channels, height, width] = args.image[..] else {
        return Err(ExperimentError::flag(
            "--image",
            format!(
                "{:?} has {} values (allowed: three, channels,height,width)",
                args.image,
                args.image.len()
            ),
        ));
    };
    let image = logit_reg_data::real::ImageShape {
        channels: channels as usize,
        height: height as usize,
        width: width as usize,
    };
    let conv: Vec<usize> = args.channels.iter().map(|&c| c as usize).collect();
    let shapes = format!("image={channels}x{height}x{width} channels={conv:?}");
    let network = crate::bench::BenchNetwork::Cnn {
        image,
        channels: conv,
    };
    run_step_bench(&args.step, network, &shapes)
}

/// Arguments of `experiments sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The sweep file: `[base]` (a run config) and `[grid]` (dotted key = [values]).
    #[arg(long)]
    pub spec: PathBuf,
    /// Overrides, backend and precision, applied to every run.
    #[command(flatten)]
    pub flags: ConfigFlags,
    /// Retrain every batch, even those whose results are complete.
    #[arg(long)]
    pub no_resume: bool,
    /// Batches trained at once, each on its share of the cores [default: one per core, at
    /// most 4]. Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: Option<u64>,
    /// Train only share I of N of the batches (balanced by cost), for N processes or array
    /// tasks writing into one --out; writes no index, figure or report. Rerun without --shard
    /// once all shards are done to write them.
    #[arg(long, value_name = "I/N", value_parser = crate::shard::Shard::parse)]
    pub shard: Option<crate::shard::Shard>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `experiments figure`.
#[derive(Debug, clap::Args)]
pub struct FigureArgs {
    /// The paper's figure number (the registry's list is shown by --help).
    #[arg(value_parser = figure_id, help = figure_id_help())]
    pub id: u32,
    /// quick (minutes, ~10x smaller N and d, same λ) or paper (the paper's sizes; hours).
    #[arg(long, value_enum, default_value_t = Scale::Quick)]
    pub scale: Scale,
    /// Overrides, backend and precision, applied to every run.
    #[command(flatten)]
    pub flags: ConfigFlags,
    /// Retrain every batch, even those whose results are complete.
    #[arg(long)]
    pub no_resume: bool,
    /// Batches trained at once, each on its share of the cores [default: one per core, at
    /// most 4]. Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: Option<u64>,
    /// Train only share I of N of the batches (balanced by cost), for N processes or array
    /// tasks writing into one --out; writes no index, figure or report. Rerun without --shard
    /// once all shards are done to write them.
    #[arg(long, value_name = "I/N", value_parser = crate::shard::Shard::parse)]
    pub shard: Option<crate::shard::Shard>,
    /// Figures 3 and 9: your own embeddings, `[n, d]` in a .npy file (with --labels), instead
    /// of the digits' MLP features. Short for --set data.source=npy --set data.path=F
    /// --set data.labels_path=L --set data.embed=none.
    #[arg(long, value_name = "F.npy", requires = "labels")]
    pub features: Option<PathBuf>,
    /// Figures 3 and 9: the labels `[n]` (integers) of --features.
    #[arg(long, value_name = "L.npy", requires = "features")]
    pub labels: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `experiments reproduce`.
#[derive(Debug, clap::Args)]
pub struct ReproduceArgs {
    /// quick (under 15 minutes on 2 cores) or paper (the paper's sizes; many hours).
    #[arg(long, value_enum, default_value_t = Scale::Quick)]
    pub scale: Scale,
    /// Only these figures (comma-separated), default all.
    #[arg(long, value_delimiter = ',', value_parser = figure_id, help = only_help())]
    pub only: Vec<u32>,
    /// Overrides, backend and precision, applied to every run.
    #[command(flatten)]
    pub flags: ConfigFlags,
    /// Retrain every batch, even those whose results are complete.
    #[arg(long)]
    pub no_resume: bool,
    /// Batches trained at once, each on its share of the cores [default: one per core, at
    /// most 4]. Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: Option<u64>,
    /// Train only share I of N of the batches (balanced by cost), for N processes or array
    /// tasks writing into one --out; writes no index, figure or report. Rerun without --shard
    /// once all shards are done to write them.
    #[arg(long, value_name = "I/N", value_parser = crate::shard::Shard::parse)]
    pub shard: Option<crate::shard::Shard>,
    /// Train nothing: time each batch shape for a few steps and write OUT/estimate.md with
    /// every figure's predicted training time at this scale, its step loops' work (flops, bytes
    /// of X) and their floor at this machine's measured GEMM rate and cache bandwidth.
    #[arg(long)]
    pub estimate: bool,
    /// With --estimate: also predict the wall time on N parallel tasks (each running
    /// --shard I/N), for each N given (comma-separated), and name the longest single batch,
    /// which bounds it.
    #[arg(long, value_name = "N", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..))]
    pub tasks: Vec<u64>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

fn figure_options(
    scale: Scale,
    flags: &ConfigFlags,
    no_resume: bool,
    jobs: Option<u64>,
    quiet: bool,
) -> Result<crate::figures::FigureOptions, ExperimentError> {
    Ok(crate::figures::FigureOptions {
        scale,
        extra: flags.overrides()?,
        resume: !no_resume,
        progress: !quiet,
        jobs: jobs_or_default(jobs),
    })
}

/// Most batches trained at once when `--jobs` is not given.
pub const MAX_DEFAULT_JOBS: usize = 4;

/// `--jobs`, or by default one job per core, at most [`MAX_DEFAULT_JOBS`].
pub fn jobs_or_default(jobs: Option<u64>) -> usize {
    match jobs {
        Some(jobs) => jobs as usize,
        None => std::thread::available_parallelism()
            .map_or(1, |c| c.get())
            .clamp(1, MAX_DEFAULT_JOBS),
    }
}

/// Creates the output directory `out` and checks that files can be written in it, so that a
/// bad `--out` fails before any training, naming the flag.
pub fn prepare_out(out: &Path) -> Result<(), ExperimentError> {
    let bad = |e: std::io::Error| {
        ExperimentError::flag(
            "--out",
            format!("{} is not a writable directory: {e}", out.display()),
        )
    };
    std::fs::create_dir_all(out).map_err(bad)?;
    let probe = out.join(format!(".write-probe.{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(bad)?;
    std::fs::remove_file(&probe).map_err(bad)
}

/// What a shard did, on stdout.
fn print_share(shard: crate::shard::Shard, report: &crate::sweep::SweepReport) {
    println!("shard {shard}: {}", report.counts());
}

fn print_outcome(o: &crate::figures::FigureOutcome) {
    let time = if o.shared_jobs {
        format!(
            "training {:.0} s summed over its batches, analysis {:.0} s",
            o.train_seconds, o.wall_seconds
        )
    } else {
        format!(
            "{:.0} s (training {:.0} s)",
            o.wall_seconds, o.train_seconds
        )
    };
    println!(
        "figure {}: {} ({}), {} runs, {time}",
        o.id,
        o.verdict().word(),
        o.criteria_phrase(),
        o.runs,
    );
}

fn run_figure_command(args: &FigureArgs, quiet: bool) -> Result<(), ExperimentError> {
    let mut options = figure_options(args.scale, &args.flags, args.no_resume, args.jobs, quiet)?;
    if let (Some(features), Some(labels)) = (&args.features, &args.labels) {
        if ![3, 9].contains(&args.id) {
            return Err(ExperimentError::flag(
                "--features",
                format!(
                    "figure {} trains on synthetic data (allowed: figures 3 and 9, which read \
                     embeddings)",
                    args.id
                ),
            ));
        }
        // The user's embeddings replace the digits' MLP features; later --set flags still win.
        let mut extra = vec![
            "data.source=npy".to_string(),
            format!("data.path={}", features.display()),
            format!("data.labels_path={}", labels.display()),
            "data.embed=none".to_string(),
        ];
        extra.append(&mut options.extra);
        options.extra = extra;
    }
    prepare_out(&args.out)?;
    if let Some(shard) = args.shard {
        let plan = crate::figures::FigurePlan::new(args.id, &options)?;
        let report = crate::figures::train_share(&[plan], &[&args.out], shard, &options)?;
        print_share(shard, &report);
        return Ok(());
    }
    let outcome = crate::figures::run_figure(args.id, &options, &args.out)?;
    print_outcome(&outcome);
    println!("report: {}", args.out.join("report.md").display());
    Ok(())
}

fn run_reproduce_command(args: &ReproduceArgs, quiet: bool) -> Result<(), ExperimentError> {
    let options = figure_options(args.scale, &args.flags, args.no_resume, args.jobs, quiet)?;
    let ids: Vec<u32> = if args.only.is_empty() {
        crate::figures::figure_ids()
    } else {
        args.only.clone()
    };
    if !args.tasks.is_empty() && !args.estimate {
        return Err(ExperimentError::flag(
            "--tasks",
            "applies only with --estimate (to run on N tasks, give each --shard I/N)",
        ));
    }
    prepare_out(&args.out)?;
    if args.estimate {
        let rates = crate::figures::MachineRates::probe(&options.extra)?;
        let estimates = crate::figures::estimate(&ids, options.scale, &options.extra, rates)?;
        let mut table = crate::figures::estimate_table(&estimates, options.scale, rates);
        if !args.tasks.is_empty() {
            let counts: Vec<usize> = args.tasks.iter().map(|&n| n as usize).collect();
            table.push('\n');
            table.push_str(&crate::figures::tasks_table(&estimates, &counts));
        }
        crate::output::write_atomic(&args.out.join("estimate.md"), table.as_bytes())?;
        println!("{table}");
        return Ok(());
    }
    if let Some(shard) = args.shard {
        let plans = ids
            .iter()
            .map(|&id| crate::figures::FigurePlan::new(id, &options))
            .collect::<Result<Vec<_>, _>>()?;
        let dirs: Vec<PathBuf> = ids
            .iter()
            .map(|id| args.out.join(format!("fig{id}")))
            .collect();
        let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let report = crate::figures::train_share(&plans, &dirs, shard, &options)?;
        print_share(shard, &report);
        return Ok(());
    }
    let outcomes = crate::figures::reproduce(&ids, &options, &args.out)?;
    for o in &outcomes {
        print_outcome(o);
    }
    println!("report: {}", args.out.join("report.md").display());
    Ok(())
}

/// Arguments of `experiments bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Flex)]
    pub backend: BackendArg,
    /// Float precision.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Problem sizes N x d, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = problem_size, default_value = "2000x1400,2000x3000")]
    pub sizes: Vec<(usize, usize)>,
    /// Runs per batch M (each ≥ 1), comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..), default_value = "1,8,32")]
    pub runs: Vec<u64>,
    /// Untimed steps first.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 30)]
    pub iters: u64,
    /// Engines to time, comma-separated: burn (Burn autodiff) and/or fused (host engine).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "burn,fused")]
    pub engines: Vec<EngineArg>,
    /// Threads of the fused engine (default: every core); 1 times a step as each of two
    /// concurrent jobs (`--jobs 2`) takes it on two cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub threads: Option<u64>,
}

fn run_bench(args: &BenchArgs) -> Result<(), ExperimentError> {
    use crate::bench::{
        StepBench, gemm_probe, memory_bandwidth_probe, read_bandwidth_probe, time_gd_step,
    };
    let backend = Backend::from(args.backend);
    let precision = Precision::from(args.dtype);
    if args.iters == 0 {
        return Err(ExperimentError::invalid("--iters", "0", ">= 1"));
    }
    let engines = &args.engines;
    let device = logit_reg_model::make_device(backend, precision)
        .map_err(ExperimentError::model)?
        .autodiff();
    let bytes = match precision {
        logit_reg_model::Precision::F32 => 4,
        logit_reg_model::Precision::F64 => 8,
    };
    let name = logit_reg_model::device_name(&device, backend);
    // Mesa's software rasterisers (llvmpipe, lavapipe) run on the CPU: say so beside the name.
    let software = if !backend.is_cpu() && name.to_lowercase().contains("llvmpipe") {
        " (software Vulkan on the CPU, not a GPU)"
    } else {
        ""
    };
    println!(
        "backend {} on {name}{software}, {}, median of {} steps after {} warm-up steps\n",
        backend.name(),
        precision.name(),
        args.iters,
        args.warmup
    );
    if !backend.is_cpu() && engines.iter().any(|e| e.engine().0 == EngineName::Fused) {
        eprintln!(
            "note: the fused engine computes on the host CPU whatever --backend says; time \
             --engines burn to measure {name}"
        );
    }
    println!("| engine | N | d | M | ms/step | passes over X | GB/s | GFLOP/s |");
    println!("|---|---|---|---|---|---|---|---|");
    for &(n, d) in &args.sizes {
        for &m in &args.runs {
            let m = m as usize;
            for &choice in engines {
                let (engine, kernel) = choice.engine();
                let bench = StepBench {
                    n,
                    d,
                    m,
                    warmup: args.warmup,
                    iters: args.iters,
                    engine,
                    kernel,
                };
                let t = match args.threads {
                    Some(threads) => {
                        logit_reg_train::fused::with_thread_budget(threads as usize, || {
                            time_gd_step(&device, bench, bytes)
                        })?
                    }
                    None => time_gd_step(&device, bench, bytes)?,
                };
                let passes = if t.engine == EngineName::Fused { 1 } else { 2 };
                println!(
                    "| {} | {n} | {d} | {m} | {:.3} | {passes} | {:.1} | {:.1} |",
                    choice.name(),
                    t.ms_per_step,
                    t.gb_per_s,
                    t.gflop_per_s
                );
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "\nmemory bandwidth probe (one core, 256 MiB f64 read): {:.1} GB/s",
        memory_bandwidth_probe(5, 1)
    );
    println!(
        "memory bandwidth probe ({cores} cores, 256 MiB f64 read): {:.1} GB/s",
        memory_bandwidth_probe(5, cores)
    );
    println!(
        "cache read probe ({cores} cores, {} MiB f32 read): {:.1} GB/s",
        crate::figures::CACHE_PROBE_BYTES >> 20,
        read_bandwidth_probe(crate::figures::CACHE_PROBE_BYTES, 20, cores)
    );
    let (dirty, clean) = logit_reg_train::fused::exp_after_product_probe(1_000_000);
    println!(
        "exp probe (scalar f64 exp right after a faer product / after clearing the vector \
         registers): {dirty:.1} / {clean:.1} ns per call"
    );
    println!(
        "GEMM probe ({} matmul 1024x1024, {}): {:.1} GFLOP/s",
        backend.name(),
        precision.name(),
        gemm_probe(&device, 1024, 5)
    );
    Ok(())
}

/// Arguments of `experiments theory`.
#[derive(Debug, clap::Args)]
pub struct TheoryArgs {
    /// Aspect ratio λ = d/N.
    #[arg(long, default_value_t = 0.7)]
    pub lambda: f64,
    /// Signal strength μ_f.
    #[arg(long, default_value_t = 1.0)]
    pub mu_f: f64,
    /// Feature noise σ_f.
    #[arg(long, default_value_t = 0.5)]
    pub sigma_f: f64,
    /// Orthogonal noise σ_n.
    #[arg(long, default_value_t = 1.0)]
    pub sigma_n: f64,
    /// Regularisation strength α in (0, 1).
    #[arg(long, default_value_t = 0.2)]
    pub alpha: f64,
}

/// The closed-form predictions of `experiments theory`, as JSON. Quantities that need λ < 1
/// are `null` otherwise.
pub fn theory_json(args: &TheoryArgs) -> Result<serde_json::Value, ExperimentError> {
    use logit_reg_model::{target, theory};
    for (flag, value, ok, allowed) in [
        ("--lambda", args.lambda, args.lambda > 0.0, "> 0 and finite"),
        ("--mu-f", args.mu_f, args.mu_f > 0.0, "> 0 and finite"),
        (
            "--sigma-f",
            args.sigma_f,
            args.sigma_f >= 0.0,
            ">= 0 and finite",
        ),
        (
            "--sigma-n",
            args.sigma_n,
            args.sigma_n > 0.0,
            "> 0 and finite",
        ),
    ] {
        if !(ok && value.is_finite()) {
            return Err(ExperimentError::invalid(flag, &value.to_string(), allowed));
        }
    }
    let quadratic = target::quadratic_target(args.alpha).map_err(ExperimentError::model)?;
    let smoothing = target::label_smoothing_target(args.alpha).map_err(ExperimentError::model)?;
    let below = args.lambda < 1.0;
    let c2 = below
        .then(|| theory::predicted_c2(args.lambda, args.mu_f, args.sigma_f))
        .transpose();
    let c2 = c2.map_err(ExperimentError::model)?;
    let accuracy = below
        .then(|| theory::predicted_accuracy(args.lambda, args.mu_f, args.sigma_f))
        .transpose()
        .map_err(ExperimentError::model)?;
    Ok(serde_json::json!({
        "inputs": {"lambda": args.lambda, "mu_f": args.mu_f, "sigma_f": args.sigma_f,
                   "sigma_n": args.sigma_n, "alpha": args.alpha},
        "quadratic": {"z_star": quadratic.z_star, "loss_floor": quadratic.loss_floor,
                      "residual": quadratic.residual},
        "label_smoothing": {"epsilon": args.alpha / 2.0, "z_star": smoothing.z_star,
                            "loss_floor": smoothing.loss_floor},
        "c2": c2,
        "cos_theta1": c2.map(|c| theory::cosine_from_c2(c, args.sigma_n)),
        "regularised_accuracy": accuracy,
        "bayes_accuracy": if args.sigma_f > 0.0 {
            logit_reg_data::stats::normal_cdf(args.mu_f / args.sigma_f)
        } else { 1.0 },
        "critical_lambda": {"regularised": theory::critical_aspect_ratio(true),
                            "unregularised": theory::critical_aspect_ratio(false)},
    }))
}

/// Arguments of `experiments run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A TOML config file (every field optional; see below).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Overrides, backend and precision.
    #[command(flatten)]
    pub flags: ConfigFlags,
    /// Output directory (created if needed; earlier results in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Print summary.json to stdout (for scripts) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The flags shared by `run` and `sweep`: `--set`, `--backend` and `--dtype`.
#[derive(Debug, clap::Args)]
pub struct ConfigFlags {
    /// Override one field, e.g. --set loss.alpha=0.2 --set 'loss.alpha=[0, 0.2]'.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Compute backend, among those compiled in [default: flex].
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Float precision [default: f32].
    #[arg(long, value_enum)]
    pub dtype: Option<DtypeArg>,
}

impl ConfigFlags {
    /// The `--set` overrides followed by the checked `--backend` and `--dtype` flags.
    pub fn overrides(&self) -> Result<Vec<String>, ExperimentError> {
        let mut all = self.overrides.clone();
        if let Some(b) = self.backend {
            all.push(format!("backend=\"{}\"", Backend::from(b).name()));
        }
        if let Some(d) = self.dtype {
            all.push(format!("dtype=\"{}\"", Precision::from(d).name()));
        }
        Ok(all)
    }
}

/// Resolves the config of `experiments run`: file, then `--set`s, then `--backend`/`--dtype`.
pub fn resolve_run_config(args: &RunArgs) -> Result<RunConfig, ExperimentError> {
    RunConfig::load(args.config.as_deref(), &args.flags.overrides()?)
}

fn run_sweep_command(args: &SweepArgs, quiet: bool) -> Result<(), ExperimentError> {
    let spec = crate::sweep::SweepSpec::load(&args.spec)?;
    let extra = args.flags.overrides()?;
    prepare_out(&args.out)?;
    let mode = crate::sweep::SweepMode {
        resume: !args.no_resume,
        shard: args.shard,
        jobs: jobs_or_default(args.jobs),
    };
    let report = crate::sweep::run_sweep(&spec, &extra, &args.out, &mode, !quiet)?;
    let Some(index) = &report.index else {
        if let Some(shard) = args.shard {
            print_share(shard, &report);
        }
        return Ok(());
    };
    println!(
        "{} runs ({}; {} runs diverged); index: {}",
        report.runs,
        report.counts(),
        report.diverged,
        index.display()
    );
    if report.diverged > 0 {
        eprintln!(
            "warning: {} runs diverged (see the `diverged` column)",
            report.diverged
        );
    }
    Ok(())
}

/// Logs to stderr, above the live progress bar: warnings with `--quiet`, per-batch lines with
/// `--verbose`, `RUST_LOG` over both.
fn init_logging(quiet: bool, verbose: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, true) => "debug",
        (false, false) => "info",
    };
    // Our crates at `level`; Burn and its GPU stack (cubecl's autotune lines) at warnings only.
    let ours = [
        "experiments",
        "logit_reg",
        "logit_reg_train",
        "logit_reg_model",
        "logit_reg_data",
    ]
    .map(|c| format!("{c}={level}"))
    .join(",");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,{ours}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::Uptime::default())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| crate::progress::LogWriter)
        .try_init();
}

/// The human summary of `run`: one line per run (α, η, steps, train loss, test accuracy, z*,
/// how it ended).
pub fn summary_table(summary: &logit_reg_train::Summary) -> String {
    use crate::output::number;
    let mut out = format!(
        "{:>3}  {:>8}  {:>8}  {:>7}  {:>10}  {:>9}  {:>8}  {}\n",
        "run", "α", "η", "steps", "train loss", "test acc", "z*", "ended"
    );
    let short = |v: f64| crate::figures::report::significant(v, 4);
    for (run, r) in summary.runs.iter().enumerate() {
        let ended = match (r.diverged, summary.converged) {
            (Some((step, _)), _) => format!("diverged at step {step}"),
            (None, true) => "converged".to_string(),
            (None, false) => "step limit".to_string(),
        };
        out.push_str(&format!(
            "{:>3}  {:>8}  {:>8}  {:>7}  {:>10}  {:>9}  {:>8}  {}\n",
            run,
            number(r.alpha),
            number(r.lr),
            summary.steps,
            short(r.last.train_loss),
            short(r.last.test_accuracy),
            short(r.last.z_star),
            ended
        ));
    }
    out
}

/// Runs the command line `args` (including the program name) and returns the exit code:
/// 0 on success, 2 for a bad config or flag, 1 for a run that failed or diverged.
pub fn main_with(args: impl IntoIterator<Item = String>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.quiet, cli.verbose);
    let result = match &cli.command {
        Command::Run(args) => resolve_run_config(args).and_then(|config| {
            prepare_out(&args.out)?;
            let _lock = DirLock::output(&args.out)?;
            run_to_dir(&config, &args.out, !cli.quiet).map(|result| {
                if args.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&result.summary).unwrap_or_default()
                    );
                } else {
                    print!("{}", summary_table(&result.measured.summary));
                    println!("results in {}", args.out.display());
                }
            })
        }),
        Command::Sweep(args) => run_sweep_command(args, cli.quiet),
        Command::Bench(args) => run_bench(args),
        Command::BenchMlp(args) => run_bench_mlp(args),
        Command::BenchCnn(args) => run_bench_cnn(args),
        Command::Figure(args) => run_figure_command(args, cli.quiet),
        Command::Reproduce(args) => run_reproduce_command(args, cli.quiet),
        Command::Slurm(args) => crate::slurm::run_slurm_command(args),
        Command::Theory(args) => theory_json(args).map(|v| {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_usage() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
