//! The haresources file, read the way Heartbeat's `ResourceManager` read it.
//!
//! Heartbeat ran the file through sed and awk: `#` starts a comment anywhere,
//! a trailing `\` joins the next line, whitespace runs collapse, empty lines
//! vanish, and the node name is lowercased. Each remaining line is one
//! resource group whose key is its first resource. A token that starts like
//! an IPv4 address is shorthand for `IPaddr::TOKEN`. Arguments follow the
//! script name, separated by `::`, and cannot contain whitespace.

use crate::error::{Error, Place};

/// One resource token of a haresources line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The script name (`IPaddr2`, `Filesystem`, `httpd`).
    pub script: String,
    /// The `::`-separated arguments, in order.
    pub args: Vec<String>,
    /// The token as written (after the bare-IP rewrite it still shows the
    /// original text, which is what users recognise in messages).
    pub token: String,
}

/// One logical haresources line: a resource group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLine {
    /// Where the logical line starts.
    pub place: Place,
    /// The preferred node, lowercased as Heartbeat did.
    pub node: String,
    /// The resources, left to right (start order).
    pub resources: Vec<Resource>,
}

/// Reads a whole haresources file. `file` is only used in messages.
///
/// Refuses malformed tokens and duplicate group keys; accepts an empty file
/// (the caller decides whether that is an error).
pub fn parse(file: &str, text: &str) -> Result<Vec<GroupLine>, Error> {
    let mut lines: Vec<GroupLine> = Vec::new();
    for (line_no, logical) in logical_lines(text) {
        let place = Place::new(file, line_no);
        let mut fields = logical.split_whitespace();
        let Some(node) = fields.next() else { continue };
        check_node(&place, node)?;
        let mut resources = Vec::new();
        for token in fields {
            resources.push(parse_token(&place, token)?);
        }
        if resources.is_empty() {
            return Err(Error::syntax(
                place,
                format!("line names node `{node}` but no resource"),
                "list the node's resources after it, or delete the line",
            ));
        }
        let key = &resources[0].token;
        if let Some(first) = lines.iter().find(|l| &l.resources[0].token == key) {
            return Err(Error::DuplicateGroupKey {
                place,
                key: key.clone(),
                first_line: first.place.line,
            });
        }
        lines.push(GroupLine {
            place,
            node: node.to_lowercase(),
            resources,
        });
    }
    Ok(lines)
}

/// Comment stripping and `\` joining; yields (first physical line, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let no_comment = match raw.find('#') {
            Some(at) => &raw[..at],
            None => raw,
        };
        let trimmed = no_comment.trim_end();
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        let entry = pending.get_or_insert_with(|| (i + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(body);
        if !continues {
            out.extend(pending.take());
        }
    }
    out.extend(pending);
    out
}

fn check_node(place: &Place, node: &str) -> Result<(), Error> {
    let ok = node
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::syntax(
            place.clone(),
            format!("node name `{node}` has characters a host name cannot have"),
            "write the node's `uname -n` as the first field",
        ))
    }
}

/// Splits one token into script and arguments, applying the bare-IP rule.
pub fn parse_token(place: &Place, token: &str) -> Result<Resource, Error> {
    if looks_like_ipv4(token) {
        return Ok(Resource {
            script: "IPaddr".to_string(),
            args: vec![token.to_string()],
            token: token.to_string(),
        });
    }
    let mut parts = token.split("::");
    let script = parts.next().unwrap_or_default();
    let script_ok = !script.is_empty()
        && script
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '@'));
    if !script_ok {
        return Err(Error::syntax(
            place.clone(),
            format!("malformed resource `{token}`: `{script}` is not a script name"),
            "write NAME or NAME::ARG1::ARG2 with a script name of letters, digits, `-`, `_` or `.`",
        ));
    }
    let args: Vec<String> = parts.map(str::to_string).collect();
    if let Some(n) = args.iter().position(String::is_empty) {
        return Err(Error::syntax(
            place.clone(),
            format!("malformed resource `{token}`: argument {} is empty", n + 1),
            "remove the doubled or trailing `::`",
        ));
    }
    if let Some(bad) = args
        .iter()
        .find(|a| a.chars().any(|c| c.is_control() || c == '"' || c == '\\'))
    {
        return Err(Error::syntax(
            place.clone(),
            format!("malformed resource `{token}`: argument `{bad}` has a quote, backslash or control character"),
            "Heartbeat passed arguments unquoted to a shell; remove those characters",
        ));
    }
    Ok(Resource {
        script: script.to_string(),
        args,
        token: token.to_string(),
    })
}

/// Heartbeat's shell pattern `[0-9]*.[0-9]*.[0-9]*.[0-9]*`: a digit first,
/// then at least three dots. Validation of the address happens later, so
/// `10.0.0.300` is reported as an invalid address rather than a script.
fn looks_like_ipv4(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_digit())
        && token.matches('.').count() >= 3
        && !token.contains("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_line_syntax() {
        let text = "# header\n\
            HOST01  IPaddr2::10.0.0.1/24/eth0 \\\n\
            \tdrbddisk::r0 # the disk\n\
            \n\
            host02 10.0.0.2 httpd\n";
        let lines = parse("haresources", text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].node, "host01");
        assert_eq!(lines[0].place.line, 2);
        assert_eq!(lines[0].resources.len(), 2);
        assert_eq!(lines[0].resources[1].script, "drbddisk");
        assert_eq!(lines[0].resources[1].args, vec!["r0"]);
        assert_eq!(lines[1].place.line, 5);
        assert_eq!(lines[1].resources[0].script, "IPaddr");
        assert_eq!(lines[1].resources[0].args, vec!["10.0.0.2"]);
        assert_eq!(lines[1].resources[1].script, "httpd");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("hr", "\nhost01 IPaddr2::::x\n").unwrap_err();
        assert!(e.to_string().starts_with("hr:2: malformed resource"), "{e}");
        let e = parse("hr", "host01\n").unwrap_err();
        assert!(e.to_string().starts_with("hr:1: "), "{e}");
        let e = parse("hr", "a 10.0.0.1 x\nb 10.0.0.1 y\n").unwrap_err();
        assert!(
            matches!(e, Error::DuplicateGroupKey { first_line: 1, .. }),
            "{e}"
        );
        let e = parse("hr", "a ::x\n").unwrap_err();
        assert!(e.to_string().contains("not a script name"), "{e}");
    }
}
