//! `opshelf waf ...`: the WAF's subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

/// WAF subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run go-ftw YAML regression tests in-process against the engine (CRS contract:
    /// all paranoia levels, DetectionOnly, verdict by logged rule ids).
    Ftw {
        /// The CRS `rules/` directory (default: `waf.rules_dir` from the configuration).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// A file of tests to skip (`RULE_ID TEST_ID reason` lines).
        #[arg(long)]
        exclusions: Option<PathBuf>,
        /// Only tests whose `RULEID-TESTID` contains this text.
        #[arg(long)]
        only: Option<String>,
        /// Test directories or files (searched recursively for *.yaml / *.yml).
        #[arg(required = true)]
        tests: Vec<PathBuf>,
    },
}

/// Runs a `waf` subcommand.
///
/// # Errors
/// When the rules or the tests cannot be loaded.
#[allow(clippy::unused_async)]
pub async fn run(cmd: Command, ctx: &super::CliContext) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Ftw {
            rules,
            exclusions,
            only,
            tests,
        } => {
            let Some(rules) = rules.or_else(|| ctx.section::<opshelf_waf::Waf>().rules_dir) else {
                anyhow::bail!("no rules directory: pass --rules or set waf.rules_dir");
            };
            let opts = opshelf_waf::ftw::Options {
                rules_dir: rules,
                exclusions,
                only,
                tests,
            };
            let summary = opshelf_waf::ftw::run(&opts, &mut std::io::stdout())?;
            Ok(if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
