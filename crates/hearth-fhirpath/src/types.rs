//! What the subset knows about types without the FHIR model: the System types, the FHIR primitive and data type
//! names (for choice suffixes and type checks); any other capitalised name is taken to be a FHIR resource or
//! data type.

/// FHIR R4 primitive types (lower camel case).
pub(crate) const FHIR_PRIMITIVES: &[&str] = &[
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
    "xhtml",
];

/// FHIR R4 data type names, as they appear as suffixes of choice elements (`value[x]` → `valueQuantity`).
pub(crate) const CHOICE_TYPES: &[&str] = &[
    "Base64Binary",
    "Boolean",
    "Canonical",
    "Code",
    "Date",
    "DateTime",
    "Decimal",
    "Id",
    "Instant",
    "Integer",
    "Markdown",
    "Oid",
    "PositiveInt",
    "String",
    "Time",
    "UnsignedInt",
    "Uri",
    "Url",
    "Uuid",
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactPoint",
    "Count",
    "Distance",
    "Duration",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "SampledData",
    "Signature",
    "Timing",
    "ContactDetail",
    "Contributor",
    "DataRequirement",
    "Expression",
    "ParameterDefinition",
    "RelatedArtifact",
    "TriggerDefinition",
    "UsageContext",
    "Dosage",
    "Meta",
];

/// A type specifier such as `Quantity`, `FHIR.string`, `System.Integer`.
#[derive(Debug, Clone)]
pub(crate) struct TypeSpec {
    pub namespace: Option<String>,
    pub name: String,
}

impl TypeSpec {
    /// Reject names that cannot be a type: an unknown namespace, an unknown System type, or a lower-case name
    /// that is not a FHIR primitive.
    pub(crate) fn check(&self) -> Result<(), String> {
        let name = self.name.as_str();
        let ok = match self.namespace.as_deref() {
            // `System.Patient` is a valid (never matching) specifier; only the shape is checked.
            Some("System") => name.starts_with(|c: char| c.is_ascii_uppercase()),
            Some("FHIR") | None => {
                FHIR_PRIMITIVES.contains(&name) || name.starts_with(|c: char| c.is_ascii_uppercase())
            }
            Some(_) => false,
        };
        if ok { Ok(()) } else { Err(format!("unknown type `{}`", self.display())) }
    }

    fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Does a System value of type `system` match? (`Boolean` or `System.Boolean`.)
    pub(crate) fn matches_system(&self, system: &str) -> bool {
        matches!(self.namespace.as_deref(), None | Some("System")) && self.name == system
    }

    /// Does a FHIR value of type `fhir` match? (`boolean`, `FHIR.boolean`, `Quantity`.)
    pub(crate) fn matches_fhir(&self, fhir: &str) -> bool {
        matches!(self.namespace.as_deref(), None | Some("FHIR")) && self.name == fhir
    }
}

/// The FHIR type name for a choice suffix: primitives in lower camel case (`DateTime` → `dateTime`).
pub(crate) fn fhir_type_of_suffix(suffix: &str) -> String {
    let mut chars = suffix.chars();
    let lower: String = chars.next().map(|c| c.to_ascii_lowercase()).into_iter().chain(chars).collect();
    if FHIR_PRIMITIVES.contains(&lower.as_str()) { lower } else { suffix.to_string() }
}
