//! Trivy's ignore files: `.trivyignore` (one ID per line, optional `exp:YYYY-MM-DD`) and
//! `.trivyignore.yaml` (`vulnerabilities` / `misconfigurations` / `secrets` lists with `id`,
//! `paths`, `purls`, `expired_at`). Check IDs match their aliases (`DS002` = `AVD-DS-0002`).

use globset::{Glob, GlobMatcher};
use serde::Deserialize;
pub use time::Date;

/// Today's date (UTC), for expiry checks.
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// Which findings an entry applies to (`None` = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Vulnerability,
    Misconfiguration,
    Secret,
}

#[derive(Debug, Clone)]
struct Entry {
    class: Option<Class>,
    id: String,
    paths: Vec<GlobMatcher>,
    purls: Vec<String>,
}

/// A parsed ignore file; expired entries are already dropped.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    entries: Vec<Entry>,
}

/// Errors in an ignore file.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("line {line}: invalid expiry {value:?} (expected exp:YYYY-MM-DD)")]
    Expiry { line: usize, value: String },
    #[error("invalid .trivyignore.yaml: {0}")]
    Yaml(String),
    #[error("invalid path pattern {pattern:?}: {message}")]
    Glob { pattern: String, message: String },
}

fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let s = s.trim();
    // accept RFC 3339 timestamps too (only the date part matters)
    Date::parse(s.get(..10).unwrap_or(s), &fmt).ok()
}

fn glob(pattern: &str) -> Result<GlobMatcher, IgnoreError> {
    let p = pattern.trim_start_matches("./");
    Glob::new(p)
        .map(|g| g.compile_matcher())
        .map_err(|e| IgnoreError::Glob {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })
}

/// The aliases of a check ID: `DS002` <-> `AVD-DS-0002`, `KSV001` <-> `AVD-KSV-0001`.
pub fn check_id_aliases(id: &str) -> Vec<String> {
    let mut out = vec![id.to_string()];
    if let Some(rest) = id.strip_prefix("AVD-")
        && let Some((prefix, num)) = rest.split_once('-')
        && let Ok(n) = num.parse::<u32>()
    {
        out.push(format!("{prefix}{n:03}"));
        return out;
    }
    let split = id.find(|c: char| c.is_ascii_digit());
    if let Some(i) = split {
        let (prefix, num) = id.split_at(i);
        if !prefix.is_empty()
            && prefix.chars().all(|c| c.is_ascii_uppercase())
            && let Ok(n) = num.parse::<u32>()
        {
            out.push(format!("AVD-{prefix}-{n:04}"));
        }
    }
    out
}

impl IgnoreList {
    /// Parses `.trivyignore` text; entries that expired before `today` are dropped.
    pub fn parse_text(text: &str, today: Date) -> Result<IgnoreList, IgnoreError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut fields = line.split_whitespace();
            let Some(id) = fields.next() else { continue };
            let mut expired = false;
            for f in fields {
                if let Some(v) = f.strip_prefix("exp:") {
                    let d = parse_date(v).ok_or_else(|| IgnoreError::Expiry {
                        line: i + 1,
                        value: v.to_string(),
                    })?;
                    expired = d < today;
                }
            }
            if expired {
                continue;
            }
            entries.push(Entry {
                class: None,
                id: id.to_string(),
                paths: Vec::new(),
                purls: Vec::new(),
            });
        }
        Ok(IgnoreList { entries })
    }

    /// Parses `.trivyignore.yaml`.
    pub fn parse_yaml(text: &str, today: Date) -> Result<IgnoreList, IgnoreError> {
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        struct File {
            vulnerabilities: Vec<YEntry>,
            misconfigurations: Vec<YEntry>,
            secrets: Vec<YEntry>,
        }
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        struct YEntry {
            id: String,
            paths: Vec<String>,
            purls: Vec<String>,
            expired_at: Option<String>,
        }
        if text.trim().is_empty() {
            return Ok(IgnoreList::default());
        }
        let file: File =
            serde_yaml_ng::from_str(text).map_err(|e| IgnoreError::Yaml(e.to_string()))?;
        let mut entries = Vec::new();
        for (class, list) in [
            (Class::Vulnerability, file.vulnerabilities),
            (Class::Misconfiguration, file.misconfigurations),
            (Class::Secret, file.secrets),
        ] {
            for e in list {
                if let Some(exp) = &e.expired_at {
                    let d = parse_date(exp)
                        .ok_or_else(|| IgnoreError::Yaml(format!("invalid expired_at {exp:?}")))?;
                    if d < today {
                        continue;
                    }
                }
                entries.push(Entry {
                    class: Some(class),
                    id: e.id,
                    paths: e.paths.iter().map(|p| glob(p)).collect::<Result<_, _>>()?,
                    purls: e.purls,
                });
            }
        }
        Ok(IgnoreList { entries })
    }

    /// Adds another list's entries.
    pub fn extend(&mut self, other: IgnoreList) {
        self.entries.extend(other.entries);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when a finding with any of `ids`, in `path` (relative), for `purl`, is ignored.
    pub fn ignores(&self, class: Class, ids: &[&str], path: &str, purl: Option<&str>) -> bool {
        let path = path.trim_start_matches("./");
        self.entries.iter().any(|e| {
            if e.class.is_some_and(|c| c != class) {
                return false;
            }
            let id_match = match class {
                Class::Misconfiguration => {
                    let aliases = check_id_aliases(&e.id);
                    ids.iter()
                        .any(|id| aliases.iter().any(|a| a.eq_ignore_ascii_case(id)))
                }
                Class::Secret => ids.iter().any(|id| {
                    crate::secret::canonical_rule_id(&e.id) == crate::secret::canonical_rule_id(id)
                }),
                Class::Vulnerability => ids.iter().any(|id| id.eq_ignore_ascii_case(&e.id)),
            };
            if !id_match {
                return false;
            }
            if !e.paths.is_empty() && !e.paths.iter().any(|g| g.is_match(path)) {
                return false;
            }
            if !e.purls.is_empty() {
                let Some(p) = purl else { return false };
                // a purl without version matches every version of the package
                if !e
                    .purls
                    .iter()
                    .any(|x| x == p || p.split('@').next() == Some(x.as_str()))
                {
                    return false;
                }
            }
            true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        parse_date("2026-06-01").expect("date")
    }

    #[test]
    fn text_file_with_expiry() {
        let l = IgnoreList::parse_text(
            "# comment\nCVE-2020-1\nCVE-2020-2 exp:2020-01-01\nCVE-2020-3 exp:2099-01-01\nDS002\ngithub-pat\n",
            today(),
        )
        .expect("parse");
        assert!(l.ignores(Class::Vulnerability, &["GHSA-x", "CVE-2020-1"], "a", None));
        assert!(!l.ignores(Class::Vulnerability, &["CVE-2020-2"], "a", None));
        assert!(l.ignores(Class::Vulnerability, &["CVE-2020-3"], "a", None));
        assert!(l.ignores(
            Class::Misconfiguration,
            &["AVD-DS-0002"],
            "Dockerfile",
            None
        ));
        assert!(l.ignores(Class::Secret, &["github-pat"], "x", None));
        assert!(IgnoreList::parse_text("CVE-1 exp:soon\n", today()).is_err());
    }

    #[test]
    fn yaml_file_paths_purls_expiry() {
        let y = r#"
vulnerabilities:
  - id: CVE-2022-40897
    paths: ["app/requirements.txt"]
  - id: CVE-2023-1
    purls: ["pkg:pypi/requests"]
  - id: CVE-2019-1
    expired_at: 2020-01-01
misconfigurations:
  - id: AVD-DS-0002
    paths: ["docker/**"]
secrets:
  - id: slack-webhook-url
"#;
        let l = IgnoreList::parse_yaml(y, today()).expect("parse");
        assert!(l.ignores(
            Class::Vulnerability,
            &["CVE-2022-40897"],
            "app/requirements.txt",
            None
        ));
        assert!(!l.ignores(
            Class::Vulnerability,
            &["CVE-2022-40897"],
            "other/requirements.txt",
            None
        ));
        assert!(l.ignores(
            Class::Vulnerability,
            &["CVE-2023-1"],
            "x",
            Some("pkg:pypi/requests@2.0.0")
        ));
        assert!(!l.ignores(
            Class::Vulnerability,
            &["CVE-2023-1"],
            "x",
            Some("pkg:pypi/flask@2.0.0")
        ));
        assert!(!l.ignores(Class::Vulnerability, &["CVE-2019-1"], "x", None));
        assert!(l.ignores(
            Class::Misconfiguration,
            &["DS002"],
            "docker/api/Dockerfile",
            None
        ));
        assert!(!l.ignores(Class::Misconfiguration, &["DS002"], "Dockerfile", None));
        assert!(l.ignores(Class::Secret, &["slack-web-hook"], "x", None));
        // a yaml vulnerability entry does not ignore a secret with the same id
        assert!(!l.ignores(Class::Secret, &["CVE-2023-1"], "x", None));
    }

    #[test]
    fn aliases() {
        assert_eq!(check_id_aliases("DS002"), vec!["DS002", "AVD-DS-0002"]);
        assert_eq!(
            check_id_aliases("AVD-KSV-0001"),
            vec!["AVD-KSV-0001", "KSV001"]
        );
        assert_eq!(
            check_id_aliases("aws-access-key-id"),
            vec!["aws-access-key-id"]
        );
    }
}
