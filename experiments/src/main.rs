//! The `experiments` command line (arrives with the training issue).

fn main() {
    println!("experiments {}", env!("CARGO_PKG_VERSION"));
}
