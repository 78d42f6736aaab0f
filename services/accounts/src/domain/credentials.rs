//! Emails and passwords as users type them, checked before anything is stored.

/// Shortest password accepted. Length beats composition rules (NIST SP 800-63B).
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest password accepted: argon2 hashes any length, but unbounded input is a DoS lever.
pub const MAX_PASSWORD_LEN: usize = 128;

/// Passwords so common that attackers try them first (a short list; a real deployment
/// would check a breach corpus).
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "1234567890",
    "12345678910",
    "qwertyuiop",
    "iloveyou123",
    "letmein123",
    "welcome123",
    "cricket123",
    "sachin1234",
    "football123",
    "abcdefghij",
    "0987654321",
    "1111111111",
    "passw0rd123",
];

/// Why a password or email was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the email address is not valid")]
    InvalidEmail,
    #[error("the password must be at least {MIN_PASSWORD_LEN} characters")]
    PasswordTooShort,
    #[error("the password must be at most {MAX_PASSWORD_LEN} characters")]
    PasswordTooLong,
    #[error("the password is too common or too simple")]
    PasswordTooCommon,
    #[error("the password must not contain the email address")]
    PasswordContainsEmail,
}

/// An email as stored: trimmed and lower-cased, so `A@x.com` and `a@x.com` are one account.
pub fn normalize_email(raw: &str) -> Result<String, CredentialError> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@').ok_or(CredentialError::InvalidEmail)?;
    let valid = email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(CredentialError::InvalidEmail)
    }
}

/// Checks a new password against the policy.
pub fn check_password(password: &str, email: &str) -> Result<(), CredentialError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_LEN {
        return Err(CredentialError::PasswordTooShort);
    }
    if length > MAX_PASSWORD_LEN {
        return Err(CredentialError::PasswordTooLong);
    }
    let lowered = password.to_lowercase();
    let distinct = {
        let mut chars: Vec<char> = lowered.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        chars.len()
    };
    if distinct < 4 || COMMON.contains(&lowered.as_str()) {
        return Err(CredentialError::PasswordTooCommon);
    }
    let local = email.split('@').next().unwrap_or_default();
    if local.len() >= 4 && lowered.contains(local) {
        return Err(CredentialError::PasswordContainsEmail);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Virat@Example.COM ").unwrap(),
            "virat@example.com"
        );
        for bad in [
            "",
            "no-at-sign",
            "@example.com",
            "a@b",
            "a@.com",
            "a@b.",
            "a b@c.com",
            "a@b@c.com",
        ] {
            assert_eq!(
                normalize_email(bad),
                Err(CredentialError::InvalidEmail),
                "{bad}"
            );
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        let email = "rohit@example.com";
        assert_eq!(
            check_password("short", email),
            Err(CredentialError::PasswordTooShort)
        );
        assert_eq!(
            check_password(&"x".repeat(129), email),
            Err(CredentialError::PasswordTooLong)
        );
        assert_eq!(
            check_password("Password123", email),
            Err(CredentialError::PasswordTooCommon)
        );
        assert_eq!(
            check_password("aaaaaaaaaaaa", email),
            Err(CredentialError::PasswordTooCommon)
        );
        assert_eq!(
            check_password("my-rohit-pass!", email),
            Err(CredentialError::PasswordContainsEmail)
        );
        assert_eq!(check_password("cover drive at dusk", email), Ok(()));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Ten characters of Devanagari are 30 bytes; they meet the minimum, not exceed it thrice.
        assert_eq!(check_password("क्रिकेटखेलो", "a@b.co"), Ok(()));
    }
}
