//! The `experiments` command line; all logic lives in the library (`experiments::cli`).

fn main() -> std::process::ExitCode {
    experiments::cli::main_with(std::env::args())
}
