//! Misconfiguration checks: Dockerfile (Trivy's DS IDs), docker-compose (DCP, which Trivy
//! lacks), Kubernetes basics (KSV IDs) and nginx (NGX). Text in, findings out.

use regex::Regex;
use serde_yaml_ng::Value as Yaml;
use std::sync::OnceLock;

use crate::cvss::Severity;

/// The kinds of configuration file understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Dockerfile,
    Compose,
    Kubernetes,
    Nginx,
}

impl FileKind {
    /// Trivy's `Type` of the result.
    pub fn trivy_type(self) -> &'static str {
        match self {
            FileKind::Dockerfile => "dockerfile",
            FileKind::Compose => "docker-compose",
            FileKind::Kubernetes => "kubernetes",
            FileKind::Nginx => "nginx",
        }
    }

    fn check_type(self) -> &'static str {
        match self {
            FileKind::Dockerfile => "Dockerfile Security Check",
            FileKind::Compose => "Docker Compose Security Check",
            FileKind::Kubernetes => "Kubernetes Security Check",
            FileKind::Nginx => "Nginx Security Check",
        }
    }
}

/// Recognises a configuration file by name (and, for YAML, by content).
pub fn detect(file_name: &str, content: Option<&str>) -> Option<FileKind> {
    let lower = file_name.to_ascii_lowercase();
    if lower == "dockerfile"
        || lower == "containerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
    {
        return Some(FileKind::Dockerfile);
    }
    let yaml = lower.ends_with(".yml") || lower.ends_with(".yaml");
    if yaml && (lower.starts_with("docker-compose") || lower.starts_with("compose")) {
        return Some(FileKind::Compose);
    }
    if lower == "nginx.conf"
        || (lower.ends_with(".conf")
            && content.is_some_and(|c| c.contains("server {") || c.contains("server{")))
    {
        return Some(FileKind::Nginx);
    }
    if yaml
        && let Some(c) = content
        && c.contains("apiVersion:")
        && c.contains("kind:")
    {
        return Some(FileKind::Kubernetes);
    }
    None
}

/// One failed check.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Short ID (`DS002`); the AVD form is [`Finding::avd_id`].
    pub id: String,
    pub kind: FileKind,
    pub title: String,
    pub description: String,
    pub message: String,
    pub resolution: String,
    pub severity: Severity,
    pub start_line: usize,
    pub end_line: usize,
}

impl Finding {
    /// `AVD-DS-0002` for `DS002`.
    pub fn avd_id(&self) -> String {
        crate::ignorefile::check_id_aliases(&self.id)
            .into_iter()
            .find(|a| a.starts_with("AVD-"))
            .unwrap_or_else(|| self.id.clone())
    }

    pub fn check_type(&self) -> &'static str {
        self.kind.check_type()
    }

    pub fn primary_url(&self) -> String {
        match self.kind {
            FileKind::Dockerfile | FileKind::Kubernetes => {
                format!(
                    "https://avd.aquasec.com/misconfig/{}",
                    self.id.to_ascii_lowercase()
                )
            }
            FileKind::Compose | FileKind::Nginx => {
                format!(
                    "https://github.com/opshelf/opshelf/blob/main/docs/checks.md#{}",
                    self.id.to_ascii_lowercase()
                )
            }
        }
    }
}

/// Static description of a check.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub id: &'static str,
    pub kind: FileKind,
    pub severity: Severity,
    pub title: &'static str,
    pub description: &'static str,
    pub resolution: &'static str,
}

/// Every implemented check.
pub const CHECKS: &[Check] = &[
    Check {
        id: "DS001",
        kind: FileKind::Dockerfile,
        severity: Severity::Medium,
        title: "':latest' tag used",
        description: "When using a 'FROM' statement you should use a specific tag to avoid uncontrolled behavior when the image is updated.",
        resolution: "Add a tag to the image in the 'FROM' statement",
    },
    Check {
        id: "DS002",
        kind: FileKind::Dockerfile,
        severity: Severity::High,
        title: "Image user should not be 'root'",
        description: "Running containers with 'root' user can lead to a container escape situation. It is a best practice to run containers as non-root users, which can be done by adding a 'USER' statement to the Dockerfile.",
        resolution: "Add 'USER <non root user name>' line to the Dockerfile",
    },
    Check {
        id: "DS004",
        kind: FileKind::Dockerfile,
        severity: Severity::Medium,
        title: "Port 22 exposed",
        description: "Exposing port 22 might allow users to SSH into the container.",
        resolution: "Remove 'EXPOSE 22' statement from the Dockerfile",
    },
    Check {
        id: "DS005",
        kind: FileKind::Dockerfile,
        severity: Severity::Low,
        title: "ADD instead of COPY",
        description: "You should use COPY instead of ADD unless you want to extract a tar file. Note that an ADD command will extract a tar file, which adds the risk of Zip-based vulnerabilities.",
        resolution: "Use COPY instead of ADD",
    },
    Check {
        id: "DS010",
        kind: FileKind::Dockerfile,
        severity: Severity::Critical,
        title: "RUN using 'sudo'",
        description: "Avoid using 'RUN' with 'sudo' commands, as it can lead to unpredictable behavior.",
        resolution: "Don't use sudo",
    },
    Check {
        id: "DS013",
        kind: FileKind::Dockerfile,
        severity: Severity::Medium,
        title: "'RUN cd ...' to change directory",
        description: "Use WORKDIR instead of proliferating instructions like 'RUN cd … && do-something', which are hard to read, troubleshoot, and maintain.",
        resolution: "Use WORKDIR to change directory",
    },
    Check {
        id: "DS016",
        kind: FileKind::Dockerfile,
        severity: Severity::High,
        title: "Multiple CMD instructions listed",
        description: "There can only be one CMD instruction in a Dockerfile. If you list more than one CMD then only the last CMD will take effect.",
        resolution: "Dockerfile should only have one CMD instruction. Remove all the other CMD instructions",
    },
    Check {
        id: "DS017",
        kind: FileKind::Dockerfile,
        severity: Severity::High,
        title: "'RUN <package-manager> update' instruction alone",
        description: "The instruction 'RUN <package-manager> update' should always be followed by '<package-manager> install' in the same RUN statement.",
        resolution: "Combine '<package-manager> update' and '<package-manager> install' instructions to single one",
    },
    Check {
        id: "DS025",
        kind: FileKind::Dockerfile,
        severity: Severity::High,
        title: "'apk add' is missing '--no-cache'",
        description: "You should use 'apk add' with '--no-cache' to clean package cached data and reduce image size.",
        resolution: "Add '--no-cache' to 'apk add' in Dockerfile",
    },
    Check {
        id: "DS026",
        kind: FileKind::Dockerfile,
        severity: Severity::Low,
        title: "No HEALTHCHECK defined",
        description: "You should add HEALTHCHECK instruction in your docker container images to perform the health check on running containers.",
        resolution: "Add HEALTHCHECK instruction in Dockerfile",
    },
    Check {
        id: "DS029",
        kind: FileKind::Dockerfile,
        severity: Severity::High,
        title: "'apt-get' missing '--no-install-recommends'",
        description: "'apt-get' install should use '--no-install-recommends' to minimize image size.",
        resolution: "Add '--no-install-recommends' flag to 'apt-get'",
    },
    Check {
        id: "DS031",
        kind: FileKind::Dockerfile,
        severity: Severity::Critical,
        title: "Secrets passed via `build-args` or envs or copied secret files",
        description: "Passing secrets via `build-args` or envs or copying secret files can leak them out.",
        resolution: "Use secret mount if secrets are needed during image build. Use volume mount if secret files are needed during container runtime.",
    },
    Check {
        id: "DCP001",
        kind: FileKind::Compose,
        severity: Severity::High,
        title: "Privileged service",
        description: "A privileged container has every capability and device of the host; an escape is trivial.",
        resolution: "Remove 'privileged: true'; add only the capabilities the service needs",
    },
    Check {
        id: "DCP002",
        kind: FileKind::Compose,
        severity: Severity::High,
        title: "Host namespace shared",
        description: "'network_mode: host', 'pid: host' or 'ipc: host' removes the isolation between the service and the host.",
        resolution: "Use the default (private) network, PID and IPC namespaces",
    },
    Check {
        id: "DCP003",
        kind: FileKind::Compose,
        severity: Severity::Critical,
        title: "Docker socket mounted",
        description: "Mounting /var/run/docker.sock gives the service root on the host.",
        resolution: "Do not mount the Docker socket; use a socket proxy with a narrow API if it is really needed",
    },
    Check {
        id: "DCP004",
        kind: FileKind::Compose,
        severity: Severity::Medium,
        title: "':latest' or untagged image",
        description: "An image without a pinned tag changes under you at the next pull.",
        resolution: "Pin the image to a version tag or a digest",
    },
    Check {
        id: "DCP005",
        kind: FileKind::Compose,
        severity: Severity::High,
        title: "Secret in 'environment'",
        description: "Secrets written into the compose file end up in the repository and in 'docker inspect'.",
        resolution: "Use Compose secrets, an env_file outside the repository, or ${VARIABLE} substitution",
    },
    Check {
        id: "DCP006",
        kind: FileKind::Compose,
        severity: Severity::Medium,
        title: "Internal service published on all interfaces",
        description: "A database or cache port published without a host address listens on every interface of the host (and Docker bypasses host firewalls).",
        resolution: "Remove the port mapping or bind it to 127.0.0.1 ('127.0.0.1:5432:5432')",
    },
    Check {
        id: "DCP007",
        kind: FileKind::Compose,
        severity: Severity::Low,
        title: "No memory limit",
        description: "A service without a memory limit can exhaust the host's memory.",
        resolution: "Set 'mem_limit' or 'deploy.resources.limits.memory'",
    },
    Check {
        id: "DCP008",
        kind: FileKind::Compose,
        severity: Severity::Medium,
        title: "Capabilities added",
        description: "'cap_add' widens what the container may do to the kernel; SYS_ADMIN or ALL is close to privileged.",
        resolution: "Drop 'cap_add' or keep it to the minimum the service needs",
    },
    Check {
        id: "KSV001",
        kind: FileKind::Kubernetes,
        severity: Severity::Medium,
        title: "Can elevate its own privileges",
        description: "A program inside the container can elevate its own privileges and run as root, which might give the program control over the container and node.",
        resolution: "Set 'set containers[].securityContext.allowPrivilegeEscalation' to 'false'.",
    },
    Check {
        id: "KSV003",
        kind: FileKind::Kubernetes,
        severity: Severity::Low,
        title: "Default capabilities: some containers do not drop all",
        description: "The container should drop all default capabilities and add only those that are needed for its execution.",
        resolution: "Add 'ALL' to containers[].securityContext.capabilities.drop.",
    },
    Check {
        id: "KSV008",
        kind: FileKind::Kubernetes,
        severity: Severity::High,
        title: "Access to host IPC namespace",
        description: "Sharing the host's IPC namespace allows container processes to communicate with processes on the host.",
        resolution: "Do not set 'spec.template.spec.hostIPC' to true.",
    },
    Check {
        id: "KSV009",
        kind: FileKind::Kubernetes,
        severity: Severity::High,
        title: "Access to host network",
        description: "Sharing the host's network namespace permits processes in the pod to communicate with processes bound to the host's loopback adapter.",
        resolution: "Do not set 'spec.template.spec.hostNetwork' to true.",
    },
    Check {
        id: "KSV010",
        kind: FileKind::Kubernetes,
        severity: Severity::High,
        title: "Access to host PID",
        description: "Sharing the host's PID namespace allows visibility on host processes, potentially leaking information such as environment variables and configuration.",
        resolution: "Do not set 'spec.template.spec.hostPID' to true.",
    },
    Check {
        id: "KSV011",
        kind: FileKind::Kubernetes,
        severity: Severity::Low,
        title: "CPU not limited",
        description: "Enforcing CPU limits prevents DoS via resource exhaustion.",
        resolution: "Set a limit value under 'containers[].resources.limits.cpu'.",
    },
    Check {
        id: "KSV012",
        kind: FileKind::Kubernetes,
        severity: Severity::Medium,
        title: "Runs as root user",
        description: "Force the running image to run as a non-root user to ensure least privileges.",
        resolution: "Set 'containers[].securityContext.runAsNonRoot' to true.",
    },
    Check {
        id: "KSV013",
        kind: FileKind::Kubernetes,
        severity: Severity::Medium,
        title: "Image tag \":latest\" used",
        description: "It is best to avoid using the ':latest' image tag when deploying containers in production.",
        resolution: "Use a specific container image tag that is not 'latest'.",
    },
    Check {
        id: "KSV014",
        kind: FileKind::Kubernetes,
        severity: Severity::High,
        title: "Root file system is not read-only",
        description: "An immutable root file system prevents applications from writing to their local disk.",
        resolution: "Change 'containers[].securityContext.readOnlyRootFilesystem' to 'true'.",
    },
    Check {
        id: "KSV017",
        kind: FileKind::Kubernetes,
        severity: Severity::High,
        title: "Privileged",
        description: "Privileged containers share namespaces with the host system and do not offer any security.",
        resolution: "Change 'containers[].securityContext.privileged' to 'false'.",
    },
    Check {
        id: "KSV018",
        kind: FileKind::Kubernetes,
        severity: Severity::Low,
        title: "Memory not limited",
        description: "Enforcing memory limits prevents DoS via resource exhaustion.",
        resolution: "Set a limit value under 'containers[].resources.limits.memory'.",
    },
    Check {
        id: "KSV023",
        kind: FileKind::Kubernetes,
        severity: Severity::Medium,
        title: "hostPath volumes mounted",
        description: "According to pod security standard 'HostPath Volumes', HostPath volumes must be forbidden.",
        resolution: "Do not set 'spec.volumes[*].hostPath'.",
    },
    Check {
        id: "KSV030",
        kind: FileKind::Kubernetes,
        severity: Severity::Low,
        title: "Runtime/Default Seccomp profile not set",
        description: "According to pod security standard 'Seccomp', the RuntimeDefault seccomp profile must be required, or allow specific additional profiles.",
        resolution: "Set 'spec.securityContext.seccompProfile.type', 'spec.containers[*].securityContext.seccompProfile' and 'spec.initContainers[*].securityContext.seccompProfile' to 'RuntimeDefault' or undefined.",
    },
    Check {
        id: "NGX001",
        kind: FileKind::Nginx,
        severity: Severity::Low,
        title: "server_tokens on",
        description: "'server_tokens on' (nginx's default) prints the nginx version in error pages and the Server header.",
        resolution: "Set 'server_tokens off;' in the http block",
    },
    Check {
        id: "NGX002",
        kind: FileKind::Nginx,
        severity: Severity::High,
        title: "Weak TLS protocols enabled",
        description: "SSLv2, SSLv3, TLSv1 and TLSv1.1 are broken or deprecated (RFC 8996).",
        resolution: "Use 'ssl_protocols TLSv1.2 TLSv1.3;'",
    },
    Check {
        id: "NGX003",
        kind: FileKind::Nginx,
        severity: Severity::Medium,
        title: "Security headers missing",
        description: "Responses lack Strict-Transport-Security, X-Content-Type-Options or X-Frame-Options / CSP frame-ancestors.",
        resolution: "Add the headers with 'add_header ... always;' in the server block",
    },
];

/// The static data of a check.
pub fn check(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.id == id)
}

fn finding(id: &str, message: impl Into<String>, start: usize, end: usize) -> Finding {
    let c = check(id).expect("known check id");
    Finding {
        id: c.id.to_string(),
        kind: c.kind,
        title: c.title.to_string(),
        description: c.description.to_string(),
        message: message.into(),
        resolution: c.resolution.to_string(),
        severity: c.severity,
        start_line: start,
        end_line: end,
    }
}

/// Runs every check for `kind` on `content`. Parse errors yield no findings (and `Err`).
pub fn scan(kind: FileKind, content: &str) -> Result<Vec<Finding>, String> {
    match kind {
        FileKind::Dockerfile => Ok(dockerfile(content)),
        FileKind::Compose => compose(content),
        FileKind::Kubernetes => kubernetes(content),
        FileKind::Nginx => Ok(nginx(content)),
    }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

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

const SECRET_NAME_PARTS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTH_KEY",
];

/// True for variable names that usually hold secrets.
pub fn secret_like_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|p| upper.contains(p))
        && !upper.ends_with("_FILE")
        && !upper.ends_with("_PATH")
        && !upper.ends_with("_URL")
}

fn image_untagged_or_latest(image: &str) -> bool {
    if image.contains('@') {
        return false; // digest-pinned
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

fn dockerfile(content: &str) -> Vec<Finding> {
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

// ---------------------------------------------------------------------------------------------
// docker-compose

fn line_of_key(content: &str, from_line: usize, needle: &str) -> usize {
    content
        .lines()
        .enumerate()
        .skip(from_line.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map_or(from_line.max(1), |(i, _)| i + 1)
}

const INTERNAL_IMAGES: &[&str] = &[
    "postgres",
    "mysql",
    "mariadb",
    "redis",
    "mongo",
    "memcached",
    "elasticsearch",
    "opensearch",
    "rabbitmq",
    "clickhouse",
    "kafka",
    "zookeeper",
    "etcd",
    "valkey",
    "keydb",
    "cassandra",
    "couchdb",
    "influxdb",
    "neo4j",
    "minio",
];

const INTERNAL_PORTS: &[u16] = &[
    5432, 3306, 6379, 27017, 11211, 9200, 9300, 5672, 8123, 9000, 9092, 2181, 2379, 9042, 5984,
    8086, 7687,
];

fn compose(content: &str) -> Result<Vec<Finding>, String> {
    let doc: Yaml = serde_yaml_ng::from_str(content).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let Some(services) = doc.get("services").and_then(Yaml::as_mapping) else {
        return Ok(out);
    };
    for (name, svc) in services {
        let Some(name) = name.as_str() else { continue };
        let svc_line = line_of_key(content, 1, &format!("{name}:"));
        let at = |key: &str| line_of_key(content, svc_line, key);
        let s = |key: &str| svc.get(key).and_then(Yaml::as_str);
        if svc.get("privileged").and_then(Yaml::as_bool) == Some(true) {
            out.push(finding(
                "DCP001",
                format!("Service '{name}' runs privileged"),
                at("privileged"),
                at("privileged"),
            ));
        }
        for key in ["network_mode", "pid", "ipc"] {
            if s(key) == Some("host") {
                out.push(finding(
                    "DCP002",
                    format!("Service '{name}' uses the host's {key} namespace"),
                    at(key),
                    at(key),
                ));
            }
        }
        if let Some(vols) = svc.get("volumes").and_then(Yaml::as_sequence) {
            for v in vols {
                let src = match v {
                    Yaml::String(s) => s.split(':').next().unwrap_or("").to_string(),
                    Yaml::Mapping(_) => v
                        .get("source")
                        .and_then(Yaml::as_str)
                        .unwrap_or("")
                        .to_string(),
                    _ => String::new(),
                };
                if src.ends_with("docker.sock") {
                    out.push(finding(
                        "DCP003",
                        format!("Service '{name}' mounts the Docker socket {src}"),
                        at("docker.sock"),
                        at("docker.sock"),
                    ));
                }
            }
        }
        let image = s("image").unwrap_or("");
        if !image.is_empty() && !image.contains('$') && image_untagged_or_latest(image) {
            out.push(finding(
                "DCP004",
                format!("Service '{name}' uses image '{image}' without a pinned tag"),
                at("image:"),
                at("image:"),
            ));
        }
        let env_pairs: Vec<(String, String)> = match svc.get("environment") {
            Some(Yaml::Mapping(m)) => m
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.as_str()?.to_string(),
                        match v {
                            Yaml::Null => String::new(),
                            other => yaml_to_string(other),
                        },
                    ))
                })
                .collect(),
            Some(Yaml::Sequence(seq)) => seq
                .iter()
                .filter_map(Yaml::as_str)
                .map(|e| match e.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (e.to_string(), String::new()),
                })
                .collect(),
            _ => Vec::new(),
        };
        for (k, v) in env_pairs {
            if secret_like_name(&k) && !v.is_empty() && !v.contains("${") && !v.starts_with('$') {
                let line = at(&k);
                out.push(finding(
                    "DCP005",
                    format!("Service '{name}' sets secret {k} in 'environment'"),
                    line,
                    line,
                ));
            }
        }
        let base = image
            .rsplit('/')
            .next()
            .unwrap_or("")
            .split([':', '@'])
            .next()
            .unwrap_or("");
        let internal_image = INTERNAL_IMAGES
            .iter()
            .any(|i| base == *i || base.starts_with(&format!("{i}-")));
        if let Some(ports) = svc.get("ports").and_then(Yaml::as_sequence) {
            for p in ports {
                let (host_ip, target) = match p {
                    Yaml::String(spec) => parse_port_spec(spec),
                    Yaml::Number(n) => (None, n.as_u64().map(|x| x as u16)),
                    Yaml::Mapping(_) => (
                        p.get("host_ip").and_then(Yaml::as_str).map(str::to_string),
                        p.get("target").and_then(Yaml::as_u64).map(|x| x as u16),
                    ),
                    _ => (None, None),
                };
                let internal =
                    internal_image || target.is_some_and(|t| INTERNAL_PORTS.contains(&t));
                let all_ifaces = host_ip
                    .as_deref()
                    .is_none_or(|ip| ip == "0.0.0.0" || ip == "::" || ip == "[::]");
                if internal && all_ifaces {
                    let line = at("ports:");
                    out.push(finding(
                        "DCP006",
                        format!(
                            "Service '{name}' publishes internal port {} on all interfaces",
                            target.map_or("?".to_string(), |t| t.to_string())
                        ),
                        line,
                        line,
                    ));
                }
            }
        }
        let has_mem = svc.get("mem_limit").is_some()
            || svc
                .get("deploy")
                .and_then(|d| d.get("resources"))
                .and_then(|r| r.get("limits"))
                .and_then(|l| l.get("memory"))
                .is_some();
        if !has_mem {
            out.push(finding(
                "DCP007",
                format!("Service '{name}' has no memory limit"),
                svc_line,
                svc_line,
            ));
        }
        if let Some(caps) = svc.get("cap_add").and_then(Yaml::as_sequence)
            && !caps.is_empty()
        {
            let list: Vec<String> = caps.iter().map(yaml_to_string).collect();
            let line = at("cap_add");
            out.push(finding(
                "DCP008",
                format!("Service '{name}' adds capabilities {}", list.join(", ")),
                line,
                line,
            ));
        }
    }
    out.sort_by_key(|f| (f.start_line, f.id.clone()));
    Ok(out)
}

fn yaml_to_string(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// `[host_ip:]host:container[/proto]` -> (host ip, container port).
fn parse_port_spec(spec: &str) -> (Option<String>, Option<u16>) {
    let spec = spec.split('/').next().unwrap_or(spec);
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let target = parts
        .first()
        .and_then(|t| t.split('-').next())
        .and_then(|t| t.parse().ok());
    match parts.len() {
        1 => (None, target), // container port only: ephemeral host port, all interfaces
        2 => (None, target),
        _ => (Some(parts[2].to_string()), target),
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

fn pod_spec(doc: &Yaml) -> Option<&Yaml> {
    let kind = doc.get("kind").and_then(Yaml::as_str)?;
    let spec = doc.get("spec")?;
    match kind {
        "Pod" => Some(spec),
        "CronJob" => spec
            .get("jobTemplate")?
            .get("spec")?
            .get("template")?
            .get("spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => spec.get("template")?.get("spec"),
        _ => None,
    }
}

fn kubernetes(content: &str) -> Result<Vec<Finding>, String> {
    use serde::Deserialize;
    let mut out = Vec::new();
    // documents and their first lines
    let mut doc_lines = vec![1usize];
    for (i, l) in content.lines().enumerate() {
        if l.trim_end() == "---" {
            doc_lines.push(i + 2);
        }
    }
    for (n, de) in serde_yaml_ng::Deserializer::from_str(content).enumerate() {
        let doc = Yaml::deserialize(de).map_err(|e| e.to_string())?;
        let base = doc_lines.get(n).copied().unwrap_or(1);
        let Some(spec) = pod_spec(&doc) else { continue };
        let kind = doc.get("kind").and_then(Yaml::as_str).unwrap_or("");
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Yaml::as_str)
            .unwrap_or("");
        let at = |key: &str| line_of_key(content, base, key);
        let flag = |key: &str| spec.get(key).and_then(Yaml::as_bool) == Some(true);
        for (key, id) in [
            ("hostIPC", "KSV008"),
            ("hostNetwork", "KSV009"),
            ("hostPID", "KSV010"),
        ] {
            if flag(key) {
                out.push(finding(
                    id,
                    format!("{kind} '{name}' should not set '{key}' to true"),
                    at(key),
                    at(key),
                ));
            }
        }
        if let Some(vols) = spec.get("volumes").and_then(Yaml::as_sequence)
            && vols.iter().any(|v| v.get("hostPath").is_some())
        {
            out.push(finding(
                "KSV023",
                format!("{kind} '{name}' should not set 'spec.template.volumes.hostPath'"),
                at("hostPath"),
                at("hostPath"),
            ));
        }
        let pod_sc = spec.get("securityContext");
        let pod_non_root = pod_sc
            .and_then(|s| s.get("runAsNonRoot"))
            .and_then(Yaml::as_bool)
            == Some(true);
        let seccomp_ok = |sc: Option<&Yaml>| -> Option<bool> {
            let t = sc?.get("seccompProfile")?.get("type")?.as_str()?;
            Some(t == "RuntimeDefault" || t == "Localhost")
        };
        let pod_seccomp = seccomp_ok(pod_sc);
        let annotations_ok = doc
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("seccomp.security.alpha.kubernetes.io/pod"))
            .and_then(Yaml::as_str)
            .is_some_and(|v| v == "runtime/default" || v == "docker/default");
        let containers = ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .filter_map(|k| spec.get(*k).and_then(Yaml::as_sequence))
            .flatten();
        for c in containers {
            let cname = c.get("name").and_then(Yaml::as_str).unwrap_or("");
            let cline = line_of_key(content, base, &format!("name: {cname}"));
            let sc = c.get("securityContext");
            let scb = |k: &str| sc.and_then(|s| s.get(k)).and_then(Yaml::as_bool);
            if scb("allowPrivilegeEscalation") != Some(false) {
                out.push(finding("KSV001", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.allowPrivilegeEscalation' to false"), cline, cline));
            }
            let drops_all = sc
                .and_then(|s| s.get("capabilities"))
                .and_then(|c| c.get("drop"))
                .and_then(Yaml::as_sequence)
                .is_some_and(|d| {
                    d.iter()
                        .filter_map(Yaml::as_str)
                        .any(|x| x.eq_ignore_ascii_case("all"))
                });
            if !drops_all {
                out.push(finding("KSV003", format!("Container '{cname}' of {kind} '{name}' should add 'ALL' to 'securityContext.capabilities.drop'"), cline, cline));
            }
            let limits = c.get("resources").and_then(|r| r.get("limits"));
            if limits.and_then(|l| l.get("cpu")).is_none() {
                out.push(finding(
                    "KSV011",
                    format!(
                        "Container '{cname}' of {kind} '{name}' should set 'resources.limits.cpu'"
                    ),
                    cline,
                    cline,
                ));
            }
            if limits.and_then(|l| l.get("memory")).is_none() {
                out.push(finding("KSV018", format!("Container '{cname}' of {kind} '{name}' should set 'resources.limits.memory'"), cline, cline));
            }
            let non_root = match scb("runAsNonRoot") {
                Some(v) => v,
                None => pod_non_root,
            };
            if !non_root {
                out.push(finding("KSV012", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.runAsNonRoot' to true"), cline, cline));
            }
            let image = c.get("image").and_then(Yaml::as_str).unwrap_or("");
            if !image.is_empty() && image_untagged_or_latest(image) {
                out.push(finding(
                    "KSV013",
                    format!("Container '{cname}' of {kind} '{name}' should specify an image tag"),
                    cline,
                    cline,
                ));
            }
            if scb("readOnlyRootFilesystem") != Some(true) {
                out.push(finding("KSV014", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.readOnlyRootFilesystem' to true"), cline, cline));
            }
            if scb("privileged") == Some(true) {
                out.push(finding("KSV017", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.privileged' to false"), cline, cline));
            }
            let seccomp = match seccomp_ok(sc) {
                Some(v) => v,
                None => pod_seccomp.unwrap_or(annotations_ok),
            };
            if !seccomp {
                out.push(finding("KSV030", format!("Container '{cname}' of {kind} '{name}' should set 'securityContext.seccompProfile.type' to 'RuntimeDefault'"), cline, cline));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// nginx

fn nginx(content: &str) -> Vec<Finding> {
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
    use std::path::PathBuf;

    fn examples_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/scan/misconfig-examples/checks")
    }

    /// Runs the good/bad examples of one trivy-checks file against one check id.
    fn run_examples(
        kind: FileKind,
        dir: &str,
        file: &str,
        id: &str,
        failures: &mut Vec<String>,
    ) -> usize {
        let path = examples_dir().join(dir).join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Yaml = serde_yaml_ng::from_str(&text).expect("examples yaml");
        let root = doc
            .as_mapping()
            .and_then(|m| m.values().next())
            .expect("examples root");
        let mut n = 0;
        for (label, want_finding) in [("good", false), ("bad", true)] {
            for ex in root
                .get(label)
                .and_then(Yaml::as_sequence)
                .into_iter()
                .flatten()
            {
                let Some(src) = ex.as_str() else { continue };
                n += 1;
                let got = scan(kind, src).unwrap_or_default();
                let hit = got.iter().any(|f| f.id == id);
                if hit != want_finding {
                    failures.push(format!(
                        "{file} {label} example for {id}: findings {:?}\n{src}",
                        got.iter().map(|f| &f.id).collect::<Vec<_>>()
                    ));
                }
            }
        }
        n
    }

    #[test]
    fn trivy_checks_examples() {
        let docker = [
            ("latest_tag.yaml", "DS001"),
            ("root_user.yaml", "DS002"),
            ("port22.yaml", "DS004"),
            ("add_instead_of_copy.yaml", "DS005"),
            ("run_using_sudo.yaml", "DS010"),
            ("run_command_cd_instead_of_workdir.yaml", "DS013"),
            ("multiple_cmd_instructions_listed.yaml", "DS016"),
            ("update_instruction_alone.yaml", "DS017"),
        ];
        let k8s = [
            ("can_elevate_its_own_privileges.yaml", "KSV001"),
            ("capabilities_no_drop_all.yaml", "KSV003"),
            ("host_ipc.yaml", "KSV008"),
            ("host_network.yaml", "KSV009"),
            ("host_pid.yaml", "KSV010"),
            ("CPU_not_limited.yaml", "KSV011"),
            ("runs_as_root.yaml", "KSV012"),
            ("uses_image_tag_latest.yaml", "KSV013"),
            ("file_system_not_read_only.yaml", "KSV014"),
            ("privileged.yaml", "KSV017"),
            ("memory_not_limited.yaml", "KSV018"),
            ("hostpath_volumes_mounted.yaml", "KSV023"),
            ("runtime_default_seccomp_profile_not_set.yaml", "KSV030"),
        ];
        let mut failures = Vec::new();
        let mut total = 0;
        for (file, id) in docker {
            total += run_examples(FileKind::Dockerfile, "docker", file, id, &mut failures);
        }
        for (file, id) in k8s {
            total += run_examples(FileKind::Kubernetes, "kubernetes", file, id, &mut failures);
        }
        assert!(total >= 40, "only {total} examples");
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n---\n")
        );
    }

    fn ids(v: &[Finding]) -> Vec<&str> {
        v.iter().map(|f| f.id.as_str()).collect()
    }

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

    #[test]
    fn compose_checks() {
        let bad = r#"services:
  db:
    image: postgres
    ports:
      - "5432:5432"
    environment:
      POSTGRES_PASSWORD: hunter2
  agent:
    image: portainer/agent:latest
    privileged: true
    network_mode: host
    cap_add: [SYS_ADMIN]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
"#;
        let got = compose(bad).expect("compose");
        let ids = ids(&got);
        for id in [
            "DCP001", "DCP002", "DCP003", "DCP004", "DCP005", "DCP006", "DCP007", "DCP008",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
        let db = got.iter().find(|f| f.id == "DCP005").expect("dcp005");
        assert_eq!(db.start_line, 7);
        let good = r#"services:
  db:
    image: postgres:16.2
    ports:
      - "127.0.0.1:5432:5432"
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
    mem_limit: 512m
  web:
    image: nginx@sha256:abcd
    ports: ["8080:80"]
    deploy:
      resources:
        limits:
          memory: 256M
"#;
        assert!(
            compose(good).expect("compose").is_empty(),
            "{:?}",
            compose(good)
        );
        assert!(compose("services: [").is_err());
    }

    #[test]
    fn nginx_checks() {
        let bad = "http {\n  server_tokens on;\n  server {\n    listen 443 ssl;\n    ssl_protocols TLSv1 TLSv1.2;\n  }\n}\n";
        let got = nginx(bad);
        assert_eq!(ids(&got), vec!["NGX001", "NGX002", "NGX003"]);
        let good = "http {\n  server_tokens off;\n  server {\n    listen 443 ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    add_header Strict-Transport-Security \"max-age=63072000\" always;\n    add_header X-Content-Type-Options nosniff always;\n    add_header X-Frame-Options DENY always;\n  }\n}\n";
        assert!(nginx(good).is_empty());
    }

    #[test]
    fn detection() {
        assert_eq!(detect("Dockerfile", None), Some(FileKind::Dockerfile));
        assert_eq!(detect("api.Dockerfile", None), Some(FileKind::Dockerfile));
        assert_eq!(
            detect("docker-compose.prod.yml", None),
            Some(FileKind::Compose)
        );
        assert_eq!(
            detect("deploy.yaml", Some("apiVersion: v1\nkind: Pod\n")),
            Some(FileKind::Kubernetes)
        );
        assert_eq!(detect("values.yaml", Some("a: 1\n")), None);
        assert_eq!(
            detect("site.conf", Some("server {\n}\n")),
            Some(FileKind::Nginx)
        );
    }
}
