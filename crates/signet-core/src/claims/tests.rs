use serde_json::json;

use super::*;

fn run(source: &str) -> Result<Option<Value>, ClaimError> {
    ClaimEngine::new().try_expression(source, &ClaimInput::example())
}

fn ok(source: &str) -> Value {
    match run(source) {
        Ok(Some(value)) => value,
        other => panic!("{source:?} gave {other:?}"),
    }
}

fn err(source: &str) -> ClaimError {
    match run(source) {
        Err(err) => err,
        other => panic!("{source:?} should fail, gave {other:?}"),
    }
}

// --- what an administrator writes -------------------------------------------

#[test]
fn expressions_compute_claims_from_the_account() {
    assert_eq!(ok(r#"user.username + "@" + client.id"#), json!("ada@billing-web"));
    assert_eq!(
        ok(r#"if user.attributes.department == "eng" { "engineering" } else { "other" }"#),
        json!("engineering")
    );
    assert_eq!(ok(r#"switch user.attributes.department { "eng" => 1, "ops" => 2, _ => 0 }"#), json!(1));
    assert_eq!(ok("user.attributes.locations"), json!(["Berlin", "Lisbon"]));
    assert_eq!(ok("user.attributes.locations[1].to_upper()"), json!("LISBON"));
    assert_eq!(ok("user.attributes.manager.username"), json!("grace"));
    assert_eq!(ok("user.attributes.employee_number * 2"), json!(9422));
    assert_eq!(ok("user.attributes.cost_share"), json!(0.5));
    assert_eq!(ok("!user.attributes.contractor"), json!(true));
    assert_eq!(ok(r#"scope.contains("profile")"#), json!(true));
    assert_eq!(ok("user.email"), json!("ada@example.com"));
    assert_eq!(ok("user.id.len()"), json!(36));
    assert_eq!(ok(r#"let d = user.attributes.department; `${d}-${user.username}`"#), json!("eng-ada"));
    assert_eq!(
        ok(r#"#{ team: user.attributes.department, tags: ["a", 1, true, ()], n: #{} }"#),
        json!({ "team": "eng", "tags": ["a", 1, true, null], "n": {} })
    );
    assert_eq!(ok(r#"[user.username, client.id].sort(); "x""#), json!("x"));
    assert_eq!(ok("'c'"), json!("c"), "a char is a one-letter string");
}

#[test]
fn a_missing_attribute_is_unit_and_leaves_the_claim_out() {
    assert_eq!(run("user.attributes.building"), Ok(None));
    assert_eq!(run("user.attributes.nickname"), Ok(None), "a JSON null attribute reads as ()");
    assert_eq!(run("()"), Ok(None));
    assert_eq!(run("// nothing but a comment"), Ok(None));
    assert_eq!(ok(r#"user.attributes.building ?? "unknown""#), json!("unknown"));
    assert_eq!(run("user.attributes.building?.floor"), Ok(None), "`?.` reads through a missing map");
    let email = ClaimInput { user: ClaimUser { email: None, ..ClaimUser::default() }, ..ClaimInput::default() };
    assert_eq!(ClaimEngine::new().try_expression("user.email", &email), Ok(None));
    // Reading a property of () is an error, and says where.
    assert_eq!(
        err("user.attributes.building.floor").to_string(),
        "evaluation failed at line 1, position 26: Unknown property 'floor' - a getter is not registered for type '()'"
    );
}

#[test]
fn unknown_variables_are_refused_when_compiling() {
    assert_eq!(
        err("usr.email").to_string(),
        "syntax error at line 1, position 1: Undefined variable: usr",
        "a typo is caught when the mapping is saved, not when a token is issued"
    );
    assert!(matches!(err(r#"user = "root""#), ClaimError::Evaluation { .. }), "the input is constant");
    assert!(matches!(err(r#"user.username = "root"; 1"#), ClaimError::Evaluation { .. }));
}

#[test]
fn results_become_json_or_a_clear_error() {
    assert_eq!(
        err("1..10").to_string(),
        format!("the result is a range, which cannot be a claim value: use a string, number, boolean, array or map")
    );
    assert_eq!(err("1e999"), ClaimError::NotFinite);
    assert_eq!(err("1.0 / 0.0"), ClaimError::NotFinite);
    assert_eq!(ok("99999999999999999999"), json!(1e20), "past i64, a literal is a float");
}

#[test]
fn arithmetic_errors_are_errors_with_a_position() {
    assert_eq!(err("1/0").to_string(), "evaluation failed at line 1, position 2: Division by zero: 1 / 0");
    assert!(err("9223372036854775807 + 1").to_string().contains("Addition overflow"), "i64::MAX + 1");
    assert!(err("-9223372036854775807 - 2").to_string().contains("Subtraction overflow"));
    assert!(err("abs(-9223372036854775807 - 1)").to_string().contains("overflow"));
    assert!(err("2 ** 64").to_string().contains("overflow"));
    assert!(err("(-9223372036854775807 - 1) / -1").to_string().contains("overflow"));
    assert!(err("(-9223372036854775807 - 1) % -1").to_string().contains("overflow"));
    assert!(err("to_int(1e300)").to_string().contains("overflow"));
    assert!(err(r#"parse_int("999999999999999999999")"#).to_string().contains("too large"));
    let at_line_two = err("let a = 1;\nlet b = a / 0;\nb");
    assert!(at_line_two.to_string().starts_with("evaluation failed at line 2, position 11:"), "{at_line_two}");
}

// --- what the sandbox refuses -----------------------------------------------

#[test]
fn loops_functions_eval_and_side_effects_are_refused_by_the_parser() {
    for source in [
        "loop {}",
        "while true {}",
        "for x in [1] {}",
        "do {} while true",
        "do {} until false",
        "fn f() {} f()",
        "|x| x",
        r#"eval("1")"#,
        r#"Fn("abs")"#,
        r#"call(1)"#,
        r#"print("x")"#,
        r#"debug("x")"#,
        "try { 1 } catch { 2 }",
        r#"throw "x""#,
        r#"import "x" as y; 1"#,
        "export const x = 1;",
        "this",
    ] {
        assert!(matches!(err(source), ClaimError::Syntax { .. }), "{source:?} should not compile: {:?}", run(source));
    }
    assert_eq!(err("loop {}").to_string(), "syntax error at line 1, position 1: 'loop' is a reserved keyword");
    assert_eq!(
        err(r#"eval("1")"#).to_string(),
        "syntax error at line 1, position 1: reserved keyword 'eval' is disabled"
    );
}

#[test]
fn only_computing_functions_exist() {
    for source in ["sleep(10)", "exit()", "timestamp()", r#"parse_json("{}")"#, "range(0, 10)", "blob(10)"] {
        let message = err(source).to_string();
        assert!(message.contains("Function not found"), "{source:?}: {message}");
    }
    assert!(err(r#""a" * 1000000"#).to_string().contains("Function not found"), "no string repetition operator");
}

#[test]
fn the_length_limit_is_checked_before_parsing() {
    let longest = format!("1 //{}", "é".repeat(MAX_EXPRESSION_CHARS - 4));
    assert_eq!(longest.chars().count(), MAX_EXPRESSION_CHARS);
    assert_eq!(ok(&longest), json!(1), "the limit counts characters, not bytes");
    let too_long = format!("{longest}x");
    assert_eq!(err(&too_long), ClaimError::ExpressionTooLong);
    assert_eq!(err(&too_long).to_string(), "the expression is longer than 4096 characters");
    assert_eq!(err(&"1".repeat(1_000_000)), ClaimError::ExpressionTooLong);
    assert_eq!(err(""), ClaimError::EmptyExpression);
    assert_eq!(err(" \n\t"), ClaimError::EmptyExpression);
}

#[test]
fn bracket_depth_is_checked_before_parsing() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
        let deepest = format!("{}1{}", open.repeat(MAX_BRACKET_DEPTH), close.repeat(MAX_BRACKET_DEPTH));
        let deeper = format!("{}1{}", open.repeat(MAX_BRACKET_DEPTH + 1), close.repeat(MAX_BRACKET_DEPTH + 1));
        assert!(!matches!(run(&deepest), Err(ClaimError::NestedTooDeep)), "{deepest}");
        assert_eq!(err(&deeper), ClaimError::NestedTooDeep, "{deeper}");
    }
    assert_eq!(ok(&format!("{}1{}", "(".repeat(MAX_BRACKET_DEPTH), ")".repeat(MAX_BRACKET_DEPTH))), json!(1));
    // Unbalanced and huge: refused at the 33rd bracket, without parsing.
    assert_eq!(err(&"(".repeat(4000)), ClaimError::NestedTooDeep);
    assert_eq!(err(&"[".repeat(4000)), ClaimError::NestedTooDeep);
    assert_eq!(err(&"#{a:".repeat(1000)), ClaimError::NestedTooDeep);
    assert_eq!(
        err(&format!("\"{}\"", "(".repeat(40))),
        ClaimError::NestedTooDeep,
        "brackets in a literal count too: the check errs on the safe side"
    );
    assert_eq!(err(&"(".repeat(40)).to_string(), "the expression nests brackets deeper than 32 levels");
}

#[test]
fn long_chains_without_brackets_stop_at_the_parsers_depth_limit() {
    for source in [
        format!("{}true", "!".repeat(4000)),
        format!("{}1", "- ".repeat(2000)),
        format!("1{}", "+1".repeat(2000)),
        format!("\"a\"{}", "+\"a\"".repeat(900)),
        format!("user{}", ".attributes".repeat(350)),
        format!("user.attributes.locations{}", "[0]".repeat(1000)),
        format!("if false {{ 0 }} {} else {{ 1 }}", "else if false { 0 } ".repeat(190)),
        format!("1{}", " ?? 1".repeat(800)),
    ] {
        assert!(source.chars().count() <= MAX_EXPRESSION_CHARS, "{}", source.len());
        let got = run(&source);
        assert!(matches!(got, Err(ClaimError::TooComplex { .. })), "{}...: {got:?}", &source[..40]);
    }
    assert!(
        err(&format!("{}true", "!".repeat(4000)))
            .to_string()
            .starts_with("the expression is nested or chained too deeply")
    );
}

/// The deepest expressions the parser accepts, parsed and run on a thread
/// with a quarter of the stack a Tokio worker gets: the depth limits leave
/// room to spare.
#[test]
fn the_deepest_accepted_expressions_fit_in_a_small_stack() {
    let patterns: [fn(usize) -> String; 8] = [
        |n| format!("{}true", "!".repeat(n)),
        |n| format!("{}1", "-".repeat(n).replace("--", "- -")),
        |n| format!("1{}", "+1".repeat(n)),
        |n| format!("user{}", ".attributes".repeat(n)),
        |n| format!("if false {{ 0 }} {} else {{ 1 }}", "else if false { 0 } ".repeat(n)),
        |n| format!("{}1{}", "(-".repeat(n.min(MAX_BRACKET_DEPTH)), ")".repeat(n.min(MAX_BRACKET_DEPTH))),
        |n| format!("{}1{}", "[#{a: ".repeat(n.min(16)), "}]".repeat(n.min(16))),
        |n| format!("{} 1 {}", "if true { -(".repeat(n.min(16)), ")}".repeat(n.min(16))),
    ];
    let small = std::thread::Builder::new().stack_size(512 * 1024);
    let handle = small.spawn(move || {
        let engine = ClaimEngine::new();
        let input = ClaimInput::example();
        let mut deepest = Vec::new();
        for pattern in patterns {
            let accepted = (1..=300)
                .filter(|n| !matches!(engine.try_expression(&pattern(*n), &input), Err(ClaimError::TooComplex { .. })));
            deepest.push(accepted.max().unwrap_or(0));
        }
        deepest
    });
    let deepest = handle.unwrap().join().expect("parsing and running overflowed a 512 KiB stack");
    assert!(deepest.iter().all(|n| *n > 0), "{deepest:?}");
}

#[test]
fn the_operations_limit_stops_long_running_expressions() {
    let heavy = format!("let a = 0; {} a", "a = a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a;".repeat(90));
    assert!(heavy.chars().count() <= MAX_EXPRESSION_CHARS);
    assert_eq!(err(&heavy), ClaimError::TooManyOperations);
    assert_eq!(err(&heavy).to_string(), "the expression ran more than 2000 operations");
    let lighter = format!("let a = 0; {} a", "a = a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a+a;".repeat(20));
    assert_eq!(ok(&lighter), json!(0));
}

#[test]
fn strings_cannot_grow_past_their_limit() {
    for source in [
        &format!(r#"let s = "xxxxxxxx"; {} s"#, "s += s; ".repeat(10)),
        &format!(r#"let s = "xxxxxxxx"; {} s.len()"#, "s += s; ".repeat(11)),
        r#"let s = "a"; s.pad(100000000, "b"); s"#,
        r#""a".pad(9223372036854775807, "b")"#,
        r#"let s = "ab"; s.pad(4097, "c"); s"#,
        r#"let s = "ab"; s.pad(4096, "c"); s + "d""#,
        r#"let s = "ab"; s.pad(4000, "c"); s.replace("c", s)"#,
        r#"let s = "ab"; s.pad(2000, "c"); [s, s, s]"#,
        r#"let s = "ab"; s.pad(2000, "c"); #{a: s, b: s, c: s}"#,
        r#"let s = "ab"; s.pad(2000, "c"); `${s}${s}${s}`"#,
    ] {
        let got = run(source);
        assert!(matches!(&got, Err(ClaimError::TooLarge { what: "a string", .. })), "{source}: {got:?}");
    }
    assert_eq!(
        err(r#""a".pad(100000000, "b")"#).to_string(),
        "a string grew past its limit at line 1, position 5 \
         (strings 4096 bytes, arrays 256 and maps 256 entries, nested ones included)"
    );
    // `pad` counts characters; the limit counts bytes.
    assert_eq!(ok(r#"let s = ""; s.pad(2048, "é"); s.len()"#), json!(2048));
    assert!(matches!(err(r#"let s = ""; s.pad(2049, "é"); s"#), ClaimError::TooLarge { what: "a string", .. }));
}

#[test]
fn arrays_and_maps_cannot_grow_past_their_limits() {
    for (source, what) in [
        ("let a = []; a.pad(100000, 1); a", "an array"),
        ("let a = []; a.pad(257, 1); a", "an array"),
        (&format!("let a = [1]; {} a", "a += a; ".repeat(9)), "an array"),
        (&format!("let a = []; {} a", "a = [a]; ".repeat(300)), "an array"),
        (r#"let s = "ab"; s.pad(300, "c"); s.split("")"#, "an array"),
        (&format!("let m = #{{}}; {} m", "m = #{a: m, b: m}; ".repeat(8)), "a map"),
        (&format!("let m = #{{}}; {} m", (0..257).map(|i| format!("m.k{i} = 1;")).collect::<String>()), "a map"),
    ] {
        assert!(source.chars().count() <= MAX_EXPRESSION_CHARS, "{}", source.len());
        let got = run(source);
        assert!(matches!(&got, Err(ClaimError::TooLarge { what: w, .. }) if *w == what), "{}: {got:?}", &source[..40]);
    }
    assert_eq!(ok("let a = []; a.pad(256, 1); a.len()"), json!(256));
}

#[test]
fn variables_are_limited() {
    let many = |n: usize| format!("{} 1", (0..n).map(|i| format!("let v{i} = {i};")).collect::<String>());
    // `user`, `client` and `scope` count too.
    assert_eq!(ok(&many(MAX_VARIABLES - 3)), json!(1));
    let got = err(&many(MAX_VARIABLES - 2));
    assert!(got.to_string().contains("Too many variables"), "{got}");
}

#[test]
fn results_are_bounded_in_size_and_depth() {
    assert_eq!(
        ok(&format!("{}1{}", "[".repeat(MAX_VALUE_DEPTH), "]".repeat(MAX_VALUE_DEPTH)))[0][0],
        json!([[[[[[[[[[[[[[1]]]]]]]]]]]]]])
    );
    assert_eq!(
        err(&format!("{}1{}", "[".repeat(MAX_VALUE_DEPTH + 1), "]".repeat(MAX_VALUE_DEPTH + 1))),
        ClaimError::ResultTooDeep
    );
    // Map keys are not counted by Rhai's string limit, so the JSON size check
    // is what stops this one.
    let wide_keys = r#"let s = "k"; s.pad(4000, "k"); let m = #{}; m[s + "1"] = 1; m[s + "2"] = 2; m[s + "3"] = 3; m"#;
    assert_eq!(err(wide_keys), ClaimError::ResultTooLarge);
    assert_eq!(err(wide_keys).to_string(), "the result is larger than 8192 bytes as JSON");
}

#[test]
fn attributes_nested_too_deeply_are_refused() {
    let mut deep = json!(1);
    for _ in 0..=MAX_VALUE_DEPTH {
        deep = json!([deep]);
    }
    let mut input = ClaimInput::example();
    input.user.attributes.insert("deep".into(), deep);
    assert_eq!(ClaimEngine::new().try_expression("1", &input), Err(ClaimError::InputTooDeep));
    let mut fine = ClaimInput::example();
    fine.user.attributes.insert("big".into(), json!(u64::MAX));
    assert_eq!(ClaimEngine::new().try_expression("user.attributes.big", &fine), Ok(Some(json!(u64::MAX as f64))));
}

// --- mappings and the token ---------------------------------------------------

#[test]
fn mappings_compute_every_claim_and_leave_out_unit() {
    let engine = ClaimEngine::new();
    let mappings: Vec<CompiledMapping> = [
        ("department", "user.attributes.department"),
        ("building", "user.attributes.building"),
        ("mail_domain", r#"user.email.split("@")[1]"#),
        ("x-tenant", "#{ id: client.id, n: scope.len() }"),
    ]
    .into_iter()
    .map(|(claim, expression)| {
        engine.compile_mapping(&ClaimMapping { claim: claim.into(), expression: expression.into() }).unwrap()
    })
    .collect();
    let claims = engine.claims(&mappings, &ClaimInput::example()).unwrap();
    assert_eq!(
        Value::Object(claims),
        json!({ "department": "eng", "mail_domain": "example.com", "x-tenant": { "id": "billing-web", "n": 2 } })
    );
    // The same compiled mappings, another account.
    let mut other = ClaimInput::example();
    other.user.attributes.insert("department".into(), json!("ops"));
    assert_eq!(engine.claims(&mappings, &other).unwrap()["department"], json!("ops"));
}

#[test]
fn a_mapping_error_names_its_claim() {
    let engine = ClaimEngine::new();
    let refused = engine.compile_mapping(&ClaimMapping { claim: "roles".into(), expression: "1".into() });
    assert_eq!(refused.unwrap_err().to_string(), "claim `roles`: `roles` names roles; an expression cannot grant them");
    let refused = engine.compile_mapping(&ClaimMapping { claim: "team".into(), expression: "1 +".into() });
    assert!(refused.unwrap_err().to_string().starts_with("claim `team`: syntax error at line 1"));
    let failing = engine.compile_mapping(&ClaimMapping { claim: "ratio".into(), expression: "1 / 0".into() }).unwrap();
    assert_eq!(failing.claim(), "ratio");
    let got = engine.claims(&[failing], &ClaimInput::example()).unwrap_err();
    assert_eq!(got.to_string(), "claim `ratio`: evaluation failed at line 1, position 3: Division by zero: 1 / 0");
}

#[test]
fn mappings_do_not_leak_variables_into_each_other() {
    let engine = ClaimEngine::new();
    let first = engine.compile_mapping(&ClaimMapping { claim: "a".into(), expression: "let x = 1; x".into() }).unwrap();
    let second = engine.compile_mapping(&ClaimMapping { claim: "b".into(), expression: "is_def_var(\"x\")".into() });
    let claims = engine.claims(&[first, second.unwrap()], &ClaimInput::example()).unwrap();
    assert_eq!(Value::Object(claims), json!({ "a": 1, "b": false }));
}

#[test]
fn claim_mappings_reject_unknown_fields() {
    let parsed: Result<ClaimMapping, _> = serde_json::from_value(json!({ "claim": "a", "expression": "1", "x": 1 }));
    assert!(parsed.is_err());
}

#[test]
fn the_engine_and_compiled_expressions_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<ClaimEngine>();
    shareable::<Expression>();
    shareable::<CompiledMapping>();
    let engine = std::sync::Arc::new(ClaimEngine::new());
    let expression = std::sync::Arc::new(engine.compile("user.username.len()").unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (engine, expression) = (engine.clone(), expression.clone());
            std::thread::spawn(move || engine.evaluate(&expression, &ClaimInput::example()))
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), Ok(Some(json!(3))));
    }
}
