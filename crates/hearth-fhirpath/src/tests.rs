//! Unit tests: parser errors with positions, every function and operator, bounds.

use serde_json::{Value, json};

use crate::{CompileErrorKind, EvalError, Item, compile};

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "example",
        "active": true,
        "gender": "male",
        "birthDate": "1974-12-25",
        "multipleBirthInteger": 2,
        "name": [
            { "use": "official", "family": "Chalmers", "given": ["Peter", "James"], "_given": [{ "id": "x" }, null] },
            { "use": "usual", "given": ["Jim"] }
        ],
        "telecom": [{ "system": "phone", "value": "(03) 5555 6473" }],
        "contact": [{ "relationship": [{ "coding": [{ "code": "E" }] }] }]
    })
}

fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "valueQuantity": { "value": 185, "unit": "lbs" },
        "effectiveDateTime": "2016-12-25T10:00:00Z",
        "component": [{ "valueString": "x" }, { "valueQuantity": { "value": 1.5 } }]
    })
}

fn bundle() -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "message",
        "entry": [
            { "resource": { "resourceType": "MessageHeader", "eventCoding": { "code": "A01" } } },
            { "resource": patient() },
            { "resource": observation() }
        ]
    })
}

fn eval(expr: &str, res: &Value) -> Vec<Value> {
    let e = compile(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    e.evaluate(res).unwrap_or_else(|err| panic!("{expr}: {err}")).iter().map(Item::to_json).collect()
}

fn truth(expr: &str, res: &Value) -> bool {
    compile(expr).unwrap_or_else(|err| panic!("{expr}: {err}")).evaluate_bool(res).unwrap()
}

fn assert_true(exprs: &[&str], res: &Value) {
    for e in exprs {
        assert_eq!(eval(e, res), vec![json!(true)], "{e}");
    }
}

fn compile_err(expr: &str) -> crate::CompileError {
    compile(expr).err().unwrap_or_else(|| panic!("{expr} should not compile"))
}

#[test]
fn unknown_function_names_its_position() {
    let err = compile_err("Patient.foo()");
    assert_eq!(err.kind, CompileErrorKind::UnknownFunction);
    assert_eq!(err.position, 8);
    assert_eq!(err.to_string(), "unknown function `foo` at 8 (line 1, column 9)");
    let err = compile_err("name.where(use = 'x')\n  .bar(1)");
    assert_eq!((err.position, err.line, err.column), (25, 2, 4));
}

#[test]
fn syntax_errors_have_positions() {
    for (expr, pos) in [
        ("name.", 5),
        ("name.given = ", 13),
        ("(1 | 2", 6),
        ("'open", 0),
        ("1 + /* never closed", 4),
        ("name[1", 6),
        ("a b", 2),
        ("name # x", 5),
        ("@2024-13-01", 0),
        ("'bad \\q escape'", 5),
        ("{1}", 1),
        ("%", 0),
    ] {
        let err = compile_err(expr);
        assert_eq!(err.kind, CompileErrorKind::Syntax, "{expr}: {err}");
        assert_eq!(err.position, pos, "{expr}: {err}");
    }
}

#[test]
fn other_compile_errors() {
    assert_eq!(compile_err("name.aggregate($this)").kind, CompileErrorKind::Unsupported);
    assert_eq!(compile_err("4 days").kind, CompileErrorKind::Unsupported);
    assert_eq!(compile_err("%ucum").kind, CompileErrorKind::UnknownVariable);
    assert_eq!(compile_err("name.first(1)").kind, CompileErrorKind::UnknownFunction);
    assert_eq!(compile_err("value.ofType(string1)").kind, CompileErrorKind::UnknownType);
    assert_eq!(compile_err("value is Foo.Bar").kind, CompileErrorKind::UnknownType);
    assert_eq!(compile_err("name.given.matches('(')").kind, CompileErrorKind::Regex);
    let big = format!("'x'.matches('{}')", "a".repeat(crate::MAX_REGEX_BYTES + 1));
    assert_eq!(compile_err(&big).kind, CompileErrorKind::Regex);
}

#[test]
fn hostile_expressions_are_bounded() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(compile_err(&deep).kind, CompileErrorKind::TooComplex);
    let long_chain = vec!["a"; 2000].join(".");
    assert_eq!(compile_err(&long_chain).kind, CompileErrorKind::TooComplex);
    let ors = vec!["true"; 1000].join(" or ");
    assert_eq!(compile_err(&ors).kind, CompileErrorKind::TooComplex);
    let too_long = "a".repeat(crate::MAX_EXPRESSION_BYTES + 1);
    assert_eq!(compile_err(&too_long).kind, CompileErrorKind::TooComplex);
    let negs = "-".repeat(5000) + "1";
    assert_eq!(compile_err(&negs).kind, CompileErrorKind::TooComplex);
    // within the limits: fine
    assert!(truth(&vec!["true"; 50].join(" and "), &patient()));
}

#[test]
fn no_panic_on_any_prefix_or_byte() {
    let samples = [
        "Patient.name.where(use = 'official' and given.startsWith('P')).given.first()",
        "@2024-01-01T10:00:00.123+02:00 > @T10:00 or `x y`.matches('[a-z]+') implies %resource.id != {}",
        "'\\u00e9\\'' | 1.5 | -2 | $this[0] is FHIR.string",
    ];
    for s in samples {
        for (i, _) in s.char_indices() {
            if let Ok(e) = compile(&s[..i]) {
                let _ = e.evaluate(&patient());
            }
        }
        for b in [b'(', b')', b'.', b'\'', b'@', b'[', b'`', b'%', b'$'] {
            let mut v = s.as_bytes().to_vec();
            v.insert(v.len() / 2, b);
            if let Ok(text) = String::from_utf8(v)
                && let Ok(e) = compile(&text)
            {
                let _ = e.evaluate(&bundle());
            }
        }
    }
}

#[test]
fn navigation() {
    let p = patient();
    assert_eq!(eval("Patient.name.given", &p), vec![json!("Peter"), json!("James"), json!("Jim")]);
    assert_eq!(eval("name.given", &p), eval("Patient.name.given", &p));
    assert_eq!(eval("Observation.status", &p), Vec::<Value>::new());
    assert_eq!(eval("name.family", &p), vec![json!("Chalmers")]);
    assert_eq!(eval("contact.relationship.coding.code", &p), vec![json!("E")]);
    assert_eq!(eval("`name`[1].given", &p), vec![json!("Jim")]);
    assert_eq!(eval("multipleBirth", &p), vec![json!(2)]);
    assert_eq!(eval("name.given[5]", &p), Vec::<Value>::new());
    let b = bundle();
    assert_eq!(eval("Bundle.entry.resource.ofType(Patient).gender", &b), vec![json!("male")]);
    assert_eq!(eval("entry.resource.where(resourceType = 'MessageHeader').eventCoding.code", &b), vec![json!("A01")]);
    assert_eq!(eval("entry.resource.Patient.id", &b), vec![json!("example")]);
}

#[test]
fn choice_types_and_of_type() {
    let o = observation();
    assert_eq!(eval("value.unit", &o), vec![json!("lbs")]);
    assert_eq!(eval("Observation.value.ofType(Quantity).value", &o), vec![json!(185)]);
    assert_eq!(eval("value.ofType(string)", &o), Vec::<Value>::new());
    assert_eq!(eval("component.value.ofType(string)", &o), vec![json!("x")]);
    assert_eq!(eval("component.value.ofType(FHIR.Quantity).value", &o), vec![json!(1.5)]);
    assert_true(&["value is Quantity", "value.is(FHIR.Quantity)", "(value is string).not()"], &o);
    assert_true(&["effective is dateTime", "effective > @2016-01-01T00:00:00Z"], &o);
    assert_eq!(eval("value.as(Quantity).unit", &o), vec![json!("lbs")]);
    assert_eq!(eval("(value as string).exists()", &o), vec![json!(false)]);
    assert_true(&["%resource is Observation", "%resource.is(Resource)", "1.is(Integer)", "'a'.is(System.String)"], &o);
    assert_true(&["status.is(string)", "status.is(String).not()"], &o);
}

#[test]
fn existence_and_subsetting() {
    let p = patient();
    assert_true(
        &[
            "name.exists()",
            "name.exists(use = 'usual')",
            "deceased.exists().not()",
            "photo.empty()",
            "name.given.count() = 3",
            "name.given.first() = 'Peter'",
            "name.given.last() = 'Jim'",
            "name.given.tail().count() = 2",
            "name.given.skip(1).first() = 'James'",
            "name.given.take(2).last() = 'James'",
            "name.given.take(0).empty()",
            "name.where(use = 'usual').given.single() = 'Jim'",
            "(1 | 1 | 2).count() = 2",
            "(1 | 1 | 2).distinct().count() = 2",
            "name.select(given).count() = 3",
            "name.all(given.exists())",
            "{}.all(false)",
            "gender.hasValue()",
            "name.hasValue().not()",
            "(true | true).allTrue() and (true | false).anyTrue() and (false).allFalse() and (true | false).anyFalse()",
            "name.given.union(name.family).count() = 4",
            "name.given.combine(name.given).count() = 6",
            "name.first().children().count() = 4",
        ],
        &p,
    );
    let single = compile("name.given.single()").unwrap();
    assert!(matches!(single.evaluate(&p), Err(EvalError::NotSingleton { .. })));
}

#[test]
fn equality_and_comparison() {
    let p = patient();
    assert_true(
        &[
            "1 = 1.0",
            "1 != 2",
            "'a' < 'b'",
            "2.5 > 2",
            "3 >= 3 and 3 <= 3.0",
            "'abc' = 'abc' and ('abc' = 'ABC').not()",
            "(1 | 2) = (1 | 2)",
            "((1 | 2) = (1 | 2 | 3)).not()",
            "birthDate = @1974-12-25",
            "birthDate < @2000-01-01",
            "@2024-01-01T10:00:00Z = @2024-01-01T12:00:00+02:00",
            "@2024-01-01T23:30:00-01:00 > @2024-01-02T00:00:00Z",
            "@2024-01-01T10:00:00.000Z = @2024-01-01T10:00:00Z",
            "@T10:00 < @T10:30",
            "@2024-03 > @2024-02-15",
            "true = true",
            "name.first() = name.first()",
            "(name.first() = name.last()).not()",
        ],
        &p,
    );
    // different precision with an equal common part: empty
    assert_eq!(eval("@2024-01 = @2024-01-01", &p), Vec::<Value>::new());
    assert_eq!(eval("@2024-01 < @2024-01-01", &p), Vec::<Value>::new());
    assert_eq!(eval("{} = 1", &p), Vec::<Value>::new());
    assert_eq!(eval("'1' = 1", &p), vec![json!(false)]);
    assert!(compile("1 < 'a'").unwrap().evaluate(&p).is_err());
    assert!(compile("name.given < 'x'").unwrap().evaluate(&p).is_err());
}

#[test]
fn boolean_logic_is_three_valued() {
    let p = patient();
    assert_eq!(eval("true and {}", &p), Vec::<Value>::new());
    assert_eq!(eval("false and {}", &p), vec![json!(false)]);
    assert_eq!(eval("true or {}", &p), vec![json!(true)]);
    assert_eq!(eval("false or {}", &p), Vec::<Value>::new());
    assert_eq!(eval("{}.not()", &p), Vec::<Value>::new());
    assert_true(&["true xor false", "false implies {}", "(true implies false).not()", "active.not().not()"], &p);
}

#[test]
fn membership() {
    let p = patient();
    assert_true(&["gender in ('male' | 'female')", "('a' | 'b') contains 'b'", "(3 in {}).not()"], &p);
    assert_eq!(eval("{} in (1 | 2)", &p), Vec::<Value>::new());
    assert!(compile("(1 | 2) in (1 | 2)").unwrap().evaluate(&p).is_err());
}

#[test]
fn string_functions() {
    let p = patient();
    assert_true(
        &[
            "name.family.startsWith('Chal')",
            "name.family.endsWith('mers')",
            "name.family.contains('alm')",
            "name.family.upper() = 'CHALMERS'",
            "name.family.lower() = 'chalmers'",
            "name.family.length() = 8",
            "name.family.substring(1, 3) = 'hal'",
            "name.family.substring(5) = 'ers'",
            "name.family.substring(20).empty()",
            "name.family.matches('^Ch.*s$')",
            "name.family.matches('alm')",
            "name.family.matchesFull('alm').not()",
            "name.family.matches(name.family.substring(0, 2))",
            "'it\\'s'.length() = 4",
            "'\\u00e9' = 'é'",
            "1.toString() = '1' and 1.5.toString() = '1.5' and true.toString() = 'true'",
            "telecom.where(system = 'phone').value.matches('^\\\\(0[0-9]\\\\)')",
        ],
        &p,
    );
    assert_eq!(eval("{}.startsWith('a')", &p), Vec::<Value>::new());
    assert_eq!(eval("'a'.startsWith({})", &p), Vec::<Value>::new());
    assert!(compile("name.given.upper()").unwrap().evaluate(&p).is_err());
    assert!(compile("active.upper()").unwrap().evaluate(&p).is_err());
    // a run-time pattern is bounded too
    let dyn_pat = compile("gender.matches(id)").unwrap();
    assert!(matches!(dyn_pat.evaluate(&json!({"gender": "male", "id": "("})), Err(EvalError::Regex(_))));
    let huge = json!({"gender": "male", "id": "a".repeat(crate::MAX_REGEX_BYTES + 1)});
    assert!(matches!(dyn_pat.evaluate(&huge), Err(EvalError::Regex(_))));
}

#[test]
fn variables_literals_and_iif() {
    let p = patient();
    assert_true(
        &[
            "%resource.id = 'example'",
            "%context.gender = 'male'",
            "name.where($this.use = 'usual').exists()",
            "name.given.where($this.startsWith('J')).count() = 2",
            "iif(active, 'yes', 'no') = 'yes'",
            "iif(gender = 'female', 'f').empty()",
            "{}.empty()",
            "-1 < 0 and -1.5 < -1",
            "@2024-01-01T10:00:00Z > @2023-12-31",
            "// comment\n true /* and more */",
        ],
        &p,
    );
    assert_eq!(eval("42", &p), vec![json!(42)]);
    assert_eq!(eval("@2024-01-01", &p), vec![json!("2024-01-01")]);
}

#[test]
fn evaluate_bool_semantics() {
    let b = bundle();
    assert!(truth("entry.resource.ofType(Patient).exists()", &b));
    assert!(!truth("entry.resource.ofType(Encounter).exists()", &b));
    assert!(!truth("entry.resource.ofType(Encounter).status", &b), "empty is false");
    assert!(truth("entry.resource.ofType(Patient).gender", &b), "a single non-boolean is true");
    let many = compile("entry.resource.ofType(Patient).name.given").unwrap();
    assert!(matches!(many.evaluate_bool(&b), Err(EvalError::NotSingleton { count: 3, .. })));
}

#[test]
fn numbers_work_in_every_serde_json_representation() {
    // Built from text, so the test runs the same with and without serde_json's `arbitrary_precision`
    // (`cargo test -p hearth-fhirpath --features serde_json/arbitrary_precision`).
    let v: Value = serde_json::from_str(
        r#"{"resourceType":"Observation","valueQuantity":{"value":1.50},"count":3,"big":18446744073709551615,
           "neg":-7,"exp":1e2}"#,
    )
    .unwrap();
    assert_true(
        &[
            "value.value = 1.5",
            "value.value > 1",
            "count = 3 and count = 3.0 and count is integer",
            "big > 1",
            "neg < 0 and neg = -7",
            "exp = 100",
            "value.value is decimal",
        ],
        &v,
    );
    assert_eq!(eval("count", &v), vec![json!(3)]);
}

#[test]
fn primitive_extensions_are_ignored() {
    let p = patient();
    assert_eq!(eval("name.first().given.count()", &p), vec![json!(2)]);
    assert_eq!(eval("name.first()._given", &p), Vec::<Value>::new());
}

#[test]
fn expressions_are_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<crate::Expression>();
    assert_eq!(compile("name").unwrap().source(), "name");
}

#[test]
fn arithmetic_and_equivalence() {
    let p = patient();
    assert_true(
        &[
            "1 + 2 = 3",
            "1.8 - 1.2 = 0.6",
            "2 * 2.5 = 5.0",
            "7 / 2 = 3.5",
            "7 div 2 = 3 and 7 mod 2 = 1",
            "(1 / 0).empty() and (1 div 0).empty()",
            "'a' + 'b' = 'ab' and 'a' & {} = 'a'",
            "name.family + ', ' + name.given.first() = 'Chalmers, Peter'",
            "'Hello  World' ~ 'hello world'",
            "1.2 / 1.8 ~ 0.67",
            "(1 | 2) ~ (2 | 1)",
            "{} ~ {}",
            "'a' !~ 'b'",
        ],
        &p,
    );
    assert!(compile("9223372036854775807 + 1").unwrap().evaluate(&p).is_err());
    assert!(compile("1 + 'a'").unwrap().evaluate(&p).is_err());
}

#[test]
fn conversions_math_and_collections() {
    let p = patient();
    assert_true(
        &[
            "'12'.toInteger() = 12 and '1.5'.toInteger().empty() and '1.5'.convertsToDecimal()",
            "'yes'.toBoolean() and 'x'.convertsToBoolean().not()",
            "birthDate.toDate() = @1974-12-25 and birthDate.convertsToDateTime()",
            "'abc'.indexOf('c') = 2 and 'abc'.lastIndexOf('z') = -1",
            "' a '.trim() = 'a' and 'a-b'.replace('-', '+') = 'a+b' and 'a1b2'.replaceMatches('[0-9]', '') = 'ab'",
            "'a,b'.split(',').count() = 2 and ('a' | 'b').join('/') = 'a/b' and 'ab'.toChars().count() = 2",
            "(1 | 2 | 3).exclude(2).count() = 2 and (1 | 2).intersect(2 | 3) = 2",
            "(1 | 2).subsetOf(1 | 2 | 3) and (1 | 2 | 3).supersetOf(3) and (1 | 2).isDistinct()",
            "(-2).abs() = 2 and 1.5.ceiling() = 2 and 1.5.floor() = 1 and (-1.5).truncate() = -1",
            "3.14159.round(3) = 3.142 and 16.sqrt() = 4.0 and (-1).sqrt().empty() and 2.power(10) = 1024",
            "100.log(10) = 2.0 and 0.exp() = 1 and 1.ln() = 0",
            "contact.descendants().count() = 3",
            "contact.repeat(relationship | coding).code.exists()",
            "name.trace('n').count() = 2",
        ],
        &p,
    );
    let ext = json!({"resourceType": "Patient", "extension": [{"url": "u1", "valueString": "a"}, {"url": "u2"}]});
    assert_true(&["extension('u1').value = 'a'", "extension('u3').empty()"], &ext);
    let huge = json!({"s": "a".repeat(2000), "w": "b".repeat(2000)});
    assert!(matches!(compile("s.replace('', w)").unwrap().evaluate(&huge), Err(EvalError::TooLarge(_))));
}
