//! Errors: what is wrong in a rules (or rule tests) file, and store failures.

use std::fmt;
use std::path::PathBuf;

/// One problem in a rules file: which file, which rule, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// The rule's name (or `#N`, counting from 1), when the problem is inside a rule.
    pub rule: Option<String>,
    /// The key, e.g. `when` or `actions[1].publish.qos`; empty for the whole file.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(r) = &self.rule {
            write!(f, ": rule {r:?}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine reported an error (disk, I/O, corruption it detected).
    #[error("store: {0}")]
    Engine(String),
    /// A stored record could not be read back.
    #[error("store: corrupt record under {key}: {reason}")]
    Corrupt {
        /// The key, printed lossily.
        key: String,
        /// What was wrong.
        reason: String,
    },
}

/// Serde/TOML messages end in newlines and carry line breaks; one line reads better in a list.
pub(crate) fn one_line(msg: impl fmt::Display) -> String {
    msg.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
