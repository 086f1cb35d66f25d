//! `opshelf logs ...`: log tools (the LogQL conformance runner).

use std::path::PathBuf;
use std::process::ExitCode;

/// Logs subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run every `.logqltest` file in DIR (Loki's LogQL conformance DSL) against the engine; prints
    /// per-file results, each failing eval with its reason, and `N passed, N failed` last.
    Logqltest {
        /// Directory holding `*.logqltest` files.
        dir: PathBuf,
    },
}

/// Runs a `logs` subcommand.
///
/// # Errors
/// When the directory or a file cannot be read.
#[allow(clippy::unused_async)]
pub async fn run(cmd: Command, _ctx: &super::CliContext) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Logqltest { dir } => {
            let summary = opshelf_logql::logqltest::run_dir(&dir)?;
            if summary.files.is_empty() {
                anyhow::bail!("no .logqltest files in {}", dir.display());
            }
            for f in &summary.failures {
                let name = f.file.file_name().unwrap_or_default().to_string_lossy();
                println!("FAIL {name}:{}: {}", f.line, f.eval);
                println!("     {}", f.reason);
            }
            for f in &summary.files {
                let name = f.file.file_name().unwrap_or_default().to_string_lossy();
                let status = if f.failed == 0 { "ok  " } else { "FAIL" };
                match &f.fatal {
                    Some(e) => println!(
                        "{status} {name}: {} passed, {} failed (script error: {e})",
                        f.passed, f.failed
                    ),
                    None => println!("{status} {name}: {} passed, {} failed", f.passed, f.failed),
                }
            }
            println!("{} passed, {} failed", summary.passed, summary.failed);
            Ok(if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
