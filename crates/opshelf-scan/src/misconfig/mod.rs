//! Misconfiguration checks: Dockerfile (Trivy's DS IDs), docker-compose (DCP, which Trivy
//! lacks), Kubernetes basics (KSV IDs) and nginx (NGX). Text in, findings out.
//!
//! One file per checker (`dockerfile.rs`, `compose.rs`, `kubernetes.rs`, `nginx.rs`); this module
//! holds the shared types, [`detect`], the table of every check ([`CHECKS`]), the [`scan`]
//! dispatcher and the helpers several checkers use.

mod compose;
mod dockerfile;
mod kubernetes;
mod nginx;

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
        FileKind::Dockerfile => Ok(dockerfile::dockerfile(content)),
        FileKind::Compose => compose::compose(content),
        FileKind::Kubernetes => kubernetes::kubernetes(content),
        FileKind::Nginx => Ok(nginx::nginx(content)),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the checkers

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

fn line_of_key(content: &str, from_line: usize, needle: &str) -> usize {
    content
        .lines()
        .enumerate()
        .skip(from_line.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map_or(from_line.max(1), |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::Value as Yaml;
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

    pub(super) fn ids(v: &[Finding]) -> Vec<&str> {
        v.iter().map(|f| f.id.as_str()).collect()
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
