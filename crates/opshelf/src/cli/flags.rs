//! `opshelf flags ...`: migrate flag state in and out of the data directory (the server need
//! not run; with a running server, `POST /api/admin/opshelf/import` does the same).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

/// Flag subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Load a `/api/client/features` body (from any Unleash or Edge, segments included; or a
    /// delta-API `{"events": [...]}` body) into one project and environment.
    Import {
        /// The JSON file (`-` for standard input).
        file: PathBuf,
        /// Project the flags go to (created if missing).
        #[arg(long, default_value = "default")]
        project: String,
        /// Environment their configuration goes to (created if missing).
        #[arg(long, default_value = "development")]
        environment: String,
    },
    /// Write one environment as a `/api/client/features` body.
    Export {
        /// Environment to export.
        #[arg(long, default_value = "development")]
        environment: String,
        /// Only this project's flags.
        #[arg(long)]
        project: Option<String>,
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs a `flags` subcommand.
///
/// # Errors
/// Unreadable files, invalid bodies, storage failures.
pub async fn run(cmd: Command, ctx: &super::CliContext) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Import {
            file,
            project,
            environment,
        } => {
            let raw = if file.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                    .context("reading standard input")?;
                buf
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let storage = ctx.open_storage().await?;
            let report =
                opshelf_flags::import(flags_view(&storage), &raw, &project, &environment).await?;
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "imported {} flags and {} segments into project {project}, environment {environment}",
                report.features, report.segments
            );
            storage.close().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            environment,
            project,
            output,
        } => {
            let storage = ctx.open_storage().await?;
            let body =
                opshelf_flags::export(flags_view(&storage), &environment, project.as_deref())
                    .await?;
            storage.close().await?;
            match output {
                Some(path) => std::fs::write(&path, &body)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    use std::io::Write as _;
                    let mut out = std::io::stdout().lock();
                    out.write_all(&body)?;
                    out.write_all(b"\n")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The flags capability's namespace of `storage`.
fn flags_view(storage: &opshelf_core::DynStorage) -> opshelf_core::StorageView {
    use opshelf_core::Capability as _;
    opshelf_core::StorageView::new(storage.clone(), opshelf_flags::Flags::NAME)
}
