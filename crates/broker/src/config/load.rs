//! Loading a configuration file: the format is chosen by the file name, and what is loaded is validated.
//!
//! A file ending in `.toml` is Tern's TOML format; anything else is mosquitto.conf, so that
//! `/etc/mosquitto/mosquitto.conf` works unchanged.

use std::path::Path;

use super::mosquitto::{self, Notice, Places};
use super::{toml, Config, ConfigError};

impl Config {
    /// Reads, parses and validates `path` (`tern broker -c FILE`, `--test-config`).
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::load_with_notices(path).map(|(config, _)| config)
    }

    /// [`Config::load`], also returning the mosquitto.conf directives accepted without effect, for the
    /// broker to log at start-up.
    pub fn load_with_notices(path: impl AsRef<Path>) -> Result<(Config, Vec<Notice>), ConfigError> {
        Self::load_with_places(path).map(|(config, notices, _)| (config, notices))
    }

    /// [`Config::load_with_notices`], also returning where the directives that name files were written
    /// (mosquitto.conf only: a TOML file gives no places).
    pub fn load_with_places(path: impl AsRef<Path>) -> Result<(Config, Vec<Notice>, Places), ConfigError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        if is_toml(path) {
            Ok((Self::from_toml_bytes(&bytes, path)?, Vec::new(), Places::default()))
        } else {
            Self::from_mosquitto_bytes(&bytes, path)
        }
    }

    /// Parses and validates Tern's TOML format; `path` is only used in error messages.
    pub fn from_toml_str(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::from_toml_bytes(text.as_bytes(), path.as_ref())
    }

    /// Parses and validates mosquitto.conf text; `path` names it in error messages (and files it
    /// includes with `include_dir` are read from disk).
    pub fn from_mosquitto_str(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::from_mosquitto_bytes(text.as_bytes(), path.as_ref()).map(|(config, ..)| config)
    }

    /// The [effective](Config::effective) configuration as Tern's TOML format, every setting spelled
    /// out (`tern broker --print-config`).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::write(&self.effective())
    }

    fn from_toml_bytes(bytes: &[u8], path: &Path) -> Result<Config, ConfigError> {
        let config = toml::parse(bytes, path)?;
        config.validate()?;
        Ok(config)
    }

    fn from_mosquitto_bytes(bytes: &[u8], path: &Path) -> Result<(Config, Vec<Notice>, Places), ConfigError> {
        let parsed = mosquitto::parse_bytes(bytes, path)?;
        match parsed.config.validate() {
            Ok(()) => Ok((parsed.config, parsed.notices, parsed.places)),
            Err(ConfigError::Invalid(mut found)) => {
                // Name the `listener` line each problem concerns.
                for invalid in &mut found {
                    if let super::Scope::Listener { index, .. } = invalid.scope {
                        invalid.at = parsed.listener_at.get(index).cloned().flatten();
                    }
                }
                Err(ConfigError::Invalid(found))
            }
            Err(other) => Err(other),
        }
    }
}

/// Whether `path` names a TOML file (by its extension, as `tern broker -c` documents).
fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "toml")
}
