//! One version, Cargo.toml's: the chart's `version` and `appVersion`, the image tag the chart
//! runs by default, the CHANGELOG's newest release and the README's install command all
//! name it, so a release tag cannot ship a chart that points at another image.

use std::path::Path;

use serde_yaml_ng::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

fn yaml(path: &str) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_chart_names_the_crate_version() {
    let chart = yaml("charts/securityhub-operator/Chart.yaml");
    assert_eq!(chart["version"].as_str(), Some(VERSION), "Chart.yaml version");
    assert_eq!(chart["appVersion"].as_str(), Some(VERSION), "Chart.yaml appVersion");
}

#[test]
fn the_chart_runs_the_image_of_this_version_by_default() {
    let values = yaml("charts/securityhub-operator/values.yaml");
    let tag = values["image"]["tag"].as_str().unwrap_or_default();
    assert!(
        tag.is_empty() || tag == VERSION,
        "image.tag {tag:?}: empty (the appVersion) or {VERSION}"
    );
    assert!(values["image"]["digest"].as_str().unwrap_or_default().is_empty());
    let helpers = read("charts/securityhub-operator/templates/_helpers.tpl");
    assert!(
        helpers.contains(".Chart.AppVersion"),
        "an empty tag falls back to the appVersion"
    );
}

#[test]
fn the_changelog_has_a_section_for_this_version() {
    let changelog = read("CHANGELOG.md");
    let heading = format!("## [{VERSION}]");
    let newest = changelog
        .lines()
        .find(|l| l.starts_with("## [") && !l.starts_with("## [Unreleased]"));
    assert!(
        newest.is_some_and(|l| l.starts_with(&heading)),
        "the newest released section of CHANGELOG.md is {heading}, found {newest:?}"
    );
}

#[test]
fn the_readme_installs_this_version() {
    let readme = read("README.md");
    let install = readme
        .lines()
        .filter(|l| l.contains("helm install") || l.contains("--version") || l.contains("cosign verify"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        install.contains(&format!("--version {VERSION}")),
        "the README's helm install names --version {VERSION}:\n{install}"
    );
    assert!(
        readme.contains(&format!("securityhub-operator:{VERSION}")),
        "the README names the image of this version"
    );
}
