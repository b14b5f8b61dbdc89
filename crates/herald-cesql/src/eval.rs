//! The compiled expression tree and its evaluator.
//!
//! Error semantics (spec §3.2–§3.4, pinned down by the TCK):
//! * a failed operand (missing attribute, math error, ...) makes the operator return the zero
//!   value of its own return type together with that error, without evaluating further
//!   (`1 / missing` → `0` + missingAttribute; `true AND (missing = "")` → `false`);
//! * a failed implicit cast inside a binary operator, `IN` or a function argument also
//!   yields the operator's zero value plus a cast error; a unary operator instead applies
//!   itself to the cast's zero value (`NOT 10` → `true` + cast error, TCK "Invalid int cast");
//! * functions return their own value next to their error (`LEFT('abc', -2)` → `'abc'`);
//! * AND/OR short-circuit on their left operand.

use std::borrow::Cow;

use herald_ce::{AttrValue, Event, SpecVersion};

use crate::functions::Func;
use crate::like::Pattern;
use crate::value::{Fault, Out, Ty, Val, cast_to, to_bool, to_int, to_str};

/// A literal in the expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Int(i32),
    Bool(bool),
    Str(Box<str>),
}

/// Where an attribute lives in [`Event`], resolved once at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    SpecVersion,
    Id,
    Source,
    Type,
    DataContentType,
    DataSchema,
    SchemaUrl,
    Subject,
    Time,
    Extension,
}

/// A (lower-case) attribute name and its resolved slot.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Attr {
    pub(crate) name: Box<str>,
    slot: Slot,
}

impl Attr {
    pub(crate) fn new(name: String) -> Attr {
        let slot = match name.as_str() {
            "specversion" => Slot::SpecVersion,
            "id" => Slot::Id,
            "source" => Slot::Source,
            "type" => Slot::Type,
            "datacontenttype" => Slot::DataContentType,
            "dataschema" => Slot::DataSchema,
            "schemaurl" => Slot::SchemaUrl,
            "subject" => Slot::Subject,
            "time" => Slot::Time,
            _ => Slot::Extension,
        };
        Attr {
            name: name.into_boxed_str(),
            slot,
        }
    }

    /// The attribute's value, borrowed from the event where possible. Same resolution as
    /// [`Event::attribute`] (version-aware `dataschema`/`schemaurl`), without cloning.
    fn lookup<'e>(&'e self, ev: &'e Event) -> Option<Val<'e>> {
        let v10 = ev.specversion == SpecVersion::V10;
        let s = |v: &'e String| Val::Str(Cow::Borrowed(v.as_str()));
        match self.slot {
            Slot::SpecVersion => Some(Val::Str(Cow::Borrowed(ev.specversion.as_str()))),
            Slot::Id => Some(s(&ev.id)),
            Slot::Source => Some(s(&ev.source)),
            Slot::Type => Some(s(&ev.ty)),
            Slot::DataContentType => ev.datacontenttype.as_ref().map(s),
            Slot::Subject => ev.subject.as_ref().map(s),
            Slot::Time => ev.time.as_ref().map(s),
            Slot::DataSchema if v10 => ev.dataschema.as_ref().map(s),
            Slot::SchemaUrl if !v10 => ev.dataschema.as_ref().map(s),
            _ => ev.extensions.get(&*self.name).map(ext_val),
        }
    }
}

/// Extension values as CESQL sees them: Integer (if it fits 32 bits) and Boolean keep their
/// type, everything else is its canonical string.
fn ext_val(v: &AttrValue) -> Val<'_> {
    match v {
        AttrValue::Boolean(b) => Val::Bool(*b),
        AttrValue::Integer(i) => match i32::try_from(*i) {
            Ok(i) => Val::Int(i),
            Err(_) => Val::Str(Cow::Owned(i.to_string())),
        },
        other => match other.as_str() {
            Some(s) => Val::Str(Cow::Borrowed(s)),
            None => Val::Str(Cow::Owned(other.to_canonical_string())),
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Lit(Lit),
    Attr(Attr),
    Exists(Attr),
    Not(Box<Node>),
    Neg(Box<Node>),
    Arith(ArithOp, Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    /// `=` (or `!=`/`<>` when `negate`).
    Eq {
        negate: bool,
        left: Box<Node>,
        right: Box<Node>,
    },
    /// Fast path for the most common filter, `attr = 'literal'` (or `!=`/`<>`); same
    /// semantics as `Eq` (the attribute value is cast to String).
    AttrEqStr {
        negate: bool,
        attr: Attr,
        lit: Box<str>,
        lit_int: Option<i32>,
    },
    /// Left-to-right short-circuit conjunction of two or more operands.
    And(Vec<Node>),
    /// Left-to-right short-circuit disjunction of two or more operands.
    Or(Vec<Node>),
    Xor(Box<Node>, Box<Node>),
    Like {
        negate: bool,
        operand: Box<Node>,
        pattern: Pattern,
    },
    In {
        negate: bool,
        operand: Box<Node>,
        set: Vec<Node>,
    },
    Call {
        func: &'static Func,
        args: Vec<Node>,
    },
    /// A call that resolves to no function: evaluates to `false` + MissingFunctionError.
    MissingFunction {
        name: Box<str>,
        arity: usize,
        known_name: bool,
    },
}

/// Evaluates an operand; on error, returns `$zero` and the error from the enclosing node.
macro_rules! operand {
    ($e:expr, $zero:expr) => {
        match $e {
            (v, None) => v,
            (_, Some(f)) => return ($zero, Some(f)),
        }
    };
}

/// Unwraps a cast; on failure returns `$zero` and the cast error from the enclosing node.
macro_rules! cast {
    ($e:expr, $zero:expr) => {
        match $e {
            Ok(v) => v,
            Err(f) => return ($zero, Some(f)),
        }
    };
}

const FALSE: Val<'static> = Val::Bool(false);
const ZERO: Val<'static> = Val::Int(0);

impl Node {
    pub(crate) fn eval<'e>(&'e self, ev: &'e Event) -> Out<'e> {
        match self {
            Node::Lit(Lit::Int(i)) => (Val::Int(*i), None),
            Node::Lit(Lit::Bool(b)) => (Val::Bool(*b), None),
            Node::Lit(Lit::Str(s)) => (Val::Str(Cow::Borrowed(s)), None),
            Node::Attr(a) => match a.lookup(ev) {
                Some(v) => (v, None),
                // The type of a bare missing attribute cannot be known: Boolean (§3.2).
                None => (FALSE, Some(Fault::MissingAttribute(&a.name))),
            },
            Node::Exists(a) => (Val::Bool(a.lookup(ev).is_some()), None),
            Node::Not(x) => {
                let v = operand!(x.eval(ev), FALSE);
                match to_bool(v, false) {
                    Ok(b) => (Val::Bool(!b), None),
                    Err(f) => (Val::Bool(true), Some(f)),
                }
            }
            Node::Neg(x) => {
                let v = operand!(x.eval(ev), ZERO);
                match to_int(v) {
                    Ok(i) => match i.checked_neg() {
                        Some(n) => (Val::Int(n), None),
                        None => (
                            Val::Int(i32::MAX),
                            Some(Fault::Math("integer overflow in negation")),
                        ),
                    },
                    Err(f) => (ZERO, Some(f)),
                }
            }
            Node::Arith(op, l, r) => {
                let l = operand!(l.eval(ev), ZERO);
                let r = operand!(r.eval(ev), ZERO);
                let l = cast!(to_int(l), ZERO);
                let r = cast!(to_int(r), ZERO);
                arith(*op, l, r)
            }
            Node::Cmp(op, l, r) => {
                let l = operand!(l.eval(ev), FALSE);
                let r = operand!(r.eval(ev), FALSE);
                let l = cast!(to_int(l), FALSE);
                let r = cast!(to_int(r), FALSE);
                let b = match op {
                    CmpOp::Lt => l < r,
                    CmpOp::Le => l <= r,
                    CmpOp::Gt => l > r,
                    CmpOp::Ge => l >= r,
                };
                (Val::Bool(b), None)
            }
            Node::Eq {
                negate,
                left,
                right,
            } => {
                let l = operand!(left.eval(ev), FALSE);
                let r = operand!(right.eval(ev), FALSE);
                let eq = cast!(equal(l, &r), FALSE);
                (Val::Bool(eq != *negate), None)
            }
            Node::AttrEqStr {
                negate,
                attr,
                lit,
                lit_int,
            } => {
                let eq = match attr.lookup(ev) {
                    None => return (FALSE, Some(Fault::MissingAttribute(&attr.name))),
                    Some(Val::Str(s)) => *s == **lit,
                    Some(Val::Int(i)) => *lit_int == Some(i),
                    Some(Val::Bool(b)) => **lit == *(if b { "true" } else { "false" }),
                };
                (Val::Bool(eq != *negate), None)
            }
            Node::And(items) => {
                for x in items {
                    let v = operand!(x.eval(ev), FALSE);
                    if !cast!(to_bool(v, false), FALSE) {
                        return (FALSE, None);
                    }
                }
                (Val::Bool(true), None)
            }
            Node::Or(items) => {
                for x in items {
                    let v = operand!(x.eval(ev), FALSE);
                    if cast!(to_bool(v, false), FALSE) {
                        return (Val::Bool(true), None);
                    }
                }
                (FALSE, None)
            }
            Node::Xor(l, r) => {
                let l = operand!(l.eval(ev), FALSE);
                let r = operand!(r.eval(ev), FALSE);
                let l = cast!(to_bool(l, false), FALSE);
                let r = cast!(to_bool(r, false), FALSE);
                (Val::Bool(l != r), None)
            }
            Node::Like {
                negate,
                operand,
                pattern,
            } => {
                let v = operand!(operand.eval(ev), FALSE);
                let s = to_str(v);
                (Val::Bool(pattern.matches(&s) != *negate), None)
            }
            Node::In {
                negate,
                operand,
                set,
            } => {
                let x = operand!(operand.eval(ev), FALSE);
                for y in set {
                    let y = operand!(y.eval(ev), FALSE);
                    // The left operand's type is the target type for the set elements.
                    let y = cast!(cast_to(y, x.ty()), FALSE);
                    if y == x {
                        return (Val::Bool(!*negate), None);
                    }
                }
                (Val::Bool(*negate), None)
            }
            Node::Call { func, args } => {
                let zero = func.ret.zero();
                let mut vals = Vec::with_capacity(args.len());
                for (i, a) in args.iter().enumerate() {
                    let v = operand!(a.eval(ev), zero);
                    vals.push(cast!(cast_to(v, func.param(i)), zero));
                }
                (func.run)(vals)
            }
            Node::MissingFunction {
                name,
                arity,
                known_name,
            } => (
                FALSE,
                Some(Fault::MissingFunction {
                    name,
                    arity: *arity,
                    known_name: *known_name,
                }),
            ),
        }
    }
}

impl Node {
    /// `left = right` (or `!=`/`<>`), using the `attr = 'literal'` fast path when it applies.
    pub(crate) fn equality(negate: bool, left: Box<Node>, right: Box<Node>) -> Node {
        if let (Node::Attr(attr), Node::Lit(Lit::Str(lit))) = (&*left, &*right) {
            // An Integer attribute equals the literal iff its decimal form is the literal.
            let lit_int = lit.parse::<i32>().ok().filter(|i| i.to_string() == **lit);
            return Node::AttrEqStr {
                negate,
                attr: attr.clone(),
                lit: lit.clone(),
                lit_int,
            };
        }
        Node::Eq {
            negate,
            left,
            right,
        }
    }
}

/// `=` semantics (§3.7): the left operand is cast to the right operand's type.
fn equal<'e>(l: Val<'e>, r: &Val<'e>) -> Result<bool, Fault<'e>> {
    Ok(match r {
        Val::Int(ri) => to_int(l)? == *ri,
        Val::Bool(rb) => to_bool(l, false)? == *rb,
        Val::Str(rs) => to_str(l) == *rs,
    })
}

fn arith(op: ArithOp, l: i32, r: i32) -> Out<'static> {
    let checked = match op {
        ArithOp::Add => l.checked_add(r),
        ArithOp::Sub => l.checked_sub(r),
        ArithOp::Mul => l.checked_mul(r),
        ArithOp::Div | ArithOp::Rem if r == 0 => {
            let what = if op == ArithOp::Div {
                "division by zero"
            } else {
                "modulo by zero"
            };
            return (ZERO, Some(Fault::Math(what)));
        }
        // Truncated division; the remainder takes the sign of the dividend.
        ArithOp::Div => l.checked_div(r),
        ArithOp::Rem => Some(l.wrapping_rem(r)),
    };
    match checked {
        Some(v) => (Val::Int(v), None),
        None => {
            let wrapped = match op {
                ArithOp::Add => l.wrapping_add(r),
                ArithOp::Sub => l.wrapping_sub(r),
                ArithOp::Mul => l.wrapping_mul(r),
                _ => l.wrapping_div(r),
            };
            (Val::Int(wrapped), Some(Fault::Math("integer overflow")))
        }
    }
}

/// Static result type of a node, where it is known (attributes are not).
pub(crate) fn static_type(n: &Node) -> Option<Ty> {
    Some(match n {
        Node::Lit(Lit::Int(_)) | Node::Neg(_) | Node::Arith(..) => Ty::Int,
        Node::Lit(Lit::Str(_)) => Ty::Str,
        Node::Lit(Lit::Bool(_))
        | Node::Exists(_)
        | Node::Not(_)
        | Node::Cmp(..)
        | Node::Eq { .. }
        | Node::AttrEqStr { .. }
        | Node::And(_)
        | Node::Or(_)
        | Node::Xor(..)
        | Node::Like { .. }
        | Node::In { .. }
        | Node::MissingFunction { .. } => Ty::Bool,
        Node::Call { func, .. } => func.ret,
        Node::Attr(_) => return None,
    })
}
