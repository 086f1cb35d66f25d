//! The human-readable table report (`--format table`, the default).

use std::fmt::Write as _;

use super::{Report, ResultClass, unique_ids};
use crate::cvss::Severity;

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let w = c.lines().map(|l| l.chars().count()).max().unwrap_or(0);
            widths[i] = widths[i].max(w);
        }
    }
    let line = |l: &str, m: &str, r: &str| -> String {
        let mut s = String::from(l);
        for (i, w) in widths.iter().enumerate() {
            s.push_str(&"─".repeat(w + 2));
            s.push_str(if i + 1 == widths.len() { r } else { m });
        }
        s.push('\n');
        s
    };
    let row = |cells: &[String]| -> String {
        let mut s = String::from("│");
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).map_or("", String::as_str);
            let pad = w - c.chars().count();
            let _ = write!(s, " {c}{} │", " ".repeat(pad));
        }
        s.push('\n');
        s
    };
    let mut out = line("┌", "┬", "┐");
    out.push_str(&row(&headers
        .iter()
        .map(|h| (*h).to_string())
        .collect::<Vec<_>>()));
    for (n, r) in rows.iter().enumerate() {
        out.push_str(&line("├", "┼", "┤"));
        let _ = n;
        out.push_str(&row(r));
    }
    out.push_str(&line("└", "┴", "┘"));
    out
}

fn totals<'a>(sevs: impl Iterator<Item = &'a Severity>) -> String {
    let mut counts = [0usize; 5];
    let mut total = 0;
    for s in sevs {
        counts[*s as usize] += 1;
        total += 1;
    }
    format!(
        "Total: {total} (UNKNOWN: {}, LOW: {}, MEDIUM: {}, HIGH: {}, CRITICAL: {})",
        counts[0], counts[1], counts[2], counts[3], counts[4]
    )
}

fn clip(s: &str, n: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() <= n {
        return first.to_string();
    }
    let mut out: String = first.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The human-readable table report.
pub fn to_table(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.results {
        if r.vulnerabilities.is_empty()
            && r.secrets.is_empty()
            && r.misconfigurations.is_empty()
            && r.error.is_none()
        {
            continue;
        }
        let title = match r.class {
            ResultClass::Secret => format!("{} (secrets)", r.target),
            // the target already names the OS: `image.tar (debian 12.5)`
            ResultClass::OsPkgs => r.target.clone(),
            _ => format!("{} ({})", r.target, r.kind),
        };
        let _ = writeln!(out, "\n{title}\n{}", "=".repeat(title.chars().count()));
        if let Some(e) = &r.error {
            let _ = writeln!(out, "Error: {e}");
        }
        if !r.vulnerabilities.is_empty() {
            let _ = writeln!(
                out,
                "{}\n",
                totals(r.vulnerabilities.iter().map(|v| &v.severity))
            );
            let rows: Vec<Vec<String>> = r
                .vulnerabilities
                .iter()
                .map(|v| {
                    vec![
                        v.pkg_name.clone(),
                        v.id.clone(),
                        v.severity.to_string(),
                        if v.fixed_version.is_empty() {
                            "affected".into()
                        } else {
                            "fixed".into()
                        },
                        v.installed_version.clone(),
                        clip(&v.fixed_version, 30),
                        clip(&v.title, 60),
                    ]
                })
                .collect();
            out.push_str(&table(
                &[
                    "Library",
                    "Vulnerability",
                    "Severity",
                    "Status",
                    "Installed Version",
                    "Fixed Version",
                    "Title",
                ],
                &rows,
            ));
        }
        if !r.misconfigurations.is_empty() {
            let _ = writeln!(
                out,
                "Tests: {} (SUCCESSES: {}, FAILURES: {})",
                r.checks_run,
                r.checks_run
                    .saturating_sub(unique_ids(&r.misconfigurations)),
                r.misconfigurations.len()
            );
            let _ = writeln!(
                out,
                "Failures: {}\n",
                totals(r.misconfigurations.iter().map(|m| &m.severity))
                    .trim_start_matches("Total: ")
            );
            for m in &r.misconfigurations {
                let _ = writeln!(
                    out,
                    "{} ({}): {}\n{}\n{}\nSee {}\n  {}:{}\n",
                    m.id,
                    m.severity,
                    m.message,
                    "═".repeat(60),
                    m.title,
                    m.primary_url(),
                    r.target,
                    m.start_line
                );
            }
        }
        if !r.secrets.is_empty() {
            let _ = writeln!(out, "{}\n", totals(r.secrets.iter().map(|s| &s.severity)));
            for s in &r.secrets {
                let _ = writeln!(
                    out,
                    "{} ({}): {}\n{}",
                    s.severity,
                    s.rule_id,
                    s.title,
                    "═".repeat(60)
                );
                for (n, content, cause) in &s.code {
                    let _ = writeln!(out, "{:>4} {} {content}", n, if *cause { "[" } else { " " });
                }
                let _ = writeln!(out, "{}\n", "─".repeat(60));
            }
        }
    }
    if out.is_empty() {
        out.push_str("No findings.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn table_renders() {
        let t = to_table(&sample());
        assert!(t.contains("requirements.txt (pip)"));
        assert!(t.contains("CVE-2021-44420"));
        assert!(t.contains("Total: 1 (UNKNOWN: 0, LOW: 0, MEDIUM: 0, HIGH: 1, CRITICAL: 0)"));
        assert!(!t.contains("GnJ8zb09tygMcjttDyBrcY3lULGThdeQc8IpP695rpb"));
    }
}
