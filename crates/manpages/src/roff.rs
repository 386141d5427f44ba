//! Escaping plain text for roff.

/// `s` as roff text: backslashes and hyphens escaped, and a line that would start with a
/// control character (`.` or `'`) protected with `\&`.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for line in s.split('\n') {
        if !out.is_empty() {
            out.push('\n');
        }
        if line.starts_with('.') || line.starts_with('\'') {
            out.push_str("\\&");
        }
        for c in line.chars() {
            match c {
                '\\' => out.push_str("\\e"),
                '-' => out.push_str("\\-"),
                _ => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn control_characters_and_hyphens_are_escaped() {
        assert_eq!(text(".x -y\n'z"), "\\&.x \\-y\n\\&'z");
        assert_eq!(text("a\\b"), "a\\eb");
    }
}
