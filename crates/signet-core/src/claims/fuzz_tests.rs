//! The fuzz target's body (`fuzz_check.rs`) driven by proptest, so that CI
//! on stable runs what `fuzz/run.sh` runs under libFuzzer for longer: random
//! strings, token soup, generated expressions that mostly parse, and growth
//! up to the length limit.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::*;

include!("fuzz_check.rs");

/// Pieces of Rhai, hostile and ordinary, for proptest to string together.
const TOKENS: &[&str] = &[
    "user",
    "client",
    "scope",
    ".",
    "user.username",
    "user.email",
    "user.attributes",
    "user.attributes.department",
    "user.attributes.locations",
    "user.attributes.manager",
    "user.attributes.missing",
    "client.id",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "#{",
    "a:",
    ",",
    ";",
    ":",
    "?",
    "??",
    "?.",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "<<",
    ">>",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "!",
    "&",
    "|",
    "^",
    "=",
    "+=",
    "*=",
    "-=",
    "..",
    "..=",
    "let x =",
    "let y =",
    "const z =",
    "x",
    "y",
    "z",
    "x.a",
    "if",
    "else",
    "switch",
    "=>",
    "_",
    "return",
    "0",
    "1",
    "-1",
    "2",
    "64",
    "9223372036854775807",
    "-9223372036854775808",
    "1e308",
    "1e999",
    "0.0",
    "1.5",
    "99999999999999999999",
    "true",
    "false",
    "()",
    "\"a\"",
    "\"\"",
    "'c'",
    "`t${x}`",
    "\"é\"",
    ".len()",
    ".pad(100000000, \"b\")",
    ".pad(5000, 1)",
    ".pad(300, x)",
    ".sub_string(-1, 9223372036854775807)",
    ".split(\"\")",
    ".replace(\"a\", \"bb\")",
    ".to_upper()",
    ".contains(\"a\")",
    ".index_of(\"a\")",
    ".push(x)",
    ".append(x)",
    ".insert(-9, x)",
    ".sort()",
    ".reverse()",
    ".dedup()",
    ".keys()",
    ".values()",
    ".to_string()",
    ".to_debug()",
    ".extract(1)",
    ".chop(2)",
    ".truncate(-5)",
    ".get(-1)",
    ".parse_int()",
    ".to_int()",
    ".to_float()",
    ".round()",
    ".to_chars()",
    ".crop(-9223372036854775808)",
    ".split(-1)",
    ".trim()",
    "parse_int(",
    "parse_float(",
    "to_string(",
    "type_of(",
    "abs(",
    "max(",
    "min(",
    "sqrt(",
    "floor(",
    "loop",
    "while",
    "for",
    "in",
    "do",
    "fn",
    "eval",
    "Fn",
    "print",
    "debug",
    "try",
    "catch",
    "throw",
    "import",
    "export",
    "this",
    "sleep(",
    "exit(",
    "timestamp()",
    "//",
    "/*",
    "*/",
    "\"unterminated",
    "\\",
    "\n",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..48).prop_map(|tokens| tokens.join(" "))
}

/// Integers at the edges, where overflow and bounds checks live.
const EDGE_INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "63",
    "64",
    "256",
    "257",
    "4096",
    "100000000",
    "9223372036854775807",
    "(-9223372036854775807 - 1)",
    "-9223372036854775807",
];
const VARIABLES: &[&str] = &[
    "user",
    "client",
    "scope",
    "user.id",
    "user.username",
    "user.email",
    "user.attributes",
    "user.attributes.department",
    "user.attributes.employee_number",
    "user.attributes.cost_share",
    "user.attributes.locations",
    "user.attributes.manager",
    "user.attributes.missing",
    "user.attributes.nickname",
    "client.id",
];
const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "**", "<<", ">>", "&", "|", "^", "==", "!=", "<", ">", "<=", ">=", "&&", "||", "??", "..",
    "..=", "in",
];
const METHODS: &[&str] = &[
    "len",
    "pad",
    "sub_string",
    "split",
    "split_rev",
    "replace",
    "to_upper",
    "to_lower",
    "contains",
    "index_of",
    "push",
    "append",
    "insert",
    "remove",
    "pop",
    "shift",
    "sort",
    "reverse",
    "dedup",
    "keys",
    "values",
    "to_string",
    "to_debug",
    "extract",
    "chop",
    "truncate",
    "get",
    "set",
    "parse_int",
    "to_int",
    "to_float",
    "round",
    "floor",
    "ceiling",
    "to_chars",
    "crop",
    "trim",
    "starts_with",
    "ends_with",
    "is_empty",
    "clear",
    "splice",
    "mixin",
    "fill_with",
    "max",
    "min",
    "abs",
    "sign",
    "sqrt",
    "exp",
    "ln",
    "log",
    "to_binary",
    "to_hex",
    "to_octal",
    "bytes",
    "chars",
    "is_nan",
    "int",
    "fraction",
    "index_of",
    "retain",
    "drain",
    "filter",
    "map",
    "zip",
];
const FUNCTIONS: &[&str] = &[
    "parse_int",
    "parse_float",
    "to_string",
    "to_debug",
    "type_of",
    "abs",
    "max",
    "min",
    "sqrt",
    "floor",
    "sign",
    "to_hex",
    "is_def_var",
    "pad",
    "sub_string",
    "split",
    "len",
    "e",
    "PI",
    "to_int",
    "to_float",
];

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop::sample::select(options).prop_map(str::to_owned)
}

fn leaf() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        pick(EDGE_INTS),
        pick(VARIABLES),
        any::<i64>().prop_map(|n| format!("({n})")),
        any::<f64>().prop_map(|f| if f.is_finite() { format!("({f:?})") } else { "1e999".to_owned() }),
        "[a-zé \"\\\\]{0,8}".prop_map(|s| format!("{s:?}")),
        pick(&["()", "true", "false", "'c'", "[]", "#{}", "\"\"", "1e308", "1e-308"]),
    ]
}

/// Well-formed expressions more often than not, so that evaluation, not
/// just the parser, meets the edge cases.
fn expression() -> impl Strategy<Value = String> {
    leaf().prop_recursive(6, 48, 3, |inner| {
        let args = prop::collection::vec(inner.clone(), 0..3).prop_map(|args| args.join(", "));
        prop_oneof![
            (inner.clone(), pick(BINARY), inner.clone()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (pick(&["-", "!", "+"]), inner.clone()).prop_map(|(op, a)| format!("{op}({a})")),
            (inner.clone(), pick(METHODS), args.clone()).prop_map(|(a, m, args)| format!("({a}).{m}({args})")),
            (pick(FUNCTIONS), args.clone()).prop_map(|(f, args)| format!("{f}({args})")),
            args.clone().prop_map(|items| format!("[{items}]")),
            prop::collection::vec(("[a-z]{1,3}", inner.clone()), 0..3).prop_map(|entries| {
                let entries: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("#{{{}}}", entries.join(", "))
            }),
            (inner.clone(), inner.clone()).prop_map(|(a, i)| format!("({a})[{i}]")),
            (inner.clone(), "[a-z]{1,3}").prop_map(|(a, p)| format!("({a}).{p}")),
            (inner.clone(), "[a-z]{1,3}").prop_map(|(a, p)| format!("({a})?.{p}")),
            (inner.clone(), inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, d, a, b)| format!("if ({c}) == ({d}) {{ {a} }} else {{ {b} }}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(s, a, b)| format!("switch {s} {{ 1 => {a}, \"eng\" => {b}, _ => () }}")),
            (inner.clone(), pick(&["+=", "-=", "*=", "/=", "%=", "**=", "<<=", "|=", "="]), inner.clone())
                .prop_map(|(a, op, b)| format!("{{ let x = {a}; x {op} {b}; x }}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("`{{${{{a}}}}}${{{b}}}`")),
        ]
    })
}

/// Runs `default` cases, or `PROPTEST_CASES` when set (`fuzz/run.sh` sets it).
fn fuzz_with(strategy: impl Strategy<Value = String>, default: u32) {
    let engine = ClaimEngine::new();
    let input = ClaimInput::example();
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&strategy, |source| {
        fuzz_one(&engine, &input, &source);
        Ok(())
    });
    eprintln!("fuzz-cases claims {cases}");
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

#[test]
fn fuzz_target_survives_generated_expressions() {
    fuzz_with(expression(), 2_000);
}

#[test]
fn fuzz_target_survives_token_soup() {
    fuzz_with(token_soup(), 1_000);
}

#[test]
fn fuzz_target_survives_arbitrary_strings() {
    fuzz_with(any::<String>(), 500);
    fuzz_with("[ -~]{0,300}", 500);
}

#[test]
fn fuzz_target_survives_growth_and_nesting() {
    // Repeat one growing or nesting step up to the length limit and past it.
    let steps = prop::sample::select(
        &[
            "x += x; ",
            "x = [x]; ",
            "x = #{a: x, b: x}; ",
            "x.pad(9999, x); ",
            "x = x + x + x + x; ",
            "x = `${x}${x}`; ",
            "x = x.split(\"\"); ",
            "(",
            "[",
            "!",
            "- ",
            "else if x { 1 } ",
        ][..],
    );
    let seeds = prop::sample::select(&["\"ab\"", "[1, 2]", "#{k: 1}", "1", "1.5", "'c'", "()"][..]);
    // Up to just past the length limit, so most cases are parsed and run.
    let grown = (seeds, steps)
        .prop_flat_map(|(seed, step)| (Just(seed), Just(step), 0..=MAX_EXPRESSION_CHARS / step.len() + 2))
        .prop_map(|(seed, step, n)| format!("let x = {seed}; {} x", step.repeat(n)));
    fuzz_with(grown, 500);
}

#[test]
fn fuzz_target_survives_the_hostile_cases_named_in_the_issue() {
    let engine = ClaimEngine::new();
    let input = ClaimInput::example();
    for source in [
        format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("{}1", "[".repeat(4000)),
        "1".repeat(5000),
        "99999999999999999999999999999999999999".to_owned(),
        "\"unterminated".to_owned(),
        "`unterminated ${".to_owned(),
        "/* unterminated".to_owned(),
        "1/0".to_owned(),
        "9223372036854775807 + 1".to_owned(),
        "loop {}".to_owned(),
        "while true {}".to_owned(),
        "fn f(){}".to_owned(),
        "eval(\"1\")".to_owned(),
        "\"a\" * 1000000".to_owned(),
        "\"a\".pad(100000000, \"b\")".to_owned(),
        "let s = \"a\"; s.pad(100000000, \"b\"); s".to_owned(),
        format!("let a = \"x\"; {} a", "a += a; ".repeat(400)),
        format!("let a = [1]; {} a", "a += a; ".repeat(400)),
        "\0".to_owned(),
        "\u{feff}1".to_owned(),
    ] {
        fuzz_one(&engine, &input, &source);
    }
}
