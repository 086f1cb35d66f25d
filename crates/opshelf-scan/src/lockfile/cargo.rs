//! `Cargo.lock`.

use super::{Package, ParseError, line_of, toml_doc, toml_packages, tstr};
use crate::version::Ecosystem;

pub(super) fn parse_cargo(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = toml_doc(content)?;
    let mut out = Vec::new();
    for pkg in toml_packages(&doc) {
        let name = tstr(pkg, "name");
        if name.is_empty() {
            continue;
        }
        let mut p = Package::new(name, tstr(pkg, "version"), Ecosystem::CratesIo);
        p.line = line_of(
            content,
            &format!("name = \"{name}\"\nversion = \"{}\"", tstr(pkg, "version")),
        );
        out.push(p);
    }
    Ok(out)
}
