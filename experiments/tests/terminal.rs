//! What a person sees in a terminal: `experiments figure 18 --scale quick` under a
//! pseudo-terminal (util-linux `script`) keeps one progress bar in place, so the whole session
//! stays a few lines long, and it ends with the verdict.

use std::process::Command;

#[test]
fn a_figure_in_a_terminal_keeps_one_bar_and_a_short_log() {
    let dir = std::env::temp_dir().join(format!("logit-reg-terminal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let command = format!(
        "{} figure 18 --scale quick --out {}",
        env!("CARGO_BIN_EXE_experiments"),
        dir.join("fig18").display()
    );
    // `script` runs the command on a pseudo-terminal (stdout and stderr both) and copies what it
    // wrote to our stdout; it is in util-linux (Debian's essential bsdutils package).
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("RUST_LOG")
        .output()
        .expect("`script` (util-linux) runs");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // Lines as a terminal shows them: redraws of the bar move the cursor instead of adding lines.
    let lines = text.matches('\n').count();
    assert!(lines < 40, "{lines} lines:\n{text}");
    assert!(
        text.contains("batches") && text.contains("ETA"),
        "the bar was drawn:\n{text}"
    );
    assert!(
        text.contains("figure 18: reproduced") || text.contains("figure 18: partially"),
        "the verdict line:\n{text}"
    );
}
