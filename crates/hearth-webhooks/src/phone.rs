//! Phone numbers to E.164, the one spelling the patient index and the webhooks agree on. The numbering plans
//! (national prefixes, lengths, Italy's leading 0 that stays) come from the `phonenumber` crate, which carries
//! libphonenumber's metadata.

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, country};

/// Longest input looked at; anything longer is not a phone number.
const MAX_INPUT: usize = 64;

/// `raw` as E.164 (`+` and 8 to 15 digits), or `None` when it is not a phone number (a SIP client name,
/// "Anonymous", an e-mail address). Accepts `tel:` URIs, spaces, dots, dashes and parentheses, a `00`
/// international prefix, and national numbers, read in the numbering plan of `default_country_code` (`"1"`:
/// NANP, `"44"`: the United Kingdom...). A number must have a length its country's plan allows; synthetic
/// ranges such as NANP's 555 are accepted. Extensions (`;ext=`, `x12`) are not part of the number and make it
/// `None`: a shared switchboard number must not link a patient.
pub fn normalize_e164(raw: &str, default_country_code: &str) -> Option<String> {
    if raw.len() > MAX_INPUT {
        return None;
    }
    let region = region(default_country_code)?;
    let s = raw.trim();
    let s = strip_prefix_ci(s, "tel:").unwrap_or(s);
    let text = match s.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => s.to_owned(),
    };
    if !text.chars().enumerate().all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+') || is_separator(c)) {
        return None;
    }
    let number = phonenumber::parse(Some(region), &text).ok()?;
    if number.extension().is_some() || !(number.is_valid() || possible_length(&number)) {
        return None;
    }
    let e164 = number.format().mode(Mode::E164).to_string();
    let digits = e164.strip_prefix('+')?;
    ((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'))
        .then_some(e164)
}

/// The main region of a calling code (`"1"` → US, `"39"` → IT), whose plan reads national numbers.
fn region(calling_code: &str) -> Option<country::Id> {
    if !(1..=3).contains(&calling_code.len()) || calling_code.starts_with('0') {
        return None;
    }
    let code: u16 = calling_code.parse().ok()?;
    DATABASE.region(&code)?.first()?.parse().ok()
}

/// The national number has a length the plan of its calling code allows (any number type), whether or not its
/// digits are in service: test feeds use NANP's fictional 555 numbers.
fn possible_length(number: &PhoneNumber) -> bool {
    let len = u16::try_from(number.national().to_string().len()).unwrap_or(u16::MAX);
    // The main region of the code (US for 1): a valid number of any region passed `is_valid` already.
    let Some(main) = DATABASE.by_code(&number.code().value()).and_then(|metas| metas.first().copied()) else {
        return false;
    };
    let d = main.descriptors();
    // The metadata lists lengths per number type (the general descriptor's list is empty).
    [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.uan(),
    ]
    .into_iter()
    .flatten()
    .any(|t| t.possible_length().contains(&len))
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}')
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
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

    #[test]
    fn national_prefixes_follow_each_plan() {
        // Italy keeps the leading 0 of a fixed line; Germany and the UK drop their trunk 0.
        assert_eq!(normalize_e164("06 6982 1234", "39").as_deref(), Some("+390669821234"));
        assert_eq!(normalize_e164("+39 06 6982 1234", "1").as_deref(), Some("+390669821234"));
        assert_eq!(normalize_e164("333 123 4567", "39").as_deref(), Some("+393331234567"));
        assert_eq!(normalize_e164("030 123456", "49").as_deref(), Some("+4930123456"));
        // Synthetic NANP numbers (area code 555) are what test feeds use.
        assert_eq!(normalize_e164("(555) 555-0199", "1").as_deref(), Some("+15555550199"));
        assert_eq!(normalize_e164("415 555 2671 x12", "1"), None);
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
