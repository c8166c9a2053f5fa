//! What a person sees during a long job: one live progress bar (elapsed time, position, rate,
//! ETA and the current part), and log lines that print above it instead of through it.
//!
//! A bar draws only when progress is wanted and stderr is a terminal. Otherwise nothing
//! animates, and log lines go to stderr as they are. While a bar is live, [`LogWriter`] (the
//! writer of the command line's logs) prints each line above the bar, so the bar stays one line
//! in place.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar that log lines print above: at most one at a time.
static LIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A progress bar over `len` units (`steps`, `batches`). It draws when `visible` and stderr is
/// a terminal, with `heading` (if any) on the line above it, and is then the live bar until
/// [`finish`]. Otherwise it is hidden and costs nothing.
pub fn bar(len: u64, unit: &str, visible: bool, heading: Option<&str>) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if visible && std::io::stderr().is_terminal() {
        let line = format!(
            "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} · {{per_sec}} · ETA {{eta}} · {{msg}}"
        );
        let template = match heading {
            Some(_) => format!("{{prefix}}\n{line}"),
            None => line,
        };
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        if let Some(heading) = heading {
            bar.set_prefix(heading.to_string());
        }
        bar.enable_steady_tick(Duration::from_millis(250));
        *live() = Some(bar.clone());
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

/// Clears `bar` from the screen; log lines print straight to stderr again.
pub fn finish(bar: &ProgressBar) {
    bar.finish_and_clear();
    let mut live = live();
    if live.as_ref().is_some_and(|b| b.is_finished()) {
        *live = None;
    }
}

/// The writer of the command line's logs: stderr, above the live bar when there is one.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = live().clone();
        match bar {
            Some(bar) if !bar.is_finished() => {
                bar.suspend(|| std::io::stderr().write_all(buf))?;
                Ok(buf.len())
            }
            _ => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
