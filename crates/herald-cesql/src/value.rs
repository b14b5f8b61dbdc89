//! Values, types, implicit/explicit casts (spec §3.1, §3.7) and evaluation faults.

use std::borrow::Cow;
use std::fmt;

use crate::error::{ErrorKind, EvalError};

/// A CESQL value: the result of evaluating an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Integer(i32),
    String(String),
    Boolean(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(i) => write!(f, "{i}"),
            Value::String(s) => f.write_str(s),
            Value::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// The evaluator's value: strings borrow from the event or the expression when they can.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val<'a> {
    Int(i32),
    Bool(bool),
    Str(Cow<'a, str>),
}

impl Val<'_> {
    pub(crate) fn ty(&self) -> Ty {
        match self {
            Val::Int(_) => Ty::Int,
            Val::Bool(_) => Ty::Bool,
            Val::Str(_) => Ty::Str,
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Val::Int(i) => Value::Integer(i),
            Val::Bool(b) => Value::Boolean(b),
            Val::Str(s) => Value::String(s.into_owned()),
        }
    }
}

/// Static parameter/return types. `Any` is only a parameter type (casting functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Int,
    Bool,
    Str,
    Any,
}

impl Ty {
    pub(crate) fn zero(self) -> Val<'static> {
        match self {
            Ty::Int => Val::Int(0),
            Ty::Str => Val::Str(Cow::Borrowed("")),
            // Spec §3.2: when the type cannot be determined, Boolean is assumed.
            Ty::Bool | Ty::Any => Val::Bool(false),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Ty::Int => "Integer",
            Ty::Bool => "Boolean",
            Ty::Str => "String",
            Ty::Any => "Any",
        }
    }
}

/// An evaluation error before its message is rendered: building messages costs an
/// allocation, which [`crate::Expression::matches`] never pays.
#[derive(Debug)]
pub(crate) enum Fault<'e> {
    MissingAttribute(&'e str),
    Cast {
        value: Val<'e>,
        to: Ty,
        implicit: bool,
    },
    Math(&'static str),
    MissingFunction {
        name: &'e str,
        arity: usize,
        known_name: bool,
    },
    Function {
        name: &'static str,
        message: Cow<'static, str>,
    },
}

impl Fault<'_> {
    pub(crate) fn into_error(self) -> EvalError {
        let (kind, message) = match self {
            Fault::MissingAttribute(name) => (
                ErrorKind::MissingAttribute,
                format!("attribute '{name}' is not present in the event"),
            ),
            Fault::Cast {
                value,
                to,
                implicit,
            } => {
                let shown = match &value {
                    Val::Str(s) => format!("String '{s}'"),
                    Val::Int(i) => format!("Integer {i}"),
                    Val::Bool(b) => format!("Boolean {b}"),
                };
                let message = if implicit && value.ty() == Ty::Int && to == Ty::Bool {
                    format!("cannot implicitly cast {shown} to Boolean (use BOOL(x))")
                } else {
                    format!("cannot cast {shown} to {}", to.name())
                };
                (ErrorKind::Cast, message)
            }
            Fault::Math(m) => (ErrorKind::Math, m.to_owned()),
            Fault::MissingFunction {
                name,
                arity,
                known_name,
            } => {
                let message = if known_name {
                    format!("function {name} does not take {arity} argument(s)")
                } else {
                    format!("unknown function {name}")
                };
                (ErrorKind::MissingFunction, message)
            }
            Fault::Function { name, message } => {
                (ErrorKind::FunctionEvaluation, format!("{name}: {message}"))
            }
        };
        EvalError { kind, message }
    }
}

pub(crate) type Out<'e> = (Val<'e>, Option<Fault<'e>>);

/// Cast to Integer (implicit and explicit casts behave the same).
pub(crate) fn to_int(v: Val<'_>) -> Result<i32, Fault<'_>> {
    match v {
        Val::Int(i) => Ok(i),
        Val::Bool(b) => Ok(i32::from(b)),
        Val::Str(ref s) => s.parse::<i32>().map_err(|_| Fault::Cast {
            value: v.clone(),
            to: Ty::Int,
            implicit: false,
        }),
    }
}

/// Cast to Boolean. Integer → Boolean is only allowed explicitly (`BOOL(x)`): the TCK
/// (`not_operator.yaml`, "Invalid int cast": `NOT 10` → cast error) requires operators to
/// reject it even though spec §3.7 lists the cast.
pub(crate) fn to_bool(v: Val<'_>, explicit: bool) -> Result<bool, Fault<'_>> {
    match v {
        Val::Bool(b) => Ok(b),
        Val::Int(i) if explicit => Ok(i != 0),
        Val::Int(_) => Err(Fault::Cast {
            value: v,
            to: Ty::Bool,
            implicit: true,
        }),
        Val::Str(ref s) => {
            if s.eq_ignore_ascii_case("true") {
                Ok(true)
            } else if s.eq_ignore_ascii_case("false") {
                Ok(false)
            } else {
                Err(Fault::Cast {
                    value: v,
                    to: Ty::Bool,
                    implicit: !explicit,
                })
            }
        }
    }
}

/// Cast to String; always succeeds.
pub(crate) fn to_str(v: Val<'_>) -> Cow<'_, str> {
    match v {
        Val::Str(s) => s,
        Val::Int(i) => Cow::Owned(i.to_string()),
        Val::Bool(true) => Cow::Borrowed("true"),
        Val::Bool(false) => Cow::Borrowed("false"),
    }
}

/// Cast to a parameter type (`Any` keeps the value).
pub(crate) fn cast_to<'e>(v: Val<'e>, ty: Ty) -> Result<Val<'e>, Fault<'e>> {
    match ty {
        Ty::Int => to_int(v).map(Val::Int),
        Ty::Bool => to_bool(v, false).map(Val::Bool),
        Ty::Str => Ok(Val::Str(to_str(v))),
        Ty::Any => Ok(v),
    }
}
