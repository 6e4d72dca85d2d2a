//! Test vectors: `.jsonl` files of captured frames (one JSON object a line, the format of
//! `../shared/vectors/*.jsonl`, described in its README), and helpers to compare what a codec
//! decoded with what a vector says.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// devgate's `../shared/vectors`, found by walking up from this crate's folder in the devgate
/// checkout (the repo is `<d>/main` and the vectors `<d>/shared/vectors`, on a laptop and in CI
/// alike). A family outside the repository keeps its own file and calls [`load_file`].
pub fn vectors_dir() -> Option<PathBuf> {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared").join("vectors"))
        .find(|dir| dir.is_dir())
}

/// Every line of `<name>.jsonl`, or `None` (with a loud message) when the folder is absent
/// outside CI; under CI (`CI` set) a missing folder fails the test.
pub fn load(name: &str) -> Option<Vec<Value>> {
    load_from(name, vectors_dir(), in_ci(std::env::var_os("CI")))
}

/// True when the `CI` variable says this is a CI run (set, and not empty, `0` or `false`).
pub fn in_ci(ci: Option<std::ffi::OsString>) -> bool {
    ci.is_some_and(|value| !value.is_empty() && value != "0" && value != "false")
}

/// [`load`] from `dir`: a missing folder skips loudly, or fails when `ci` is true, since a CI
/// run that checked no vector must not pass as one that checked them all.
pub fn load_from(name: &str, dir: Option<PathBuf>, ci: bool) -> Option<Vec<Value>> {
    let Some(dir) = dir else {
        assert!(
            !ci,
            "../shared/vectors not found next to the workspace and CI is set: \
             the {name} vector tests cannot run"
        );
        eprintln!(
            "\n!!!!!!!!\n!!! SKIPPED: ../shared/vectors not found next to the workspace; \
             the {name} vector tests did not run\n!!!!!!!!\n"
        );
        return None;
    };
    Some(load_file(dir.join(format!("{name}.jsonl"))))
}

/// Every line of the `.jsonl` file at `path` (blank lines skipped): how a family outside the
/// devgate repository reads its own vectors, e.g.
/// `load_file(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/h02.jsonl"))`. A missing or empty
/// file, or a line that is not JSON, fails the test: a family's own vectors are never optional.
pub fn load_file(path: impl AsRef<Path>) -> Vec<Value> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("vector file {} unreadable: {err}", path.display()));
    let lines: Vec<Value> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{} line {}: not JSON: {err}", path.display(), n + 1))
        })
        .collect();
    assert!(!lines.is_empty(), "{} has no vectors", path.display());
    lines
}

/// `"0x1f"` or a number, as an integer.
pub fn int(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().expect("integer"),
        Value::String(s) => {
            i64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex string")
        }
        Value::Bool(b) => i64::from(*b),
        other => panic!("not an integer: {other}"),
    }
}

/// Asserts two coordinates agree within `tolerance` degrees.
pub fn close(what: &str, got: &Value, want: &Value, tolerance: f64) {
    let (got, want) = (
        got.as_f64().unwrap_or(f64::NAN),
        want.as_f64().expect("number"),
    );
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want}"
    );
}

/// `<msg_type> line <source_line>`: how a failure names its vector.
pub fn label(v: &Value) -> String {
    format!("{} line {}", v["msg_type"], v["source_line"])
}

/// The vectors `keep` selects, asserting there are `count` of them (the README counts them).
pub fn select(vectors: &[Value], count: usize, keep: impl Fn(&Value) -> bool) -> Vec<&Value> {
    let selected: Vec<&Value> = vectors.iter().filter(|v| keep(v)).collect();
    assert_eq!(selected.len(), count, "vectors selected");
    selected
}

/// Runs `compare(key, want)` on every key of `object`; a key it does not know (it returns
/// false) fails the test, so a new vector field cannot slip by uncompared.
pub fn compare_each(
    what: &str,
    noun: &str,
    object: &Value,
    mut compare: impl FnMut(&str, &Value) -> bool,
) {
    for (key, want) in object.as_object().expect("an object of expected values") {
        assert!(compare(key, want), "{what}: {noun} `{key}` is not compared");
    }
}

/// The frame as it travels over TCP: `hex` when the vector says it is the wire form or gives
/// no other, else `wire_hex` (JT/T 808 vectors hold unescaped frames with a wire copy).
pub fn wire(v: &Value) -> Vec<u8> {
    let hex = match v["hex_form"].as_str() {
        Some("wire") => v["hex"].as_str(),
        _ => v
            .get("wire_hex")
            .and_then(Value::as_str)
            .or(v["hex"].as_str()),
    };
    hex::decode(hex.expect("vector has hex")).expect("vector hex decodes")
}

/// The wire bytes of every uplink vector of `name` that `keep` selects, `None` when the
/// vectors are absent.
pub fn uplink_frames(name: &str, keep: impl Fn(&Value) -> bool) -> Option<Vec<Vec<u8>>> {
    Some(uplinks(&load(name)?, keep))
}

/// The wire bytes of every uplink vector of `vectors` that `keep` selects.
pub fn uplinks(vectors: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<Vec<u8>> {
    let uplink = vectors.iter().filter(|v| v["direction"] == "uplink");
    uplink.filter(|v| keep(v)).map(wire).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_vectors_skip_outside_ci() {
        assert!(load_from("gt06", None, false).is_none());
        assert!(!in_ci(None));
        assert!(!in_ci(Some("".into())));
        assert!(!in_ci(Some("false".into())));
        assert!(in_ci(Some("true".into())));
        assert!(in_ci(Some("1".into())));
    }

    #[test]
    #[should_panic(expected = "CI is set")]
    fn missing_vectors_fail_the_test_under_ci() {
        load_from("gt06", None, true);
    }

    #[test]
    fn a_family_file_is_read_line_by_line_and_blank_lines_are_skipped() {
        let dir = std::env::temp_dir().join(format!("family-kit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("demo.jsonl");
        std::fs::write(&path, "{\"direction\":\"uplink\",\"hex\":\"0a0b\"}\n\n{\"direction\":\"downlink\",\"hex\":\"ff\"}\n").unwrap();
        let vectors = load_file(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(vectors.len(), 2);
        assert_eq!(uplinks(&vectors, |_| true), vec![vec![0x0a, 0x0b]]);
    }

    #[test]
    #[should_panic(expected = "unreadable")]
    fn a_missing_family_file_fails_the_test() {
        load_file("/nonexistent/devgate-family-kit/none.jsonl");
    }
}
