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
    // (A path that does not exist would make the script run at every build, so only existing
    // files are named: a branch's ref may live in packed-refs.)
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let mut files = vec![format!("{dir}/HEAD"), format!("{dir}/packed-refs")];
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            files.push(format!("{dir}/{reference}"));
        }
        for file in files.iter().filter(|f| std::path::Path::new(f).exists()) {
            println!("cargo:rerun-if-changed={file}");
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
