//! Phone numbers to E.164, the one spelling the patient index and the webhooks agree on.

/// Longest input looked at; anything longer is not a phone number.
const MAX_INPUT: usize = 64;

/// `raw` as E.164 (`+` and 8 to 15 digits), or `None` when it is not a phone number (a SIP client name,
/// "Anonymous", an e-mail address). Accepts `tel:` URIs, spaces, dots, dashes and parentheses, a `00`
/// international prefix, and national numbers, which get `default_country_code` (`"1"`: NANP numbers must then
/// have 10 digits, or 11 starting with 1; elsewhere one leading trunk `0` is dropped). Extensions (`;ext=`, `x12`)
/// are not part of the number and make it `None`: a shared switchboard number must not link a patient.
pub fn normalize_e164(raw: &str, default_country_code: &str) -> Option<String> {
    if raw.len() > MAX_INPUT || !valid_cc(default_country_code) {
        return None;
    }
    let s = raw.trim();
    let s = strip_prefix_ci(s, "tel:").unwrap_or(s);
    let (international, rest) = match s.strip_prefix('+') {
        Some(r) => (true, r),
        None => match s.strip_prefix("00") {
            Some(r) => (true, r),
            None => (false, s),
        },
    };
    let digits = digits_only(rest)?;
    let full = if international { digits } else { national(&digits, default_country_code)? };
    ((8..=15).contains(&full.len()) && !full.starts_with('0')).then(|| format!("+{full}"))
}

fn valid_cc(cc: &str) -> bool {
    (1..=3).contains(&cc.len()) && cc.bytes().all(|b| b.is_ascii_digit()) && !cc.starts_with('0')
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// The digits, with visual separators removed; `None` on anything else.
fn digits_only(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

fn national(digits: &str, cc: &str) -> Option<String> {
    if cc == "1" {
        return match digits.len() {
            10 => Some(format!("1{digits}")),
            11 if digits.starts_with('1') => Some(digits.to_owned()),
            _ => None,
        };
    }
    let national = digits.strip_prefix('0').unwrap_or(digits);
    Some(format!("{cc}{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        let n = |s| normalize_e164(s, "1");
        assert_eq!(n("+14155552671").as_deref(), Some("+14155552671"));
        assert_eq!(n("tel:+1-415-555-2671").as_deref(), Some("+14155552671"));
        assert_eq!(n("(415) 555-2671").as_deref(), Some("+14155552671"));
        assert_eq!(n("1 415 555 2671").as_deref(), Some("+14155552671"));
        assert_eq!(n("0044 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(normalize_e164("020 7946 0958", "44").as_deref(), Some("+442079460958"));
        assert_eq!(n("555-2671"), None);
        assert_eq!(n("client:alice"), None);
        assert_eq!(n("Anonymous"), None);
        assert_eq!(n("+1 415 555 2671;ext=12"), None);
        assert_eq!(n("+"), None);
        assert_eq!(n("+1234567890123456"), None);
        assert_eq!(normalize_e164("+14155552671", "x"), None);
    }

    proptest! {
        #[test]
        fn output_is_e164_and_idempotent(raw in "\\PC{0,40}", cc in "[1-9][0-9]{0,2}") {
            if let Some(e) = normalize_e164(&raw, &cc) {
                prop_assert!(e.starts_with('+') && (9..=16).contains(&e.len()));
                prop_assert!(e[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(normalize_e164(&e, &cc), Some(e.clone()));
            }
        }
    }
}
