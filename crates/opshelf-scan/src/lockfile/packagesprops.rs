//! MSBuild central package management: `Directory.Packages.props` and other `*packages.props`
//! (Trivy's `packages-props`, `pkg/dependency/parser/nuget/packagesprops`): `PackageVersion`
//! and `PackageReference` items of every `ItemGroup` (`Include`, else the legacy `Update`);
//! names or versions that are MSBuild variables (`$(...)`) cannot be resolved and are skipped.
//! Trivy records no locations for them.

use super::{Package, ParseError, dedup_packages};
use crate::version::Ecosystem;

fn is_variable(s: &str) -> bool {
    s.starts_with("$(") && s.ends_with(')')
}

pub(super) fn parse_packages_props(content: &str) -> Result<Vec<Package>, ParseError> {
    let doc = roxmltree::Document::parse(content).map_err(|e| {
        ParseError::at(
            format!("could not extract from file: invalid XML: {e}"),
            Some(e.pos().row as usize),
        )
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "Project" {
        return Err(ParseError::new(
            "could not extract from file: no <Project> element",
        ));
    }
    let mut out = Vec::new();
    for group in root.children().filter(|n| n.has_tag_name("ItemGroup")) {
        for item in group
            .children()
            .filter(|n| n.has_tag_name("PackageReference") || n.has_tag_name("PackageVersion"))
        {
            let name = item
                .attribute("Include")
                .filter(|s| !s.is_empty())
                .or_else(|| item.attribute("Update"))
                .unwrap_or("")
                .trim();
            let version = item.attribute("Version").unwrap_or("").trim();
            if name.is_empty() || version.is_empty() || is_variable(name) || is_variable(version) {
                continue;
            }
            out.push(Package::new(name, version, Ecosystem::NuGet));
        }
    }
    dedup_packages(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trivy's `integration/testdata/fixtures/repo/packagesprops/Directory.Packages.props`.
    const PROPS: &str = "<Project>\n\n  <ItemGroup>\n\n    <PackageVersion Include=\"Newtonsoft.Json\" Version=\"9.0.1\" />\n\n  </ItemGroup>\n</Project>";

    #[test]
    fn package_versions_and_references() {
        let pkgs = parse_packages_props(PROPS).expect("parses");
        assert_eq!(pkgs.len(), 1);
        assert_eq!(
            (pkgs[0].name.as_str(), pkgs[0].version.as_str()),
            ("Newtonsoft.Json", "9.0.1")
        );
        assert!(pkgs[0].locations.is_empty());
        let more = r#"<Project><ItemGroup>
            <PackageReference Update=" Legacy " Version="1.0.0" />
            <PackageReference Include="Both" Update="Old" Version="2.0.0" />
            <PackageVersion Include="$(Var)" Version="3.0.0" />
            <PackageVersion Include="Pinned" Version="$(V)" />
            <PackageVersion Include="NoVersion" />
          </ItemGroup><ItemGroup><PackageVersion Include="Both" Version="2.0.0" /></ItemGroup></Project>"#;
        let names: Vec<(String, String)> = parse_packages_props(more)
            .expect("parses")
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect();
        assert_eq!(
            names,
            [
                ("Legacy".into(), "1.0.0".into()),
                ("Both".into(), "2.0.0".into())
            ]
        );
        assert!(parse_packages_props("<Other/>").is_err());
        assert!(parse_packages_props("<Project>").is_err());
    }
}
