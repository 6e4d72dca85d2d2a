//! `devgate new-family NAME`: a new device-family crate, written from the template in the
//! repository's `templates/family/` (embedded here with `include_str!`, so an installed
//! binary generates without the sources at hand).
//!
//! The crate it writes decodes a made-up demo frame, so it builds, tests, benches and fuzzes
//! before a line of protocol code is written. It sits outside any workspace (its Cargo.toml has
//! its own `[workspace]` table) and depends on the devgate crates by path under the devgate
//! checkout it is given, starting from that checkout's Cargo.lock (the versions devgate is
//! tested with; also what lets it reuse devgate's built dependencies).
//!
//! Template placeholders: `{{name}}` (the registry name, `h02`), `{{Name}}` (its type prefix,
//! `H02`), `{{crate}}` (`codec-h02`), `{{crate_ident}}` (`codec_h02`), `{{devgate}}` (the
//! checkout's absolute path, in the manifests). File names hold `{{name}}` too; a template file
//! named `gitignore` becomes `.gitignore` and `Cargo.toml.tmpl` becomes `Cargo.toml` (so cargo
//! and git see neither as the real thing inside the devgate repository).

use std::path::{Path, PathBuf};

/// The template's files: path under `templates/family/`, and text.
const TEMPLATE: &[(&str, &str)] = &[
    (
        "Cargo.toml.tmpl",
        include_str!("../../templates/family/Cargo.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/family/README.md"),
    ),
    (
        "gitignore",
        include_str!("../../templates/family/gitignore"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/family/src/lib.rs"),
    ),
    (
        "src/frame.rs",
        include_str!("../../templates/family/src/frame.rs"),
    ),
    (
        "src/message.rs",
        include_str!("../../templates/family/src/message.rs"),
    ),
    (
        "src/options.rs",
        include_str!("../../templates/family/src/options.rs"),
    ),
    (
        "src/protocol.rs",
        include_str!("../../templates/family/src/protocol.rs"),
    ),
    (
        "src/bin/devgate-{{name}}.rs",
        include_str!("../../templates/family/src/bin/devgate-{{name}}.rs"),
    ),
    (
        "vectors/{{name}}.jsonl",
        include_str!("../../templates/family/vectors/{{name}}.jsonl"),
    ),
    (
        "tests/vectors.rs",
        include_str!("../../templates/family/tests/vectors.rs"),
    ),
    (
        "tests/streaming.rs",
        include_str!("../../templates/family/tests/streaming.rs"),
    ),
    (
        "tests/behaviour.rs",
        include_str!("../../templates/family/tests/behaviour.rs"),
    ),
    (
        "benches/decode.rs",
        include_str!("../../templates/family/benches/decode.rs"),
    ),
    (
        "fuzz/Cargo.toml.tmpl",
        include_str!("../../templates/family/fuzz/Cargo.toml.tmpl"),
    ),
    (
        "fuzz/gitignore",
        include_str!("../../templates/family/fuzz/gitignore"),
    ),
    (
        "fuzz/fuzz_targets/{{name}}.rs",
        include_str!("../../templates/family/fuzz/fuzz_targets/{{name}}.rs"),
    ),
];

/// Lock files copied from the devgate checkout when present: (from, to).
const LOCKS: &[(&str, &str)] = &[
    ("Cargo.lock", "Cargo.lock"),
    ("fuzz/Cargo.lock", "fuzz/Cargo.lock"),
];

/// The longest family name: it becomes a URL scheme, a crate name and type names.
const MAX_NAME: usize = 32;

/// Why a family could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum NewFamilyError {
    /// The name cannot be a registry name, a crate name and a type prefix at once.
    #[error("family name {name:?}: {reason}")]
    BadName {
        /// The name asked for.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The output folder exists and holds files: nothing is overwritten.
    #[error("{}: not empty (new-family writes only into a new or empty folder)", .path.display())]
    NotEmpty {
        /// The output folder.
        path: PathBuf,
    },
    /// The devgate path is not a devgate checkout with the family kit.
    #[error("{}: not a devgate checkout (no codecs/family-kit/Cargo.toml in it)", .path.display())]
    NotDevgate {
        /// The path given.
        path: PathBuf,
    },
    /// The devgate path cannot be written into a Cargo.toml.
    #[error("{}: not valid UTF-8, so it cannot go in a Cargo.toml", .path.display())]
    NotUtf8 {
        /// The path given.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// The devgate checkout this binary was built from: where a generated crate's path
/// dependencies point unless the caller names another (`--devgate PATH`).
pub fn default_devgate_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Writes the crate of a new device family called `name` into `out_dir` (created; refused if
/// it holds anything), depending by path on the devgate checkout at `devgate_root`. Returns
/// the files written, under `out_dir`.
pub fn generate(
    name: &str,
    out_dir: &Path,
    devgate_root: &Path,
) -> Result<Vec<PathBuf>, NewFamilyError> {
    check_name(name)?;
    let devgate = devgate_checkout(devgate_root)?;
    let devgate_text = devgate.to_str().ok_or_else(|| NewFamilyError::NotUtf8 {
        path: devgate.clone(),
    })?;
    let names = Names::new(name, &toml_escape(devgate_text));
    ensure_empty(out_dir)?;
    let mut written = Vec::with_capacity(TEMPLATE.len() + LOCKS.len());
    for (template_path, text) in TEMPLATE {
        let path = out_dir.join(output_path(&names.fill(template_path)));
        write(&path, names.fill(text).as_bytes())?;
        written.push(path);
    }
    for (from, to) in LOCKS {
        let from = devgate.join(from);
        if from.is_file() {
            let lock = std::fs::read(&from).map_err(|source| io(&from, source))?;
            let path = out_dir.join(to);
            write(&path, &lock)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// What `devgate new-family` prints once `generate` wrote `written` into `dir`: the files, and
/// the commands that test the crate and run its binary.
pub fn report(name: &str, dir: &Path, written: &[PathBuf]) -> String {
    let mut text = format!("devgate: new family {name} in {}\n", dir.display());
    for path in written {
        let shown = path.strip_prefix(dir).unwrap_or(path);
        text.push_str(&format!("  {}\n", shown.display()));
    }
    text.push_str(&format!(
        "next:\n  cd {dir}\n  cargo test\n  cargo run --bin devgate-{name} -- check-config devgate.toml   # listeners {name}://ip:port\n  \
         (cd fuzz && cargo fuzz run --sanitizer none {name} -- -max_total_time=30)\n\
         then replace src/frame.rs, src/protocol.rs and vectors/{name}.jsonl with your protocol \
         (docs/CODEC_GUIDE.md in devgate)\n",
        dir = dir.display()
    ));
    text
}

/// A name is a URL scheme, a crate name and (capitalised) a type prefix: lower-case ASCII
/// letters and digits, starting with a letter, and not a codec devgate already serves.
fn check_name(name: &str) -> Result<(), NewFamilyError> {
    let bad = |reason| {
        Err(NewFamilyError::BadName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > MAX_NAME {
        return bad("must be 1 to 32 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("must start with a lower-case letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return bad("may hold only lower-case letters and digits (it is a URL scheme)");
    }
    if crate::codec_registry().contains(name) {
        return bad("is a codec devgate already serves");
    }
    Ok(())
}

fn devgate_checkout(root: &Path) -> Result<PathBuf, NewFamilyError> {
    let not_devgate = || NewFamilyError::NotDevgate {
        path: root.to_path_buf(),
    };
    let root = root.canonicalize().map_err(|_| not_devgate())?;
    if !root.join("codecs/family-kit/Cargo.toml").is_file() {
        return Err(not_devgate());
    }
    Ok(root)
}

fn ensure_empty(dir: &Path) -> Result<(), NewFamilyError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(NewFamilyError::NotEmpty {
                path: dir.to_path_buf(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(dir, e)),
    }
}

/// A template path as written: `.tmpl` dropped, `gitignore` made a dot file.
fn output_path(template_path: &str) -> PathBuf {
    let path = template_path.strip_suffix(".tmpl").unwrap_or(template_path);
    match path.rsplit_once('/') {
        Some((dir, "gitignore")) => PathBuf::from(format!("{dir}/.gitignore")),
        None if path == "gitignore" => PathBuf::from(".gitignore"),
        _ => PathBuf::from(path),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), NewFamilyError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> NewFamilyError {
    NewFamilyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The text of a TOML basic string (between its quotes).
fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The placeholders' values.
struct Names {
    pairs: [(&'static str, String); 5],
}

impl Names {
    fn new(name: &str, devgate: &str) -> Self {
        let mut type_prefix = name.to_string();
        type_prefix[..1].make_ascii_uppercase();
        Names {
            pairs: [
                ("{{name}}", name.to_string()),
                ("{{Name}}", type_prefix),
                ("{{crate}}", format!("codec-{name}")),
                ("{{crate_ident}}", format!("codec_{name}")),
                ("{{devgate}}", devgate.to_string()),
            ],
        }
    }

    fn fill(&self, text: &str) -> String {
        self.pairs
            .iter()
            .fold(text.to_string(), |text, (key, value)| {
                text.replace(key, value)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_a_lower_case_word_devgate_does_not_serve_yet() {
        assert!(check_name("h02").is_ok());
        for bad in [
            "",
            "H02",
            "2go",
            "my-tracker",
            "gt06",
            "text",
            &"a".repeat(33),
        ] {
            assert!(
                matches!(check_name(bad), Err(NewFamilyError::BadName { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn placeholders_are_filled_in_text_and_paths() {
        let names = Names::new("h02", "/src/devgate");
        assert_eq!(
            names.fill("{{crate}} {{crate_ident}}::{{Name}}Codec {{name}} {{devgate}}"),
            "codec-h02 codec_h02::H02Codec h02 /src/devgate"
        );
        assert_eq!(
            output_path(&names.fill("fuzz/fuzz_targets/{{name}}.rs")),
            PathBuf::from("fuzz/fuzz_targets/h02.rs")
        );
        assert_eq!(
            output_path("fuzz/Cargo.toml.tmpl"),
            PathBuf::from("fuzz/Cargo.toml")
        );
        assert_eq!(output_path("gitignore"), PathBuf::from(".gitignore"));
        assert_eq!(
            output_path("fuzz/gitignore"),
            PathBuf::from("fuzz/.gitignore")
        );
    }

    #[test]
    fn every_placeholder_of_the_template_is_known() {
        let names = Names::new("demo", "/x");
        for (path, text) in TEMPLATE {
            let filled = names.fill(text);
            assert!(!filled.contains("{{"), "{path}: a placeholder is left");
        }
    }

    #[test]
    fn a_path_with_quotes_stays_one_toml_string() {
        let escaped = toml_escape(r#"C:\dev "gate""#);
        let parsed: toml::Value = toml::from_str(&format!("p = \"{escaped}\"")).unwrap();
        assert_eq!(parsed["p"].as_str(), Some(r#"C:\dev "gate""#));
    }
}
