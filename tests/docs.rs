//! The documentation says what the code does: every condition reason is explained in
//! docs/troubleshooting.md, docs/crd-reference.md is the CRD as generated now, the README's
//! configuration table is the `run` flags as defined now, and docs/emulator.md lists every
//! emulator flag.

use std::path::Path;

use clap::CommandFactory;
use securityhub_operator::api::Reason;
use securityhub_operator::cli::{Cli, RUN_FLAGS_BEGIN, RUN_FLAGS_END, run_flags_markdown};
use securityhub_operator::crd_reference::{CRD_REFERENCE_PATH, render};

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

fn long_flags(subcommand: &str) -> Vec<String> {
    let cli = Cli::command();
    let sub = cli.find_subcommand(subcommand).expect("subcommand exists");
    sub.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_condition_reason_is_explained_in_troubleshooting() {
    let doc = read("docs/troubleshooting.md");
    let missing: Vec<&str> = Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .filter(|name| !doc.lines().any(|l| l.trim() == format!("### {name}")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md lacks a `### Reason` section for {missing:?}"
    );
}

#[test]
fn crd_reference_is_current() {
    let generated = render().expect("renders");
    assert!(
        read(CRD_REFERENCE_PATH) == generated,
        "{CRD_REFERENCE_PATH} is stale: run `cargo run -q -- docs crd-reference > {CRD_REFERENCE_PATH}` and commit it"
    );
}

#[test]
fn readme_configuration_table_matches_the_run_flags() {
    let readme = read("README.md");
    let begin = readme
        .find(RUN_FLAGS_BEGIN)
        .expect("README has the run-flags begin marker");
    let end = readme.find(RUN_FLAGS_END).expect("README has the run-flags end marker") + RUN_FLAGS_END.len() + 1;
    assert!(
        readme[begin..end] == run_flags_markdown(),
        "README.md's configuration table is stale: replace it with the output of `cargo run -q -- docs run-flags`"
    );
    // The generator itself must not drop flags: one row per `run` flag, with its env var.
    let flags = long_flags("run");
    assert!(flags.len() >= 15, "{flags:?}");
    for flag in flags {
        let row = readme[begin..end]
            .lines()
            .find(|l| l.starts_with(&format!("| `--{flag}` |")))
            .unwrap_or_else(|| panic!("no README row for --{flag}"));
        assert!(
            row.contains("`SHO_") || row.contains("`POD_NAMESPACE`"),
            "--{flag} row names no env var: {row}"
        );
    }
}

#[test]
fn emulator_doc_lists_every_emulator_flag() {
    let doc = read("docs/emulator.md");
    let missing: Vec<String> = long_flags("emulator")
        .into_iter()
        .filter(|f| !doc.contains(&format!("`--{f}")))
        .collect();
    assert!(missing.is_empty(), "docs/emulator.md does not document {missing:?}");
}

#[test]
fn readme_links_point_at_existing_files() {
    let readme = read("README.md");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for part in readme.split("](").skip(1) {
        let target = part.split(')').next().unwrap_or("");
        let path = target.split('#').next().unwrap_or("");
        if path.is_empty() || path.contains("://") {
            continue;
        }
        assert!(root.join(path).exists(), "README links to missing {path}");
    }
}

/// The targets the Makefile documents (`## name: what it does`).
fn documented_make_targets(makefile: &str) -> std::collections::BTreeSet<String> {
    makefile
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split_once(": "))
        .map(|(name, _)| name.trim())
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .collect()
}

/// The targets in the README's "Make targets" table (`| \`make name\` | ... |`).
fn readme_make_targets(readme: &str) -> std::collections::BTreeSet<String> {
    let section = readme
        .split("## Make targets")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or_default();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `make "))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_lists_every_documented_make_target() {
    let makefile = documented_make_targets(&read("Makefile"));
    let readme = readme_make_targets(&read("README.md"));
    assert!(makefile.len() >= 10, "{makefile:?}");
    assert_eq!(
        readme, makefile,
        "README's Make targets table against the Makefile's ## comments"
    );
}

#[test]
fn make_target_tables_are_read_from_both_files() {
    let makefile = "## a: one\n## (a continuation: not a target)\nb:\n## c-d: two\n";
    assert_eq!(
        documented_make_targets(makefile).into_iter().collect::<Vec<_>>(),
        ["a", "c-d"]
    );
    let readme =
        "## Make targets\n\n| target | x |\n| `make a` | one |\n| `make c-d` | two |\n\n## Layout\n| `make z` | no |\n";
    assert_eq!(
        readme_make_targets(readme).into_iter().collect::<Vec<_>>(),
        ["a", "c-d"]
    );
}
