//! The command line, as a library so that it can be tested; `main.rs` only calls [`main_with`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::ExperimentError;
use crate::config::{RunConfig, fields_help};
use crate::run::run_to_dir;

/// The implicit bias of logit regularisation: training runs, sweeps and paper figures.
#[derive(Debug, Parser)]
#[command(name = "experiments", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Hide the progress bar and the info logs.
    #[arg(long, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one configured batch of runs (M = length of loss.alpha or train.lr) and write
    /// config.json, metrics.csv, summary.json (and histograms.csv) to --out.
    #[command(after_long_help = fields_help())]
    Run(RunArgs),
}

/// Arguments of `experiments run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A TOML config file (every field optional; see below).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one field, e.g. --set loss.alpha=0.2 --set 'loss.alpha=[0, 0.2]'.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Compute backend: flex (default) | ndarray | wgpu, among those compiled in.
    #[arg(long)]
    pub backend: Option<String>,
    /// Float precision: f32 (default) | f64.
    #[arg(long)]
    pub dtype: Option<String>,
    /// Output directory (created if needed; earlier results in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
}

/// Resolves the config of `experiments run`: file, then `--set`s, then `--backend`/`--dtype`.
pub fn resolve_run_config(args: &RunArgs) -> Result<RunConfig, ExperimentError> {
    let mut overrides = args.overrides.clone();
    if let Some(b) = &args.backend {
        logit_reg_model::Backend::parse(b).map_err(ExperimentError::model)?;
        overrides.push(format!("backend=\"{b}\""));
    }
    if let Some(d) = &args.dtype {
        logit_reg_model::Precision::parse(d).map_err(ExperimentError::model)?;
        overrides.push(format!("dtype=\"{d}\""));
    }
    RunConfig::load(args.config.as_deref(), &overrides)
}

fn init_logging(quiet: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if quiet { "warn" } else { "info" })
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
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
    init_logging(cli.quiet);
    let result = match &cli.command {
        Command::Run(args) => resolve_run_config(args).and_then(|config| {
            run_to_dir(&config, &args.out, !cli.quiet).map(|result| {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&result.summary).unwrap_or_default()
                );
                println!("results in {}", args.out.display());
            })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                ExperimentError::Config { .. } => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}
