//! Architecture invariants, checked from `cargo metadata` (rust-analyzer's tidy test idea):
//! capability crates never depend on each other, `opshelf-core` depends on none of them,
//! and only the binary wires them together.

use std::collections::BTreeMap;
use std::process::Command;

fn workspace_deps() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut deps = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_owned();
        let list = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .filter(|d| d.starts_with("opshelf"))
            .collect();
        deps.insert(name, list);
    }
    deps
}

/// Libraries every capability may use; they depend on no opshelf crate themselves.
const SHARED: &[&str] = &["opshelf-core", "opshelf-eventstore", "opshelf-logql"];

#[test]
fn capabilities_never_depend_on_each_other_and_core_on_none() {
    let deps = workspace_deps();
    assert!(
        deps.contains_key("opshelf-core") && deps.contains_key("opshelf"),
        "{deps:?}"
    );
    let capabilities: Vec<&String> = deps
        .keys()
        .filter(|n| n.starts_with("opshelf-") && !SHARED.contains(&n.as_str()))
        .collect();
    assert!(!capabilities.is_empty());
    for (crate_name, crate_deps) in &deps {
        if crate_name == "opshelf" {
            continue; // the binary wires everything
        }
        for d in crate_deps {
            assert!(
                SHARED.contains(&d.as_str()),
                "{crate_name} depends on {d}: only the binary may depend on capability crates, \
                 and capabilities only on the shared crates {SHARED:?}"
            );
        }
    }
    for shared in SHARED {
        assert!(
            deps[*shared].is_empty(),
            "{shared} depends on {:?}: a shared crate depends on no other opshelf crate",
            deps[*shared]
        );
    }
    // Every capability crate is wired into the binary.
    for c in capabilities {
        assert!(deps["opshelf"].contains(c), "the binary does not wire {c}");
    }
}
