//! authkeys: which digest Heartbeat signed its packets with.
//!
//! The secret is a short passphrase, useless as a Corosync key (which needs
//! 128 to 4096 random bytes), so only the method is carried over, as a
//! report, and the user is told how to make a new key.

use crate::error::{Error, Place};

/// Heartbeat's packet authentication methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A checksum: no authentication at all.
    Crc,
    /// HMAC-MD5 with a shared secret.
    Md5,
    /// HMAC-SHA1 with a shared secret.
    Sha1,
}

impl Method {
    /// The name as written in authkeys.
    pub fn name(self) -> &'static str {
        match self {
            Method::Crc => "crc",
            Method::Md5 => "md5",
            Method::Sha1 => "sha1",
        }
    }
}

/// Parses authkeys and returns the active method (`auth N` selects key N).
pub fn parse(file: &str, text: &str) -> Result<Method, Error> {
    let mut active: Option<(usize, u8)> = None;
    let mut keys: Vec<(u8, Method)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let place = Place::new(file, i + 1);
        let line = match raw.find('#') {
            Some(at) => &raw[..at],
            None => raw,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        let index = |w: &str| -> Result<u8, Error> {
            match w.parse::<u8>() {
                Ok(n @ 1..=15) => Ok(n),
                _ => Err(Error::syntax(
                    place.clone(),
                    format!("`{w}` is not a key number"),
                    "key numbers run from 1 to 15",
                )),
            }
        };
        if *first == "auth" {
            let Some(n) = words.get(1) else {
                return Err(Error::syntax(
                    place,
                    "`auth` without a key number",
                    "write `auth 1`",
                ));
            };
            active = Some((i + 1, index(n)?));
            continue;
        }
        let n = index(first)?;
        let method = match words.get(1).map(|m| m.to_ascii_lowercase()).as_deref() {
            Some("crc") => Method::Crc,
            Some("md5") => Method::Md5,
            Some("sha1") => Method::Sha1,
            other => {
                return Err(Error::syntax(
                    place,
                    format!("key {n}: unknown method `{}`", other.unwrap_or("")),
                    "use crc, md5 SECRET or sha1 SECRET",
                ))
            }
        };
        if method != Method::Crc && words.len() < 3 {
            return Err(Error::syntax(
                place,
                format!("key {n}: `{}` needs a secret", method.name()),
                format!("write `{n} {} SECRET`", method.name()),
            ));
        }
        keys.push((n, method));
    }
    let Some((line, n)) = active else {
        return Err(Error::Empty {
            file: file.to_string(),
            what: "no `auth N` line".into(),
            fix: "add `auth 1` naming the active key".into(),
        });
    };
    keys.iter()
        .find(|(k, _)| *k == n)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            Error::syntax(
                Place::new(file, line),
                format!("`auth {n}` names a key that is not defined"),
                format!("add a line `{n} sha1 SECRET` or point auth at an existing key"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        assert_eq!(parse("a", "auth 1\n1 crc\n").unwrap(), Method::Crc);
        assert_eq!(
            parse("a", "auth 2\n1 crc\n2 sha1 Foo\n").unwrap(),
            Method::Sha1
        );
        assert!(parse("a", "auth 3\n1 crc\n")
            .unwrap_err()
            .to_string()
            .starts_with("a:1:"));
        assert!(parse("a", "auth 1\n1 md5\n").is_err());
        assert!(parse("a", "1 crc\n").is_err());
    }
}
