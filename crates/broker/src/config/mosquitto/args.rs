//! The arguments of one mosquitto.conf directive, read the way Mosquitto reads them.
//!
//! A directive's argument is either one word (`true`, `1883`, `ipv4`), in which case a trailing `# ...`
//! comment is allowed and any other extra word is an error, or the rest of the line (file paths, prefixes),
//! which may hold spaces and is taken whole, as Mosquitto does.

use crate::config::DirectiveProblem;

/// The text after a directive's name, already trimmed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Args<'a>(pub &'a str);

impl<'a> Args<'a> {
    /// The whole rest of the line, which must not be empty.
    pub fn text(self, expected: &'static str) -> Result<&'a str, DirectiveProblem> {
        if self.0.is_empty() {
            Err(DirectiveProblem::MissingArgument(expected))
        } else {
            Ok(self.0)
        }
    }

    /// Up to `N` words, the first `required` of them mandatory, then nothing but a comment.
    pub fn words<const N: usize>(
        self,
        required: usize,
        expected: &'static str,
    ) -> Result<[Option<&'a str>; N], DirectiveProblem> {
        let mut out = [None; N];
        let mut words = self.0.split_ascii_whitespace();
        for slot in out.iter_mut() {
            match words.next() {
                Some(w) if w.starts_with('#') => break,
                Some(w) => *slot = Some(w),
                None => break,
            }
        }
        if out.iter().take(required).any(Option::is_none) {
            return Err(DirectiveProblem::MissingArgument(expected));
        }
        let used = out.iter().flatten().count();
        if let Some(extra) = self.0.split_ascii_whitespace().nth(used) {
            if !extra.starts_with('#') {
                return Err(DirectiveProblem::ExtraArgument(extra.to_owned()));
            }
        }
        Ok(out)
    }

    /// Exactly one word.
    pub fn word(self, expected: &'static str) -> Result<&'a str, DirectiveProblem> {
        let [w] = self.words::<1>(1, expected)?;
        w.ok_or(DirectiveProblem::MissingArgument(expected))
    }

    /// `true`/`false` (Mosquitto also takes `1`/`0`).
    pub fn bool(self) -> Result<bool, DirectiveProblem> {
        const EXPECTED: &str = "true or false";
        match self.word(EXPECTED)? {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(invalid(other, EXPECTED)),
        }
    }

    /// A whole number (negative allowed: Mosquitto gives some negatives a meaning).
    pub fn int(self, expected: &'static str) -> Result<i64, DirectiveProblem> {
        let w = self.word(expected)?;
        let digits = w.strip_prefix('-').unwrap_or(w);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(w, expected));
        }
        w.parse().map_err(|_| invalid(w, expected))
    }

    /// A whole number within `range`.
    pub fn int_in<T: TryFrom<i64>>(
        self,
        range: std::ops::RangeInclusive<i64>,
        expected: &'static str,
    ) -> Result<T, DirectiveProblem> {
        let n = self.int(expected)?;
        if !range.contains(&n) {
            return Err(invalid(&n.to_string(), expected));
        }
        T::try_from(n).map_err(|_| invalid(&n.to_string(), expected))
    }
}

/// An argument outside what the directive takes.
pub(super) fn invalid(value: &str, expected: &'static str) -> DirectiveProblem {
    DirectiveProblem::InvalidValue { value: value.to_owned(), expected }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_may_be_followed_by_a_comment_but_not_by_another_word() {
        assert_eq!(Args("true # yes").bool(), Ok(true));
        assert_eq!(Args("true yes").bool(), Err(DirectiveProblem::ExtraArgument("yes".into())));
    }

    #[test]
    fn booleans_take_mosquittos_spellings_only() {
        assert_eq!(Args("1").bool(), Ok(true));
        assert_eq!(Args("0").bool(), Ok(false));
        assert_eq!(Args("yes").bool(), Err(invalid("yes", "true or false")));
        assert_eq!(Args("").bool(), Err(DirectiveProblem::MissingArgument("true or false")));
    }

    #[test]
    fn numbers_are_whole_words_unlike_atoi() {
        assert_eq!(Args("-1").int("n"), Ok(-1));
        for bad in ["10abc", "1.5", "-", "0x10", "１"] {
            assert_eq!(Args(bad).int("n"), Err(invalid(bad, "n")), "{bad}");
        }
        assert_eq!(Args("3").int_in::<u8>(0..=2, "0-2"), Err(invalid("3", "0-2")));
        assert_eq!(Args("99999999999999999999").int("n"), Err(invalid("99999999999999999999", "n")));
    }

    #[test]
    fn optional_words_stop_at_a_comment() {
        assert_eq!(Args("1883 # plain").words::<2>(1, "port"), Ok([Some("1883"), None]));
        assert_eq!(
            Args("1883 ::1 x").words::<2>(1, "port"),
            Err(DirectiveProblem::ExtraArgument("x".into()))
        );
        assert_eq!(Args("").words::<2>(1, "port"), Err(DirectiveProblem::MissingArgument("port")));
    }
}
