//! Records the commit the binary is built from, and whether tracked files differed from it,
//! for `config.json` (`git_commit`, `git_dirty`). Outside a git checkout both are empty.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    // --no-optional-locks: never refresh (rewrite) the index from a build.
    let dirty = match git(&[
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=no",
    ]) {
        Some(status) => (!status.is_empty()).to_string(),
        None => String::new(),
    };
    println!("cargo:rustc-env=LOGIT_REG_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=LOGIT_REG_GIT_DIRTY={dirty}");
    // Run again when HEAD moves (a commit, a checkout) or any source of the workspace changes
    // (an edit makes the tree dirty).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{reference}");
        }
    }
    for path in [
        "src",
        "../crates",
        "../src",
        "../Cargo.toml",
        "../Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
}
