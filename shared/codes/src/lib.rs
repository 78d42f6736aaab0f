//! Voucher codes as users see them: generated from a [`Pattern`] (a prefix, a charset, a
//! length, dashes every few characters), and read back however a user typed them.
//!
//! Pure: no storage. Uniqueness is the database's (a unique index on the normalised code,
//! insert, and on a clash draw again); what this crate guarantees is that clashes are
//! rare and codes unguessable: characters come from a CSPRNG seeded by the operating
//! system, and
//! [`Pattern::check_capacity`] refuses a pattern whose space is too small for the
//! inventory it must cover.
//!
//! A pattern is written `PREFIX-{length:charset}` or `PREFIX-{length:charset/group}`:
//! `CRIC-{12:unambiguous/4}` makes `CRIC-7KQ2-M9XH-3WPA`. The charsets:
//! - `unambiguous`: `23456789ABCDEFGHJKLMNPQRSTUVWXYZ` (no 0/O, 1/I/L): for codes read off
//!   a screen and typed on a phone;
//! - `alphanumeric`: `0-9A-Z`;
//! - `digits`: `0-9`.
//!
//! Stored codes are sealed ([`Sealer`]): encrypted per row, found by a keyed fingerprint.

mod seal;

pub use seal::{SealError, Sealer};

use rand::Rng;
use serde::{Deserialize, Serialize};

const UNAMBIGUOUS: &str = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const ALPHANUMERIC: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

/// The most random characters a code may have (beyond that it is no longer typeable).
pub const MAX_LENGTH: usize = 32;

/// How much larger than the inventory a pattern's space must be: at a million times, a
/// new code clashes with an existing one at most once in a million draws.
pub const SPACE_PER_CODE: f64 = 1e6;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern {0:?}: expected PREFIX-{{length:charset}} or PREFIX-{{length:charset/group}}")]
    Syntax(String),
    #[error("unknown charset {0:?}: expected unambiguous, alphanumeric or digits")]
    Charset(String),
    #[error("length {0}: expected 4 to {MAX_LENGTH} random characters")]
    Length(usize),
    #[error("prefix {0:?}: expected up to 16 of A-Z, 0-9 and -")]
    Prefix(String),
    #[error(
        "{codes} codes need a space of {needed:.0} codes, this pattern has {space:.0}: make it longer"
    )]
    TooSmall { codes: u64, space: f64, needed: f64 },
}

/// A code pattern, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern {
    prefix: String,
    charset: &'static str,
    charset_name: &'static str,
    length: usize,
    /// A dash every `group` random characters; 0 for none.
    group: usize,
}

impl TryFrom<String> for Pattern {
    type Error = PatternError;

    fn try_from(text: String) -> Result<Self, PatternError> {
        Self::parse(&text)
    }
}

impl From<Pattern> for String {
    fn from(pattern: Pattern) -> String {
        pattern.to_string()
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{{{}:{}", self.prefix, self.length, self.charset_name)?;
        if self.group > 0 {
            write!(f, "/{}", self.group)?;
        }
        f.write_str("}")
    }
}

impl Pattern {
    /// Parses `PREFIX-{length:charset}` or `PREFIX-{length:charset/group}`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let syntax = || PatternError::Syntax(text.to_owned());
        let (prefix, rest) = text.split_once('{').ok_or_else(syntax)?;
        let spec = rest.strip_suffix('}').ok_or_else(syntax)?;
        let (length, charset) = spec.split_once(':').ok_or_else(syntax)?;
        let (charset, group) = match charset.split_once('/') {
            Some((charset, group)) => (charset, group.parse().map_err(|_| syntax())?),
            None => (charset, 0),
        };
        let length: usize = length.parse().map_err(|_| syntax())?;
        if !(4..=MAX_LENGTH).contains(&length) {
            return Err(PatternError::Length(length));
        }
        if prefix.len() > 16
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(PatternError::Prefix(prefix.to_owned()));
        }
        let (charset, charset_name) = match charset {
            "unambiguous" => (UNAMBIGUOUS, "unambiguous"),
            "alphanumeric" => (ALPHANUMERIC, "alphanumeric"),
            "digits" => (DIGITS, "digits"),
            other => return Err(PatternError::Charset(other.to_owned())),
        };
        Ok(Self {
            prefix: prefix.to_owned(),
            charset,
            charset_name,
            length,
            group: if group >= length { 0 } else { group },
        })
    }

    /// How many distinct codes the pattern can make.
    pub fn space(&self) -> f64 {
        (self.charset.len() as f64).powi(i32::try_from(self.length).unwrap_or(i32::MAX))
    }

    /// Refuses the pattern for an inventory of `codes` when its space is under
    /// [`SPACE_PER_CODE`] times that: clashes would be frequent, and codes guessable.
    pub fn check_capacity(&self, codes: u64) -> Result<(), PatternError> {
        let needed = codes as f64 * SPACE_PER_CODE;
        if self.space() < needed {
            return Err(PatternError::TooSmall {
                codes,
                space: self.space(),
                needed,
            });
        }
        Ok(())
    }

    /// A new code, its random characters from `rng` (tests pass a seeded one; production
    /// uses [`Pattern::generate`]).
    pub fn generate_with(&self, rng: &mut impl Rng) -> String {
        let charset = self.charset.as_bytes();
        let mut code = String::with_capacity(self.prefix.len() + self.length * 2);
        code.push_str(&self.prefix);
        for i in 0..self.length {
            if self.group > 0 && i > 0 && i % self.group == 0 {
                code.push('-');
            }
            code.push(char::from(charset[rng.random_range(0..charset.len())]));
        }
        code
    }

    /// A new code from `rand`'s thread generator: a CSPRNG (ChaCha) seeded and reseeded
    /// from the operating system.
    pub fn generate(&self) -> String {
        self.generate_with(&mut rand::rng())
    }

    /// The code a user meant, as stored: upper case, spaces and dashes inside the random
    /// part dropped and put back where the pattern has them; `None` when it cannot be one
    /// of this pattern's codes. Lookups go through this, so `cric 7kq2m9xh3wpa` finds
    /// `CRIC-7KQ2-M9XH-3WPA`.
    pub fn normalize(&self, typed: &str) -> Option<String> {
        let compact: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let prefix: String = self.prefix.chars().filter(|c| *c != '-').collect();
        let random = compact.strip_prefix(&prefix)?;
        if random.chars().count() != self.length
            || !random.bytes().all(|b| self.charset.as_bytes().contains(&b))
        {
            return None;
        }
        let mut code = String::with_capacity(self.prefix.len() + self.length * 2);
        code.push_str(&self.prefix);
        for (i, c) in random.chars().enumerate() {
            if self.group > 0 && i > 0 && i % self.group == 0 {
                code.push('-');
            }
            code.push(c);
        }
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn codes_follow_their_pattern() {
        let pattern = Pattern::parse("CRIC-{12:unambiguous/4}").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let code = pattern.generate_with(&mut rng);
            let parts: Vec<&str> = code.split('-').collect();
            assert_eq!(parts.len(), 4, "{code}");
            assert_eq!(parts[0], "CRIC");
            for part in &parts[1..] {
                assert_eq!(part.len(), 4, "{code}");
                assert!(
                    part.bytes().all(|b| UNAMBIGUOUS.as_bytes().contains(&b)),
                    "{code}"
                );
            }
        }
        assert_eq!(pattern.to_string(), "CRIC-{12:unambiguous/4}");
    }

    /// Every character of the charset turns up, about equally often: no bias a guesser
    /// could use.
    #[test]
    fn characters_are_drawn_evenly() {
        let pattern = Pattern::parse("{32:unambiguous}").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut counts = [0u32; 256];
        for _ in 0..2000 {
            for b in pattern.generate_with(&mut rng).bytes() {
                counts[usize::from(b)] += 1;
            }
        }
        let expected = 2000.0 * 32.0 / 32.0;
        for b in UNAMBIGUOUS.bytes() {
            let seen = f64::from(counts[usize::from(b)]);
            assert!(
                (seen - expected).abs() < expected * 0.1,
                "{} seen {seen}",
                char::from(b)
            );
        }
    }

    #[test]
    fn the_thread_generator_gives_distinct_codes() {
        let pattern = Pattern::parse("V{10:alphanumeric}").unwrap();
        let codes: HashSet<String> = (0..10_000).map(|_| pattern.generate()).collect();
        assert_eq!(codes.len(), 10_000);
    }

    #[test]
    fn a_code_is_found_however_it_was_typed() {
        let pattern = Pattern::parse("CRIC-{12:unambiguous/4}").unwrap();
        let code = pattern.generate();
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(pattern.normalize(&typed), Some(code.clone()));
        assert_eq!(
            pattern.normalize(&code.replace('-', "")),
            Some(code.clone())
        );
        // Wrong prefix, wrong length, a character the charset lacks (O is ambiguous).
        assert_eq!(pattern.normalize(&code.replace("CRIC", "CRAC")), None);
        assert_eq!(pattern.normalize(&code[..code.len() - 1]), None);
        assert_eq!(pattern.normalize("CRIC-OOOO-2222-3333"), None);
    }

    #[test]
    fn a_pattern_too_small_for_its_inventory_is_refused() {
        let digits = Pattern::parse("{8:digits}").unwrap();
        assert!(digits.check_capacity(10).is_ok());
        assert!(matches!(
            digits.check_capacity(1000),
            Err(PatternError::TooSmall { .. })
        ));
        let long = Pattern::parse("{16:unambiguous}").unwrap();
        assert!(long.check_capacity(10_000_000).is_ok());
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (text, expected) in [
            ("CRIC-12", "expected PREFIX-"),
            ("{12:emoji}", "unknown charset"),
            ("{2:digits}", "length 2"),
            ("cric-{12:digits}", "prefix"),
            ("{x:digits}", "expected PREFIX-"),
        ] {
            let error = Pattern::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
