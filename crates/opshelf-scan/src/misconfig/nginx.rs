//! nginx checks (NGX IDs): `server_tokens`, TLS protocols, security headers.

use super::{Finding, finding};

pub(super) fn nginx(content: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut directives: Vec<(usize, String)> = Vec::new();
    for (i, raw) in content.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if !line.is_empty() {
            directives.push((i + 1, line.to_string()));
        }
    }
    let find = |name: &str| -> Vec<&(usize, String)> {
        directives
            .iter()
            .filter(|(_, l)| l.split_whitespace().next() == Some(name))
            .collect()
    };
    for (line, d) in find("server_tokens") {
        if d.split_whitespace().nth(1).map(|v| v.trim_end_matches(';')) == Some("on") {
            out.push(finding(
                "NGX001",
                "server_tokens is on: the nginx version is disclosed",
                *line,
                *line,
            ));
        }
    }
    for (line, d) in find("ssl_protocols") {
        let weak: Vec<&str> = d
            .split_whitespace()
            .skip(1)
            .map(|v| v.trim_end_matches(';'))
            .filter(|v| matches!(*v, "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1"))
            .collect();
        if !weak.is_empty() {
            out.push(finding(
                "NGX002",
                format!("ssl_protocols enables {}", weak.join(", ")),
                *line,
                *line,
            ));
        }
    }
    // security headers, per server block
    let server_lines: Vec<usize> = directives
        .iter()
        .filter(|(_, l)| l.starts_with("server {") || l.starts_with("server{") || l == "server")
        .map(|(n, _)| *n)
        .collect();
    if !server_lines.is_empty() {
        let headers: String = find("add_header")
            .iter()
            .map(|(_, l)| l.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        let mut missing = Vec::new();
        if !headers.contains("strict-transport-security") {
            missing.push("Strict-Transport-Security");
        }
        if !headers.contains("x-content-type-options") {
            missing.push("X-Content-Type-Options");
        }
        if !headers.contains("x-frame-options") && !headers.contains("frame-ancestors") {
            missing.push("X-Frame-Options");
        }
        if !missing.is_empty() {
            let l = server_lines[0];
            out.push(finding(
                "NGX003",
                format!("Missing security headers: {}", missing.join(", ")),
                l,
                l,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misconfig::tests::ids;

    #[test]
    fn nginx_checks() {
        let bad = "http {\n  server_tokens on;\n  server {\n    listen 443 ssl;\n    ssl_protocols TLSv1 TLSv1.2;\n  }\n}\n";
        let got = nginx(bad);
        assert_eq!(ids(&got), vec!["NGX001", "NGX002", "NGX003"]);
        let good = "http {\n  server_tokens off;\n  server {\n    listen 443 ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    add_header Strict-Transport-Security \"max-age=63072000\" always;\n    add_header X-Content-Type-Options nosniff always;\n    add_header X-Frame-Options DENY always;\n  }\n}\n";
        assert!(nginx(good).is_empty());
    }
}
