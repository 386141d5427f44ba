//! Splits drbd.conf text into tokens that remember where they start.
//!
//! The grammar has only four kinds of token: words, quoted strings and the
//! punctuation `{`, `}` and `;`. A `#` starts a comment that runs to the end
//! of the line wherever it appears outside a string, so `rate 10M;# fast` and
//! Japanese comments after a value are both fine.

use crate::error::{ConfigError, Location};

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A run of characters that are not blanks, quotes, braces, `;` or `#`.
    Word(String),
    /// A `"quoted"` string, escapes already resolved.
    Quoted(String),
    LBrace,
    RBrace,
    Semi,
}

/// A token and the 1-based line and column (in characters) where it starts,
/// plus the position just after its last character: a missing `;` is
/// reported there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

impl Token {
    /// The token as a user would recognise it in a message.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(w) => format!("'{w}'"),
            TokenKind::Quoted(s) => format!("\"{}\"", escape(s)),
            TokenKind::LBrace => "'{'".to_string(),
            TokenKind::RBrace => "'}'".to_string(),
            TokenKind::Semi => "';'".to_string(),
        }
    }

    /// The token as written in the file (quoted strings re-quoted).
    pub fn as_written(&self) -> String {
        match &self.kind {
            TokenKind::Word(w) => w.clone(),
            other => Token {
                kind: other.clone(),
                ..self.clone()
            }
            .describe()
            .trim_matches('\'')
            .to_string(),
        }
    }

    /// The text of a word or a quoted string; punctuation has none.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Word(w) | TokenKind::Quoted(w) => Some(w),
            _ => None,
        }
    }

    pub fn is_word(&self, word: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(w) if w == word)
    }
}

/// Writes `s` so that the lexer reads it back as the same quoted string.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '#'))
}

/// Tokenizes a whole file. `file` is only used to name positions in errors.
pub(crate) fn tokenize(text: &str, file: &str) -> Result<Vec<Token>, ConfigError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1u32, 1u32);
    // Advances the position over one character.
    let step = |c: char, line: &mut u32, column: &mut u32| {
        if c == '\n' {
            *line = line.saturating_add(1);
            *column = 1;
        } else {
            *column = column.saturating_add(1);
        }
    };
    while let Some(&c) = chars.peek() {
        let (start_line, start_column) = (line, column);
        let kind = match c {
            c if c.is_whitespace() => {
                chars.next();
                step(c, &mut line, &mut column);
                continue;
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                    step(c, &mut line, &mut column);
                }
                continue;
            }
            '{' | '}' | ';' => {
                chars.next();
                step(c, &mut line, &mut column);
                match c {
                    '{' => TokenKind::LBrace,
                    '}' => TokenKind::RBrace,
                    _ => TokenKind::Semi,
                }
            }
            '"' => {
                chars.next();
                step(c, &mut line, &mut column);
                let mut value = String::new();
                loop {
                    let Some(c) = chars.next() else {
                        return Err(ConfigError::Syntax {
                            at: Location::new(file, start_line, start_column),
                            message: "unterminated quoted string: add the closing '\"'".into(),
                        });
                    };
                    step(c, &mut line, &mut column);
                    match c {
                        '"' => break,
                        '\\' => {
                            let Some(e) = chars.next() else { continue };
                            step(e, &mut line, &mut column);
                            value.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        c => value.push(c),
                    }
                }
                TokenKind::Quoted(value)
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if !is_word_char(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                    step(c, &mut line, &mut column);
                }
                TokenKind::Word(word)
            }
        };
        tokens.push(Token {
            kind,
            line: start_line,
            column: start_column,
            end_line: line,
            end_column: column,
        });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text, "t.conf")
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn comments_run_to_end_of_line_even_after_values() {
        assert_eq!(
            kinds("rate 10M;# fast\n# 日本語のコメント\n}"),
            vec![
                TokenKind::Word("rate".into()),
                TokenKind::Word("10M".into()),
                TokenKind::Semi,
                TokenKind::RBrace
            ]
        );
    }

    #[test]
    fn quoted_strings_resolve_escapes_and_keep_hash() {
        assert_eq!(
            kinds(r#"x "a \"b\" # c\\";"#),
            vec![
                TokenKind::Word("x".into()),
                TokenKind::Quoted(r#"a "b" # c\"#.into()),
                TokenKind::Semi
            ]
        );
        let s = "tab\there \"quoted\" back\\slash\nnl";
        assert_eq!(
            kinds(&format!("\"{}\"", escape(s))),
            vec![TokenKind::Quoted(s.into())]
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let toks = tokenize("# 日本\nあい x;", "t.conf").unwrap();
        assert_eq!((toks[0].line, toks[0].column), (2, 1));
        assert_eq!((toks[1].line, toks[1].column), (2, 4));
        assert_eq!((toks[1].end_line, toks[1].end_column), (2, 5));
    }

    #[test]
    fn unterminated_string_names_where_it_started() {
        let err = tokenize("a;\n  \"open", "t.conf").unwrap_err();
        assert!(err.to_string().starts_with("t.conf:2:3:"), "{err}");
    }
}
