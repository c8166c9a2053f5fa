//! The `experiments` command line; all logic lives in the library (`experiments::cli`).

/// jemalloc, built to keep freed pages for reuse (`.cargo/config.toml`): the batches of a sweep
/// allocate and free buffers of hundreds of MB each, which the system allocator hands back to
/// the kernel and takes again as page faults. BENCHMARKS.md ("The allocator") has the
/// measurement. The results do not depend on the allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    experiments::cli::main_with(std::env::args())
}
