//! Subject grammar: what a publish subject and a subscription pattern may look like, and
//! which subjects a pattern matches. Pure and allocation-light; both backends validate
//! through here so that a subject accepted by `LocalBus` is accepted by NATS and the other
//! way round.
//!
//! Rules (NATS semantics, slightly stricter so the two backends cannot disagree):
//! - subjects are `.`-separated tokens; no token may be empty, none may contain whitespace;
//! - `*` as a whole token matches exactly one token, `>` as the last token matches one or
//!   more trailing tokens (so `a.>` does not match `a`);
//! - wildcards are only allowed in subscription patterns, never in a publish subject, and a
//!   `*` or `>` inside a longer token (`a*b`) is refused rather than treated as a literal,
//!   which NATS would do silently.

use crate::BusError;

/// One token of a parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(Box<str>),
    /// `*`: exactly one token.
    One,
    /// `>`: one or more trailing tokens.
    Tail,
}

/// A validated subscription pattern, split into tokens once so matching never re-parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    raw: Box<str>,
    tokens: Box<[Token]>,
}

fn invalid(subject: &str, reason: &'static str) -> BusError {
    BusError::InvalidSubject {
        subject: subject.to_owned(),
        reason,
    }
}

/// Checks the rules shared by subjects and patterns, token by token; `on_token` sees each
/// token after the common checks.
fn check_tokens(
    subject: &str,
    mut on_token: impl FnMut(&str, bool) -> Result<(), &'static str>,
) -> Result<(), BusError> {
    if subject.is_empty() {
        return Err(invalid(subject, "empty"));
    }
    let mut tokens = subject.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            return Err(invalid(subject, "empty token"));
        }
        if token
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(invalid(subject, "whitespace or control character"));
        }
        let is_last = tokens.peek().is_none();
        on_token(token, is_last).map_err(|reason| invalid(subject, reason))?;
    }
    Ok(())
}

/// Validates a subject a message may be published to: no wildcards.
pub fn validate_subject(subject: &str) -> Result<(), BusError> {
    check_tokens(subject, |token, _| {
        if token.contains(['*', '>']) {
            Err("wildcards are not allowed in a publish subject")
        } else {
            Ok(())
        }
    })
}

/// Validates a subscription pattern: `*` anywhere as a whole token, `>` only as the last.
pub fn validate_pattern(pattern: &str) -> Result<(), BusError> {
    check_tokens(pattern, |token, is_last| match token {
        "*" => Ok(()),
        ">" if is_last => Ok(()),
        ">" => Err("`>` must be the last token"),
        t if t.contains(['*', '>']) => Err("a wildcard must be a whole token"),
        _ => Ok(()),
    })
}

/// Validates a queue group or stream/consumer name: one token, no wildcards.
pub(crate) fn validate_name(kind: &'static str, name: &str) -> Result<(), BusError> {
    let bad = name.is_empty()
        || name
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"*>.".contains(&b));
    if bad {
        Err(BusError::InvalidConfig(format!(
            "{kind} {name:?} must be non-empty without whitespace, `.`, `*` or `>`"
        )))
    } else {
        Ok(())
    }
}

impl Pattern {
    /// Parses and validates a subscription pattern.
    pub fn parse(pattern: &str) -> Result<Self, BusError> {
        validate_pattern(pattern)?;
        let tokens = pattern
            .split('.')
            .map(|t| match t {
                "*" => Token::One,
                ">" => Token::Tail,
                literal => Token::Literal(literal.into()),
            })
            .collect();
        Ok(Self {
            raw: pattern.into(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// True when the pattern has no wildcard, so it matches exactly one subject (itself).
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// Whether `subject` (already split on `.`) matches.
    pub fn matches_tokens(&self, subject: &[&str]) -> bool {
        for (i, token) in self.tokens.iter().enumerate() {
            match token {
                Token::Tail => return subject.len() > i,
                Token::One => {
                    if i >= subject.len() {
                        return false;
                    }
                }
                Token::Literal(literal) => {
                    if subject.get(i).is_none_or(|s| **s != **literal) {
                        return false;
                    }
                }
            }
        }
        subject.len() == self.tokens.len()
    }

    /// Whether `subject` matches; splits it lazily, without allocating.
    pub fn matches(&self, subject: &str) -> bool {
        let mut parts = subject.split('.');
        for token in &self.tokens {
            match token {
                Token::Tail => return parts.next().is_some(),
                Token::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Token::Literal(literal) => {
                    if parts.next() != Some(&**literal) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// Whether some subject matches both patterns; used to refuse two streams that would
    /// both capture one message (JetStream refuses them too).
    pub fn overlaps(&self, other: &Pattern) -> bool {
        overlap(&self.tokens, &other.tokens)
    }
}

fn overlap(a: &[Token], b: &[Token]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        // `>` needs at least one token, which the other side has.
        (Some((Token::Tail, _)), Some(_)) | (Some(_), Some((Token::Tail, _))) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some((x, a_rest)), Some((y, b_rest))) => {
            let compatible = match (x, y) {
                (Token::Literal(x), Token::Literal(y)) => x == y,
                _ => true,
            };
            compatible && overlap(a_rest, b_rest)
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for Pattern {
    type Err = BusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Convenience: whether `subject` matches `pattern`; an invalid pattern matches nothing.
pub fn matches(pattern: &str, subject: &str) -> bool {
    Pattern::parse(pattern).is_ok_and(|p| p.matches(subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn publish_subjects() {
        for ok in [
            "a",
            "a.b.c",
            "live.v1.match.42.events",
            "_INBOX.x.1",
            "a-b_c",
        ] {
            assert!(validate_subject(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".", "a.", ".a", "a..b", "a b", "a\tb", "a.*", "a.>", "*", ">", "a*", "a.b>c",
            "a\nb",
        ] {
            assert!(
                matches!(validate_subject(bad), Err(BusError::InvalidSubject { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn patterns() {
        for ok in ["a", "a.*", "*", ">", "a.>", "*.b.>", "a.*.c"] {
            assert!(validate_pattern(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a..b", "a.>.b", ">.a", "a*", "a.b*", "a.>x", "a. b", "a.",
        ] {
            assert!(validate_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn star_matches_exactly_one_token() {
        let pat = p("a.*.c");
        assert!(pat.matches("a.b.c"));
        assert!(pat.matches("a.x.c"));
        assert!(!pat.matches("a.c"));
        assert!(!pat.matches("a.b.b.c"));
        assert!(!pat.matches("a.b.c.d"));
        assert!(p("a.*").matches("a.b"));
        assert!(!p("a.*").matches("a"));
        assert!(!p("a.*").matches("a.b.c"));
        assert!(p("*").matches("a"));
        assert!(!p("*").matches("a.b"));
    }

    #[test]
    fn tail_matches_one_or_more_trailing_tokens() {
        let pat = p("a.>");
        assert!(pat.matches("a.b"));
        assert!(pat.matches("a.b.c.d"));
        assert!(!pat.matches("a"), "`>` must not match the bare prefix");
        assert!(!pat.matches("b.a"));
        assert!(p(">").matches("x"));
        assert!(p(">").matches("x.y.z"));
        assert!(p("*.b.>").matches("a.b.c"));
        assert!(!p("*.b.>").matches("a.b"));
    }

    #[test]
    fn literal_matches_only_itself() {
        let pat = p("a.b");
        assert!(pat.is_literal());
        assert!(pat.matches("a.b"));
        assert!(!pat.matches("a.b.c"));
        assert!(!pat.matches("a"));
        assert!(!pat.matches("a.bb"));
        assert!(!p("a.*").is_literal());
    }

    #[test]
    fn token_and_lazy_matching_agree() {
        let patterns = ["a", "a.b", "a.*", "a.>", "*.b", ">", "*.*.c", "a.*.>", "*"];
        let subjects = ["a", "b", "a.b", "a.c", "a.b.c", "x.b", "x.y.c", "a.b.c.d"];
        for pat in patterns {
            let pat = p(pat);
            for subject in subjects {
                let tokens: Vec<&str> = subject.split('.').collect();
                assert_eq!(
                    pat.matches(subject),
                    pat.matches_tokens(&tokens),
                    "{pat} vs {subject}"
                );
            }
        }
    }

    #[test]
    fn overlap_detection() {
        let cases = [
            ("a.b", "a.b", true),
            ("a.b", "a.c", false),
            ("a.*", "a.b", true),
            ("a.>", "a", false),
            ("a.>", "a.b.c", true),
            ("a.*", "a.b.c", false),
            ("a.*.c", "a.>", true),
            ("*.x", "y.*", true),
            ("*.x", "y.z", false),
            (">", "a", true),
            ("a.b.>", "a.*", false),
            ("orders.>", "payments.>", false),
        ];
        for (x, y, expected) in cases {
            assert_eq!(p(x).overlaps(&p(y)), expected, "{x} vs {y}");
            assert_eq!(p(y).overlaps(&p(x)), expected, "{y} vs {x}");
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("stream", "ORDERS_1-a").is_ok());
        for bad in ["", "a.b", "a b", "a*", ">"] {
            assert!(validate_name("stream", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn convenience_matcher() {
        assert!(matches("a.>", "a.b"));
        assert!(!matches("a..b", "a..b"));
    }
}
