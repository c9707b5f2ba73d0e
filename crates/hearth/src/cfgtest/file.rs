//! The test-file format (docs/config-testing.md): TOML, unknown keys refused.

use serde::Deserialize;

/// One or several configuration files.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The configuration, relative to this file; several files are merged in order (a route fragment on top of
    /// a base). `--config` replaces it.
    pub config: Option<OneOrMany>,
    /// More configuration (TOML) merged last, e.g. a destination a fragment needs.
    pub config_toml: Option<String>,
    /// The clock for every test of the file (RFC 3339); a test's own `now` wins. Default: the current time.
    pub now: Option<String>,
    #[serde(rename = "test", default)]
    pub tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// The channel the input arrives on. Default: the first channel that takes the input's kind.
    pub channel: Option<String>,
    pub now: Option<String>,
    pub input: Input,
    #[serde(default)]
    pub expect: Expect,
}

/// Exactly one of these.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// An HL7 v2 message inline (segments separated by newlines or `\r`).
    pub hl7v2: Option<String>,
    pub hl7v2_file: Option<String>,
    /// CSV text inline / a CSV file, read with the channel's profile.
    pub csv: Option<String>,
    pub csv_file: Option<String>,
    /// A webhook body inline / from a file, read with the channel's profile.
    pub webhook: Option<String>,
    pub webhook_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `processed` (deliveries planned), `filtered` (none) or `error` (not converted).
    pub status: Option<String>,
    /// A text the conversion error must contain (implies `status = "error"`).
    pub error: Option<String>,
    #[serde(default)]
    pub fhirpath: Vec<FhirPathExpect>,
    /// The routes that deliver something, exactly (any order; `default` and `unmatched` included).
    pub routes: Option<Vec<String>>,
    /// Deliveries that must be planned.
    #[serde(default)]
    pub deliveries: Vec<DeliveryExpect>,
    /// Destinations that must receive nothing.
    #[serde(default)]
    pub no_deliveries_to: Vec<String>,
    /// Whether the message went to `[routing] unmatched`.
    pub unmatched: Option<bool>,
    /// Routes that matched but could deliver nothing (exactly, any order).
    pub skipped: Option<Vec<String>>,
    /// Elements a destination's projection removed.
    #[serde(default)]
    pub excluded: Vec<ExcludedExpect>,
    /// The conversion report's warnings, exactly, as `"<location> <kind>"` (e.g. `"PV1-3 unknown_code"`).
    pub warnings: Option<Vec<String>>,
    /// The report's unmapped input locations, exactly.
    pub unmapped: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirPathExpect {
    /// Evaluated over the converted Bundle.
    pub path: String,
    /// The result, item by item (a single value for a one-item result).
    pub equals: Option<toml::Value>,
    /// Whether the result is non-empty.
    pub exists: Option<bool>,
    /// The number of items.
    pub count: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryExpect {
    pub destination: String,
    pub route: Option<String>,
    pub routing_key: Option<String>,
    pub resource_type: Option<String>,
    /// How many deliveries match (default: at least one).
    pub count: Option<usize>,
    /// Checked over the body of every matching delivery (a resource, a Bundle or a Task).
    #[serde(default)]
    pub fhirpath: Vec<FhirPathExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludedExpect {
    pub destination: String,
    /// A FHIRPath over each delivered body (a resource or a Bundle), e.g. `Patient.telecom`; it must be empty in
    /// every delivery to the destination, while non-empty over the converted Bundle's resources.
    pub path: String,
}

/// Parsed text of a test file, for error messages keyed by file.
pub fn parse(text: &str) -> Result<TestFile, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}
