//! Maven `pom.xml`: direct and managed dependencies, `${property}` interpolation.

use std::collections::BTreeMap;

use super::{Package, ParseError};
use crate::version::Ecosystem;

pub(super) fn parse_pom(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = roxmltree::Document::parse(content).map_err(|e| {
        let pos = e.pos();
        ParseError::at(format!("XML syntax error: {e}"), Some(pos.row as usize))
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "project" {
        return Err(ParseError::new(
            "could not extract from file: not a Maven pom.xml",
        ));
    }
    let child = |n: roxmltree::Node<'_, '_>, name: &str| -> Option<String> {
        n.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
    };
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    if let Some(v) = child(root, "version") {
        props.insert("project.version".into(), v);
    }
    if let Some(g) = child(root, "groupId") {
        props.insert("project.groupId".into(), g);
    }
    if let Some(p) = root
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "properties")
    {
        for prop in p.children().filter(roxmltree::Node::is_element) {
            props.insert(
                prop.tag_name().name().to_string(),
                prop.text().unwrap_or("").trim().to_string(),
            );
        }
    }
    let interpolate = |s: &str| -> String {
        let mut s = s.to_string();
        for _ in 0..8 {
            let Some(start) = s.find("${") else { break };
            let Some(len) = s[start..].find('}') else {
                break;
            };
            let key = &s[start + 2..start + len];
            let value = props.get(key).cloned().unwrap_or_default();
            s.replace_range(start..start + len + 1, &value);
        }
        s
    };
    let mut out: Vec<Package> = Vec::new();
    let mut deps: Vec<(bool, roxmltree::Node<'_, '_>)> = Vec::new();
    for dep in root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "dependency")
    {
        let Some(parent) = dep.parent() else { continue };
        if parent.tag_name().name() != "dependencies" {
            continue;
        }
        let managed = parent
            .parent()
            .is_some_and(|g| g.tag_name().name() == "dependencyManagement");
        deps.push((managed, dep));
    }
    // direct dependencies first; managed ones only when not declared directly
    deps.sort_by_key(|(managed, _)| *managed);
    for (managed, dep) in deps {
        let Some(group) = child(dep, "groupId") else {
            continue;
        };
        let Some(artifact) = child(dep, "artifactId") else {
            continue;
        };
        let version = interpolate(&child(dep, "version").unwrap_or_default());
        let version = version.trim_start_matches('[').trim_end_matches(']');
        let version = version.split(',').next().unwrap_or("").trim().to_string();
        let name = format!("{}:{}", interpolate(&group), interpolate(&artifact));
        if managed && out.iter().any(|p| p.name == name) {
            continue;
        }
        let mut p = Package::new(name, version, Ecosystem::Maven);
        p.locations = vec![super::Location::line(
            doc.text_pos_at(dep.range().start).row as usize,
        )];
        out.push(p);
    }
    Ok(out)
}
