//! Codes at rest: a voucher code is money to whoever reads it, so storage holds it sealed
//! and can still find it.
//!
//! - [`Sealer::seal`] encrypts a code with AES-256-GCM under a fresh random nonce, with
//!   the row's id as associated data: a sealed code copied onto another row does not
//!   open there. The text form is `v1.<base64url(nonce || ciphertext || tag)>`.
//! - [`Sealer::fingerprint`] is HMAC-SHA-256 of the normalised code under a second key:
//!   deterministic, so a unique index on it keeps codes unique and a redemption finds its
//!   row, yet it reveals nothing without the key.
//!
//! Both keys come from one 32-byte secret through HKDF, so an operator configures one
//! value. Rotating it needs a re-seal of every code (the `v1.` prefix leaves room).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

const VERSION: &str = "v1.";

/// Why a sealed code did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not the text form this crate writes.
    #[error("not a sealed code")]
    Malformed,
    /// Wrong key, wrong row, or altered: the tag does not verify.
    #[error("the sealed code does not open with this key for this row")]
    Rejected,
    /// The operating system's random source failed.
    #[error("no randomness available")]
    Random,
}

/// Seals and fingerprints codes under one secret.
pub struct Sealer {
    aead: LessSafeKey,
    index: hmac::Key,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer { .. }")
    }
}

/// HKDF output length for one 32-byte key.
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl Sealer {
    /// The sealer of `secret` (32 random bytes, kept outside the database).
    pub fn new(secret: &[u8; 32]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"cricket-platform codes").extract(secret);
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 blocks): a failure
        // would be a broken `ring`, and a zero key must never be used silently.
        let derive = |purpose: &[u8]| {
            let mut key = [0u8; 32];
            prk.expand(&[purpose], Len32)
                .and_then(|okm| okm.fill(&mut key))
                .unwrap_or_else(|_| unreachable!("HKDF-SHA-256 expands 32 bytes"));
            key
        };
        let aead_key = derive(b"seal");
        let index_key = derive(b"fingerprint");
        let aead = UnboundKey::new(&AES_256_GCM, &aead_key)
            .map(LessSafeKey::new)
            .unwrap_or_else(|_| unreachable!("AES-256 takes a 32-byte key"));
        Self {
            aead,
            index: hmac::Key::new(hmac::HMAC_SHA256, &index_key),
            random: SystemRandom::new(),
        }
    }

    /// `code` sealed for the row `row` (its id, as the associated data).
    pub fn seal(&self, code: &str, row: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut sealed = code.as_bytes().to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(row.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Rejected)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The code sealed for `row`.
    pub fn open(&self, sealed: &str, row: &str) -> Result<String, SealError> {
        let encoded = sealed.strip_prefix(VERSION).ok_or(SealError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(row.as_bytes()), &mut buffer)
            .map_err(|_| SealError::Rejected)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Rejected)
    }

    /// The code's keyed fingerprint (hex): what a unique index and a lookup use. Pass the
    /// normalised code ([`crate::Pattern::normalize`]) so every spelling finds it.
    pub fn fingerprint(&self, code: &str) -> String {
        hmac::sign(&self.index, code.as_bytes())
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&[byte; 32])
    }

    #[test]
    fn a_sealed_code_opens_for_its_row_only() {
        let sealer = sealer(1);
        let sealed = sealer.seal("CRIC-7KQ2-M9XH-3WPA", "row-1").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("7KQ2"), "{sealed}");
        assert_eq!(
            sealer.open(&sealed, "row-1").unwrap(),
            "CRIC-7KQ2-M9XH-3WPA"
        );
        // Copied onto another row, or opened with another key: refused.
        assert_eq!(sealer.open(&sealed, "row-2"), Err(SealError::Rejected));
        assert_eq!(
            super::Sealer::new(&[2; 32]).open(&sealed, "row-1"),
            Err(SealError::Rejected)
        );
    }

    #[test]
    fn sealing_twice_gives_different_texts() {
        let sealer = sealer(1);
        let first = sealer.seal("SAME", "row").unwrap();
        let second = sealer.seal("SAME", "row").unwrap();
        assert_ne!(first, second, "a fresh nonce each time");
        assert_eq!(sealer.open(&second, "row").unwrap(), "SAME");
    }

    #[test]
    fn an_altered_or_foreign_text_is_refused() {
        let sealer = sealer(1);
        let sealed = sealer.seal("CODE", "row").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(sealer.open(&altered, "row"), Err(SealError::Rejected));
        for foreign in ["CODE", "v2.abc", "v1.!!", "v1.AAAA"] {
            assert_eq!(
                sealer.open(foreign, "row"),
                Err(SealError::Malformed),
                "{foreign}"
            );
        }
    }

    #[test]
    fn fingerprints_are_stable_per_key_and_distinct_per_code() {
        let (one, other) = (sealer(1), sealer(2));
        assert_eq!(one.fingerprint("CODE-A"), one.fingerprint("CODE-A"));
        assert_ne!(one.fingerprint("CODE-A"), one.fingerprint("CODE-B"));
        assert_ne!(one.fingerprint("CODE-A"), other.fingerprint("CODE-A"));
        assert_eq!(one.fingerprint("CODE-A").len(), 64);
    }
}
