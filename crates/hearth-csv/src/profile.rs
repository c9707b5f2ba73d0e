//! Profiles: the declarative column maps in `mappings/csv/<name>.toml`, parsed and validated into a type that
//! cannot be invalid (every column has a known target field, a type that fits it, date formats that parse).
//!
//! Longer than the usual 500 lines on purpose: a profile's TOML schema (the serde types) and the validation
//! that checks it are read side by side, key by key.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::value::DateFormat;

/// Names of the profiles compiled into the crate (`mappings/csv/<name>.toml`).
pub fn builtin_profiles() -> &'static [&'static str] {
    &["charges", "claims", "price-transparency"]
}

fn builtin_text(name: &str) -> Option<&'static str> {
    match name {
        "charges" => Some(include_str!("../../../mappings/csv/charges.toml")),
        "claims" => Some(include_str!("../../../mappings/csv/claims.toml")),
        "price-transparency" => Some(include_str!("../../../mappings/csv/price-transparency.toml")),
        _ => None,
    }
}

/// Why a profile is unusable; `key` is the TOML key path at fault (`columns[3].formats[0]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("profile is not valid TOML: {0}")]
    Toml(String),
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error("no built-in profile named {0:?} (built-in: charges, claims, price-transparency)")]
    UnknownBuiltin(String),
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ProfileError {
    ProfileError::Invalid { key: key.into(), reason: reason.into() }
}

/// The FHIR resource a profile produces; decides which target fields its columns may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ResourceKind {
    ChargeItem,
    Claim,
    ChargeItemDefinition,
}

/// What happens to header columns the profile does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExtraColumns {
    /// Extra columns are listed in the header report and otherwise ignored.
    #[default]
    Ignore,
    /// Extra columns are header drift: the file is refused before any row.
    Reject,
}

/// How far one bad row reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AllOrNothing {
    /// Good rows go through; bad rows are reported one by one.
    #[default]
    Off,
    /// A bad row rejects every row of its group (no partial Claim).
    Group,
    /// A bad row rejects the whole input given to one `convert` call (file or chunk); outputs are held back until
    /// the end of the input, so memory grows with it.
    File,
}

/// The type of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    String,
    Identifier,
    Code,
    Date,
    Decimal,
    Money,
    Integer,
}

/// The FHIR element a column feeds. Each resource kind understands a fixed set (see docs/csv.md); `ignore`
/// declares a known column that maps to nothing (so it is not "extra").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Ignore,
    // ChargeItem
    ChargeId,
    PatientMrn,
    VisitNumber,
    AccountNumber,
    ServiceDate,
    ProcedureCode,
    Modifier,
    RevenueCode,
    Units,
    UnitPrice,
    Amount,
    PerformerNpi,
    Payer,
    // Claim
    ClaimId,
    ClaimLineNumber,
    ClaimType,
    PatientId,
    MemberId,
    ClaimStartDate,
    ClaimEndDate,
    LineStartDate,
    LineEndDate,
    PlaceOfService,
    BillType,
    Drg,
    RenderingNpi,
    BillingNpi,
    FacilityNpi,
    PaidDate,
    PaidAmount,
    AllowedAmount,
    ChargeAmount,
    Diagnosis,
    IcdProcedure,
    IcdProcedureDate,
    // ChargeItemDefinition
    Description,
    Code,
    CodeType,
    Setting,
    GrossCharge,
    DiscountedCash,
    PayerName,
    PlanName,
    NegotiatedDollar,
    NegotiatedPercentage,
    NegotiatedAlgorithm,
    Methodology,
    MinCharge,
    MaxCharge,
    Note,
}

impl Field {
    /// Whether the field belongs to `kind` (Modifier, RevenueCode, Units and PaidAmount-like fields are shared).
    fn fits(self, kind: ResourceKind) -> bool {
        use Field::*;
        let shared = matches!(self, Ignore | Modifier | RevenueCode | Units | ProcedureCode);
        shared
            || match kind {
                ResourceKind::ChargeItem => matches!(
                    self,
                    Description
                        | ChargeId
                        | PatientMrn
                        | VisitNumber
                        | AccountNumber
                        | ServiceDate
                        | UnitPrice
                        | Amount
                        | PerformerNpi
                        | Payer
                ),
                ResourceKind::Claim => matches!(
                    self,
                    ClaimId
                        | ClaimLineNumber
                        | ClaimType
                        | PatientId
                        | MemberId
                        | ClaimStartDate
                        | ClaimEndDate
                        | LineStartDate
                        | LineEndDate
                        | PlaceOfService
                        | BillType
                        | Drg
                        | RenderingNpi
                        | BillingNpi
                        | FacilityNpi
                        | PaidDate
                        | PaidAmount
                        | AllowedAmount
                        | ChargeAmount
                        | Diagnosis
                        | IcdProcedure
                        | IcdProcedureDate
                ),
                ResourceKind::ChargeItemDefinition => matches!(
                    self,
                    Description
                        | Code
                        | CodeType
                        | Setting
                        | GrossCharge
                        | DiscountedCash
                        | PayerName
                        | PlanName
                        | NegotiatedDollar
                        | NegotiatedPercentage
                        | NegotiatedAlgorithm
                        | Methodology
                        | MinCharge
                        | MaxCharge
                        | Note
                ),
            }
    }

    /// Fields that may occur on several columns (numbered repeats).
    fn repeats(self) -> bool {
        matches!(
            self,
            Field::Ignore
                | Field::Modifier
                | Field::Diagnosis
                | Field::IcdProcedure
                | Field::IcdProcedureDate
                | Field::Code
                | Field::CodeType
                | Field::Note
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    version: String,
    resource: ResourceKind,
    #[serde(default)]
    description: String,
    #[serde(default)]
    preamble_rows: u32,
    #[serde(default)]
    extra_columns: ExtraColumns,
    #[serde(default)]
    all_or_nothing: AllOrNothing,
    #[serde(default)]
    group_by: Vec<String>,
    #[serde(default = "default_max_group_rows")]
    max_group_rows: u32,
    #[serde(default = "default_currency")]
    currency: String,
    #[serde(default)]
    identifiers: BTreeMap<String, String>,
    #[serde(default)]
    code_systems: BTreeMap<String, String>,
    columns: Vec<RawColumn>,
}

fn default_max_group_rows() -> u32 {
    1000
}

fn default_currency() -> String {
    "USD".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    field: Field,
    #[serde(rename = "type", default = "default_type")]
    ty: ColumnType,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    repeat: u32,
    #[serde(default)]
    formats: Vec<String>,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    values: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    allow_negative: bool,
    /// A cell holding several codes (`"26,RT"`): the separator between them.
    #[serde(default)]
    split: Option<String>,
}

fn default_type() -> ColumnType {
    ColumnType::String
}

fn default_true() -> bool {
    true
}

/// How a code column finds its system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSystem {
    /// One URI for every value.
    Fixed(String),
    /// CPT (5 digits, or 4 digits and F/T/U) or else HCPCS Level II (a letter and 4 digits).
    CptOrHcpcs,
    /// Looked up by the value of the same-numbered `code_type` column in the profile's `code_systems` table.
    ByType,
}

/// One declared column, after `repeat` expansion.
#[derive(Debug, Clone)]
pub struct Column {
    /// Header name, normalised ([`normalize_header`]).
    pub name: String,
    pub field: Field,
    pub ty: ColumnType,
    /// A value is needed in every row.
    pub required: bool,
    /// The column may be absent from the header (profiles covering several layouts).
    pub optional: bool,
    /// 1-based number of a repeated column (`diagnosis_code_3` → 3), 0 if not repeated.
    pub number: u32,
    pub formats: Vec<DateFormat>,
    pub system: Option<CodeSystem>,
    pub values: BTreeMap<String, String>,
    pub allow_negative: bool,
    /// The separator of a cell holding several codes (repeating code fields only).
    pub split: Option<String>,
}

/// A validated profile.
#[derive(Debug, Clone)]
pub struct Profile {
    name: String,
    version: String,
    pub(crate) description: String,
    pub(crate) resource: ResourceKind,
    pub(crate) preamble_rows: u32,
    pub(crate) extra_columns: ExtraColumns,
    pub(crate) all_or_nothing: AllOrNothing,
    /// Normalised names of the grouping columns (empty: every row is its own group).
    pub(crate) group_by: Vec<String>,
    pub(crate) max_group_rows: u32,
    pub(crate) currency: String,
    pub(crate) identifiers: BTreeMap<String, String>,
    pub(crate) code_systems: BTreeMap<String, String>,
    pub(crate) columns: Vec<Column>,
}

/// The `[identifiers]` system a field's values are identified in; a profile needs one only for the fields its
/// columns feed (an export without a visit column needs no `identifiers.encounter`).
fn identifier_key(field: Field) -> Option<&'static str> {
    Some(match field {
        Field::PatientMrn | Field::PatientId => "patient",
        Field::VisitNumber => "encounter",
        Field::AccountNumber => "account",
        Field::Payer => "payer",
        Field::ChargeId => "charge",
        Field::MemberId => "member",
        Field::ClaimId => "claim",
        _ => return None,
    })
}

/// Identifier systems the profile's columns need from `[identifiers]`, in column order.
fn needed_identifiers(raw: &RawProfile) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for key in raw.columns.iter().filter_map(|c| identifier_key(c.field)) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Header names are compared after trimming and removing spaces around `|` (CMS v3 writes `code | 1`, v2
/// `code|1`), and lower-casing.
pub fn normalize_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for part in name.trim().split('|') {
        if !out.is_empty() || name.trim().starts_with('|') {
            out.push('|');
        }
        out.push_str(&part.trim().to_lowercase());
    }
    out
}

impl Profile {
    /// A profile shipped with the crate (see [`builtin_profiles`]).
    pub fn builtin(name: &str) -> Result<Profile, ProfileError> {
        let text = builtin_text(name).ok_or_else(|| ProfileError::UnknownBuiltin(name.to_owned()))?;
        Profile::from_toml(text)
    }

    /// Parses and validates a profile; errors name the key path.
    pub fn from_toml(text: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| ProfileError::Toml(e.to_string()))?;
        validate(raw)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The `meta.tag` code of every Bundle this profile produces: `hearth-csv-<name>/<version>`.
    pub fn mapping_tag(&self) -> String {
        format!("hearth-csv-{}/{}", self.name, self.version)
    }

    /// Lines before the real header (hospital metadata in CMS price transparency files).
    pub fn preamble_rows(&self) -> u32 {
        self.preamble_rows
    }

    /// The profile's own description.
    pub fn description(&self) -> &str {
        &self.description
    }
}

fn validate(raw: RawProfile) -> Result<Profile, ProfileError> {
    if raw.name.is_empty() || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid("name", "must be non-empty ASCII letters, digits, '-' or '_'"));
    }
    if raw.version.is_empty() || raw.version.chars().any(char::is_whitespace) {
        return Err(invalid("version", "must be non-empty without spaces"));
    }
    if raw.currency.len() != 3 || !raw.currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(invalid("currency", "must be an ISO 4217 code such as USD"));
    }
    if raw.max_group_rows == 0 {
        return Err(invalid("max_group_rows", "must be at least 1"));
    }
    if raw.preamble_rows > 100 {
        return Err(invalid("preamble_rows", "at most 100"));
    }
    for key in needed_identifiers(&raw) {
        match raw.identifiers.get(key) {
            Some(s) if is_uri(s) => {}
            Some(_) => return Err(invalid(format!("identifiers.{key}"), "must be a URI")),
            None => return Err(invalid(format!("identifiers.{key}"), "missing")),
        }
    }
    for (k, v) in &raw.code_systems {
        if !is_uri(v) {
            return Err(invalid(format!("code_systems.{k}"), "must be a URI"));
        }
    }
    let columns = expand_columns(&raw)?;
    let names: HashSet<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let mut group_by = Vec::new();
    for (i, g) in raw.group_by.iter().enumerate() {
        let g = normalize_header(g);
        if !names.contains(g.as_str()) {
            return Err(invalid(format!("group_by[{i}]"), format!("{g:?} is not a declared column")));
        }
        group_by.push(g);
    }
    Ok(Profile {
        name: raw.name,
        version: raw.version,
        description: raw.description,
        resource: raw.resource,
        preamble_rows: raw.preamble_rows,
        extra_columns: raw.extra_columns,
        all_or_nothing: raw.all_or_nothing,
        group_by,
        max_group_rows: raw.max_group_rows,
        currency: raw.currency,
        identifiers: raw.identifiers,
        code_systems: raw.code_systems,
        columns,
    })
}

fn is_uri(s: &str) -> bool {
    s.contains(':') && !s.chars().any(char::is_whitespace)
}

fn expand_columns(raw: &RawProfile) -> Result<Vec<Column>, ProfileError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut single = HashSet::new();
    for (i, c) in raw.columns.iter().enumerate() {
        let key = format!("columns[{i}]");
        let col = check_column(c, raw, &key)?;
        if !c.field.repeats() && !single.insert(c.field) {
            return Err(invalid(format!("{key}.field"), "this field may be fed by one column only"));
        }
        let numbers: Vec<u32> = if c.repeat == 0 { vec![0] } else { (1..=c.repeat).collect() };
        if (c.repeat > 0) != c.name.contains("{n}") {
            return Err(invalid(format!("{key}.name"), "`repeat` and a `{n}` placeholder go together"));
        }
        if c.repeat > 99 {
            return Err(invalid(format!("{key}.repeat"), "at most 99"));
        }
        for n in numbers {
            let name = normalize_header(&c.name.replace("{n}", &n.to_string()));
            if name.is_empty() {
                return Err(invalid(format!("{key}.name"), "empty column name"));
            }
            if !seen.insert(name.clone()) {
                return Err(invalid(format!("{key}.name"), format!("column {name:?} declared twice")));
            }
            out.push(Column { name, number: n, ..col.clone() });
        }
    }
    Ok(out)
}

fn check_column(c: &RawColumn, raw: &RawProfile, key: &str) -> Result<Column, ProfileError> {
    if !c.field.fits(raw.resource) {
        return Err(invalid(format!("{key}.field"), format!("{:?} is not a field of {:?}", c.field, raw.resource)));
    }
    if c.required && c.optional {
        return Err(invalid(format!("{key}.required"), "a required value cannot come from an optional column"));
    }
    let mut formats = Vec::new();
    for (j, f) in c.formats.iter().enumerate() {
        formats.push(DateFormat::parse(f).map_err(|r| invalid(format!("{key}.formats[{j}]"), r))?);
    }
    if (c.ty == ColumnType::Date) == formats.is_empty() {
        return Err(invalid(format!("{key}.formats"), "date columns need formats; other types take none"));
    }
    let system = match c.system.as_deref() {
        None => None,
        Some("cpt-or-hcpcs") => Some(CodeSystem::CptOrHcpcs),
        Some("by-type") => Some(CodeSystem::ByType),
        Some(s) if is_uri(s) => Some(CodeSystem::Fixed(s.to_owned())),
        Some(_) => return Err(invalid(format!("{key}.system"), "must be a URI, \"cpt-or-hcpcs\" or \"by-type\"")),
    };
    if (c.ty == ColumnType::Code) != system.is_some() {
        return Err(invalid(format!("{key}.system"), "code columns need a system; other types take none"));
    }
    if let Some(sep) = &c.split {
        if c.ty != ColumnType::Code || !c.field.repeats() {
            return Err(invalid(format!("{key}.split"), "only code columns of a repeating field hold several codes"));
        }
        if sep.is_empty() || sep.len() > 3 || sep.trim().is_empty() {
            return Err(invalid(format!("{key}.split"), "a separator of 1 to 3 characters, not blank"));
        }
    }
    Ok(Column {
        name: String::new(),
        field: c.field,
        ty: c.ty,
        required: c.required,
        optional: c.optional,
        number: 0,
        formats,
        system,
        values: c.values.clone(),
        allow_negative: c.allow_negative,
        split: c.split.clone(),
    })
}

#[cfg(test)]
mod tests;
