//! Scan reports: `opshelf scan ... --format json` (Trivy's JSON) or SARIF, POSTed per
//! repository and branch, kept in the console's storage; the latest findings, the trend of
//! high/critical and a pass/fail gate (no high or critical vulnerability, no secret).
//!
//! Keys: `scan/latest/<hex repo>/<hex branch>` (the latest [`Stored`] report) and
//! `scan/hist/<hex repo>/<hex branch>/<time ms>` (its [`Summary`], for the trend; the
//! newest [`HISTORY`] are kept).

use std::collections::BTreeMap;

use opshelf_core::{Range, StorageView};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::audit::now_ms;

/// Findings kept per report (the counts cover them all).
pub const MAX_FINDINGS: usize = 5000;
/// Summaries kept per repository and branch.
pub const HISTORY: usize = 100;

/// The severities, highest first.
pub const SEVERITIES: [&str; 5] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `vulnerability`, `secret` or `misconfiguration`.
    pub kind: String,
    pub id: String,
    pub severity: String,
    /// The file or lockfile.
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub installed: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fixed: String,
    pub title: String,
}

/// A report's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub repo: String,
    pub branch: String,
    pub time_ms: u64,
    /// `trivy-json` or `sarif`.
    pub format: String,
    /// Vulnerabilities by severity.
    pub vulnerabilities: BTreeMap<String, u64>,
    pub secrets: u64,
    pub misconfigurations: u64,
    /// No high or critical vulnerability and no secret.
    pub pass: bool,
}

impl Summary {
    /// High plus critical vulnerabilities.
    #[must_use]
    pub fn high_critical(&self) -> u64 {
        self.vulnerabilities.get("CRITICAL").copied().unwrap_or(0)
            + self.vulnerabilities.get("HIGH").copied().unwrap_or(0)
    }
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub summary: Summary,
    pub findings: Vec<Finding>,
    /// Findings beyond [`MAX_FINDINGS`] that were counted but not kept.
    pub truncated: u64,
}

fn norm_severity(s: &str) -> String {
    let up = s.trim().to_ascii_uppercase();
    if SEVERITIES.contains(&up.as_str()) {
        up
    } else {
        "UNKNOWN".to_owned()
    }
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// Parse a Trivy-JSON or SARIF report into findings; `Err` says what is wrong.
///
/// # Errors
/// Neither format.
pub fn parse(body: &[u8]) -> Result<(String, Vec<Finding>), Error> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("the report is not JSON: {e}")))?;
    if let Some(results) = doc.get("Results") {
        let mut out = Vec::new();
        for r in results.as_array().into_iter().flatten() {
            let target = s(r, "Target");
            for v in r
                .get("Vulnerabilities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(Finding {
                    kind: "vulnerability".into(),
                    id: s(v, "VulnerabilityID"),
                    severity: norm_severity(&s(v, "Severity")),
                    target: target.clone(),
                    package: s(v, "PkgName"),
                    installed: s(v, "InstalledVersion"),
                    fixed: s(v, "FixedVersion"),
                    title: s(v, "Title"),
                });
            }
            for v in r
                .get("Secrets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // Never the matched text (Trivy's `Match`): only where and what kind.
                let line = v.get("StartLine").and_then(Value::as_u64).unwrap_or(0);
                out.push(Finding {
                    kind: "secret".into(),
                    id: s(v, "RuleID"),
                    severity: norm_severity(&s(v, "Severity")),
                    target: if line > 0 {
                        format!("{target}:{line}")
                    } else {
                        target.clone()
                    },
                    package: String::new(),
                    installed: String::new(),
                    fixed: String::new(),
                    title: s(v, "Title"),
                });
            }
            for v in r
                .get("Misconfigurations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(Finding {
                    kind: "misconfiguration".into(),
                    id: s(v, "ID"),
                    severity: norm_severity(&s(v, "Severity")),
                    target: target.clone(),
                    package: String::new(),
                    installed: String::new(),
                    fixed: String::new(),
                    title: s(v, "Title"),
                });
            }
        }
        return Ok(("trivy-json".into(), out));
    }
    if let Some(runs) = doc.get("runs").and_then(Value::as_array) {
        let mut out = Vec::new();
        for run in runs {
            let rules: BTreeMap<String, &Value> = run
                .pointer("/tool/driver/rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| Some((r.get("id")?.as_str()?.to_owned(), r)))
                .collect();
            for res in run
                .get("results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = s(res, "ruleId");
                let rule = rules.get(&id).copied();
                let severity = sarif_severity(res, rule);
                let tags: Vec<&str> = rule
                    .and_then(|r| r.pointer("/properties/tags"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let kind = if tags.contains(&"secret") {
                    "secret"
                } else if tags.contains(&"misconfiguration") {
                    "misconfiguration"
                } else {
                    "vulnerability"
                };
                let target = res
                    .pointer("/locations/0/physicalLocation/artifactLocation/uri")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let title = rule
                    .and_then(|r| r.pointer("/shortDescription/text"))
                    .and_then(Value::as_str)
                    .map_or_else(
                        || {
                            res.pointer("/message/text")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .lines()
                                .next()
                                .unwrap_or("")
                                .to_owned()
                        },
                        str::to_owned,
                    );
                out.push(Finding {
                    kind: kind.into(),
                    id,
                    severity,
                    target,
                    package: String::new(),
                    installed: String::new(),
                    fixed: String::new(),
                    title,
                });
            }
        }
        return Ok(("sarif".into(), out));
    }
    Err(Error::BadRequest(
        "expected a Trivy JSON report (\"Results\") or SARIF (\"runs\")".into(),
    ))
}

/// GitHub's reading of SARIF severity: the rule's `security-severity` score, else the
/// result's `level`.
fn sarif_severity(res: &Value, rule: Option<&Value>) -> String {
    let score = rule
        .and_then(|r| r.pointer("/properties/security-severity"))
        .and_then(|v| match v {
            Value::String(s) => s.parse::<f64>().ok(),
            Value::Number(n) => n.as_f64(),
            _ => None,
        });
    if let Some(x) = score {
        return if x >= 9.0 {
            "CRITICAL"
        } else if x >= 7.0 {
            "HIGH"
        } else if x >= 4.0 {
            "MEDIUM"
        } else if x > 0.0 {
            "LOW"
        } else {
            "UNKNOWN"
        }
        .to_owned();
    }
    let level = res
        .get("level")
        .and_then(Value::as_str)
        .or_else(|| {
            rule.and_then(|r| r.pointer("/defaultConfiguration/level"))
                .and_then(Value::as_str)
        })
        .unwrap_or("warning");
    match level {
        "error" => "HIGH",
        "warning" => "MEDIUM",
        "note" => "LOW",
        _ => "UNKNOWN",
    }
    .to_owned()
}

/// A repository or branch name we keep: 1-200 characters, no control characters.
///
/// # Errors
/// Anything else.
pub fn check_name(what: &str, v: &str) -> Result<(), Error> {
    if v.is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!(
            "{what}: 1-200 characters without control characters"
        )));
    }
    Ok(())
}

/// Summarise and keep a report.
///
/// # Errors
/// Storage.
pub async fn store(
    storage: &StorageView,
    repo: &str,
    branch: &str,
    format: String,
    mut findings: Vec<Finding>,
) -> Result<Summary, Error> {
    let mut vulns: BTreeMap<String, u64> =
        SEVERITIES.iter().map(|s| ((*s).to_owned(), 0)).collect();
    let (mut secrets, mut misconf) = (0, 0);
    for f in &findings {
        match f.kind.as_str() {
            "secret" => secrets += 1,
            "misconfiguration" => misconf += 1,
            _ => *vulns.entry(f.severity.clone()).or_insert(0) += 1,
        }
    }
    let mut summary = Summary {
        repo: repo.to_owned(),
        branch: branch.to_owned(),
        time_ms: now_ms(),
        format,
        vulnerabilities: vulns,
        secrets,
        misconfigurations: misconf,
        pass: false,
    };
    summary.pass = summary.high_critical() == 0 && secrets == 0;
    findings.sort_by_key(|f| SEVERITIES.iter().position(|s| *s == f.severity));
    let truncated = findings.len().saturating_sub(MAX_FINDINGS) as u64;
    findings.truncate(MAX_FINDINGS);
    let key = branch_key(repo, branch);
    let stored = Stored {
        summary: summary.clone(),
        findings,
        truncated,
    };
    storage
        .put(&format!("scan/latest/{key}"), &to_json(&stored)?)
        .await?;
    storage
        .put(
            &format!("scan/hist/{key}/{:016}", summary.time_ms),
            &to_json(&summary)?,
        )
        .await?;
    let hist = storage.list(&format!("scan/hist/{key}/")).await?;
    if hist.len() > HISTORY {
        for k in &hist[..hist.len() - HISTORY] {
            storage.delete(k).await?;
        }
    }
    Ok(summary)
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(e.to_string()))
}

fn branch_key(repo: &str, branch: &str) -> String {
    format!("{}/{}", hex::encode(repo), hex::encode(branch))
}

/// The latest report of every repository and branch.
///
/// # Errors
/// Storage.
pub async fn latest_all(storage: &StorageView) -> Result<Vec<Summary>, Error> {
    let rows = storage.scan("scan/latest/").await?;
    let mut out: Vec<Summary> = rows
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice::<Stored>(&v).ok())
        .map(|s| s.summary)
        .collect();
    out.sort_by(|a, b| (&a.repo, &a.branch).cmp(&(&b.repo, &b.branch)));
    Ok(out)
}

/// The latest report of one repository and branch.
///
/// # Errors
/// Storage.
pub async fn latest(
    storage: &StorageView,
    repo: &str,
    branch: &str,
) -> Result<Option<Stored>, Error> {
    let key = format!("scan/latest/{}", branch_key(repo, branch));
    Ok(storage
        .get(&key)
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok()))
}

/// The kept summaries of one repository and branch, oldest first.
///
/// # Errors
/// Storage.
pub async fn history(
    storage: &StorageView,
    repo: &str,
    branch: &str,
) -> Result<Vec<Summary>, Error> {
    let prefix = format!("scan/hist/{}/", branch_key(repo, branch));
    let rows = storage.range(&Range::prefix(&prefix)).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIVY: &str = r#"{"SchemaVersion":2,"Results":[
      {"Target":"Cargo.lock","Class":"lang-pkgs","Type":"cargo","Vulnerabilities":[
        {"VulnerabilityID":"RUSTSEC-2023-0001","PkgName":"tokio","InstalledVersion":"1.0.0","FixedVersion":"1.18.5","Severity":"HIGH","Title":"reader"},
        {"VulnerabilityID":"CVE-2024-1","PkgName":"x","InstalledVersion":"1","Severity":"low"}]},
      {"Target":"src/config.py","Class":"secret","Secrets":[
        {"RuleID":"aws-access-key-id","Category":"AWS","Severity":"CRITICAL","Title":"AWS Access Key ID","StartLine":3,"Match":"AKIA****"}]}]}"#;

    #[tokio::test]
    async fn trivy_reports_are_counted_gated_and_kept_per_branch() {
        let (format, f) = parse(TRIVY.as_bytes()).unwrap();
        assert_eq!(format, "trivy-json");
        assert_eq!(f.len(), 3);
        assert_eq!(f[1].severity, "LOW");
        assert_eq!(f[2].target, "src/config.py:3");
        assert!(
            !serde_json::to_string(&f).unwrap().contains("AKIA"),
            "no secret text"
        );
        let ctx = opshelf_core::Context::for_tests_named("console").await;
        let s = store(&ctx.storage, "acme/api", "main", format, f)
            .await
            .unwrap();
        assert_eq!(s.high_critical(), 1);
        assert_eq!(s.secrets, 1);
        assert!(!s.pass);
        let clean = store(&ctx.storage, "acme/api", "dev", "sarif".into(), Vec::new())
            .await
            .unwrap();
        assert!(clean.pass);
        let all = latest_all(&ctx.storage).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].branch, "dev");
        let l = latest(&ctx.storage, "acme/api", "main")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(l.findings[0].severity, "CRITICAL");
        assert_eq!(
            history(&ctx.storage, "acme/api", "main")
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn sarif_severity_follows_security_severity_then_level() {
        let sarif = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"opshelf","rules":[
          {"id":"CVE-1","shortDescription":{"text":"bad"},"properties":{"security-severity":"9.8","tags":["vulnerability","security","CRITICAL"]}},
          {"id":"aws","properties":{"tags":["secret","security"]}}]}},
          "results":[{"ruleId":"CVE-1","level":"error","message":{"text":"x"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"Cargo.lock"}}}]},
                     {"ruleId":"aws","level":"error","message":{"text":"secret found\nmore"}},
                     {"ruleId":"other","level":"note","message":{"text":"n"}}]}]}"#;
        let (format, f) = parse(sarif.as_bytes()).unwrap();
        assert_eq!(format, "sarif");
        assert_eq!(f[0].severity, "CRITICAL");
        assert_eq!(f[0].target, "Cargo.lock");
        assert_eq!(f[1].kind, "secret");
        assert_eq!(f[1].title, "secret found");
        assert_eq!(f[2].severity, "LOW");
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
