//! Error types: parse errors (with positions) and evaluation errors (CESQL §3.3 kinds).

use std::fmt;

/// The CESQL error kinds (spec §3.3). [`ErrorKind::as_str`] gives the names the TCK uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Parse,
    Math,
    Cast,
    MissingFunction,
    FunctionEvaluation,
    MissingAttribute,
    Generic,
}

impl ErrorKind {
    /// The TCK name of the kind: `parse`, `math`, `cast`, `missingFunction`,
    /// `functionEvaluation`, `missingAttribute`, `generic`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Parse => "parse",
            ErrorKind::Math => "math",
            ErrorKind::Cast => "cast",
            ErrorKind::MissingFunction => "missingFunction",
            ErrorKind::FunctionEvaluation => "functionEvaluation",
            ErrorKind::MissingAttribute => "missingAttribute",
            ErrorKind::Generic => "generic",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error raised while evaluating an expression. Evaluation still yields a value
/// (see [`crate::Expression::evaluate`]); this is the first error that occurred.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{kind} error: {message}")]
pub struct EvalError {
    pub kind: ErrorKind,
    pub message: String,
}

/// A syntax error, with the position it was found at.
///
/// `offset` counts characters (not bytes) from the start of the expression; `line` and
/// `column` are 1-based and also count characters.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}: {}", self.location(), .message)]
pub struct ParseError {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    /// Builds an error at byte offset `byte` of `src` (clamped to the source length).
    pub(crate) fn at(src: &str, byte: usize, message: impl Into<String>) -> Self {
        let mut byte = byte.min(src.len());
        while !src.is_char_boundary(byte) {
            byte -= 1;
        }
        let before = &src[..byte];
        let offset = before.chars().count();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = src[line_start..byte].chars().count() + 1;
        ParseError {
            offset,
            line,
            column,
            message: message.into(),
        }
    }

    fn location(&self) -> String {
        if self.line > 1 {
            format!("at line {}, column {}", self.line, self.column)
        } else {
            format!("at column {}", self.column)
        }
    }

    /// The error message followed by the offending source line and a caret under the
    /// error position, e.g.
    ///
    /// ```text
    /// at column 16: expected an expression after AND, found end of input
    ///   type = 'a' AND
    ///                  ^
    /// ```
    pub fn render(&self, src: &str) -> String {
        let line_text = src
            .split('\n')
            .nth(self.line.saturating_sub(1))
            .unwrap_or("");
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        let pad: String = line_text
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{self}\n  {line_text}\n  {pad}^")
    }
}
