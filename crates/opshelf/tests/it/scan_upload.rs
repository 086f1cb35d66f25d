//! `opshelf scan ... --upload URL`: the real binary scans a git work tree, posts the report
//! to a real console with the upload token, and the console's API has it; a wrong token is
//! a non-zero exit that still prints the report.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{self, Options, Server};

const TOKEN: &str = "e2e-scan-upload-token-0123456789";
const PASSWORD: &str = "e2e-upload-password";
/// A GitHub personal access token's shape (Trivy's `github-pat`); not a real one.
fn fake_pat() -> String {
    format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8")
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn scan(dir: &Path, data: &Path, args: &[&str], token: Option<&str>) -> Output {
    let config = data.join("cli.toml");
    std::fs::write(&config, "").expect("write config");
    let mut cmd = Command::new(support::bin());
    cmd.arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(data)
        .args(["scan", "fs", "--scanners", "secret", "--quiet"])
        .args(args)
        .arg(dir)
        .env_remove("OPSHELF_DATA_DIR")
        .env_remove("OPSHELF_UPLOAD_TOKEN");
    if let Some(t) = token {
        cmd.env("OPSHELF_UPLOAD_TOKEN", t);
    }
    cmd.output().expect("run opshelf scan")
}

async fn login(http: &reqwest::Client, console: &str) -> String {
    let r = http
        .post(format!("{console}/console/api/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn scan_upload_posts_the_report_to_the_console_with_repo_and_branch_from_git() {
    let srv = Server::start_with(
        &format!("[console]\nenabled = true\nscan_upload_token = \"{TOKEN}\"\n"),
        Options {
            env: vec![(
                "OPSHELF_CONSOLE__ADMIN_PASSWORD".to_owned(),
                PASSWORD.to_owned(),
            )],
            ..Options::default()
        },
    )
    .await;
    let console = srv.url("console");
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("widgets");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "feature/upload"]);
    git(
        &repo,
        &["remote", "add", "origin", "git@github.com:acme/widgets.git"],
    );
    std::fs::write(
        repo.join("deploy.env"),
        format!("APP=1\nGITHUB_TOKEN={}\n", fake_pat()),
    )
    .unwrap();
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).unwrap();

    // Repository and branch from git, the token from OPSHELF_UPLOAD_TOKEN.
    let out = scan(
        &repo,
        &data,
        &["--format", "json", "--upload", &console],
        Some(TOKEN),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("uploaded to") && stderr.contains("acme/widgets feature/upload"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report still on stdout");
    assert_eq!(report["Results"][0]["Secrets"][0]["RuleID"], "github-pat");

    let http = reqwest::Client::new();
    let cookie = login(&http, &console).await;
    let latest: Value = http
        .get(format!("{console}/console/api/scans/latest"))
        .query(&[("repo", "acme/widgets"), ("branch", "feature/upload")])
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["summary"]["format"], "trivy-json");
    assert_eq!(latest["summary"]["secrets"], 1);
    assert_eq!(latest["summary"]["pass"], false);
    assert_eq!(latest["findings"][0]["kind"], "secret");
    assert_eq!(latest["findings"][0]["target"], "deploy.env:2");
    assert!(!latest.to_string().contains(&fake_pat()), "no secret text");

    // SARIF, explicit names, the token as a flag, the report into a file.
    let sarif = work.path().join("report.sarif");
    let out = scan(
        &repo,
        &data,
        &[
            "--format",
            "sarif",
            "--output",
            sarif.to_str().unwrap(),
            "--upload",
            &format!("{console}/console/api/scans"),
            "--upload-token",
            TOKEN,
            "--repo",
            "acme/other",
            "--branch",
            "main",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&sarif)
            .unwrap()
            .contains("\"runs\"")
    );
    let all: Value = http
        .get(format!("{console}/console/api/scans"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<String> = all["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["summary"]["repo"].as_str().unwrap(),
                r["summary"]["branch"].as_str().unwrap(),
                r["summary"]["format"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "acme/other main sarif",
            "acme/widgets feature/upload trivy-json"
        ]
    );

    // A wrong token: a clear error and a non-zero exit; the report is still printed.
    let out = scan(
        &repo,
        &data,
        &["--format", "json", "--upload", &console],
        Some("not-the-token-at-all-000"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the console refused the upload") && stderr.contains("403"),
        "{stderr}"
    );
    assert!(serde_json::from_slice::<Value>(&out.stdout).is_ok());

    // No token at all: refused with a hint naming the flag and the variable.
    let out = scan(
        &repo,
        &data,
        &["--format", "json", "--upload", &console],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("OPSHELF_UPLOAD_TOKEN"), "{stderr}");

    // Nothing listening: an error naming the URL, still a non-zero exit.
    let out = scan(
        &repo,
        &data,
        &["--format", "json", "--upload", "http://127.0.0.1:9"],
        Some(TOKEN),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:9/console/api/scans"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
