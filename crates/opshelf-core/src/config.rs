//! Shared configuration vocabulary: the error every `validate()` returns.
//!
//! Capability crates name the key relative to their own `[section]`; the binary adds the
//! section and the file (or environment variable) when it reports the error, so the user
//! sees e.g. `opshelf.toml: secrets.listen: expected a socket address like 127.0.0.1:8200`.

use std::fmt;

/// A setting that is present but wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Dotted path of the key, relative to the section that validated it (`"listen"`,
    /// `"upstreams[0].url"`).
    pub key: String,
    /// What was expected, phrased to follow "expected ": `"a socket address like 127.0.0.1:8200"`.
    pub expected: String,
}

impl ConfigError {
    /// An error for `key`, which should have been `expected`.
    pub fn new(key: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            expected: expected.into(),
        }
    }

    /// The same error with `section.` put in front of its key.
    #[must_use]
    pub fn in_section(mut self, section: &str) -> Self {
        self.key = if self.key.is_empty() {
            section.to_owned()
        } else {
            format!("{section}.{}", self.key)
        };
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}", self.key, self.expected)
    }
}
