//! Dockerfile checks (Trivy's DS IDs) over a small instruction parser: continuation lines,
//! heredocs, build stages.

use std::sync::OnceLock;

use regex::Regex;

use super::{Finding, finding, image_untagged_or_latest, secret_like_name};

#[derive(Debug, Clone)]
struct Instruction {
    cmd: String,
    /// Arguments, continuation lines joined (heredoc bodies appended after a newline).
    args: String,
    start: usize,
    end: usize,
    stage: usize,
}

fn parse_dockerfile(content: &str) -> Vec<Instruction> {
    let lines: Vec<&str> = content.lines().collect();
    let mut out = Vec::new();
    let mut stage = 0usize;
    let mut seen_from = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut text = String::new();
        let mut cur = lines[i].trim_end();
        loop {
            if let Some(stripped) = cur.strip_suffix('\\') {
                text.push_str(stripped);
                text.push(' ');
                i += 1;
                // skip comment lines inside continuations
                while i < lines.len() && lines[i].trim_start().starts_with('#') {
                    i += 1;
                }
                if i >= lines.len() {
                    break;
                }
                cur = lines[i].trim_end();
            } else {
                text.push_str(cur);
                break;
            }
        }
        let mut end = i + 1;
        let text = text.trim().to_string();
        let (cmd, args) = match text.split_once(char::is_whitespace) {
            Some((c, a)) => (c.to_ascii_uppercase(), a.trim().to_string()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let mut args = args;
        // heredoc: RUN <<EOF ... EOF
        if let Some(pos) = args.find("<<") {
            let marker: String = args[pos + 2..]
                .trim_start_matches('-')
                .trim_matches(|c| c == '"' || c == '\'')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !marker.is_empty() {
                let mut j = i + 1;
                while j < lines.len() && lines[j].trim() != marker {
                    args.push('\n');
                    args.push_str(lines[j]);
                    j += 1;
                }
                i = j;
                end = j + 1;
            }
        }
        if cmd == "FROM" {
            if seen_from {
                stage += 1;
            }
            seen_from = true;
        }
        out.push(Instruction {
            cmd,
            args,
            start,
            end,
            stage,
        });
        i += 1;
    }
    out
}

/// Commands of a RUN (shell form split on `&&`, `;`, `||`, `|`, newlines; exec form joined).
fn run_commands(args: &str) -> Vec<String> {
    let text = if args.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<String>>(args.trim())
            .map(|v| v.join(" "))
            .unwrap_or_else(|_| args.to_string())
    } else {
        args.to_string()
    };
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"&&|\|\||;|\||\n").expect("split regex"));
    re.split(&text)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn words(cmd: &str) -> Vec<&str> {
    cmd.split_whitespace().collect()
}

pub(super) fn dockerfile(content: &str) -> Vec<Finding> {
    let ins = parse_dockerfile(content);
    let mut out = Vec::new();
    if ins.is_empty() {
        return out;
    }
    let mut aliases: Vec<String> = Vec::new();
    let mut args_declared: Vec<String> = Vec::new();
    for x in &ins {
        match x.cmd.as_str() {
            "ARG" => {
                let name = x.args.split('=').next().unwrap_or("").trim().to_string();
                if secret_like_name(&name) {
                    out.push(finding(
                        "DS031",
                        format!("Possible exposure of secret env {name:?} in ARG"),
                        x.start,
                        x.end,
                    ));
                }
                args_declared.push(name);
            }
            "FROM" => {
                let parts: Vec<&str> = x
                    .args
                    .split_whitespace()
                    .filter(|p| !p.starts_with("--"))
                    .collect();
                let image = parts.first().copied().unwrap_or("");
                let alias_ref = aliases.iter().any(|a| a.eq_ignore_ascii_case(image));
                if !image.is_empty()
                    && image != "scratch"
                    && !image.contains('$')
                    && !alias_ref
                    && image_untagged_or_latest(image)
                {
                    out.push(finding(
                        "DS001",
                        format!("Specify a tag in the 'FROM' statement for image '{image}'"),
                        x.start,
                        x.end,
                    ));
                }
                if parts.len() >= 3 && parts[1].eq_ignore_ascii_case("as") {
                    aliases.push(parts[2].to_string());
                }
            }
            "EXPOSE" => {
                for p in x.args.split_whitespace() {
                    if p.split('/').next() == Some("22") {
                        out.push(finding(
                            "DS004",
                            "Port 22 should not be exposed in Dockerfile",
                            x.start,
                            x.end,
                        ));
                    }
                }
            }
            "ADD" => {
                let parts: Vec<String> = if x.args.trim_start().starts_with('[') {
                    serde_json::from_str(x.args.trim()).unwrap_or_default()
                } else {
                    x.args
                        .split_whitespace()
                        .filter(|p| !p.starts_with("--"))
                        .map(|p| p.trim_matches('"').to_string())
                        .collect()
                };
                if parts.len() >= 2 {
                    let srcs = &parts[..parts.len() - 1];
                    let archive = |s: &str| {
                        let l = s.to_ascii_lowercase();
                        [
                            ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
                            ".tar.zst", ".gz", ".bz2", ".xz",
                        ]
                        .iter()
                        .any(|e| l.ends_with(e))
                    };
                    if !srcs.iter().all(|s| archive(s)) {
                        out.push(finding(
                            "DS005",
                            format!(
                                "Consider using 'COPY {}' command instead of 'ADD {}'",
                                parts.join(" "),
                                parts.join(" ")
                            ),
                            x.start,
                            x.end,
                        ));
                    }
                }
            }
            "RUN" => {
                let cmds = run_commands(&x.args);
                if cmds.iter().any(|c| words(c).first() == Some(&"sudo")) {
                    out.push(finding(
                        "DS010",
                        "Using 'sudo' in Dockerfile should be avoided",
                        x.start,
                        x.end,
                    ));
                }
                if cmds.iter().any(|c| words(c).first() == Some(&"cd")) {
                    out.push(finding("DS013", format!("RUN should not be used to change directory: '{}'. Use 'WORKDIR' statement instead.", x.args.lines().next().unwrap_or("")), x.start, x.end));
                }
                let managers = ["apt-get", "apt", "apk", "yum", "dnf", "zypper", "microdnf"];
                let has_update = cmds.iter().any(|c| {
                    let w = words(c);
                    w.len() >= 2
                        && managers.contains(&w[0])
                        && (w[1..].contains(&"update") || w[1..].contains(&"refresh"))
                });
                let has_install = cmds.iter().any(|c| {
                    let w = words(c);
                    w.len() >= 2
                        && managers.contains(&w[0])
                        && w[1..]
                            .iter()
                            .any(|a| matches!(*a, "install" | "add" | "upgrade" | "in"))
                });
                if has_update && !has_install {
                    out.push(finding("DS017", "The instruction 'RUN <package-manager> update' should always be followed by '<package-manager> install' in the same RUN statement.", x.start, x.end));
                }
                for c in &cmds {
                    let w = words(c);
                    if w.len() >= 2
                        && w[0] == "apk"
                        && w[1..].contains(&"add")
                        && !w.contains(&"--no-cache")
                    {
                        out.push(finding(
                            "DS025",
                            "'--no-cache' is missed: apk add",
                            x.start,
                            x.end,
                        ));
                    }
                    if w.len() >= 2
                        && w[0] == "apt-get"
                        && w[1..].contains(&"install")
                        && !w.contains(&"--no-install-recommends")
                    {
                        out.push(finding(
                            "DS029",
                            "'--no-install-recommends' flag is missed: 'apt-get install'",
                            x.start,
                            x.end,
                        ));
                    }
                }
            }
            "ENV" => {
                // ENV KEY=VALUE ... or ENV KEY VALUE
                let pairs: Vec<(String, String)> = if x.args.contains('=') {
                    x.args
                        .split_whitespace()
                        .filter_map(|p| p.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                        .collect()
                } else {
                    let mut it = x.args.splitn(2, char::is_whitespace);
                    vec![(
                        it.next().unwrap_or("").to_string(),
                        it.next().unwrap_or("").trim().to_string(),
                    )]
                };
                for (k, v) in pairs {
                    let from_arg = v.starts_with('$')
                        && args_declared.iter().any(|a| {
                            v.trim_start_matches("${")
                                .trim_start_matches('$')
                                .starts_with(a.as_str())
                        });
                    if secret_like_name(&k) && !v.is_empty() && !from_arg {
                        out.push(finding(
                            "DS031",
                            format!("Possible exposure of secret env {k:?} in ENV"),
                            x.start,
                            x.end,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    // DS016: more than one CMD in a stage
    let last_stage = ins.iter().map(|x| x.stage).max().unwrap_or(0);
    for stage in 0..=last_stage {
        let cmds: Vec<&Instruction> = ins
            .iter()
            .filter(|x| x.stage == stage && x.cmd == "CMD")
            .collect();
        if cmds.len() > 1 {
            for c in &cmds[..cmds.len() - 1] {
                out.push(finding(
                    "DS016",
                    format!("There are {} duplicate CMD instructions", cmds.len()),
                    c.start,
                    c.end,
                ));
            }
        }
    }
    // DS002: the last USER must not be root; no USER at all means root
    let users: Vec<&Instruction> = ins.iter().filter(|x| x.cmd == "USER").collect();
    match users.last() {
        None => out.push(finding(
            "DS002",
            "Specify at least 1 USER command in Dockerfile with non-root user as argument",
            1,
            1,
        )),
        Some(u) => {
            let name = u.args.split(':').next().unwrap_or("").trim();
            if name == "root" || name == "0" {
                out.push(finding(
                    "DS002",
                    "Last USER command in Dockerfile should not be 'root'",
                    u.start,
                    u.end,
                ));
            }
        }
    }
    // DS026: no HEALTHCHECK
    if !ins.iter().any(|x| x.cmd == "HEALTHCHECK") {
        out.push(finding(
            "DS026",
            "Add HEALTHCHECK instruction in your Dockerfile",
            1,
            1,
        ));
    }
    out.sort_by_key(|f| (f.start_line, f.id.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misconfig::tests::ids;

    #[test]
    fn dockerfile_checks_without_upstream_examples() {
        let bad = "FROM alpine:3.19\nARG GITHUB_TOKEN\nENV DB_PASSWORD=hunter2\nRUN apk add curl\nRUN apt-get install -y vim\nUSER app\n";
        let got = dockerfile(bad);
        let got = ids(&got);
        for id in ["DS025", "DS026", "DS029", "DS031"] {
            assert!(got.contains(&id), "{id} missing from {got:?}");
        }
        let good = "FROM alpine:3.19\nRUN apk add --no-cache curl\nRUN apt-get install -y --no-install-recommends vim\nENV CONFIG_PATH=/etc/app\nHEALTHCHECK CMD true\nUSER app\n";
        assert!(dockerfile(good).is_empty(), "{:?}", dockerfile(good));
    }
}
