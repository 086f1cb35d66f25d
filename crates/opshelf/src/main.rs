//! `opshelf`: the command line. Parses arguments, loads the configuration, sets up logging
//! and hands over to `serve` or to a capability's subcommand.

mod alloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use opshelf::config::LogFormat;
use opshelf::{Registry, cli, config, serve};

/// One binary for a small company's security and operations stack.
#[derive(Debug, Parser)]
#[command(name = "opshelf", version, about, propagate_version = true)]
struct Cli {
    /// The configuration file [default: ./opshelf.toml; runs on defaults when it is absent].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log line format (overrides `log.format`).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Data directory (overrides `data_dir` and OPSHELF_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every enabled capability until SIGTERM/SIGINT.
    Serve(serve::Args),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Scan a tree for vulnerable packages, secrets and misconfigurations (Trivy-style).
    #[cfg(feature = "scan")]
    #[command(subcommand)]
    Scan(cli::scan::Command),
    /// Web application firewall tools (the go-ftw regression runner, ...).
    #[cfg(feature = "waf")]
    #[command(subcommand)]
    Waf(cli::waf::Command),
    /// Feature-flag state: import and export.
    #[cfg(feature = "flags")]
    #[command(subcommand)]
    Flags(cli::flags::Command),
    /// Log tools (the LogQL `.logqltest` conformance runner, ...).
    #[cfg(feature = "logs")]
    #[command(subcommand)]
    Logs(cli::logs::Command),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration without starting anything.
    Check,
    /// Print a fully commented example configuration with every default.
    Example,
}

/// Exit status for a configuration the user must fix.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    alloc::configure();
    let cli = Cli::parse();
    let registry = Registry::builtin();
    if let Command::Config(ConfigCommand::Example) = cli.command {
        print!("{}", config::example(&registry));
        return ExitCode::SUCCESS;
    }
    let explicit = cli.config.is_some();
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("opshelf.toml"));
    let flags = match &cli.command {
        Command::Serve(args) => serve::flag_settings(args),
        _ => Vec::new(),
    };
    let mut loaded = match config::load(&registry, &path, explicit, std::env::vars(), &flags) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("opshelf: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(dir) = &cli.data_dir {
        loaded.config.data_dir.clone_from(dir);
    }
    let format = cli.log_format.unwrap_or(loaded.config.log.format);
    init_logging(&loaded.config.log.level, format);

    let result = match cli.command {
        Command::Config(ConfigCommand::Check) => {
            println!(
                "{}: ok",
                loaded
                    .file
                    .as_ref()
                    .map_or("defaults".into(), |f| f.display().to_string())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Example) => unreachable!("handled before loading"),
        Command::Serve(_) => runtime().and_then(|rt| rt.block_on(serve::run(loaded, &registry))),
        #[cfg(feature = "scan")]
        Command::Scan(cmd) => run_cli(loaded, |ctx| async move { cli::scan::run(cmd, &ctx).await }),
        #[cfg(feature = "waf")]
        Command::Waf(cmd) => run_cli(loaded, |ctx| async move { cli::waf::run(cmd, &ctx).await }),
        #[cfg(feature = "flags")]
        Command::Flags(cmd) => run_cli(
            loaded,
            |ctx| async move { cli::flags::run(cmd, &ctx).await },
        ),
        #[cfg(feature = "logs")]
        Command::Logs(cmd) => run_cli(loaded, |ctx| async move { cli::logs::run(cmd, &ctx).await }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("opshelf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Run a capability subcommand on a fresh runtime.
#[allow(dead_code)] // unused in a build without the capabilities that have subcommands
fn run_cli<F, Fut>(loaded: config::Loaded, f: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(cli::CliContext) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let data_dir = loaded.config.data_dir.clone();
    let ctx = cli::CliContext {
        config: loaded.config,
        data_dir,
    };
    runtime()?.block_on(f(ctx))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("OPSHELF_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Human => builder.init(),
    }
}
