//! The IG's datatype maps for people and places to reach them: XPN → HumanName, XAD → Address,
//! XTN → ContactPoint.

#[allow(clippy::wildcard_imports)]
use super::*;

const NAME_USES: &[&str] = &["usual", "official", "temp", "nickname", "anonymous", "old", "maiden"];
const ADDRESS_USES: &[&str] = &["home", "work", "temp", "old", "billing"];
const TELECOM_USES: &[&str] = &["home", "work", "temp", "old", "mobile"];

/// Name use (table 0200) → HumanName.use; a closed map so only valid codes come out.
fn name_use(code: &str) -> Option<&'static str> {
    Some(match code {
        "L" | "D" => "official",
        "A" | "S" | "K" | "I" => "usual",
        "N" => "nickname",
        "M" | "B" | "BAD" => "maiden",
        "C" => "old",
        "T" | "P" | "R" | "U" => "temp",
        "NAV" => "anonymous",
        _ => return None,
    })
}

/// XPN → HumanName (IG `XPN[HumanName]`): family XPN-1.1, given XPN-2 and XPN-3, prefix XPN-5, suffix XPN-4 and
/// XPN-6, use XPN-7 (table 0200), period XPN-10 or XPN-12/13.
pub fn human_name(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Value> {
    name_parts(ctx, rep, at, NameLayout::XPN)
}

/// Where the name components sit: XPN from 1, XCN (a person with an id first) from 2.
#[derive(Clone, Copy)]
pub(super) struct NameLayout {
    family: usize,
    given: usize,
    middle: usize,
    suffix: usize,
    prefix: usize,
    degree: usize,
    use_: usize,
}

impl NameLayout {
    pub(super) const XPN: Self = Self { family: 1, given: 2, middle: 3, suffix: 4, prefix: 5, degree: 6, use_: 7 };
    pub(super) const XCN: Self = Self { family: 2, given: 3, middle: 4, suffix: 5, prefix: 6, degree: 7, use_: 10 };
}

pub(super) fn name_parts(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>, l: NameLayout) -> Option<Value> {
    let mut o = Obj::new();
    if let Some(u) = comp(rep, l.use_)
        && let Some(u) = closed_code(ctx, "NameType", &u, NAME_USES, name_use)
    {
        o.insert("use".into(), Value::from(u));
    }
    put(&mut o, "family", comp(rep, l.family).map(|f| Value::from(f.as_ref())));
    let given: Vec<Value> =
        [l.given, l.middle].iter().filter_map(|&n| comp(rep, n)).map(|g| Value::from(g.as_ref())).collect();
    if !given.is_empty() {
        o.insert("given".into(), Value::Array(given));
    }
    put(&mut o, "prefix", comp(rep, l.prefix).map(|p| json!([p.as_ref()])));
    let suffix: Vec<Value> =
        [l.suffix, l.degree].iter().filter_map(|&n| comp(rep, n)).map(|g| Value::from(g.as_ref())).collect();
    if !suffix.is_empty() {
        o.insert("suffix".into(), Value::Array(suffix));
    }
    if !o.contains_key("family") && !o.contains_key("given") {
        return None;
    }
    if l.use_ == 7 {
        let p = match rep.component(10).map(|c| c.raw()).filter(|r| !r.is_empty()) {
            Some(_) => period(ctx, sub(rep, 10, 1), sub(rep, 10, 2), at),
            None => period(ctx, comp(rep, 12), comp(rep, 13), at),
        };
        put(&mut o, "period", p);
    }
    Some(Value::Object(o))
}

/// Address type (table 0190) → Address.use / Address.type, closed maps.
fn address_use_type(code: &str) -> (Option<&'static str>, Option<&'static str>) {
    match code {
        "H" | "HP" | "P" => (Some("home"), None),
        "B" | "O" => (Some("work"), None),
        "C" | "TMP" => (Some("temp"), None),
        "BA" => (Some("old"), None),
        "M" => (None, Some("postal")),
        "SH" => (None, Some("physical")),
        "V" => (Some("temp"), Some("physical")),
        "BI" | "BR" | "RH" | "BDL" | "F" | "L" | "N" | "PL" | "BLK" => (None, None),
        _ => (None, None),
    }
}

/// XAD → Address (IG `XAD[Address]`): line XAD-1.1 and XAD-2, city XAD-3, state XAD-4, postalCode XAD-5,
/// country XAD-6, use/type XAD-7, district XAD-9, period XAD-12 / XAD-13..14.
pub fn address(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Value> {
    let mut o = Obj::new();
    let lines: Vec<Value> =
        [comp(rep, 1), comp(rep, 2), comp(rep, 19)].into_iter().flatten().map(|l| Value::from(l.as_ref())).collect();
    if !lines.is_empty() {
        o.insert("line".into(), Value::Array(lines));
    }
    put(&mut o, "city", comp(rep, 3).map(|v| Value::from(v.as_ref())));
    put(&mut o, "state", comp(rep, 4).map(|v| Value::from(v.as_ref())));
    put(&mut o, "postalCode", comp(rep, 5).map(|v| Value::from(v.as_ref())));
    put(&mut o, "country", comp(rep, 6).map(|v| Value::from(v.as_ref())));
    put(&mut o, "district", comp(rep, 9).map(|v| Value::from(v.as_ref())));
    if o.is_empty() {
        return None;
    }
    if let Some(t) = comp(rep, 7) {
        let (_, ty) = address_use_type(&t);
        let u = closed_code(ctx, "AddressType[Use]", &t, ADDRESS_USES, |c| address_use_type(c).0);
        put(&mut o, "use", u.map(Value::from));
        put(&mut o, "type", ty.map(Value::from));
    }
    let p = match rep.component(12).map(|c| c.raw()).filter(|r| !r.is_empty()) {
        Some(_) => period(ctx, sub(rep, 12, 1), sub(rep, 12, 2), at),
        None => period(ctx, comp(rep, 13), comp(rep, 14), at),
    };
    put(&mut o, "period", p);
    Some(Value::Object(o))
}

/// Telecom use (table 0201) → ContactPoint.use, for codes the IG's map does not list.
fn telecom_use(code: &str) -> Option<&'static str> {
    match code {
        "PRN" | "ORN" | "VHN" => Some("home"),
        "WPN" => Some("work"),
        "PRS" => Some("mobile"),
        _ => None,
    }
}

/// Equipment type (table 0202) → ContactPoint.system, for codes the IG's map does not list.
fn telecom_system(code: &str) -> Option<&'static str> {
    Some(match code {
        "PH" | "CP" => "phone",
        "FX" => "fax",
        "Internet" | "X.400" => "email",
        "BP" => "pager",
        "MD" | "SAT" | "TDD" | "TTY" => "other",
        _ => return None,
    })
}

const CONTACT_SYSTEMS: &[&str] = &["phone", "fax", "email", "pager", "url", "sms", "other"];

/// The IG's ContactPoint extensions for the parts of a telephone number (XTN-5..8).
const XTN_PARTS: [(usize, &str); 4] = [
    (5, "http://hl7.org/fhir/StructureDefinition/contactpoint-country"),
    (6, "http://hl7.org/fhir/StructureDefinition/contactpoint-area"),
    (7, "http://hl7.org/fhir/StructureDefinition/contactpoint-local"),
    (8, "http://hl7.org/fhir/StructureDefinition/contactpoint-extension"),
];

/// A telephone number from its parts (IG `XTN[ContactPoint]`): `+country area local X extension`, spaces
/// between; `None` without a local number.
fn composed_number(rep: &Repetition<'_>) -> Option<String> {
    let local = comp(rep, 7)?;
    let mut parts: Vec<String> = Vec::with_capacity(4);
    if let Some(c) = comp(rep, 5) {
        parts.push(format!("+{}", c.trim_start_matches('+')));
    }
    parts.extend(comp(rep, 6).map(|a| a.into_owned()));
    parts.push(local.into_owned());
    if let Some(x) = comp(rep, 8) {
        parts.push(format!("X{x}"));
    }
    Some(parts.join(" "))
}

/// XTN → ContactPoint (IG `XTN[ContactPoint]`). Value: XTN-4 for an e-mail (XTN-3 `Internet`/`X.400`, or no
/// XTN-3 and an XTN-4); else XTN-12 (unformatted number) when valued, else the number built from XTN-5..8, else
/// XTN-1; the parts XTN-5..8 also go into the IG's contactpoint-country/-area/-local/-extension extensions.
/// System from XTN-3 (`TelecommunicationEquipmentType`; `CP` is a phone whose use is `mobile`); without XTN-3
/// a number is a `phone` (XTN-1 and XTN-5..12 are telephone numbers by definition; FHIR requires a system
/// beside a value). Use from XTN-2 (`TelecommunicationUseCode`; `default_use` when absent, e.g. `work` for
/// PID-14); period XTN-13/14; rank XTN-18.
pub fn contact_point(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>, default_use: Option<&str>) -> Option<Value> {
    let equipment = comp(rep, 3);
    let email_equipment = matches!(equipment.as_deref(), Some("Internet" | "X.400"));
    let email = comp(rep, 4).filter(|_| email_equipment || equipment.is_none());
    let mut o = Obj::new();
    let value = match &email {
        Some(e) => e.to_string(),
        None if email_equipment => return None,
        None => {
            let number = comp(rep, 12).map(|u| u.into_owned()).or_else(|| composed_number(rep));
            number.or_else(|| comp(rep, 1).map(|v| v.into_owned()))?
        }
    };
    let system = match equipment.as_deref() {
        None if email.is_some() => Some("email"),
        None => Some("phone"),
        Some(e) => closed_code(ctx, "TelecommunicationEquipmentType", e, CONTACT_SYSTEMS, telecom_system)
            .or_else(|| (e == "CP").then_some("phone")),
    };
    match system {
        Some(s) => {
            o.insert("system".into(), Value::from(s));
        }
        None => {
            ctx.warn(at, WarningKind::UnknownCode, "equipment type not in table 0202: system other");
            o.insert("system".into(), Value::from("other"));
        }
    }
    o.insert("value".into(), Value::from(value.trim()));
    if email.is_none() {
        let parts: Vec<Value> = XTN_PARTS
            .iter()
            .filter_map(|&(n, url)| comp(rep, n).map(|v| json!({ "url": url, "valueString": v.as_ref() })))
            .collect();
        if !parts.is_empty() {
            o.insert("extension".into(), Value::Array(parts));
        }
    }
    let use_ = comp(rep, 2)
        .as_deref()
        .and_then(|c| closed_code(ctx, "TelecommunicationUseCode", c, TELECOM_USES, telecom_use))
        .or(default_use.and_then(|d| match d {
            "home" => Some("home"),
            "work" => Some("work"),
            _ => None,
        }));
    let mobile = equipment.as_deref() == Some("CP");
    put(&mut o, "use", if mobile { Some(Value::from("mobile")) } else { use_.map(Value::from) });
    put(&mut o, "period", period(ctx, comp(rep, 13), comp(rep, 14), at));
    if let Some(r) = comp(rep, 18).and_then(|r| r.parse::<u32>().ok()).filter(|r| *r > 0) {
        o.insert("rank".into(), Value::from(r));
    }
    Some(Value::Object(o))
}
