//! Digest algorithms for `csums-alg`, `verify-alg` and `data-integrity-alg`, computed in user
//! space (DRBD takes any kernel shash; shimai needs no kernel crypto).
//!
//! Names are DRBD's (`crc32c`, `sha1`, `sha256`, `md5`), so a drbd.conf keeps working. Both
//! nodes must name the same algorithm for each option; the handshake refuses the connection
//! otherwise, as DRBD does.

use std::fmt;

use sha2::Digest as _;

/// One digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    Crc32c,
    Sha1,
    Sha256,
    Md5,
}

impl DigestAlg {
    /// Every algorithm this build computes, by name.
    pub const ALL: [DigestAlg; 4] = [
        DigestAlg::Crc32c,
        DigestAlg::Sha1,
        DigestAlg::Sha256,
        DigestAlg::Md5,
    ];

    /// The algorithm a drbd.conf name means (case-insensitive), or `None` for a name this
    /// build does not compute.
    pub fn from_name(name: &str) -> Option<DigestAlg> {
        let n = name.trim().to_ascii_lowercase();
        DigestAlg::ALL.into_iter().find(|a| a.name() == n)
    }

    /// The drbd.conf spelling.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlg::Crc32c => "crc32c",
            DigestAlg::Sha1 => "sha1",
            DigestAlg::Sha256 => "sha256",
            DigestAlg::Md5 => "md5",
        }
    }

    /// Length of a digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            DigestAlg::Crc32c => 4,
            DigestAlg::Sha1 => 20,
            DigestAlg::Sha256 => 32,
            DigestAlg::Md5 => 16,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlg::Crc32c => crc32c::crc32c(data).to_be_bytes().to_vec(),
            DigestAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            DigestAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlg::Md5 => md5::Md5::digest(data).to_vec(),
        }
    }

    /// The names this build accepts, for error messages.
    pub fn supported() -> String {
        DigestAlg::ALL.map(DigestAlg::name).join(", ")
    }
}

impl fmt::Display for DigestAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses an optional algorithm name from the configuration; `Err` says what is wrong.
pub fn parse_opt(option: &str, name: Option<&str>) -> Result<Option<DigestAlg>, String> {
    match name {
        None => Ok(None),
        Some(n) if n.trim().is_empty() => Ok(None),
        Some(n) => DigestAlg::from_name(n).map(Some).ok_or_else(|| {
            format!(
                "{option} '{n}' is not supported: shimai computes {}",
                DigestAlg::supported()
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // RFC 3720 test vector: 32 bytes of zeros.
        assert_eq!(
            DigestAlg::Crc32c.digest(&[0; 32]),
            0x8a91_36aau32.to_be_bytes()
        );
        let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(DigestAlg::Sha1.digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(DigestAlg::Md5.digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex(DigestAlg::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for a in DigestAlg::ALL {
            assert_eq!(a.digest(b"x").len(), a.digest_len());
            assert_eq!(DigestAlg::from_name(&a.name().to_uppercase()), Some(a));
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let e = parse_opt("csums-alg", Some("crc64")).unwrap_err();
        assert!(e.contains("crc32c, sha1, sha256, md5"), "{e}");
        assert_eq!(parse_opt("csums-alg", None), Ok(None));
    }
}
