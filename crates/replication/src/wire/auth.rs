//! The challenge/response that proves both nodes know the `shared-secret`
//! (`reference/drbd.md` §2: cram-hmac). Each side sends a random nonce (from the daemon) and
//! answers the peer's with HMAC-SHA256(secret, nonce). Nothing is encrypted.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The answer to `nonce`.
pub fn respond(secret: &[u8], nonce: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(nonce);
    mac.finalize().into_bytes().to_vec()
}

/// Whether `answer` proves knowledge of `secret` for our `nonce` (constant-time comparison).
pub fn verify(secret: &[u8], nonce: &[u8], answer: &[u8]) -> bool {
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(nonce);
    mac.verify_slice(answer).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_secret_verifies_wrong_does_not() {
        let nonce = b"0123456789abcdef";
        let r = respond(b"secret", nonce);
        assert_eq!(r.len(), 32);
        assert!(verify(b"secret", nonce, &r));
        assert!(!verify(b"other", nonce, &r));
        assert!(!verify(b"secret", b"another nonce", &r));
        assert!(!verify(b"secret", nonce, &r[..31]));
    }
}
