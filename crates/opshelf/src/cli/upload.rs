//! `opshelf scan ... --upload URL`: after a scan, POST the report (Trivy JSON or SARIF) to the
//! console's `POST /console/api/scans?repo=&branch=`, authenticated with
//! `Authorization: Bearer <[console] scan_upload_token>`. The repository and branch come
//! from the flags, else from git in the scanned directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

/// The upload flags shared by `scan fs`, `scan config` and `scan image`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UploadArgs {
    /// After the scan, POST the report (needs --format json or sarif) to this console:
    /// `http://host:9000` or the full `.../console/api/scans` URL.
    #[arg(long, value_name = "URL")]
    pub upload: Option<String>,
    /// The console's `[console] scan_upload_token`.
    #[arg(long, env = "OPSHELF_UPLOAD_TOKEN", hide_env_values = true)]
    pub upload_token: Option<String>,
    /// Repository name for the upload (default: git's `origin` remote as owner/name, else
    /// the work tree's directory name).
    #[arg(long)]
    pub repo: Option<String>,
    /// Branch for the upload (default: git's current branch).
    #[arg(long)]
    pub branch: Option<String>,
}

/// Where and as what a report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
    pub repo: String,
    pub branch: String,
}

/// The endpoint for a console URL: the base (`http://h:9000`, with or without a trailing
/// slash) gets `/console/api/scans`; a URL that already ends with it is kept.
///
/// # Errors
/// Not an http(s) URL.
pub fn endpoint(url: &str) -> anyhow::Result<String> {
    let url = url.trim();
    anyhow::ensure!(
        url.starts_with("http://") || url.starts_with("https://"),
        "--upload {url:?}: expected the console's http:// or https:// URL"
    );
    anyhow::ensure!(
        !url.contains('?') && !url.contains('#'),
        "--upload {url:?}: give the console's URL without a query (--repo and --branch set it)"
    );
    let base = url.trim_end_matches('/');
    if base.ends_with("/console/api/scans") {
        return Ok(base.to_owned());
    }
    Ok(format!("{base}/console/api/scans"))
}

/// Check the flags before scanning, so a bad upload setup fails before minutes of work.
///
/// # Errors
/// A format the console does not take, a bad URL, or a repository/branch neither given nor
/// found in git.
pub fn prepare(args: &UploadArgs, format: &str, scanned: &Path) -> anyhow::Result<Option<Target>> {
    let Some(url) = &args.upload else {
        return Ok(None);
    };
    let f = format.trim().to_ascii_lowercase();
    anyhow::ensure!(
        f == "json" || f == "sarif",
        "--upload sends the report itself: use --format json or --format sarif (not {format:?})"
    );
    let url = endpoint(url)?;
    let dir = git_dir(scanned);
    let repo = match &args.repo {
        Some(r) => r.clone(),
        None => git_repo(&dir).with_context(|| {
            format!(
                "--upload: no --repo given and {} is not in a git work tree; pass --repo OWNER/NAME",
                dir.display()
            )
        })?,
    };
    let branch = match &args.branch {
        Some(b) => b.clone(),
        None => git_branch(&dir).with_context(|| {
            format!(
                "--upload: no --branch given and git has no current branch in {} (not a work tree, or a detached HEAD); pass --branch NAME",
                dir.display()
            )
        })?,
    };
    for (what, v) in [("--repo", &repo), ("--branch", &branch)] {
        anyhow::ensure!(
            !v.is_empty() && v.len() <= 200 && !v.chars().any(char::is_control),
            "{what} {v:?}: 1-200 characters without control characters"
        );
    }
    Ok(Some(Target {
        url,
        token: args.upload_token.clone().filter(|t| !t.trim().is_empty()),
        repo,
        branch,
    }))
}

/// The directory git runs in: the scanned directory, or a scanned file's.
fn git_dir(scanned: &Path) -> PathBuf {
    if scanned.is_dir() {
        return scanned.to_path_buf();
    }
    match scanned.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn git_repo(dir: &Path) -> anyhow::Result<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).context("not a git work tree")?;
    if let Some(url) = git(dir, &["config", "--get", "remote.origin.url"])
        && let Some(name) = repo_from_remote(&url)
    {
        return Ok(name);
    }
    Path::new(&top)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("the work tree has no directory name")
}

fn git_branch(dir: &Path) -> anyhow::Result<String> {
    // symbolic-ref, not rev-parse: it also names the branch of a repository with no commit
    // yet, and fails on a detached HEAD.
    git(dir, &["symbolic-ref", "--short", "-q", "HEAD"]).context("no current branch")
}

/// `git@github.com:acme/api.git`, `https://github.com/acme/api`, `ssh://git@h/acme/api.git`
/// → `acme/api` (the last two path segments, as GitHub and GitLab name repositories).
#[must_use]
pub fn repo_from_remote(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/')?.1
    } else if let Some((_, rest)) = url.split_once(':') {
        // scp-like: user@host:path
        rest
    } else {
        url
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [] => None,
        [one] => Some((*one).to_owned()),
        [.., owner, name] => Some(format!("{owner}/{name}")),
    }
}

/// POST the report; `Ok` with the console's summary line, or an error that says what the
/// console answered.
///
/// # Errors
/// The console cannot be reached or refuses the report.
pub async fn send(t: &Target, report: String) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let mut req = client
        .post(&t.url)
        .query(&[("repo", t.repo.as_str()), ("branch", t.branch.as_str())])
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(report);
    if let Some(tok) = &t.token {
        req = req.bearer_auth(tok);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("uploading the report to {}", t.url))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let msg = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| body.chars().take(300).collect());
        let hint = match status.as_u16() {
            401 | 403 if t.token.is_none() => {
                " (no token given: pass --upload-token or set OPSHELF_UPLOAD_TOKEN to the console's [console] scan_upload_token)"
            }
            401 | 403 => " (check the token against [console] scan_upload_token)",
            404 => " (is this the console's URL?)",
            _ => "",
        };
        anyhow::bail!(
            "the console refused the upload to {}: {status} {msg}{hint}",
            t.url
        );
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let hc = v["vulnerabilities"]["CRITICAL"].as_u64().unwrap_or(0)
        + v["vulnerabilities"]["HIGH"].as_u64().unwrap_or(0);
    Ok(format!(
        "uploaded to {} as {} {}: {hc} high/critical, {} secrets, gate {}",
        t.url,
        t.repo,
        t.branch,
        v["secrets"].as_u64().unwrap_or(0),
        if v["pass"].as_bool() == Some(true) {
            "passes"
        } else {
            "fails"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_give_owner_and_name() {
        for (url, want) in [
            ("git@github.com:acme/api.git", "acme/api"),
            ("https://github.com/acme/api", "acme/api"),
            ("https://gitlab.example.com/group/sub/api.git/", "sub/api"),
            ("ssh://git@host:2222/acme/api.git", "acme/api"),
            ("/srv/git/api.git", "git/api"),
        ] {
            assert_eq!(repo_from_remote(url).as_deref(), Some(want), "{url}");
        }
    }

    #[test]
    fn the_endpoint_is_the_consoles_scans_route() {
        assert_eq!(
            endpoint("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000/console/api/scans"
        );
        assert_eq!(
            endpoint("https://c.example/console/api/scans").unwrap(),
            "https://c.example/console/api/scans"
        );
        assert!(endpoint("127.0.0.1:9000").is_err());
        assert!(endpoint("http://h/console/api/scans?repo=x").is_err());
    }

    #[test]
    fn a_table_report_or_a_missing_repo_fails_before_the_scan() {
        let args = UploadArgs {
            upload: Some("http://127.0.0.1:9".into()),
            ..UploadArgs::default()
        };
        let e = prepare(&args, "table", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("--format json"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = prepare(&args, "json", dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("--repo"), "{e:#}");
        let args = UploadArgs {
            repo: Some("acme/api".into()),
            ..args
        };
        let e = prepare(&args, "json", dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("--branch"), "{e:#}");
        let args = UploadArgs {
            branch: Some("main".into()),
            upload_token: Some("  ".into()),
            ..args
        };
        let t = prepare(&args, "SARIF", dir.path()).unwrap().unwrap();
        assert_eq!(t.token, None);
        assert_eq!(t.url, "http://127.0.0.1:9/console/api/scans");
        assert_eq!(
            prepare(&UploadArgs::default(), "table", dir.path()).unwrap(),
            None
        );
    }
}
