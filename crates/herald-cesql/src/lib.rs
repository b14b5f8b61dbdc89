//! CloudEvents SQL Expression Language (CESQL) v1.0.0: lexer, parser, evaluator.
//!
//! ```
//! use herald_cesql::{Expression, Value};
//!
//! let expr = Expression::parse("type LIKE 'com.example.%' AND source = '/orders'").unwrap();
//! let ev = herald_ce::Event::new("1", "/orders", "com.example.created");
//! assert!(expr.matches(&ev));
//! assert_eq!(expr.evaluate(&ev), (Value::Boolean(true), None));
//! assert_eq!(expr.required_equalities(), vec![("source".to_owned(), "/orders".to_owned())]);
//! ```
//!
//! An expression is parsed once (function calls are resolved and LIKE patterns compiled at
//! parse time) and can then be evaluated against any number of events; [`Expression`] is
//! `Send + Sync`. Attribute values are read from the event without copying where possible.
//!
//! Semantics follow the CESQL v1.0.0 specification and its TCK (`tests/tck`, all cases pass):
//! * context attributes are Strings, except Integer and Boolean extensions; URI, URI-reference,
//!   Timestamp and Binary values are their canonical strings; integer extensions outside the
//!   32-bit range are strings too;
//! * a missing attribute makes the sub-expression evaluate to the zero value of its return
//!   type (Boolean `false` for a bare attribute) with a `missingAttribute` error;
//! * implicit casts follow §3.7 (`=` casts its left operand to the right operand's type,
//!   `IN` casts the set to the left operand's type), except that an Integer is never cast to
//!   Boolean implicitly (TCK: `NOT 10` is a cast error); `BOOL(x)` does that cast explicitly;
//! * unknown functions and wrong arities are not parse errors: they evaluate to `false` with a
//!   `missingFunction` error (TCK: `CONCAT_WS()`).
//!
//! Evaluation returns a value and the first error; [`Expression::matches`] applies the
//! filtering rule of spec §1.2 (Boolean `true` and no error).

mod error;
mod eval;
mod functions;
mod lexer;
mod like;
mod parser;
mod value;

use std::fmt;
use std::str::FromStr;

use herald_ce::Event;

pub use error::{ErrorKind, EvalError, ParseError};
pub use value::Value;

use eval::Node;

/// A parsed CESQL expression.
#[derive(Clone)]
pub struct Expression {
    src: String,
    root: Node,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expression")
            .field("source", &self.src)
            .finish_non_exhaustive()
    }
}

impl Expression {
    /// Parses and compiles `src`.
    pub fn parse(src: &str) -> Result<Expression, ParseError> {
        let root = parser::parse(src)?;
        Ok(Expression {
            src: src.to_owned(),
            root,
        })
    }

    /// Evaluates the expression against `event`. Always returns a value (the zero value of
    /// the failing sub-expression's type on error, spec §3.3) plus the first error, if any.
    pub fn evaluate(&self, event: &Event) -> (Value, Option<EvalError>) {
        let (v, fault) = self.root.eval(event);
        (v.into_value(), fault.map(value::Fault::into_error))
    }

    /// The filtering rule (spec §1.2): true only if the result is Boolean `true` and no error
    /// occurred. Never allocates error messages.
    pub fn matches(&self, event: &Event) -> bool {
        matches!(self.root.eval(event), (value::Val::Bool(true), None))
    }

    /// Exact-match constraints implied by the expression, for indexing: the
    /// `<attribute> = '<string literal>'` comparisons that are the whole expression or
    /// operands of its top-level `AND`. [`Expression::matches`] can only be true for an event
    /// whose attribute has exactly that canonical string form
    /// (`herald_ce::AttrValue::to_canonical_string`). `'lit' = attr` is not included: there the
    /// literal is cast to the attribute's type (`'05' = myint` matches 5).
    pub fn required_equalities(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let conjuncts = match &self.root {
            Node::And(items) => items.as_slice(),
            other => std::slice::from_ref(other),
        };
        for n in conjuncts {
            if let Node::AttrEqStr {
                negate: false,
                attr,
                lit,
                ..
            } = n
            {
                let pair = (attr.name.to_string(), lit.to_string());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        out
    }

    /// False when the expression can never produce a Boolean (e.g. `1 + 2`), so it can never
    /// pass a filter. Attributes have no static type, so a bare attribute may be Boolean.
    pub fn may_be_boolean(&self) -> bool {
        eval::static_type(&self.root).is_none_or(|t| t == value::Ty::Bool)
    }

    /// The expression text as given to [`Expression::parse`].
    pub fn source(&self) -> &str {
        &self.src
    }
}

impl FromStr for Expression {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Expression::parse(s)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.src)
    }
}

#[cfg(test)]
mod tests;
