//! docker-compose checks (DCP IDs; Trivy has none for Compose).

use serde_yaml_ng::Value as Yaml;

use super::{Finding, finding, image_untagged_or_latest, line_of_key, secret_like_name};

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

pub(super) fn compose(content: &str) -> Result<Vec<Finding>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misconfig::tests::ids;

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
}
