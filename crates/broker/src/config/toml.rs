//! Tern's own configuration format: the [`Config`] model written as TOML.
//!
//! Keys are the model's field names (docs/configuration.md lists them all); unknown keys and values of the
//! wrong type are errors that name the file and line.

use std::path::Path;

use super::{Config, ConfigError, Location};

/// Parses a TOML configuration (without validating it).
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Config, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ConfigError::NotUtf8 {
        at: Location { file: path.to_path_buf(), line: line_of(bytes, e.valid_up_to()) },
    })?;
    ::toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |span| line_of(bytes, span.start));
        ConfigError::Toml { at: Location { file: path.to_path_buf(), line }, message: e.message().to_owned() }
    })
}

/// Writes `config` as TOML that [`parse`] reads back to the same configuration.
pub(crate) fn write(config: &Config) -> Result<String, ConfigError> {
    Ok(::toml::to_string(config)?)
}

/// The 1-based line holding byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes.iter().take(offset).filter(|&&b| b == b'\n').count()
}
