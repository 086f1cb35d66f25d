//! End-to-end tests of the scan capability (owned by the scan engineer): the real binary's
//! `opshelf scan ...` commands on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support;

fn shared() -> PathBuf {
    opshelf_core::testing::shared("scan").join("..")
}

fn opshelf(data_dir: &Path, cwd: &Path, args: &[&str]) -> Output {
    let config = data_dir.join("opshelf.toml");
    if !config.exists() {
        std::fs::write(&config, "").expect("write empty config");
    }
    Command::new(support::bin())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .current_dir(cwd)
        .env_remove("OPSHELF_DATA_DIR")
        .env("CI", "true")
        .output()
        .expect("run opshelf")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// The roadmap's PostHog project key is found, reported LOW, and never printed whole.
#[test]
fn scan_fs_finds_the_posthog_project_key_in_the_roadmap() {
    let data = tempfile::tempdir().expect("tempdir");
    let roadmap = shared().join("roadmap.md");
    let out = opshelf(
        data.path(),
        data.path(),
        &[
            "scan",
            "fs",
            "--scanners",
            "secret",
            "--format",
            "json",
            roadmap.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    let secrets = json["Results"][0]["Secrets"].as_array().expect("secrets");
    let phc = secrets
        .iter()
        .find(|s| s["RuleID"] == "posthog-project-api-key")
        .expect("PostHog project key found");
    assert_eq!(phc["Severity"], "LOW");
    assert!(!stdout(&out).contains("phc_GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb"));
    assert_eq!(json["Results"][0]["Target"], "roadmap.md");
}

/// db import + status, then a vulnerability scan with SARIF output, exit code and ignore file.
#[test]
fn scan_db_import_then_fs_reports_vulnerabilities() {
    let data = tempfile::tempdir().expect("tempdir");
    let rustsec = shared().join("scan/advisories/rustsec");
    let out = opshelf(
        data.path(),
        data.path(),
        &["scan", "db", "import", rustsec.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("imported"), "{}", stdout(&out));

    let st = opshelf(
        data.path(),
        data.path(),
        &["scan", "db", "status", "--format", "json"],
    );
    assert!(st.status.success(), "{}", stderr(&st));
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status json");
    assert!(st["Advisories"].as_u64().unwrap_or(0) > 500, "{st}");

    let proj = tempfile::tempdir().expect("project");
    // RUSTSEC-2016-0001: openssl < 0.9.0
    write(
        proj.path(),
        "Cargo.lock",
        "version = 3\n\n[[package]]\nname = \"openssl\"\nversion = \"0.8.3\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\n",
    );
    let out = opshelf(
        data.path(),
        proj.path(),
        &["scan", "fs", "--format", "json", "--exit-code", "3", "."],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let vulns = json["Results"][0]["Vulnerabilities"]
        .as_array()
        .expect("vulns");
    assert!(
        vulns
            .iter()
            .any(|v| v["VulnerabilityID"] == "CVE-2016-10931" && v["PkgName"] == "openssl"),
        "{json}"
    );
    assert!(vulns.iter().all(|v| v["PkgName"] != "serde"));

    // the ignore file silences it; exit code back to 0
    write(proj.path(), ".trivyignore", "# accepted\nCVE-2016-10931\n");
    let out = opshelf(
        data.path(),
        proj.path(),
        &[
            "scan",
            "fs",
            "--format",
            "sarif",
            "--exit-code",
            "3",
            "--output",
            "out.sarif",
            ".",
        ],
    );
    let sarif: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(proj.path().join("out.sarif")).expect("sarif file"),
    )
    .expect("sarif json");
    assert_eq!(sarif["version"], "2.1.0");
    let ids: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["ruleId"].as_str())
        .collect();
    assert!(!ids.contains(&"CVE-2016-10931"), "{ids:?}");
    let remaining = sarif["runs"][0]["results"].as_array().map_or(0, Vec::len);
    assert_eq!(
        out.status.code(),
        Some(if remaining > 0 { 3 } else { 0 }),
        "{}",
        stderr(&out)
    );
}

/// `scan config` finds Dockerfile and compose problems, and --severity filters them.
#[test]
fn scan_config_reports_misconfigurations() {
    let data = tempfile::tempdir().expect("tempdir");
    let proj = tempfile::tempdir().expect("project");
    write(
        proj.path(),
        "Dockerfile",
        "FROM node:latest\nRUN sudo npm i\nEXPOSE 22\n",
    );
    write(
        proj.path(),
        "docker-compose.yml",
        "services:\n  db:\n    image: postgres:16\n    ports: [\"5432:5432\"]\n    privileged: true\n",
    );
    let out = opshelf(
        data.path(),
        proj.path(),
        &["scan", "config", "--format", "json", "."],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let all: Vec<String> = json["Results"]
        .as_array()
        .expect("results")
        .iter()
        .flat_map(|r| {
            r["Misconfigurations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|m| m["ID"].as_str().map(str::to_string))
        .collect();
    for id in ["DS001", "DS002", "DS004", "DS010", "DCP001", "DCP006"] {
        assert!(all.iter().any(|x| x == id), "{id} missing: {all:?}");
    }
    let out = opshelf(
        data.path(),
        proj.path(),
        &[
            "scan",
            "config",
            "--severity",
            "CRITICAL",
            "--format",
            "json",
            "--exit-code",
            "1",
            ".",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for r in json["Results"].as_array().expect("results") {
        for m in r["Misconfigurations"].as_array().into_iter().flatten() {
            assert_eq!(m["Severity"], "CRITICAL", "{m}");
        }
    }
}

/// A malformed lockfile is an error for that file; the scan goes on and finds the secret.
#[test]
fn scan_fs_survives_a_malformed_lockfile() {
    let data = tempfile::tempdir().expect("tempdir");
    let proj = tempfile::tempdir().expect("project");
    write(
        proj.path(),
        "package-lock.json",
        "{ \"lockfileVersion\": 2, ",
    );
    write(
        proj.path(),
        ".env",
        "GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
    );
    let out = opshelf(
        data.path(),
        proj.path(),
        &["scan", "fs", "--format", "table", "."],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("package-lock.json"),
        "{}",
        stderr(&out)
    );
    let table = stdout(&out);
    assert!(table.contains("github-pat"), "{table}");
    assert!(
        !table.contains("abcdefghijklmnopqrstuvwxyz0123456789"),
        "{table}"
    );
}
