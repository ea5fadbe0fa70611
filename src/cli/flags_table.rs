//! The configuration table of `securityhub-operator run` (flag, env var, default,
//! meaning), rendered from the clap definition so the README cannot drift from the code.

use clap::CommandFactory;

use super::Cli;

/// Marks the start of the generated table in README.md.
pub const RUN_FLAGS_BEGIN: &str = "<!-- run-flags:begin (generated: securityhub-operator docs run-flags) -->";
/// Marks its end.
pub const RUN_FLAGS_END: &str = "<!-- run-flags:end -->";

/// The Markdown table of every `run` flag, between the two markers.
pub fn run_flags_markdown() -> String {
    let mut out =
        format!("{RUN_FLAGS_BEGIN}\n| Flag | Environment variable | Default | Meaning |\n| --- | --- | --- | --- |\n");
    let command = Cli::command();
    let Some(run) = command.find_subcommand("run") else {
        return out + RUN_FLAGS_END + "\n";
    };
    for arg in run.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" {
            continue;
        }
        out.push_str(&row(arg, long));
    }
    out + RUN_FLAGS_END + "\n"
}

fn row(arg: &clap::Arg, long: &str) -> String {
    let env = arg
        .get_env()
        .map(|e| format!("`{}`", e.to_string_lossy()))
        .unwrap_or_else(|| "–".to_string());
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let default = if defaults.is_empty() {
        default_when_absent(arg)
    } else {
        format!("`{}`", defaults.join(","))
    };
    let help = arg
        .get_help()
        .map(|h| h.to_string().replace('|', "\\|"))
        .unwrap_or_default();
    format!("| `--{long}` | {env} | {default} | {help} |\n")
}

/// What an absent flag without a clap default means.
fn default_when_absent(arg: &clap::Arg) -> String {
    match arg.get_action() {
        clap::ArgAction::SetTrue => "`false`".to_string(),
        _ => "–".to_string(),
    }
}
