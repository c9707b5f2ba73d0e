//! `hearth convert --from webhook --profile NAME|FILE.toml FILE|-`: one vendor webhook body to a FHIR R4 Bundle,
//! offline. No signature is checked (there is no request to check), and no patient index is consulted: the
//! resources stay unlinked and the report says `"patient": "unknown"`.

use std::io::Read;
use std::path::Path;

use hearth_webhooks::{MapConfig, Parsed, PatientLink, Profile, Request};

/// Vendors send a few KiB; the engine's default limit is 1 MiB.
const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// Converts the input: the pretty-printed Bundle and `{"message": 1, "report": {...}}`. `mapping` is refused
/// (a webhook's mapping is its profile).
pub fn convert(
    profile: Option<&str>,
    mapping: Option<&Path>,
    input: &str,
) -> Result<(String, serde_json::Value), String> {
    if mapping.is_some() {
        return Err("--mapping applies to hl7v2; a webhook's mapping is its --profile".into());
    }
    let name = profile.ok_or("--from webhook needs --profile (a built-in name or a profile .toml file)")?;
    let profile = load(name)?;
    let (label, body) = read(input)?;
    let now = time::OffsetDateTime::now_utc();
    let req = Request { public_url: "", headers: &[], content_type: None, body: &body, now };
    let event = match hearth_webhooks::parse(&profile, &req).map_err(|e| format!("{label}: {e}"))? {
        Parsed::Event(event) => event,
        Parsed::Ignored(i) => {
            return Err(format!("{label}: not a call, SMS or chat ({}); nothing to convert", i.reason));
        }
    };
    let cfg = MapConfig { default_country_code: profile.default_country_code.clone(), ..MapConfig::default() };
    let conv = hearth_webhooks::map(&event, &PatientLink::Unknown, &cfg, now);
    // Through the FHIR codec, as in the engine: what is printed is a valid R4 Bundle.
    let bundle = hearth_fhir::bundle_to_json_pretty(&conv.bundle)
        .map_err(|e| format!("{label}: the mapping produced an invalid Bundle: {e}"))?;
    Ok((bundle, serde_json::json!({ "message": 1, "report": conv.report })))
}

fn load(name: &str) -> Result<Profile, String> {
    if hearth_webhooks::BUILTIN_NAMES.contains(&name) {
        return Profile::builtin(name).map_err(|e| e.to_string());
    }
    if !name.ends_with(".toml") {
        let known = hearth_webhooks::BUILTIN_NAMES.join(", ");
        return Err(format!("--profile {name:?}: not a built-in profile ({known}) nor a .toml file"));
    }
    let text = std::fs::read_to_string(name).map_err(|e| format!("--profile {name}: {e}"))?;
    Profile::from_toml(&text).map_err(|e| format!("--profile {name}: {e}"))
}

fn read(input: &str) -> Result<(String, Vec<u8>), String> {
    let mut body = Vec::new();
    let label = if input == "-" { "stdin".to_owned() } else { input.to_owned() };
    let result = if input == "-" {
        std::io::stdin().lock().take(MAX_INPUT_BYTES + 1).read_to_end(&mut body)
    } else {
        std::fs::File::open(input).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut body))
    };
    result.map_err(|e| format!("{label}: {e}"))?;
    if body.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!("{label}: larger than {MAX_INPUT_BYTES} bytes"));
    }
    Ok((label, body))
}
