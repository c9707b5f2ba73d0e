//! Vocabulary maps (HL7 v2 codes to FHIR codes), loaded from `mappings/vocabulary/`.
//!
//! The built-in maps are the HL7 v2-to-FHIR IG's concept maps, generated into
//! `mappings/vocabulary/ig-concept-maps.csv` by `scripts/gen-vocabulary.py` and compiled into the binary, so Hearth
//! needs neither the IG nor the file at run time. A channel can override or extend them with its own CSV files
//! ([`Vocabulary::load_overrides`]).
//!
//! Map names are the IG's, as in its file names `HL7 Concept Map_ <Name> - Sheet1.csv`, brackets included where
//! the IG has several maps for one v2 table: `AdministrativeSex`, `MaritalStatus`, `IdentifierType`,
//! `AddressType[Use]`, `AddressType[Type]`, `PatientClass[EncounterClass]`, `PatientClass[EncounterStatus]`,
//! `NameType`, `TelecommunicationUseCode`, `Relationship`...
//!
//! File format (UTF-8 CSV, `#` lines are comments, the header row names the columns, in any order):
//!
//! ```text
//! map,v2_code,v2_display,v2_system,code,display,system
//! AdministrativeSex,F,Female,HL70001,female,Female,http://hl7.org/fhir/administrative-gender
//! ```
//!
//! `map`, `v2_code` and `code` are required columns. A row with an empty `code` says "no FHIR equivalent": the
//! lookup answers `None` and the mapper carries the v2 code with its source system (an override can use this to
//! remove a built-in mapping). A row with an empty `v2_code` only declares the map.
//!
//! ```
//! use hearth_map::vocab::Vocabulary;
//! let vocab = Vocabulary::builtin();
//! let female = vocab.lookup("AdministrativeSex", "F").unwrap();
//! assert_eq!(female.code, "female");
//! assert_eq!(female.system.as_deref(), Some("http://hl7.org/fhir/administrative-gender"));
//! assert!(vocab.lookup("AdministrativeSex", "ZZ").is_none());
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The generated IG maps, compiled in.
const BUILTIN_CSV: &str = include_str!("../../../mappings/vocabulary/ig-concept-maps.csv");
const BUILTIN_ORIGIN: &str = "mappings/vocabulary/ig-concept-maps.csv";

/// Upper bound on one override file: vocabulary is configuration, not data.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A FHIR coding a v2 code maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    pub code: String,
    pub display: Option<String>,
    pub system: Option<String>,
}

/// All vocabulary maps, by IG map name. Cheap to share (`Arc`), immutable once built.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    maps: HashMap<String, ConceptMap>,
}

#[derive(Debug, Clone, Default)]
struct ConceptMap {
    /// The v2 table the map reads, e.g. `HL70001`.
    v2_system: Option<String>,
    /// v2 code → FHIR concept; `None` records "the IG has no FHIR equivalent".
    entries: HashMap<String, Entry>,
    /// Lower-cased v2 code → the code as listed, for the case-insensitive fallback (first listed wins).
    folded: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct Entry {
    v2_display: Option<String>,
    concept: Option<Concept>,
}

/// Why a vocabulary file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{origin}:{line}: {reason}")]
    Parse { origin: String, line: usize, reason: String },
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: no .csv files")]
    Empty { path: PathBuf },
}

impl Vocabulary {
    /// The IG's maps as generated into `mappings/vocabulary/`, parsed once per process.
    pub fn builtin() -> Arc<Vocabulary> {
        static BUILTIN: OnceLock<Arc<Vocabulary>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let mut v = Vocabulary::default();
                // The file is generated and checked by this crate's tests; an error here is a build defect,
                // reported by `builtin_parses` rather than by a panic at run time.
                if let Err(e) = v.apply_csv(BUILTIN_CSV, BUILTIN_ORIGIN) {
                    // Only possible if the generated file was edited by hand. This crate has no logger: say it
                    // once on stderr; every code is then carried with its source system.
                    eprintln!("hearth-map: built-in vocabulary unusable: {e}");
                }
                Arc::new(v)
            })
            .clone()
    }

    /// Parses vocabulary CSV text into a new vocabulary (no built-in maps).
    pub fn parse(text: &str, origin: &str) -> Result<Vocabulary, VocabError> {
        let mut v = Vocabulary::default();
        v.apply_csv(text, origin)?;
        Ok(v)
    }

    /// `base` with a channel's overrides applied: a CSV file, or every `*.csv` in a directory (in name order).
    /// An override row replaces the base entry for the same (map, v2 code) or adds one; maps may be new.
    pub fn load_overrides(dir_or_file: &Path, base: &Vocabulary) -> Result<Vocabulary, VocabError> {
        let io = |source| VocabError::Io { path: dir_or_file.to_path_buf(), source };
        let files = if dir_or_file.is_dir() {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(dir_or_file).map_err(io)? {
                let path = entry.map_err(io)?.path();
                if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) && path.is_file() {
                    files.push(path);
                }
            }
            files.sort();
            if files.is_empty() {
                return Err(VocabError::Empty { path: dir_or_file.to_path_buf() });
            }
            files
        } else {
            vec![dir_or_file.to_path_buf()]
        };
        let mut v = base.clone();
        for path in files {
            let io = |source| VocabError::Io { path: path.clone(), source };
            let len = std::fs::metadata(&path).map_err(io)?.len();
            if len > MAX_FILE_BYTES {
                return Err(VocabError::TooLarge { path });
            }
            let text = std::fs::read_to_string(&path).map_err(io)?;
            v.apply_csv(&text, &path.display().to_string())?;
        }
        Ok(v)
    }

    /// The FHIR concept for a v2 code in a map. Exact match first, then ASCII case-insensitive (senders write
    /// `f` for `F`). `None`: unknown map, unknown code, or a code the IG maps to nothing.
    pub fn lookup(&self, map: &str, code: &str) -> Option<&Concept> {
        let m = self.maps.get(map)?;
        let code = code.trim();
        let entry = match m.entries.get(code) {
            Some(e) => e,
            None => m.entries.get(m.folded.get(&code.to_ascii_lowercase())?)?,
        };
        entry.concept.as_ref()
    }

    /// Whether the map exists (built in or added by an override).
    pub fn has_map(&self, map: &str) -> bool {
        self.maps.contains_key(map)
    }

    /// Whether the map lists v2 codes at all: the IG declares some maps (user-defined tables such as
    /// `DietType`) with FHIR targets only, and a code missing from such a map is no news.
    pub fn lists_codes(&self, map: &str) -> bool {
        self.maps.get(map).is_some_and(|m| !m.entries.is_empty())
    }

    /// Whether the map lists this v2 code at all (even as "no FHIR equivalent").
    pub fn knows_code(&self, map: &str, code: &str) -> bool {
        self.maps.get(map).is_some_and(|m| {
            let code = code.trim();
            m.entries.contains_key(code) || m.folded.contains_key(&code.to_ascii_lowercase())
        })
    }

    /// The v2 table a map reads, e.g. `HL70001` for `AdministrativeSex`.
    pub fn v2_system(&self, map: &str) -> Option<&str> {
        self.maps.get(map)?.v2_system.as_deref()
    }

    /// The v2 table's text for a code (e.g. `Female`), useful as `CodeableConcept.text`.
    pub fn v2_display(&self, map: &str, code: &str) -> Option<&str> {
        self.maps.get(map)?.entries.get(code.trim())?.v2_display.as_deref()
    }

    /// All map names, sorted.
    pub fn map_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.maps.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    fn apply_csv(&mut self, text: &str, origin: &str) -> Result<(), VocabError> {
        let records = parse_csv(text, origin)?;
        let mut records = records.into_iter();
        let Some((header_line, header)) = records.next() else {
            return Err(VocabError::Parse { origin: origin.to_owned(), line: 1, reason: "no header row".into() });
        };
        let col = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
        let required = |name: &str| {
            col(name).ok_or_else(|| VocabError::Parse {
                origin: origin.to_owned(),
                line: header_line,
                reason: format!("header has no `{name}` column"),
            })
        };
        let (c_map, c_v2, c_code) = (required("map")?, required("v2_code")?, required("code")?);
        let (c_v2_display, c_v2_system) = (col("v2_display"), col("v2_system"));
        let (c_display, c_system) = (col("display"), col("system"));
        let mut touched = Vec::new();
        for (line, rec) in records {
            let get = |i: Option<usize>| -> Option<String> {
                let v = rec.get(i?)?.trim();
                (!v.is_empty()).then(|| v.to_owned())
            };
            let Some(map) = get(Some(c_map)) else {
                return Err(VocabError::Parse { origin: origin.to_owned(), line, reason: "empty `map` column".into() });
            };
            let m = self.maps.entry(map.clone()).or_default();
            if let Some(sys) = get(c_v2_system) {
                m.v2_system.get_or_insert(sys);
            }
            if let Some(v2) = get(Some(c_v2)) {
                let concept =
                    get(Some(c_code)).map(|code| Concept { code, display: get(c_display), system: get(c_system) });
                m.entries.insert(v2, Entry { v2_display: get(c_v2_display), concept });
            }
            touched.push(map);
        }
        touched.sort_unstable();
        touched.dedup();
        for name in touched {
            if let Some(m) = self.maps.get_mut(&name) {
                m.rebuild_folded();
            }
        }
        Ok(())
    }
}

impl ConceptMap {
    fn rebuild_folded(&mut self) {
        self.folded.clear();
        let mut codes: Vec<&String> = self.entries.keys().collect();
        // Deterministic winner when two codes differ only by case: the lexically smallest.
        codes.sort_unstable();
        for code in codes {
            self.folded.entry(code.to_ascii_lowercase()).or_insert_with(|| code.clone());
        }
    }
}

/// A small RFC 4180 reader: quoted fields with `""` escapes and embedded newlines; lines starting with `#`
/// (outside quotes) and blank lines are skipped. Returns (1-based line number, fields) per record.
fn parse_csv(text: &str, origin: &str) -> Result<Vec<(usize, Vec<String>)>, VocabError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let start = line;
        if chars.peek() == Some(&'#') {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            line += 1;
            continue;
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut at_field_start = true;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return Err(VocabError::Parse {
                        origin: origin.to_owned(),
                        line: start,
                        reason: "unterminated quoted field".into(),
                    });
                }
                break;
            };
            match c {
                '"' if quoted => {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                }
                '"' if at_field_start => quoted = true,
                '\n' if quoted => {
                    line += 1;
                    field.push('\n');
                }
                '\n' => {
                    line += 1;
                    break;
                }
                '\r' if !quoted && chars.peek() == Some(&'\n') => {}
                ',' if !quoted => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                    continue;
                }
                c => field.push(c),
            }
            at_field_start = false;
        }
        fields.push(field);
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        out.push((start, fields));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir (this crate has no tempfile dependency).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("hearth-vocab-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn builtin_parses() {
        let v = Vocabulary::parse(BUILTIN_CSV, BUILTIN_ORIGIN).unwrap();
        // Every IG concept map is declared, including those that list only FHIR targets.
        assert_eq!(v.map_names().len(), 99, "{:?}", v.map_names());
    }

    #[test]
    fn administrative_sex() {
        let v = Vocabulary::builtin();
        let f = v.lookup("AdministrativeSex", "F").unwrap();
        assert_eq!(
            f,
            &Concept {
                code: "female".into(),
                display: Some("Female".into()),
                system: Some("http://hl7.org/fhir/administrative-gender".into()),
            }
        );
        assert_eq!(v.lookup("AdministrativeSex", "M").unwrap().code, "male");
        assert_eq!(v.lookup("AdministrativeSex", "A").unwrap().code, "other");
        assert_eq!(v.lookup("AdministrativeSex", "U").unwrap().code, "unknown");
        // Case-insensitive fallback and surrounding blanks.
        assert_eq!(v.lookup("AdministrativeSex", " f").unwrap().code, "female");
        assert!(v.lookup("AdministrativeSex", "Q").is_none());
        assert!(!v.knows_code("AdministrativeSex", "Q"));
        assert_eq!(v.v2_system("AdministrativeSex"), Some("HL70001"));
        assert_eq!(v.v2_display("AdministrativeSex", "F"), Some("Female"));
    }

    #[test]
    fn other_maps() {
        let v = Vocabulary::builtin();
        let s = v.lookup("MaritalStatus", "S").unwrap();
        assert_eq!((s.code.as_str(), s.display.as_deref()), ("S", Some("Never Married")));
        assert_eq!(s.system.as_deref(), Some("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"));
        // The display sits in the IG's unnamed column for this map.
        let e = v.lookup("PatientClass[EncounterClass]", "E").unwrap();
        assert_eq!((e.code.as_str(), e.display.as_deref()), ("EMER", Some("emergency")));
        assert_eq!(
            v.lookup("IdentifierType", "MR").unwrap().system.as_deref(),
            Some("http://terminology.hl7.org/CodeSystem/v2-0203")
        );
        assert_eq!(v.lookup("AddressType[Use]", "H").unwrap().code, "home");
        assert!(v.has_map("AddressType[Use]"));
        assert!(!v.has_map("PatientClass"));
        assert!(!v.has_map("NoSuchMap"));
        assert!(v.lookup("NoSuchMap", "F").is_none());
    }

    #[test]
    fn listed_without_fhir_equivalent() {
        let v = Vocabulary::builtin();
        // HL70190 "BA" (bad address) has no FHIR address type: known, but no concept.
        assert!(v.knows_code("AddressType[Type]", "BA"));
        assert!(v.lookup("AddressType[Type]", "BA").is_none());
        // Maps that list only FHIR targets (user-defined tables) are declared.
        assert!(v.has_map("DietType"));
        assert!(v.lookup("DietType", "VEG").is_none());
    }

    #[test]
    fn overrides_replace_add_and_remove() {
        let dir = TempDir::new("ov");
        std::fs::write(
            dir.path().join("a.csv"),
            "# local codes\n\
             map,v2_code,code,display,system\n\
             AdministrativeSex,X,other,\"Other, local\",http://hl7.org/fhir/administrative-gender\n\
             AdministrativeSex,F,unknown,,http://hl7.org/fhir/administrative-gender\n\
             AdministrativeSex,M,,,\n\
             LocalWard,3W,ward-3w,Third floor west,http://hospital.example/wards\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "not csv").unwrap();
        let base = Vocabulary::builtin();
        let v = Vocabulary::load_overrides(dir.path(), &base).unwrap();
        assert_eq!(v.lookup("AdministrativeSex", "X").unwrap().display.as_deref(), Some("Other, local"));
        assert_eq!(v.lookup("AdministrativeSex", "F").unwrap().code, "unknown");
        assert!(v.lookup("AdministrativeSex", "M").is_none());
        assert_eq!(v.lookup("AdministrativeSex", "O").unwrap().code, "other");
        assert_eq!(v.lookup("LocalWard", "3w").unwrap().code, "ward-3w");
        // The base is untouched.
        assert_eq!(base.lookup("AdministrativeSex", "F").unwrap().code, "female");
        // A single file works too.
        let one = Vocabulary::load_overrides(&dir.path().join("a.csv"), &base).unwrap();
        assert!(one.has_map("LocalWard"));
    }

    #[test]
    fn bad_override_files() {
        let dir = TempDir::new("bad");
        let base = Vocabulary::builtin();
        assert!(matches!(Vocabulary::load_overrides(dir.path(), &base), Err(VocabError::Empty { .. })));
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "map,code\nX,1\n").unwrap();
        let e = Vocabulary::load_overrides(&p, &base).unwrap_err();
        assert!(e.to_string().contains("v2_code"), "{e}");
        std::fs::write(&p, "map,v2_code,code\nX,\"1,1\n").unwrap();
        let e = Vocabulary::load_overrides(&p, &base).unwrap_err();
        assert!(e.to_string().contains(":2: unterminated"), "{e}");
        std::fs::write(&p, "map,v2_code,code\n,1,1\n").unwrap();
        assert!(Vocabulary::load_overrides(&p, &base).is_err());
        assert!(matches!(
            Vocabulary::load_overrides(&dir.path().join("missing.csv"), &base),
            Err(VocabError::Io { .. })
        ));
    }

    #[test]
    fn csv_reader() {
        let recs = parse_csv("a,\"b \"\"q\"\"\",c\r\n\n#x\n\"multi\nline\",2\n", "t").unwrap();
        assert_eq!(recs[0], (1, vec!["a".into(), "b \"q\"".into(), "c".into()]));
        assert_eq!(recs[1], (4, vec!["multi\nline".into(), "2".into()]));
    }
}
