//! Durations as Mosquitto writes them: `persistent_client_expiration 14d`.
//!
//! A whole positive number followed by one unit: `h` hours, `d` days, `w` weeks, `m` months (30 days),
//! `y` years (365 days). There is no seconds or minutes unit (`m` is a month).

use std::time::Duration;

/// What [`parse`] accepts, for error messages.
pub(crate) const EXPECTED: &str = "a positive number followed by h, d, w, m (30 days) or y (365 days)";

/// Parses `2h`, `14d`, `1w`, `6m`, `1y`; `None` for anything else, zero included.
pub(crate) fn parse(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let seconds_per_unit: u64 = match unit {
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'm' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    let number = &text[..text.len() - 1];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: u64 = number.parse().ok()?;
    if count == 0 {
        return None;
    }
    count.checked_mul(seconds_per_unit).map(Duration::from_secs)
}

/// Serde for an optional duration: written as whole seconds, read from seconds or from [`parse`]'s form.
pub(crate) mod opt_secs {
    use std::time::Duration;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Seconds(0)) => Err(D::Error::custom("a duration of 0 seconds")),
            Some(Raw::Seconds(secs)) => Ok(Some(Duration::from_secs(secs))),
            Some(Raw::Text(text)) => super::parse(&text).map(Some).ok_or_else(|| {
                D::Error::custom(format!(
                    "invalid duration `{text}`: expected seconds or {}",
                    super::EXPECTED
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mosquitto_unit_is_understood() {
        assert_eq!(parse("2h"), Some(Duration::from_secs(7_200)));
        assert_eq!(parse("14d"), Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse("1w"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse("2m"), Some(Duration::from_secs(60 * 86_400)));
        assert_eq!(parse("1y"), Some(Duration::from_secs(365 * 86_400)));
    }

    #[test]
    fn malformed_durations_are_refused() {
        for bad in ["", "d", "0d", "-1d", "1", "1s", "10x", "1.5d", " 1d", "1dd", "99999999999999999999y"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
