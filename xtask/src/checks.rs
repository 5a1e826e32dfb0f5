//! CI checks that read cargo's output instead of only running it.

use std::process::Command;

use serde_json::Value;

/// A Rust version as `rust-version` writes it: `1.88` or `1.88.0`.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.').map(|part| part.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    parts.next().is_none().then_some((major, minor, patch))
}

fn run(cargo: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(cargo)
        .args(args)
        .output()
        .map_err(|error| format!("could not start cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| "cargo printed something not UTF-8".to_owned())
}

/// The workspace's `rust-version` must be at least every locked dependency's, all features
/// and dev-dependencies included: the machine has one toolchain, so the declared minimum is
/// checked against what the lock needs rather than by building with an older compiler.
pub(crate) fn rust_version(cargo: &str) -> Result<String, String> {
    let metadata = run(
        cargo,
        &[
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ],
    )?;
    let metadata: Value =
        serde_json::from_str(&metadata).map_err(|error| format!("cargo metadata: {error}"))?;
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?;
    let version_of = |package: &Value| -> Result<Option<(u64, u64, u64)>, String> {
        match package["rust_version"].as_str() {
            None => Ok(None),
            Some(text) => parse_version(text).map(Some).ok_or_else(|| {
                format!("{}: rust-version {text:?} does not parse", package["name"])
            }),
        }
    };
    let mut declared: Option<(u64, u64, u64)> = None;
    let mut needed: Option<((u64, u64, u64), String)> = None;
    for package in packages {
        let id = package["id"].as_str().unwrap_or_default();
        let name = package["name"].as_str().unwrap_or_default();
        let Some(version) = version_of(package)? else {
            continue;
        };
        if members.contains(&id) {
            // Members inherit one workspace value; the lowest is the promise to check.
            declared = Some(declared.map_or(version, |known| known.min(version)));
        } else if needed.as_ref().is_none_or(|(most, _)| version > *most) {
            let label = format!("{name} {}", package["version"].as_str().unwrap_or("?"));
            needed = Some((version, label));
        }
    }
    let declared = declared.ok_or("no workspace member declares a rust-version")?;
    let show = |(major, minor, patch): (u64, u64, u64)| format!("{major}.{minor}.{patch}");
    match needed {
        Some((most, package)) if most > declared => Err(format!(
            "rust-version is {} but {package} needs {}: raise rust-version in Cargo.toml",
            show(declared),
            show(most)
        )),
        Some((most, package)) => Ok(format!(
            "rust-version {} covers every locked dependency (the most demanding: {package}, {})",
            show(declared),
            show(most)
        )),
        None => Ok(format!(
            "rust-version {}: no dependency declares one",
            show(declared)
        )),
    }
}

/// Without default features, `qix` must build with no TLS stack at all.
pub(crate) fn no_tls_without_default_features(cargo: &str) -> Result<String, String> {
    let tree = run(
        cargo,
        &[
            "tree",
            "-p",
            "qix",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--locked",
        ],
    )?;
    let tls: Vec<&str> = tree
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or_default();
            name.starts_with("rustls") || name == "ring" || name.starts_with("aws-lc")
        })
        .collect();
    if tls.is_empty() {
        Ok("qix without default features pulls in no TLS crate".to_owned())
    } else {
        Err(format!(
            "qix --no-default-features still depends on: {}",
            tls.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_parse_with_or_without_a_patch() {
        assert_eq!(parse_version("1.88"), Some((1, 88, 0)));
        assert_eq!(parse_version("1.88.1"), Some((1, 88, 1)));
        assert!(parse_version("1.88") < parse_version("1.89"));
        assert_eq!(parse_version("1.x"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
    }
}
