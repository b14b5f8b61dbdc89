//! Tokenizer (spec §2; lexical rules of the reference grammar `CESQLLexer.g4`).
//!
//! Keywords and function names are case-insensitive; attribute identifiers are
//! `[A-Za-z0-9]+` and lower-cased (the TCK writes `EXISTS SOURCE`). String literals are
//! `'…'` or `"…"`; inside them `\'` (resp. `\"`) is the quote character and any other
//! backslash sequence is kept verbatim (so LIKE escapes such as `\%` survive).

use crate::error::ParseError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kw {
    And,
    Or,
    Xor,
    Not,
    Like,
    Exists,
    In,
    True,
    False,
}

impl Kw {
    fn from_word(w: &str) -> Option<Kw> {
        const ALL: [(&str, Kw); 9] = [
            ("AND", Kw::And),
            ("OR", Kw::Or),
            ("XOR", Kw::Xor),
            ("NOT", Kw::Not),
            ("LIKE", Kw::Like),
            ("EXISTS", Kw::Exists),
            ("IN", Kw::In),
            ("TRUE", Kw::True),
            ("FALSE", Kw::False),
        ];
        ALL.iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(w))
            .map(|(_, k)| *k)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kw::And => "AND",
            Kw::Or => "OR",
            Kw::Xor => "XOR",
            Kw::Not => "NOT",
            Kw::Like => "LIKE",
            Kw::Exists => "EXISTS",
            Kw::In => "IN",
            Kw::True => "TRUE",
            Kw::False => "FALSE",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// Unsigned digits; saturates far above the 32-bit range so range errors can be reported.
    Int(u64),
    Str(String),
    Kw(Kw),
    /// Attribute identifier, lower-cased.
    Ident(String),
    /// Function name (always followed by `(`), upper-cased.
    Func(String),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Eq,
    /// `!=` or `<>`
    NotEq(&'static str),
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

impl Tok {
    /// How the token is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Int(n) => format!("integer literal {n}"),
            Tok::Str(s) => format!("string literal '{s}'"),
            Tok::Kw(k) => k.as_str().to_owned(),
            Tok::Ident(s) => format!("identifier '{s}'"),
            Tok::Func(s) => format!("function {s}"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Star => "'*'".into(),
            Tok::Slash => "'/'".into(),
            Tok::Percent => "'%'".into(),
            Tok::Eq => "'='".into(),
            Tok::NotEq(s) => format!("'{s}'"),
            Tok::Lt => "'<'".into(),
            Tok::Le => "'<='".into(),
            Tok::Gt => "'>'".into(),
            Tok::Ge => "'>='".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and the byte offset it starts at.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) at: usize,
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => single(&mut i, Tok::LParen),
            b')' => single(&mut i, Tok::RParen),
            b',' => single(&mut i, Tok::Comma),
            b'+' => single(&mut i, Tok::Plus),
            b'-' => single(&mut i, Tok::Minus),
            b'*' => single(&mut i, Tok::Star),
            b'/' => single(&mut i, Tok::Slash),
            b'%' => single(&mut i, Tok::Percent),
            b'=' => single(&mut i, Tok::Eq),
            b'!' => {
                if b.get(i + 1) == Some(&b'=') {
                    i += 2;
                    Tok::NotEq("!=")
                } else {
                    return Err(ParseError::at(
                        src,
                        i,
                        "'!' must be followed by '=' (use NOT for negation)",
                    ));
                }
            }
            b'<' => match b.get(i + 1) {
                Some(b'=') => pair(&mut i, Tok::Le),
                Some(b'>') => pair(&mut i, Tok::NotEq("<>")),
                _ => single(&mut i, Tok::Lt),
            },
            b'>' => match b.get(i + 1) {
                Some(b'=') => pair(&mut i, Tok::Ge),
                _ => single(&mut i, Tok::Gt),
            },
            b'\'' | b'"' => {
                let (s, end) = string_literal(src, i)?;
                i = end;
                Tok::Str(s)
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                word(src, start, i)?
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ParseError::at(
                    src,
                    i,
                    format!("unexpected character '{ch}'"),
                ));
            }
        };
        out.push(Token { tok, at: start });
    }
    out.push(Token {
        tok: Tok::Eof,
        at: src.len(),
    });
    Ok(out)
}

fn single(i: &mut usize, t: Tok) -> Tok {
    *i += 1;
    t
}

fn pair(i: &mut usize, t: Tok) -> Tok {
    *i += 2;
    t
}

/// Classifies the word `src[start..end]` (letters, digits, `_`).
fn word(src: &str, start: usize, end: usize) -> Result<Tok, ParseError> {
    let w = &src[start..end];
    if w.bytes().all(|c| c.is_ascii_digit()) {
        let n = w.bytes().fold(0u64, |acc, d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        return Ok(Tok::Int(n));
    }
    if let Some(k) = Kw::from_word(w) {
        return Ok(Tok::Kw(k));
    }
    let next = src[end..].trim_start_matches([' ', '\t', '\r', '\n']);
    if next.starts_with('(') {
        let b = w.as_bytes();
        if !b[0].is_ascii_alphabetic() || !b.iter().all(|c| c.is_ascii_alphabetic() || *c == b'_') {
            return Err(ParseError::at(
                src,
                start,
                format!(
                    "'{w}' is not a valid function name (letters and '_' only, starting with a letter)"
                ),
            ));
        }
        return Ok(Tok::Func(w.to_ascii_uppercase()));
    }
    if w.contains('_') {
        return Err(ParseError::at(
            src,
            start,
            format!("'{w}' is not a valid attribute name (letters and digits only)"),
        ));
    }
    Ok(Tok::Ident(w.to_ascii_lowercase()))
}

/// Reads the string literal whose opening quote is at `start`; returns it and the end offset.
fn string_literal(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let quote = src.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, n)) if n == quote => out.push(quote),
                Some((_, n)) => {
                    out.push('\\');
                    out.push(n);
                }
                None => break,
            },
            c if c == quote => return Ok((out, start + 1 + off + 1)),
            c => out.push(c),
        }
    }
    Err(ParseError::at(src, start, "unterminated string literal"))
}
