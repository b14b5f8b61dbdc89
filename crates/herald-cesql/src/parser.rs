//! Recursive-descent parser producing the compiled [`Node`] tree.
//!
//! Precedence (spec §3.6, highest first): function calls and atoms; unary `NOT` and `-`;
//! postfix `[NOT] LIKE` / `[NOT] IN`; `* / %`; `+ -`; comparisons; `AND OR XOR`. Operators of
//! equal precedence associate left to right (§3.6), so `a AND b OR c` is `(a AND b) OR c`.
//! A unary operator binds tighter than everything binary: `NOT a = b` is `(NOT a) = b`.

use crate::error::ParseError;
use crate::eval::{ArithOp, Attr, CmpOp, Lit, Node};
use crate::functions::{Resolved, resolve};
use crate::lexer::{Kw, Tok, Token, tokenize};
use crate::like::Pattern;

/// Deepest operator tree accepted (keeps evaluation recursion bounded). Flat `AND`/`OR`
/// chains do not count: they become one n-ary node.
const MAX_DEPTH: u32 = 200;

/// Deepest nesting of parentheses, function calls, IN lists and unary operators accepted
/// (keeps parser recursion bounded).
const MAX_NESTING: u32 = 64;

pub(crate) fn parse(src: &str) -> Result<Node, ParseError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        after: None,
        nesting: 0,
    };
    let (node, _) = p.logic()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        let msg = match &t.tok {
            Tok::RParen => "unbalanced ')': no '(' to close".to_owned(),
            other => format!(
                "expected an operator or end of input, found {}",
                other.describe()
            ),
        };
        return Err(p.err_at(t.at, msg));
    }
    Ok(node)
}

struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    pos: usize,
    /// The operator just consumed, for "expected an expression after X" messages.
    after: Option<String>,
    /// Current recursion nesting (see [`MAX_NESTING`]).
    nesting: u32,
}

/// A node and its depth.
type P = (Node, u32);

/// Builds a binary node from its operands.
type MakeNode = fn(Box<Node>, Box<Node>) -> Node;

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // `tokens` always ends with Eof and `pos` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek2(&self) -> &Tok {
        &self.tokens[(self.pos + 1).min(self.tokens.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn err_at(&self, at: usize, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.src, at, msg)
    }

    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        if self.nesting >= MAX_NESTING {
            return Err(self.err_at(
                at,
                format!("expression is nested too deeply (limit {MAX_NESTING})"),
            ));
        }
        self.nesting += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn deeper(&self, depth: u32, at: usize) -> Result<u32, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.err_at(
                at,
                format!("expression is nested too deeply (limit {MAX_DEPTH})"),
            ));
        }
        Ok(depth + 1)
    }

    /// `AND`, `OR`, `XOR`: one precedence level, left-associative.
    fn logic(&mut self) -> Result<P, ParseError> {
        let (mut left, mut depth) = self.comparison()?;
        loop {
            let t = self.peek().clone();
            let kw = match t.tok {
                Tok::Kw(k @ (Kw::And | Kw::Or | Kw::Xor)) => k,
                _ => return Ok((left, depth)),
            };
            self.bump();
            self.after = Some(kw.as_str().to_owned());
            let (right, rd) = self.comparison()?;
            let extends = matches!((&left, kw), (Node::And(_), Kw::And) | (Node::Or(_), Kw::Or));
            depth = if extends {
                // Joins the existing n-ary node: no extra nesting.
                self.deeper(depth.max(rd + 1) - 1, t.at)?
            } else {
                self.deeper(depth.max(rd), t.at)?
            };
            left = match kw {
                Kw::And => flatten(left, right, true),
                Kw::Or => flatten(left, right, false),
                _ => Node::Xor(Box::new(left), Box::new(right)),
            };
        }
    }

    fn comparison(&mut self) -> Result<P, ParseError> {
        let (mut left, mut depth) = self.additive()?;
        loop {
            let t = self.peek().clone();
            let (name, make): (&str, MakeNode) = match t.tok {
                Tok::Eq => ("'='", |l, r| Node::equality(false, l, r)),
                Tok::NotEq("!=") => ("'!='", |l, r| Node::equality(true, l, r)),
                Tok::NotEq(_) => ("'<>'", |l, r| Node::equality(true, l, r)),
                Tok::Lt => ("'<'", |l, r| Node::Cmp(CmpOp::Lt, l, r)),
                Tok::Le => ("'<='", |l, r| Node::Cmp(CmpOp::Le, l, r)),
                Tok::Gt => ("'>'", |l, r| Node::Cmp(CmpOp::Gt, l, r)),
                Tok::Ge => ("'>='", |l, r| Node::Cmp(CmpOp::Ge, l, r)),
                _ => return Ok((left, depth)),
            };
            self.bump();
            self.after = Some(name.to_owned());
            let (right, rd) = self.additive()?;
            depth = self.deeper(depth.max(rd), t.at)?;
            left = make(Box::new(left), Box::new(right));
        }
    }

    fn additive(&mut self) -> Result<P, ParseError> {
        self.arithmetic(Self::multiplicative, |tok| match tok {
            Tok::Plus => Some(("'+'", ArithOp::Add)),
            Tok::Minus => Some(("'-'", ArithOp::Sub)),
            _ => None,
        })
    }

    fn multiplicative(&mut self) -> Result<P, ParseError> {
        self.arithmetic(Self::postfix, |tok| match tok {
            Tok::Star => Some(("'*'", ArithOp::Mul)),
            Tok::Slash => Some(("'/'", ArithOp::Div)),
            Tok::Percent => Some(("'%'", ArithOp::Rem)),
            _ => None,
        })
    }

    /// One left-associative arithmetic precedence level: operands parsed by `operand`,
    /// operators recognised by `op`.
    fn arithmetic(
        &mut self,
        operand: fn(&mut Self) -> Result<P, ParseError>,
        op: fn(&Tok) -> Option<(&'static str, ArithOp)>,
    ) -> Result<P, ParseError> {
        let (mut left, mut depth) = operand(self)?;
        loop {
            let t = self.peek().clone();
            let Some((name, op)) = op(&t.tok) else {
                return Ok((left, depth));
            };
            self.bump();
            self.after = Some(name.to_owned());
            let (right, rd) = operand(self)?;
            depth = self.deeper(depth.max(rd), t.at)?;
            left = Node::Arith(op, Box::new(left), Box::new(right));
        }
    }

    /// `x [NOT] LIKE 'pattern'` and `x [NOT] IN (y, ...)`, applied left to right.
    fn postfix(&mut self) -> Result<P, ParseError> {
        let (mut left, mut depth) = self.unary()?;
        loop {
            let t = self.peek().clone();
            let negate = match (&t.tok, self.peek2()) {
                (Tok::Kw(Kw::Not), Tok::Kw(Kw::Like | Kw::In)) => true,
                (Tok::Kw(Kw::Like | Kw::In), _) => false,
                _ => return Ok((left, depth)),
            };
            if negate {
                self.bump();
            }
            let op = self.bump();
            depth = self.deeper(depth, t.at)?;
            if op.tok == Tok::Kw(Kw::Like) {
                let pat = self.bump();
                let Tok::Str(pattern) = pat.tok else {
                    return Err(self.err_at(
                        pat.at,
                        format!(
                            "the LIKE pattern must be a string literal, found {}",
                            pat.tok.describe()
                        ),
                    ));
                };
                left = Node::Like {
                    negate,
                    operand: Box::new(left),
                    pattern: Pattern::compile(&pattern),
                };
            } else {
                let open = self.bump();
                if open.tok != Tok::LParen {
                    return Err(self.err_at(
                        open.at,
                        format!("expected '(' after IN, found {}", open.tok.describe()),
                    ));
                }
                if self.peek().tok == Tok::RParen {
                    return Err(self.err_at(self.peek().at, "IN needs at least one value"));
                }
                let mut set = Vec::new();
                self.enter(open.at)?;
                loop {
                    self.after = Some(if set.is_empty() { "'('" } else { "','" }.to_owned());
                    let (v, vd) = self.logic()?;
                    depth = self.deeper(depth.max(vd), t.at)?;
                    set.push(v);
                    let sep = self.bump();
                    match sep.tok {
                        Tok::Comma => continue,
                        Tok::RParen => break,
                        other => {
                            return Err(self.err_at(
                                sep.at,
                                format!(
                                    "expected ',' or ')' in the IN list opened at column {}, found {}",
                                    self.column(open.at),
                                    other.describe()
                                ),
                            ));
                        }
                    }
                }
                self.leave();
                left = Node::In {
                    negate,
                    operand: Box::new(left),
                    set,
                };
            }
        }
    }

    fn unary(&mut self) -> Result<P, ParseError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Kw(Kw::Not) => {
                self.bump();
                self.after = Some("NOT".to_owned());
                self.enter(t.at)?;
                let (x, d) = self.unary()?;
                self.leave();
                Ok((Node::Not(Box::new(x)), self.deeper(d, t.at)?))
            }
            Tok::Minus | Tok::Plus => {
                self.bump();
                let negative = t.tok == Tok::Minus;
                // A sign directly before digits is part of the integer literal, so
                // -2147483648 is representable.
                if let Tok::Int(n) = self.peek().tok {
                    let lit = self.bump();
                    self.after = None;
                    let n = i64::try_from(n).unwrap_or(i64::MAX);
                    let v = if negative { -n } else { n };
                    return match i32::try_from(v) {
                        Ok(v) => Ok((Node::Lit(Lit::Int(v)), 1)),
                        Err(_) => Err(self.out_of_range(t.at, lit.at)),
                    };
                }
                if !negative {
                    return Err(self.err_at(
                        self.peek().at,
                        format!(
                            "expected digits after '+', found {}",
                            self.peek().tok.describe()
                        ),
                    ));
                }
                self.after = Some("'-'".to_owned());
                self.enter(t.at)?;
                let (x, d) = self.unary()?;
                self.leave();
                Ok((Node::Neg(Box::new(x)), self.deeper(d, t.at)?))
            }
            _ => self.primary(),
        }
    }

    fn out_of_range(&self, start: usize, digits_at: usize) -> ParseError {
        let mut end = digits_at;
        let b = self.src.as_bytes();
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        self.err_at(
            start,
            format!(
                "integer literal {} is outside the 32-bit range",
                &self.src[start..end]
            ),
        )
    }

    fn column(&self, at: usize) -> usize {
        ParseError::at(self.src, at, "").column
    }

    fn primary(&mut self) -> Result<P, ParseError> {
        let t = self.bump();
        let after = self.after.take();
        let node = match t.tok {
            Tok::Int(n) => match i32::try_from(n) {
                Ok(v) => Node::Lit(Lit::Int(v)),
                Err(_) => return Err(self.out_of_range(t.at, t.at)),
            },
            Tok::Str(s) => Node::Lit(Lit::Str(s.into_boxed_str())),
            Tok::Kw(Kw::True) => Node::Lit(Lit::Bool(true)),
            Tok::Kw(Kw::False) => Node::Lit(Lit::Bool(false)),
            Tok::Ident(name) => Node::Attr(Attr::new(name)),
            Tok::Kw(Kw::Exists) => {
                let id = self.bump();
                match id.tok {
                    Tok::Ident(name) => Node::Exists(Attr::new(name)),
                    other => {
                        return Err(self.err_at(
                            id.at,
                            format!(
                                "expected an attribute name after EXISTS, found {}",
                                other.describe()
                            ),
                        ));
                    }
                }
            }
            Tok::LParen => {
                self.enter(t.at)?;
                self.after = Some("'('".to_owned());
                let (inner, d) = self.logic()?;
                self.leave();
                let close = self.bump();
                if close.tok != Tok::RParen {
                    return Err(self.err_at(
                        close.at,
                        format!(
                            "expected ')' to close the '(' at column {}, found {}",
                            self.column(t.at),
                            close.tok.describe()
                        ),
                    ));
                }
                return Ok((inner, d));
            }
            Tok::Func(name) => return self.call(name, t.at),
            other => {
                let msg = match after {
                    Some(op) => format!(
                        "expected an expression after {op}, found {}",
                        other.describe()
                    ),
                    None => format!("expected an expression, found {}", other.describe()),
                };
                return Err(self.err_at(t.at, msg));
            }
        };
        Ok((node, 1))
    }

    fn call(&mut self, name: String, at: usize) -> Result<P, ParseError> {
        self.enter(at)?;
        self.bump(); // '(' (guaranteed by the lexer)
        let mut args = Vec::new();
        let mut depth = 1;
        if self.peek().tok == Tok::RParen {
            self.bump();
        } else {
            loop {
                self.after = Some(if args.is_empty() {
                    format!("{name}(")
                } else {
                    "','".to_owned()
                });
                let (a, d) = self.logic()?;
                depth = depth.max(d + 1);
                args.push(a);
                let sep = self.bump();
                match sep.tok {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    other => {
                        return Err(self.err_at(
                            sep.at,
                            format!(
                                "expected ',' or ')' in the arguments of {name} at column {}, found {}",
                                self.column(at),
                                other.describe()
                            ),
                        ));
                    }
                }
            }
        }
        self.leave();
        let arity = args.len();
        let node = match resolve(&name, arity) {
            Resolved::Found(func) => Node::Call { func, args },
            Resolved::WrongArity => Node::MissingFunction {
                name: name.into_boxed_str(),
                arity,
                known_name: true,
            },
            Resolved::Unknown => Node::MissingFunction {
                name: name.into_boxed_str(),
                arity,
                known_name: false,
            },
        };
        Ok((node, self.deeper(depth, at)?))
    }
}

/// Builds `left AND right` (or OR), merging operands that are already conjunctions
/// (disjunctions): evaluation order and short-circuiting are unchanged.
fn flatten(left: Node, right: Node, and: bool) -> Node {
    let mut items = Vec::new();
    for n in [left, right] {
        match n {
            Node::And(v) if and => items.extend(v),
            Node::Or(v) if !and => items.extend(v),
            other => items.push(other),
        }
    }
    if and {
        Node::And(items)
    } else {
        Node::Or(items)
    }
}
