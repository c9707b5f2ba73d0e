//! Unit tests of `profile`.
#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn builtins_parse() {
    for name in builtin_profiles() {
        let p = Profile::builtin(name).unwrap();
        assert_eq!(p.name(), *name);
    }
}

#[test]
fn header_normalisation() {
    assert_eq!(normalize_header(" code | 1 | type "), "code|1|type");
    assert_eq!(normalize_header("Standard_Charge|Gross"), "standard_charge|gross");
}

#[test]
fn errors_name_the_key() {
    let bad = r#"
        name = "x"
        version = "1"
        resource = "ChargeItemDefinition"
        [[columns]]
        name = "a"
        field = "description"
        [[columns]]
        name = "d"
        field = "code"
        type = "date"
        formats = ["YYYY-QQ"]
    "#;
    let e = Profile::from_toml(bad).unwrap_err();
    assert!(e.to_string().starts_with("columns[1].formats[0]:"), "{e}");
    let wrong_field = bad.replace("\"description\"", "\"paid_amount\"");
    let e = Profile::from_toml(&wrong_field).unwrap_err();
    assert!(e.to_string().starts_with("columns[0].field:"), "{e}");
    let e = Profile::from_toml("name = 3").unwrap_err();
    assert!(matches!(e, ProfileError::Toml(_)));
}
