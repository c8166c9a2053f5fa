//! Helpers of the tests that drive the `experiments` binary: temporary directories, the
//! binary with captured output, sweep specs and their indexes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "logit-reg-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("test step succeeds")
                .as_nanos()
        ));
        std::fs::create_dir_all(&path).expect("test step succeeds");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with `args`, its output captured (also when spawned).
pub fn experiments(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_experiments"));
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

pub fn output(args: &[&str]) -> Output {
    experiments(args).output().expect("binary runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn write_spec(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("test step succeeds");
    path.to_str().expect("test step succeeds").to_string()
}

pub fn sweep_args<'a>(spec: &'a str, out: &'a str, shard: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec!["sweep", "--quiet", "--spec", spec, "--out", out];
    if let Some(shard) = shard {
        args.extend(["--shard", shard]);
    }
    args
}

/// The index without the columns that measure time.
pub fn index_without_timing(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).expect("test step succeeds");
    let header: Vec<String> = reader
        .headers()
        .expect("test step succeeds")
        .iter()
        .map(String::from)
        .collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !header[i].contains("seconds"))
        .collect();
    let mut rows = vec![keep.iter().map(|&i| header[i].clone()).collect()];
    for record in reader.records() {
        let record = record.expect("test step succeeds");
        rows.push(keep.iter().map(|&i| record[i].to_string()).collect());
    }
    rows
}

/// "N batches trained" from a sweep's or shard's stdout line.
pub fn trained(o: &Output) -> usize {
    let out = String::from_utf8_lossy(&o.stdout);
    let at = out.find(" batches trained").expect("a count line");
    out[..at]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .expect("test step succeeds")
        .parse()
        .expect("test step succeeds")
}
