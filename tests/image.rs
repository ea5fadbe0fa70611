//! The image built here without Docker (`scripts/oci-image.py`, what the node tests run)
//! ships what the Dockerfile's distroless image ships: the same user, entrypoint, command,
//! port and labels, the binary at the same path, a CA bundle, the libraries the binary
//! links, and no shell.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::Error;
use support::emulator::operator_binary;

/// The final stage of the Dockerfile: its instructions, continuation lines joined.
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    let mut stage = Vec::new();
    for line in joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (instruction, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let instruction = instruction.to_ascii_uppercase();
        if instruction == "FROM" {
            stage.clear();
        }
        stage.push((instruction, rest.trim().to_string()));
    }
    stage
}

fn instruction<'a>(stage: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stage
        .iter()
        .rev()
        .find(|(i, _)| i == name)
        .map(|(_, rest)| rest.as_str())
}

/// `LABEL a="x" b="y"` pairs.
fn labels(stage: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (_, rest) in stage.iter().filter(|(i, _)| i == "LABEL") {
        let mut text = rest.as_str();
        while let Some((key, after)) = text.split_once("=\"") {
            let Some((value, tail)) = after.split_once('"') else {
                break;
            };
            out.insert(key.trim().to_string(), value.to_string());
            text = tail;
        }
    }
    out
}

fn inspect_built_image(dir: &Path) -> Result<Value, Error> {
    let archive = dir.join("image.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oci-image.py");
    let built = Command::new("python3")
        .arg(&script)
        .args([
            "operator",
            "--binary",
            operator_binary(),
            "--name",
            "example.test/sho:check",
            "--out",
        ])
        .arg(&archive)
        .status()?;
    assert!(built.success(), "oci-image.py operator: {built}");
    let out = Command::new("python3")
        .arg(&script)
        .arg("inspect")
        .arg(&archive)
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn the_image_built_here_ships_what_the_dockerfile_ships() -> Result<(), Error> {
    let dockerfile = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"))?;
    let stage = final_stage(&dockerfile);
    assert!(
        instruction(&stage, "FROM").is_some_and(|f| f.contains("distroless/cc") && f.contains("nonroot")),
        "the Dockerfile's final stage is distroless cc, nonroot"
    );
    let dir = tempfile::tempdir()?;
    let image = inspect_built_image(dir.path())?;
    let config = &image["config"];

    assert_eq!(config["User"].as_str(), instruction(&stage, "USER"));
    let entrypoint: Value = serde_json::from_str(instruction(&stage, "ENTRYPOINT").ok_or("no ENTRYPOINT")?)?;
    assert_eq!(config["Entrypoint"], entrypoint);
    let cmd: Value = serde_json::from_str(instruction(&stage, "CMD").ok_or("no CMD")?)?;
    assert_eq!(config["Cmd"], cmd);
    let port = format!("{}/tcp", instruction(&stage, "EXPOSE").ok_or("no EXPOSE")?);
    assert!(
        config["ExposedPorts"].get(&port).is_some(),
        "{port} in {}",
        config["ExposedPorts"]
    );
    let want: BTreeMap<String, String> = labels(&stage);
    let got: BTreeMap<String, String> = serde_json::from_value(config["Labels"].clone())?;
    assert_eq!(got, want);

    let files: Vec<&str> = image["files"]
        .as_array()
        .ok_or("no files")?
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    let copy = instruction(&stage, "COPY").ok_or("no COPY")?;
    let binary = copy.split_whitespace().last().ok_or("COPY without a destination")?;
    assert_eq!(
        entrypoint[0].as_str(),
        Some(binary),
        "the entrypoint is the copied binary"
    );
    for path in [
        binary,
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/passwd",
        "/etc/group",
        "/tmp",
    ] {
        assert!(files.contains(&path), "{path} in the image");
    }
    assert!(
        files.iter().any(|f| f.contains("libc.so")),
        "glibc, as distroless/cc has: {files:?}"
    );
    for shell in ["/bin/sh", "/bin/bash", "/usr/bin/sh", "/bin/busybox", "/usr/bin/env"] {
        assert!(!files.contains(&shell), "no shell: {shell} in the image");
    }
    // The user exists (distroless nonroot), with no login shell.
    let uid = instruction(&stage, "USER")
        .and_then(|u| u.split(':').next())
        .ok_or("USER")?;
    let passwd = image["passwd"].as_str().unwrap_or_default();
    let user = passwd.lines().find(|l| l.split(':').nth(2) == Some(uid));
    assert!(
        user.is_some_and(|l| l.starts_with("nonroot:") && l.ends_with("/sbin/nologin")),
        "{passwd}"
    );
    Ok(())
}

#[test]
fn the_dockerfile_parser_reads_continued_labels_of_the_last_stage() {
    let text = "FROM a AS build\nUSER root\nFROM b\nLABEL x=\"1\" \\\n      y=\"two words\"\nUSER 7:7\n";
    let stage = final_stage(text);
    assert_eq!(instruction(&stage, "FROM"), Some("b"));
    assert_eq!(instruction(&stage, "USER"), Some("7:7"));
    let l = labels(&stage);
    assert_eq!(l.get("y").map(String::as_str), Some("two words"));
    assert_eq!(l.len(), 2);
}
