//! A small reader for the XML that Pacemaker's tools print (`crm_mon
//! --output-as=xml`, `cibadmin -Q`): elements and attributes only, which is
//! all their status output carries. The tests package keeps its
//! dependencies to `nix`, so this stands in for a full XML crate.

use super::error::{Error, Result};

/// Whether a tag opens, closes, or is an empty element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Start,
    End,
    Empty,
}

/// One tag with its decoded attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub kind: TagKind,
    pub attrs: Vec<(String, String)>,
}

impl Tag {
    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when attribute `name` is `"true"`.
    pub fn flag(&self, name: &str) -> bool {
        self.attr(name) == Some("true")
    }
}

/// All tags of `text` in document order; `source` names the text in errors.
pub fn tags(text: &str, source: &str) -> Result<Vec<Tag>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            let end = after
                .find("-->")
                .ok_or_else(|| bad(source, "comment never ends"))?;
            rest = &after[end + 3..];
            continue;
        }
        let end = rest
            .find('>')
            .ok_or_else(|| bad(source, "tag never ends"))?;
        let body = &rest[..end];
        rest = &rest[end + 1..];
        if body.starts_with('?') || body.starts_with('!') {
            continue;
        }
        out.push(parse_tag(body, source)?);
    }
    Ok(out)
}

fn parse_tag(body: &str, source: &str) -> Result<Tag> {
    let (kind, body) = if let Some(b) = body.strip_prefix('/') {
        (TagKind::End, b)
    } else if let Some(b) = body.strip_suffix('/') {
        (TagKind::Empty, b)
    } else {
        (TagKind::Start, body)
    };
    let body = body.trim();
    let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
    let name = body[..name_end].to_string();
    if name.is_empty() {
        return Err(bad(source, "tag without a name"));
    }
    let mut attrs = Vec::new();
    let mut rest = body[name_end..].trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| bad(source, &format!("attribute without value in <{name}>")))?;
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| bad(source, &format!("unquoted value of {key} in <{name}>")))?;
        let close = after[1..]
            .find(quote)
            .ok_or_else(|| bad(source, &format!("value of {key} in <{name}> never ends")))?;
        attrs.push((key, unescape(&after[1..1 + close])));
        rest = after[close + 2..].trim_start();
    }
    Ok(Tag { name, kind, attrs })
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn bad(source: &str, detail: &str) -> Error {
    Error::Parse {
        source: source.to_string(),
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_attributes_and_entities() {
        let t = tags(
            "<?xml version=\"1.0\"?>\n<!-- c --><a x=\"1\" y='a &amp; b'>\n<b/><c z=\"&lt;\" /></a>",
            "sample",
        )
        .unwrap();
        let names: Vec<_> = t.iter().map(|t| (t.name.as_str(), t.kind)).collect();
        assert_eq!(
            names,
            [
                ("a", TagKind::Start),
                ("b", TagKind::Empty),
                ("c", TagKind::Empty),
                ("a", TagKind::End)
            ]
        );
        assert_eq!(t[0].attr("y"), Some("a & b"));
        assert_eq!(t[2].attr("z"), Some("<"));
    }

    #[test]
    fn broken_input_is_an_error_naming_the_source() {
        let e = tags("<a x=1>", "crm_mon").unwrap_err().to_string();
        assert!(e.contains("crm_mon") && e.contains("unquoted"), "{e}");
        assert!(tags("<a", "s").is_err());
    }
}
