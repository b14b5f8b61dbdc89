#![allow(clippy::unwrap_used)]

use herald_ce::{AttrValue, Event, SpecVersion};

use crate::{ErrorKind, Expression, Value};

fn event() -> Event {
    let mut ev = Event::new("id-1", "/src", "com.example.t");
    ev.subject = Some("subj".into());
    ev.set_extension("myint", AttrValue::Integer(5));
    ev.set_extension("mybool", AttrValue::Boolean(true));
    ev.set_extension("mystr", AttrValue::String("hello".into()));
    ev.set_extension("big", AttrValue::Integer(1 << 40));
    ev.set_extension("bin", AttrValue::Binary(vec![0, 1, 2, 255]));
    ev.set_extension("uri", AttrValue::Uri("https://x/y".into()));
    ev
}

fn eval(src: &str) -> (Value, Option<ErrorKind>) {
    let e = Expression::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src)));
    let (v, err) = e.evaluate(&event());
    (v, err.map(|e| e.kind))
}

#[test]
fn parse_error_positions_and_messages() {
    // (expression, column, line, message)
    let cases: &[(&str, usize, usize, &str)] = &[
        ("", 1, 1, "expected an expression, found end of input"),
        (
            "type = 'a' AND",
            15,
            1,
            "expected an expression after AND, found end of input",
        ),
        (
            "type = 'a' AND ) ",
            16,
            1,
            "expected an expression after AND, found ')'",
        ),
        (
            "1 +",
            4,
            1,
            "expected an expression after '+', found end of input",
        ),
        (
            "ABC(",
            5,
            1,
            "expected an expression after ABC(, found end of input",
        ),
        (
            "LEFT('a' 1)",
            10,
            1,
            "expected ',' or ')' in the arguments of LEFT at column 1, found integer literal 1",
        ),
        (
            "(1 + 2",
            7,
            1,
            "expected ')' to close the '(' at column 1, found end of input",
        ),
        ("1 + 2)", 6, 1, "unbalanced ')': no '(' to close"),
        (
            "a b",
            3,
            1,
            "expected an operator or end of input, found identifier 'b'",
        ),
        (
            "x LIKE 123",
            8,
            1,
            "the LIKE pattern must be a string literal, found integer literal 123",
        ),
        (
            "x LIKE y",
            8,
            1,
            "the LIKE pattern must be a string literal, found identifier 'y'",
        ),
        (
            "x IN 1",
            6,
            1,
            "expected '(' after IN, found integer literal 1",
        ),
        ("x IN ()", 7, 1, "IN needs at least one value"),
        (
            "x IN (1 2)",
            9,
            1,
            "expected ',' or ')' in the IN list opened at column 6, found integer literal 2",
        ),
        (
            "EXISTS 1",
            8,
            1,
            "expected an attribute name after EXISTS, found integer literal 1",
        ),
        ("'abc", 1, 1, "unterminated string literal"),
        ("x = \"abc\\\"", 5, 1, "unterminated string literal"),
        (
            "2147483648",
            1,
            1,
            "integer literal 2147483648 is outside the 32-bit range",
        ),
        (
            "1 + -2147483649",
            5,
            1,
            "integer literal -2147483649 is outside the 32-bit range",
        ),
        ("a # b", 3, 1, "unexpected character '#'"),
        ("é = 1", 1, 1, "unexpected character 'é'"),
        ("'é' = é", 7, 1, "unexpected character 'é'"),
        (
            "a ! b",
            3,
            1,
            "'!' must be followed by '=' (use NOT for negation)",
        ),
        (
            "my_ext = 1",
            1,
            1,
            "'my_ext' is not a valid attribute name (letters and digits only)",
        ),
        (
            "abc1(2)",
            1,
            1,
            "'abc1' is not a valid function name (letters and '_' only, starting with a letter)",
        ),
        (
            "+x",
            2,
            1,
            "expected digits after '+', found identifier 'x'",
        ),
        (
            "type = 'a'\n  AND\n  NOT",
            6,
            3,
            "expected an expression after NOT, found end of input",
        ),
    ];
    for (src, column, line, msg) in cases {
        let err = Expression::parse(src).expect_err(src);
        assert_eq!(
            (err.column, err.line, err.message.as_str()),
            (*column, *line, *msg),
            "{src:?}"
        );
    }
}

#[test]
fn parse_error_offset_counts_characters() {
    let err = Expression::parse("'héllo' = \n 'ü' AND").unwrap_err();
    assert_eq!((err.offset, err.line, err.column), (19, 2, 9));
}

#[test]
fn parse_error_display_and_render() {
    let src = "type = 'a' AND";
    let err = Expression::parse(src).unwrap_err();
    assert_eq!(
        err.to_string(),
        "at column 15: expected an expression after AND, found end of input"
    );
    assert_eq!(
        err.render(src),
        "at column 15: expected an expression after AND, found end of input\n  type = 'a' AND\n                ^"
    );
    let src = "a = 1 AND\n\tb = #";
    let err = Expression::parse(src).unwrap_err();
    assert_eq!(
        err.to_string(),
        "at line 2, column 6: unexpected character '#'"
    );
    assert_eq!(
        err.render(src),
        "at line 2, column 6: unexpected character '#'\n  \tb = #\n  \t    ^"
    );
}

#[test]
fn required_equalities_table() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("type = 'a'", &[("type", "a")]),
        ("type = 'a' AND x > 1", &[("type", "a")]),
        (
            "TYPE = \"a\" and source = 'b' AND myext = 'c'",
            &[("type", "a"), ("source", "b"), ("myext", "c")],
        ),
        (
            "(type = 'a' AND source = 'b') AND subject = 'c'",
            &[("type", "a"), ("source", "b"), ("subject", "c")],
        ),
        (
            "type = 'a' AND (source = 'b' OR source = 'c')",
            &[("type", "a")],
        ),
        ("type = 'a' AND type = 'a'", &[("type", "a")]),
        ("type = 'a' OR source = 'b'", &[]),
        ("type = 'a' AND source = 'b' OR x", &[]),
        ("NOT type = 'a'", &[]),
        ("type != 'a'", &[]),
        ("'a' = type", &[]),
        ("type = 1", &[]),
        ("type = id", &[]),
        ("type LIKE 'a'", &[]),
        ("type = 'a' XOR true", &[]),
    ];
    for (src, want) in cases {
        let got = Expression::parse(src).unwrap().required_equalities();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "{src}");
    }
}

#[test]
fn required_equalities_are_sound() {
    // Whenever matches() is true, each required attribute's canonical string equals the literal.
    let ev = event();
    for src in [
        "myint = '5' AND mybool = 'true'",
        "big = '1099511627776'",
        "bin = 'AAEC/w=='",
    ] {
        let e = Expression::parse(src).unwrap();
        assert!(e.matches(&ev), "{src}");
        for (name, lit) in e.required_equalities() {
            assert_eq!(
                ev.attribute(&name).unwrap().to_canonical_string(),
                lit,
                "{src}"
            );
        }
    }
}

#[test]
fn semantics_beyond_the_tck() {
    use Value::{Boolean as B, Integer as I, String as S};
    let cases: Vec<(&str, Value, Option<ErrorKind>)> = vec![
        // Precedence: equal levels associate left to right; unary binds tightest.
        ("FALSE AND FALSE OR TRUE", B(true), None),
        ("TRUE OR TRUE AND FALSE", B(false), None),
        ("TRUE XOR TRUE XOR TRUE", B(true), None),
        ("NOT FALSE = FALSE", B(false), None),
        ("2 + 3 * 4 - 1", I(13), None),
        ("10 - 4 - 3", I(3), None),
        ("-7 / 2", I(-3), None),
        ("-7 % 2", I(-1), None),
        ("7 % -2", I(1), None),
        ("4-1", I(3), None),
        ("+5", I(5), None),
        ("-2147483648", I(i32::MIN), None),
        ("-(-2147483648)", I(i32::MAX), Some(ErrorKind::Math)),
        ("2147483647 + 1", I(i32::MIN), Some(ErrorKind::Math)),
        ("-2147483648 / -1", I(i32::MIN), Some(ErrorKind::Math)),
        ("-2147483648 % -1", I(0), None),
        ("1 < 2 = TRUE", B(true), None),
        ("'a' LIKE 'a' = TRUE", B(true), None),
        ("1 + 1 IN (2)", I(1), None),
        ("(1 + 1) IN (2)", B(true), None),
        // Attributes and their types.
        ("myint", I(5), None),
        ("myint + 1", I(6), None),
        ("myint = '5'", B(true), None),
        ("'05' = myint", B(true), None),
        ("mybool", B(true), None),
        ("mybool = 'TRUE'", B(false), None),
        ("big", S("1099511627776".into()), None),
        ("bin", S("AAEC/w==".into()), None),
        ("uri", S("https://x/y".into()), None),
        ("specversion", S("1.0".into()), None),
        ("SpecVersion = '1.0'", B(true), None),
        ("EXISTS dataschema", B(false), None),
        ("EXISTS datacontenttype OR EXISTS subject", B(true), None),
        // Cast failures.
        ("'abc' = 1", B(false), Some(ErrorKind::Cast)),
        ("'abc' != 1", B(false), Some(ErrorKind::Cast)),
        ("'abc' + 1", I(0), Some(ErrorKind::Cast)),
        ("1 = TRUE", B(false), Some(ErrorKind::Cast)),
        ("TRUE = 1", B(true), None),
        ("myint AND TRUE", B(false), Some(ErrorKind::Cast)),
        ("BOOL(myint) AND TRUE", B(true), None),
        ("1 IN ('x', 1)", B(false), Some(ErrorKind::Cast)),
        ("1 IN (1, 'x')", B(true), None),
        ("1 NOT IN (2, 3)", B(true), None),
        ("LEFT('abc', 'x')", S(String::new()), Some(ErrorKind::Cast)),
        // Missing attributes and short-circuiting.
        ("missing", B(false), Some(ErrorKind::MissingAttribute)),
        ("FALSE AND missing", B(false), None),
        ("TRUE OR missing", B(true), None),
        (
            "missing OR TRUE",
            B(false),
            Some(ErrorKind::MissingAttribute),
        ),
        ("LENGTH(missing)", I(0), Some(ErrorKind::MissingAttribute)),
        (
            "UPPER(missing)",
            S(String::new()),
            Some(ErrorKind::MissingAttribute),
        ),
        (
            "missing IN (1)",
            B(false),
            Some(ErrorKind::MissingAttribute),
        ),
        (
            "1 IN (missing)",
            B(false),
            Some(ErrorKind::MissingAttribute),
        ),
        (
            "missing NOT LIKE 'x'",
            B(false),
            Some(ErrorKind::MissingAttribute),
        ),
        // Functions.
        ("lower('ÀB') = 'àb'", B(true), None),
        ("LENGTH('héllo')", I(5), None),
        ("LEFT('héllo', 2)", S("hé".into()), None),
        ("RIGHT('héllo', 4)", S("éllo".into()), None),
        ("SUBSTRING('héllo', 2, 2)", S("él".into()), None),
        (
            "SUBSTRING('abc', 1, -1)",
            S(String::new()),
            Some(ErrorKind::FunctionEvaluation),
        ),
        ("TRIM('\u{2003} x \t')", S("x".into()), None),
        ("CONCAT(1, TRUE, 'x')", S("1truex".into()), None),
        ("CONCAT_WS('-', 'a', 'b')", S("a-b".into()), None),
        ("IS_INT('12')", B(true), None),
        ("IS_INT('1x')", B(false), None),
        ("IS_INT(myint)", B(true), None),
        ("IS_BOOL('False')", B(true), None),
        ("IS_BOOL('yes')", B(false), None),
        ("STRING(myint) = '5'", B(true), None),
        ("INT('+7')", I(7), None),
        ("INT(' 7')", I(0), Some(ErrorKind::Cast)),
        ("INT('2147483648')", I(0), Some(ErrorKind::Cast)),
        ("nosuch(1)", B(false), Some(ErrorKind::MissingFunction)),
        ("ABS(1, 2)", B(false), Some(ErrorKind::MissingFunction)),
        ("NOT nosuch()", B(false), Some(ErrorKind::MissingFunction)),
        // String escapes are kept except the delimiter's own.
        ("'a\\nb'", S("a\\nb".into()), None),
        ("\"it's\"", S("it's".into()), None),
        ("'say \"hi\"'", S("say \"hi\"".into()), None),
    ];
    for (src, want, kind) in cases {
        assert_eq!(eval(src), (want, kind), "{src}");
    }
}

#[test]
fn attr_eq_literal_fast_path_matches_generic_equality() {
    // `attr = 'lit'` compiles to a fast path; `attr = STRING('lit')` takes the generic one.
    let ev = event();
    for attr in [
        "myint", "mybool", "mystr", "big", "bin", "uri", "id", "subject", "missing",
    ] {
        for lit in [
            "5",
            "05",
            "+5",
            "-0",
            "true",
            "TRUE",
            "hello",
            "",
            "1099511627776",
        ] {
            for op in ["=", "!=", "<>"] {
                let fast = Expression::parse(&format!("{attr} {op} '{lit}'")).unwrap();
                let slow = Expression::parse(&format!("{attr} {op} STRING('{lit}')")).unwrap();
                assert_eq!(
                    fast.evaluate(&ev),
                    slow.evaluate(&ev),
                    "{attr} {op} '{lit}'"
                );
            }
        }
    }
}

#[test]
fn error_messages() {
    let ev = event();
    let msg = |src: &str| {
        Expression::parse(src)
            .unwrap()
            .evaluate(&ev)
            .1
            .unwrap()
            .to_string()
    };
    assert_eq!(
        msg("missing = 1"),
        "missingAttribute error: attribute 'missing' is not present in the event"
    );
    assert_eq!(
        msg("INT('abc')"),
        "cast error: cannot cast String 'abc' to Integer"
    );
    assert_eq!(
        msg("NOT 10"),
        "cast error: cannot implicitly cast Integer 10 to Boolean (use BOOL(x))"
    );
    assert_eq!(msg("1 / 0"), "math error: division by zero");
    assert_eq!(msg("foo()"), "missingFunction error: unknown function FOO");
    assert_eq!(
        msg("left('a')"),
        "missingFunction error: function LEFT does not take 1 argument(s)"
    );
    assert_eq!(
        msg("LEFT('a', -1)"),
        "functionEvaluation error: LEFT: length must not be negative, got -1"
    );
}

#[test]
fn schemaurl_is_version_aware() {
    let mut ev = Event::new("1", "/s", "t");
    ev.dataschema = Some("https://schema".into());
    let ds = Expression::parse("dataschema").unwrap();
    let su = Expression::parse("schemaurl").unwrap();
    assert!(ds.evaluate(&ev).1.is_none());
    assert!(su.evaluate(&ev).1.is_some());
    ev.specversion = SpecVersion::V03;
    assert_eq!(
        su.evaluate(&ev),
        (Value::String("https://schema".into()), None)
    );
    assert!(ds.evaluate(&ev).1.is_some());
}

#[test]
fn nesting_limits() {
    // Long flat conjunctions are fine (they become one n-ary node)...
    let long = vec!["mystr = 'hello'"; 2000].join(" AND ");
    assert!(Expression::parse(&long).unwrap().matches(&event()));
    let long_or = vec!["id = 'x'"; 2000].join(" OR ");
    assert!(!Expression::parse(&long_or).unwrap().matches(&event()));
    // ...deep nesting is rejected instead of overflowing the stack.
    let deep = format!("{}TRUE{}", "(".repeat(5000), ")".repeat(5000));
    assert!(
        Expression::parse(&deep)
            .unwrap_err()
            .message
            .contains("nested too deeply")
    );
    let nots = format!("{}TRUE", "NOT ".repeat(5000));
    assert!(Expression::parse(&nots).is_err());
    let sum = vec!["1"; 5000].join(" + ");
    assert!(Expression::parse(&sum).is_err());
    let ok = format!("{}TRUE{}", "(".repeat(60), ")".repeat(60));
    assert!(Expression::parse(&ok).unwrap().matches(&event()));
}

#[test]
fn api_properties() {
    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_send_sync::<Expression>();
    let e: Expression = "type = 'com.example.t'".parse().unwrap();
    assert_eq!(e.source(), "type = 'com.example.t'");
    assert_eq!(e.to_string(), "type = 'com.example.t'");
    assert!(e.matches(&event()));
    assert!(e.may_be_boolean());
    assert!(Expression::parse("myext").unwrap().may_be_boolean());
    assert!(!Expression::parse("1 + 2").unwrap().may_be_boolean());
    assert!(!Expression::parse("UPPER(type)").unwrap().may_be_boolean());
    assert!(!Expression::parse("'x'").unwrap().matches(&event()));
    assert!(!Expression::parse("NOT 10").unwrap().matches(&event()));
    assert_eq!(ErrorKind::MissingFunction.as_str(), "missingFunction");
}
