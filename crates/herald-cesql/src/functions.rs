//! Built-in functions (spec §3.5) and the casting functions (§3.7, TCK `casting_functions`;
//! `IS_INT`/`IS_BOOL` as in Knative's sdk-go). Resolved by name and arity at parse time.

use std::borrow::Cow;
use std::fmt;

use crate::value::{Fault, Out, Ty, Val, to_bool, to_int, to_str};

/// A resolved function: its arguments arrive already cast to the parameter types.
pub(crate) struct Func {
    pub(crate) name: &'static str,
    params: &'static [Ty],
    /// Type of any number of further arguments after `params`.
    variadic: Option<Ty>,
    pub(crate) ret: Ty,
    pub(crate) run: for<'e> fn(Vec<Val<'e>>) -> Out<'e>,
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl Func {
    pub(crate) fn param(&self, i: usize) -> Ty {
        self.params
            .get(i)
            .copied()
            .or(self.variadic)
            .unwrap_or(Ty::Any)
    }

    fn accepts(&self, arity: usize) -> bool {
        if self.variadic.is_some() {
            arity >= self.params.len()
        } else {
            arity == self.params.len()
        }
    }
}

/// Result of resolving a call: the function, or whether the name exists at all.
pub(crate) enum Resolved {
    Found(&'static Func),
    WrongArity,
    Unknown,
}

/// Resolves an upper-cased function name and an arity.
pub(crate) fn resolve(name: &str, arity: usize) -> Resolved {
    let mut known = false;
    for f in FUNCTIONS {
        if f.name == name {
            known = true;
            if f.accepts(arity) {
                return Resolved::Found(f);
            }
        }
    }
    if known {
        Resolved::WrongArity
    } else {
        Resolved::Unknown
    }
}

static FUNCTIONS: &[Func] = &[
    Func {
        name: "LENGTH",
        params: &[Ty::Str],
        variadic: None,
        ret: Ty::Int,
        run: length,
    },
    Func {
        name: "CONCAT",
        params: &[],
        variadic: Some(Ty::Str),
        ret: Ty::Str,
        run: concat,
    },
    Func {
        name: "CONCAT_WS",
        params: &[Ty::Str],
        variadic: Some(Ty::Str),
        ret: Ty::Str,
        run: concat_ws,
    },
    Func {
        name: "LOWER",
        params: &[Ty::Str],
        variadic: None,
        ret: Ty::Str,
        run: lower,
    },
    Func {
        name: "UPPER",
        params: &[Ty::Str],
        variadic: None,
        ret: Ty::Str,
        run: upper,
    },
    Func {
        name: "TRIM",
        params: &[Ty::Str],
        variadic: None,
        ret: Ty::Str,
        run: trim,
    },
    Func {
        name: "LEFT",
        params: &[Ty::Str, Ty::Int],
        variadic: None,
        ret: Ty::Str,
        run: left,
    },
    Func {
        name: "RIGHT",
        params: &[Ty::Str, Ty::Int],
        variadic: None,
        ret: Ty::Str,
        run: right,
    },
    Func {
        name: "SUBSTRING",
        params: &[Ty::Str, Ty::Int],
        variadic: None,
        ret: Ty::Str,
        run: substring2,
    },
    Func {
        name: "SUBSTRING",
        params: &[Ty::Str, Ty::Int, Ty::Int],
        variadic: None,
        ret: Ty::Str,
        run: substring3,
    },
    Func {
        name: "ABS",
        params: &[Ty::Int],
        variadic: None,
        ret: Ty::Int,
        run: abs,
    },
    Func {
        name: "INT",
        params: &[Ty::Any],
        variadic: None,
        ret: Ty::Int,
        run: int,
    },
    Func {
        name: "BOOL",
        params: &[Ty::Any],
        variadic: None,
        ret: Ty::Bool,
        run: bool_,
    },
    Func {
        name: "STRING",
        params: &[Ty::Any],
        variadic: None,
        ret: Ty::Str,
        run: string,
    },
    Func {
        name: "IS_INT",
        params: &[Ty::Any],
        variadic: None,
        ret: Ty::Bool,
        run: is_int,
    },
    Func {
        name: "IS_BOOL",
        params: &[Ty::Any],
        variadic: None,
        ret: Ty::Bool,
        run: is_bool,
    },
];

// ---- argument helpers (arguments are already cast, so the fallbacks never trigger) ----

fn str_arg<'e>(v: Option<Val<'e>>) -> Cow<'e, str> {
    v.map_or(Cow::Borrowed(""), to_str)
}

fn int_arg(v: Option<Val<'_>>) -> i32 {
    match v {
        Some(Val::Int(i)) => i,
        _ => 0,
    }
}

fn fail<'e>(value: Val<'e>, name: &'static str, message: String) -> Out<'e> {
    (
        value,
        Some(Fault::Function {
            name,
            message: Cow::Owned(message),
        }),
    )
}

/// Byte offset of the `n`th character (or the length when there are fewer).
fn byte_at_char(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

fn slice<'e>(s: Cow<'e, str>, from: usize, to: usize) -> Cow<'e, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[from..to]),
        Cow::Owned(o) => Cow::Owned(o[from..to].to_owned()),
    }
}

// ---- string functions ----

fn length(args: Vec<Val<'_>>) -> Out<'_> {
    let s = str_arg(args.into_iter().next());
    let n = s.chars().count();
    (Val::Int(i32::try_from(n).unwrap_or(i32::MAX)), None)
}

fn concat(args: Vec<Val<'_>>) -> Out<'_> {
    let mut out = String::new();
    for a in args {
        out.push_str(&to_str(a));
    }
    (Val::Str(Cow::Owned(out)), None)
}

fn concat_ws(args: Vec<Val<'_>>) -> Out<'_> {
    let mut it = args.into_iter();
    let sep = str_arg(it.next());
    let mut out = String::new();
    for (i, a) in it.enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        out.push_str(&to_str(a));
    }
    (Val::Str(Cow::Owned(out)), None)
}

fn lower(args: Vec<Val<'_>>) -> Out<'_> {
    let s = str_arg(args.into_iter().next());
    (Val::Str(Cow::Owned(s.to_lowercase())), None)
}

fn upper(args: Vec<Val<'_>>) -> Out<'_> {
    let s = str_arg(args.into_iter().next());
    (Val::Str(Cow::Owned(s.to_uppercase())), None)
}

fn trim(args: Vec<Val<'_>>) -> Out<'_> {
    let s = str_arg(args.into_iter().next());
    let from = s.len() - s.trim_start().len();
    let to = from + s[from..].trim_end().len();
    (Val::Str(slice(s, from, to)), None)
}

fn left(args: Vec<Val<'_>>) -> Out<'_> {
    let mut it = args.into_iter();
    let s = str_arg(it.next());
    let n = int_arg(it.next());
    let Ok(n) = usize::try_from(n) else {
        return fail(
            Val::Str(s),
            "LEFT",
            format!("length must not be negative, got {n}"),
        );
    };
    let end = byte_at_char(&s, n);
    (Val::Str(slice(s, 0, end)), None)
}

fn right(args: Vec<Val<'_>>) -> Out<'_> {
    let mut it = args.into_iter();
    let s = str_arg(it.next());
    let n = int_arg(it.next());
    let Ok(n) = usize::try_from(n) else {
        return fail(
            Val::Str(s),
            "RIGHT",
            format!("length must not be negative, got {n}"),
        );
    };
    let len = s.chars().count();
    if n >= len {
        return (Val::Str(s), None);
    }
    let start = byte_at_char(&s, len - n);
    let end = s.len();
    (Val::Str(slice(s, start, end)), None)
}

/// Start byte of a 1-based (negative: from the end) position, or an error message.
fn substring_start(s: &str, pos: i32) -> Result<Option<usize>, String> {
    let len = s.chars().count() as i64;
    let p = i64::from(pos);
    if p > len || p < -len {
        return Err(format!(
            "position {pos} is outside a string of length {len}"
        ));
    }
    if p == 0 {
        return Ok(None);
    }
    let first_char = if p < 0 { len + p } else { p - 1 };
    Ok(Some(byte_at_char(s, first_char as usize)))
}

fn substring2(args: Vec<Val<'_>>) -> Out<'_> {
    let mut it = args.into_iter();
    let s = str_arg(it.next());
    let pos = int_arg(it.next());
    match substring_start(&s, pos) {
        Err(m) => fail(Ty::Str.zero(), "SUBSTRING", m),
        Ok(None) => (Ty::Str.zero(), None),
        Ok(Some(start)) => {
            let end = s.len();
            (Val::Str(slice(s, start, end)), None)
        }
    }
}

fn substring3(args: Vec<Val<'_>>) -> Out<'_> {
    let mut it = args.into_iter();
    let s = str_arg(it.next());
    let pos = int_arg(it.next());
    let n = int_arg(it.next());
    let Ok(n) = usize::try_from(n) else {
        return fail(
            Ty::Str.zero(),
            "SUBSTRING",
            format!("length must not be negative, got {n}"),
        );
    };
    match substring_start(&s, pos) {
        Err(m) => fail(Ty::Str.zero(), "SUBSTRING", m),
        Ok(None) => (Ty::Str.zero(), None),
        Ok(Some(start)) => {
            let end = start + byte_at_char(&s[start..], n);
            (Val::Str(slice(s, start, end)), None)
        }
    }
}

// ---- integer functions ----

fn abs(args: Vec<Val<'_>>) -> Out<'_> {
    let i = int_arg(args.into_iter().next());
    match i.checked_abs() {
        Some(a) => (Val::Int(a), None),
        None => (
            Val::Int(i32::MAX),
            Some(Fault::Math(
                "ABS(-2147483648) overflows; returning 2147483647",
            )),
        ),
    }
}

// ---- casting functions (explicit casts) ----

fn int(args: Vec<Val<'_>>) -> Out<'_> {
    match to_int(args.into_iter().next().unwrap_or(Val::Int(0))) {
        Ok(i) => (Val::Int(i), None),
        Err(f) => (Val::Int(0), Some(f)),
    }
}

fn bool_(args: Vec<Val<'_>>) -> Out<'_> {
    match to_bool(args.into_iter().next().unwrap_or(Val::Bool(false)), true) {
        Ok(b) => (Val::Bool(b), None),
        Err(f) => (Val::Bool(false), Some(f)),
    }
}

fn string(args: Vec<Val<'_>>) -> Out<'_> {
    (Val::Str(str_arg(args.into_iter().next())), None)
}

/// True when `INT(x)` would succeed without error.
fn is_int(args: Vec<Val<'_>>) -> Out<'_> {
    let ok = args.into_iter().next().is_some_and(|v| to_int(v).is_ok());
    (Val::Bool(ok), None)
}

/// True when `BOOL(x)` would succeed without error.
fn is_bool(args: Vec<Val<'_>>) -> Out<'_> {
    let ok = args
        .into_iter()
        .next()
        .is_some_and(|v| to_bool(v, true).is_ok());
    (Val::Bool(ok), None)
}
