//! `opshelf scan ...`: Trivy-shaped scanner commands. Only argument handling lives here; the
//! engine, the advisory database and the report formats are in `opshelf-scan`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use opshelf_scan::cvss::Severity;
use opshelf_scan::ignorefile::IgnoreList;
use opshelf_scan::report::Format;
use opshelf_scan::scan::{Options, Scanners};

/// Scanner subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Scan a directory or file: vulnerabilities and secrets by default (like `trivy fs`).
    Fs(Box<FsArgs>),
    /// Scan configuration files for misconfigurations only (like `trivy config`).
    Config(Box<Common>),
    /// Scan a container image: a `docker save` archive or an OCI layout, directory or tar
    /// (like `trivy image --input`): OS and language packages, secrets in layer files.
    Image(Box<ImageArgs>),
    /// The offline advisory database.
    #[command(subcommand)]
    Db(DbCommand),
}

/// `scan fs` flags.
#[derive(Debug, clap::Args)]
pub struct FsArgs {
    #[command(flatten)]
    common: Common,
    /// Scanners to run: vuln, secret, misconfig (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "vuln,secret")]
    scanners: Vec<String>,
    /// Do not report vulnerabilities without a fixed version.
    #[arg(long)]
    ignore_unfixed: bool,
    /// Include development dependencies.
    #[arg(long)]
    include_dev_deps: bool,
    /// List every package found (JSON and CycloneDX output).
    #[arg(long)]
    list_all_pkgs: bool,
}

/// `scan image` flags.
#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    #[command(flatten)]
    common: Common,
    /// Scanners to run on the image's files: vuln, secret (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "vuln,secret")]
    scanners: Vec<String>,
    /// Scanners for the image config: misconfig (Dockerfile checks such as DS002, DS026).
    #[arg(long, value_delimiter = ',')]
    image_config_scanners: Vec<String>,
    /// Do not report vulnerabilities without a fixed version.
    #[arg(long)]
    ignore_unfixed: bool,
    /// List every package found (JSON and CycloneDX output).
    #[arg(long)]
    list_all_pkgs: bool,
    /// Cap on the inflated bytes of all layers together (decompression bombs stop here).
    #[arg(long, default_value_t = 16 << 30)]
    max_image_bytes: u64,
}

/// Flags shared by `fs`, `config` and `image` (Trivy's names and meaning).
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Directory or file to scan.
    pub path: PathBuf,
    /// Severities to report (comma-separated: UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL).
    #[arg(short, long, value_delimiter = ',')]
    pub severity: Vec<String>,
    /// Exit code when findings are reported.
    #[arg(long, default_value_t = 0)]
    pub exit_code: u8,
    /// Directories to skip (paths or globs, repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub skip_dirs: Vec<String>,
    /// Files to skip (paths or globs).
    #[arg(long, value_delimiter = ',')]
    pub skip_files: Vec<String>,
    /// Trivy secret config (custom rules, allow rules, enable/disable rules).
    #[arg(long)]
    pub secret_config: Option<PathBuf>,
    /// Ignore file (`.trivyignore` text, or `.trivyignore.yaml`).
    #[arg(long)]
    pub ignorefile: Option<PathBuf>,
    /// Output format: table, json, sarif, cyclonedx.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Write the report to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// No progress indicator.
    #[arg(short, long)]
    pub quiet: bool,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub parallel: usize,
    #[command(flatten)]
    pub upload: super::upload::UploadArgs,
}

/// `opshelf scan db ...`.
#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Import OSV advisories (JSON or PyPA YAML) from directories or zip files.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Show what is loaded and how old it is.
    Status {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
    },
}

fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn load_ignore(explicit: Option<&PathBuf>, default_name: &str) -> anyhow::Result<IgnoreList> {
    let today = time_today();
    let mut list = IgnoreList::default();
    let paths: Vec<PathBuf> = match explicit {
        Some(p) => {
            anyhow::ensure!(p.exists(), "ignore file {} does not exist", p.display());
            vec![p.clone()]
        }
        None => vec![
            PathBuf::from(default_name),
            PathBuf::from(format!("{default_name}.yaml")),
        ],
    };
    for p in paths {
        let Some(text) = read_optional(&p)? else {
            continue;
        };
        let name = p.to_string_lossy();
        let parsed = if name.ends_with(".yaml") || name.ends_with(".yml") {
            IgnoreList::parse_yaml(&text, today)
        } else {
            IgnoreList::parse_text(&text, today)
        }
        .with_context(|| format!("{}", p.display()))?;
        list.extend(parsed);
    }
    Ok(list)
}

fn time_today() -> opshelf_scan::ignorefile::Date {
    opshelf_scan::ignorefile::today()
}

fn severities(list: &[String]) -> anyhow::Result<Vec<Severity>> {
    list.iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Severity::parse(s).with_context(|| format!("unknown severity {s:?}")))
        .collect()
}

fn write_output(text: &str, output: Option<&PathBuf>) -> anyhow::Result<()> {
    use std::io::Write as _;
    match output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}

fn options(
    common: &Common,
    scanners: Scanners,
    flags: (bool, bool, bool),
    ctx: &super::CliContext,
) -> anyhow::Result<(Options, opshelf_scan::osv::Database, Format)> {
    let cfg = &ctx.section::<opshelf_scan::Scan>();
    let format = Format::parse(&common.format).with_context(|| {
        format!(
            "unknown format {:?} (table, json, sarif, cyclonedx)",
            common.format
        )
    })?;
    let (ignore_unfixed, include_dev_deps, list_all_pkgs) = flags;
    let secret_config = match &common.secret_config {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => read_optional(Path::new(&cfg.secret_config))?,
    };
    let index_path = cfg.index_path(&ctx.data_dir);
    let db = if scanners.vuln {
        let (db, index) = opshelf_scan::db::load(&index_path)?;
        if index.is_none() {
            eprintln!(
                "opshelf: no advisory database at {} — run `opshelf scan db import PATH` (vulnerabilities are not checked)",
                index_path.display()
            );
        }
        db
    } else {
        opshelf_scan::osv::Database::default()
    };
    let opts = Options {
        target: common.path.clone(),
        scanners,
        severities: severities(&common.severity)?,
        ignore_unfixed,
        include_dev_deps,
        list_all_pkgs,
        skip_dirs: common.skip_dirs.clone(),
        skip_files: common.skip_files.clone(),
        secret_config,
        secret_config_path: Some(
            common
                .secret_config
                .clone()
                .unwrap_or_else(|| PathBuf::from(&cfg.secret_config)),
        ),
        ignore: load_ignore(common.ignorefile.as_ref(), &cfg.ignorefile)?,
        max_secret_file_bytes: cfg.max_secret_file_bytes,
        progress: !common.quiet && opshelf_scan::scan::progress_wanted(),
        threads: if common.parallel == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        } else {
            common.parallel
        },
    };
    Ok((opts, db, format))
}

/// Writes the report; the exit code and the rendered text (for `--upload`).
fn finish(
    report: &opshelf_scan::report::Report,
    common: &Common,
    format: Format,
) -> anyhow::Result<(ExitCode, String)> {
    for r in &report.results {
        if let Some(e) = &r.error {
            eprintln!("opshelf: {e}");
        }
    }
    let text = opshelf_scan::report::render(report, format, env!("CARGO_PKG_VERSION"));
    write_output(&text, common.output.as_ref())?;
    if common.exit_code != 0 && report.count() > 0 {
        return Ok((ExitCode::from(common.exit_code), text));
    }
    Ok((ExitCode::SUCCESS, text))
}

fn run_scan(
    common: &Common,
    scanners: Scanners,
    flags: (bool, bool, bool),
    ctx: &super::CliContext,
) -> anyhow::Result<(ExitCode, String)> {
    let (opts, db, format) = options(common, scanners, flags, ctx)?;
    let outcome = opshelf_scan::scan::run(&opts, &db)?;
    finish(&outcome.report, common, format)
}

fn run_image(a: &ImageArgs, ctx: &super::CliContext) -> anyhow::Result<(ExitCode, String)> {
    let scanners = Scanners::parse(&a.scanners.join(",")).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !scanners.misconfig,
        "--scanners misconfig is not supported for images; use --image-config-scanners misconfig"
    );
    let mut config_misconfig = false;
    for s in &a.image_config_scanners {
        match s.trim() {
            "misconfig" | "config" => config_misconfig = true,
            "" => {}
            other => anyhow::bail!("unknown image config scanner {other:?} (expected misconfig)"),
        }
    }
    let (scan, db, format) = options(
        &a.common,
        scanners,
        (a.ignore_unfixed, false, a.list_all_pkgs),
        ctx,
    )?;
    let opts = opshelf_scan::image::ImageOptions {
        scan,
        limits: opshelf_scan::image::layer::Limits {
            max_image_bytes: a.max_image_bytes,
            ..opshelf_scan::image::layer::Limits::default()
        },
        config_misconfig,
    };
    let outcome = opshelf_scan::image::scan_image(&opts, &db)?;
    for w in &outcome.warnings {
        eprintln!("opshelf: warning: {w}");
    }
    finish(&outcome.report, &a.common, format)
}

/// Upload the report when `--upload` asks for it: checked before the scan, sent after
/// the report is written, so a failed upload still leaves the report and exits non-zero.
async fn with_upload(
    common: &Common,
    scan: impl FnOnce() -> anyhow::Result<(ExitCode, String)>,
) -> anyhow::Result<ExitCode> {
    let target = super::upload::prepare(&common.upload, &common.format, &common.path)?;
    let (code, text) = scan()?;
    if let Some(t) = target {
        let done = super::upload::send(&t, text).await?;
        eprintln!("opshelf: {done}");
    }
    Ok(code)
}

/// Runs a `scan` subcommand.
///
/// # Errors
/// Unreadable targets, configs or databases, invalid flags, and a failed upload.
pub async fn run(cmd: Command, ctx: &super::CliContext) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Fs(a) => {
            let scanners = Scanners::parse(&a.scanners.join(",")).map_err(anyhow::Error::msg)?;
            let flags = (a.ignore_unfixed, a.include_dev_deps, a.list_all_pkgs);
            with_upload(&a.common, || run_scan(&a.common, scanners, flags, ctx)).await
        }
        Command::Image(a) => with_upload(&a.common, || run_image(&a, ctx)).await,
        Command::Config(common) => {
            let scanners = Scanners {
                vuln: false,
                secret: false,
                misconfig: true,
            };
            with_upload(&common, || {
                run_scan(&common, scanners, (false, false, false), ctx)
            })
            .await
        }
        Command::Db(DbCommand::Import { paths }) => {
            let index_path = ctx
                .section::<opshelf_scan::Scan>()
                .index_path(&ctx.data_dir);
            let report = opshelf_scan::db::import(&index_path, &paths)?;
            for (file, err) in &report.errors {
                eprintln!("opshelf: skipped {file}: {err}");
            }
            println!(
                "imported {} advisories from {} files ({} without matchable packages, {} unreadable); \
                 database now holds {} advisories in {} ({} bytes)",
                report.records_imported,
                report.files_read,
                report.records_skipped,
                report.errors.len(),
                report.total_advisories,
                index_path.display(),
                report.index_bytes
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Db(DbCommand::Status { format }) => {
            let index_path = ctx
                .section::<opshelf_scan::Scan>()
                .index_path(&ctx.data_dir);
            let st = opshelf_scan::db::status(&index_path)?;
            print!(
                "{}",
                opshelf_scan::db::render_status(&st, &format).map_err(anyhow::Error::msg)?
            );
            Ok(if st.present {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
