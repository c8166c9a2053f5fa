//! The batch store: who may write into an output directory, and what counts as a finished
//! batch.
//!
//! - **One writer per output.** A command that writes an output's index, figure or report (or
//!   a single run's files) holds an exclusive [`DirLock`] on `OUT/.lock` for its whole run; a
//!   second one fails at once with an error that names the holder (host, pid, command, start).
//! - **One trainer per batch.** Each batch directory has a claim, `bNNNN/claim.lock`, held
//!   while the batch trains. Shards of one sweep (`--shard I/N`), on one machine or on many
//!   nodes of a cluster, take claims and never the output lock, so they run side by side; a
//!   process that finds a batch claimed leaves it to its holder.
//! - **Stale locks.** Both are advisory `flock(2)` locks, which the kernel releases when the
//!   holder exits, however it exits (killed, out of time, node lost). A lock file left behind
//!   is therefore never an obstacle: the next process takes it over and records itself. The
//!   file keeps the last holder's name for the error messages. On a cluster the output must be
//!   on a shared file system whose locks reach every node (NFS v4 and most parallel file
//!   systems do; Lustre needs its `flock` mount option).
//! - **Done means verified.** A batch is done only when its completion marker, `done.json`,
//!   written last, lists a SHA-256 for each result file and every file still matches, the
//!   stored config equals the batch's config, `summary.json` holds one result per run and
//!   `metrics.csv` parses with one row per logging step and run. Anything else (a truncated
//!   file, a missing marker, an empty summary) is redone, and the count of redone batches is
//!   reported.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ExperimentError;
use crate::config::RunConfig;

/// The name of the completion marker in a batch or run directory.
pub const DONE_MARKER: &str = "done.json";

/// The version of the completion marker's format.
const MARKER_FORMAT: u64 = 1;

/// Who holds a lock: enough to find the process.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    /// The host name.
    pub host: String,
    /// The process id on that host.
    pub pid: u32,
    /// The command line.
    pub command: String,
    /// Seconds since the Unix epoch when the lock was taken.
    pub since: u64,
    /// The Slurm job (`SLURM_JOB_ID`, with `_<task>` for an array task), when there is one.
    pub slurm_job: Option<String>,
}

impl Holder {
    /// This process.
    pub fn current() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown host".into());
        let slurm_job = match (
            std::env::var("SLURM_ARRAY_JOB_ID"),
            std::env::var("SLURM_ARRAY_TASK_ID"),
        ) {
            (Ok(job), Ok(task)) => Some(format!("{job}_{task}")),
            _ => std::env::var("SLURM_JOB_ID").ok(),
        };
        Self {
            host,
            pid: std::process::id(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            slurm_job,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "host": self.host,
            "pid": self.pid,
            "command": self.command,
            "since": self.since,
            "slurm_job": self.slurm_job,
        })
    }

    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            host: v["host"].as_str()?.to_string(),
            pid: u32::try_from(v["pid"].as_u64()?).ok()?,
            command: v["command"].as_str().unwrap_or("").to_string(),
            since: v["since"].as_u64().unwrap_or(0),
            slurm_job: v["slurm_job"].as_str().map(String::from),
        })
    }

    /// One line naming the holder, e.g. `pid 4242 on node7 (Slurm job 17_3), since
    /// 2026-11-30 12:00:00 UTC: experiments figure 16 …`.
    pub fn describe(&self) -> String {
        let job = self
            .slurm_job
            .as_ref()
            .map(|j| format!(" (Slurm job {j})"))
            .unwrap_or_default();
        format!(
            "pid {} on {}{job}, since {}: {}",
            self.pid,
            self.host,
            utc(self.since),
            self.command
        )
    }
}

/// `seconds` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An exclusive advisory lock on a file, held until dropped (or until the process ends).
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

/// What [`DirLock::try_acquire`] found.
#[derive(Debug)]
pub enum Acquired {
    /// The lock is ours. `stale` names the earlier holder whose lock file was left behind.
    Mine(DirLock, Option<Holder>),
    /// Another process holds it (its record, when it could be read).
    Held(Option<Holder>),
}

impl DirLock {
    fn open(path: &Path) -> Result<File, ExperimentError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| ExperimentError::io(path, e))
    }

    fn read_holder(file: &mut File) -> Option<Holder> {
        let mut text = String::new();
        file.rewind().ok()?;
        file.read_to_string(&mut text).ok()?;
        Holder::from_json(&serde_json::from_str(&text).ok()?)
    }

    fn record(mut file: File, path: &Path) -> Result<(Self, Option<Holder>), ExperimentError> {
        let previous = Self::read_holder(&mut file);
        let text = format!("{}\n", Holder::current().to_json());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(|e| ExperimentError::io(path, e))?;
        Ok((
            Self {
                file,
                path: path.to_path_buf(),
            },
            previous,
        ))
    }

    /// Tries to take the lock on `path` (creating the file) without waiting.
    pub fn try_acquire(path: &Path) -> Result<Acquired, ExperimentError> {
        let mut file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => {
                let (lock, previous) = Self::record(file, path)?;
                Ok(Acquired::Mine(lock, previous))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                Ok(Acquired::Held(Self::read_holder(&mut file)))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(ExperimentError::io(path, e)),
        }
    }

    /// Takes the lock on `path`, waiting for its holder to release it.
    pub fn acquire_waiting(path: &Path) -> Result<Self, ExperimentError> {
        let file = Self::open(path)?;
        file.lock().map_err(|e| ExperimentError::io(path, e))?;
        Self::record(file, path).map(|(lock, _)| lock)
    }

    /// The exclusive lock on the output directory `dir` (`dir/.lock`), or
    /// [`ExperimentError::Locked`] naming its holder.
    pub fn output(dir: &Path) -> Result<Self, ExperimentError> {
        std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
        let path = dir.join(".lock");
        match Self::try_acquire(&path)? {
            Acquired::Mine(lock, previous) => {
                if let Some(previous) = previous.filter(|p| p.pid != std::process::id()) {
                    tracing::debug!(
                        "took over the lock on {} last held by {}",
                        dir.display(),
                        previous.describe()
                    );
                }
                Ok(lock)
            }
            Acquired::Held(holder) => Err(ExperimentError::Locked {
                path: dir.display().to_string(),
                holder: holder
                    .map(|h| h.describe())
                    .unwrap_or_else(|| "another process (its record is unreadable)".into()),
            }),
        }
    }

    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the order explicit.
        let _ = self.file.unlock();
    }
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ExperimentError> {
    let bytes = std::fs::read(path).map_err(|e| ExperimentError::io(path, e))?;
    Ok(sha256_hex(&bytes))
}

/// The SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The result files a run writes, in the order a completion marker lists them.
pub const RESULT_FILES: &[&str] = &[
    "config.json",
    "metrics.csv",
    "timing.csv",
    "histograms.csv",
    "logits.csv",
    "weights.npy",
    "bias.npy",
    "summary.json",
];

/// Writes `dir/done.json`: the checksum of every result file present, the run count and the
/// writer. Called after every other file of the run is in place.
pub fn write_marker(dir: &Path, runs: usize) -> Result<(), ExperimentError> {
    let mut files = serde_json::Map::new();
    for name in RESULT_FILES {
        let path = dir.join(name);
        if path.exists() {
            files.insert(name.to_string(), Value::from(sha256_file(&path)?));
        }
    }
    crate::output::write_json(
        &dir.join(DONE_MARKER),
        &json!({
            "format": MARKER_FORMAT,
            "runs": runs,
            "files": files,
            "written_by": Holder::current().to_json(),
        }),
    )
}

/// What [`check_batch`] found in a batch directory.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchState {
    /// Nothing of a result is there.
    Missing,
    /// Complete and verified.
    Done,
    /// Something is there, but it is not a verified result of this config.
    Bad(String),
}

/// Checks whether `dir` holds a complete, verified result of `config` (see the module docs).
pub fn check_batch(dir: &Path, config: &RunConfig) -> BatchState {
    let marker_path = dir.join(DONE_MARKER);
    if !marker_path.exists() {
        let leftovers = RESULT_FILES.iter().any(|name| dir.join(name).exists());
        return if leftovers {
            BatchState::Bad("no completion marker (interrupted or from an older version)".into())
        } else {
            BatchState::Missing
        };
    }
    match verify(dir, config) {
        Ok(()) => BatchState::Done,
        Err(reason) => BatchState::Bad(reason),
    }
}

fn verify(dir: &Path, config: &RunConfig) -> Result<(), String> {
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| format!("{name} cannot be read: {e}"))
    };
    let marker: Value = serde_json::from_slice(&read(DONE_MARKER)?)
        .map_err(|e| format!("{DONE_MARKER} does not parse: {e}"))?;
    if marker["format"].as_u64() != Some(MARKER_FORMAT) {
        return Err(format!("{DONE_MARKER} has an unknown format"));
    }
    let files = marker["files"]
        .as_object()
        .ok_or_else(|| format!("{DONE_MARKER} lists no files"))?;
    for required in ["config.json", "metrics.csv", "summary.json"] {
        if !files.contains_key(required) {
            return Err(format!("{DONE_MARKER} does not list {required}"));
        }
    }
    for (name, expected) in files {
        let actual = sha256_hex(&read(name)?);
        if Some(actual.as_str()) != expected.as_str() {
            return Err(format!("{name} does not match its checksum"));
        }
    }
    let stored: Value = serde_json::from_slice(&read("config.json")?)
        .map_err(|e| format!("config.json does not parse: {e}"))?;
    let expected = serde_json::to_value(config).map_err(|e| e.to_string())?;
    if stored.get("config") != Some(&expected) {
        return Err("config.json holds a different config".into());
    }
    let runs = config.runs().map_err(|e| e.to_string())?;
    let summary: Value = serde_json::from_slice(&read("summary.json")?)
        .map_err(|e| format!("summary.json does not parse: {e}"))?;
    let per_run = summary["per_run"].as_array().map_or(0, Vec::len);
    if per_run != runs || marker["runs"].as_u64() != Some(runs as u64) {
        return Err(format!(
            "summary.json holds {per_run} run results, the config has {runs} runs"
        ));
    }
    let metrics = read("metrics.csv")?;
    let mut reader = csv::Reader::from_reader(metrics.as_slice());
    let mut rows = 0usize;
    for record in reader.records() {
        record.map_err(|e| format!("metrics.csv does not parse: {e}"))?;
        rows += 1;
    }
    if rows == 0 || !rows.is_multiple_of(runs) {
        return Err(format!(
            "metrics.csv has {rows} rows, not a whole number of logging steps for {runs} runs"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_epochs() {
        // 0 is 1970-01-01; 951_782_400 is 2000-02-29 (a leap day); 1_796_083_200 is
        // 2026-12-01, the day after this module was written.
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3_723), "2000-02-29 01:02:03 UTC");
        assert_eq!(utc(1_796_083_200), "2026-12-01 00:00:00 UTC");
    }

    #[test]
    fn a_second_lock_names_the_first_holder_and_a_released_one_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("logit-reg-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = DirLock::output(&dir).expect("lock step succeeds");
        // flock locks belong to the open file: a second open in this process conflicts too.
        let err = DirLock::output(&dir)
            .expect_err("the second lock is refused")
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        let again = DirLock::output(&dir).expect("lock step succeeds");
        assert_eq!(again.path(), dir.join(".lock"));
        drop(again);
        std::fs::remove_dir_all(&dir).expect("lock step succeeds");
    }
}
