//! A test's input as the journal would hold it: the bytes, the channel, and what the source records beside them
//! (header facts, dedup key), computed by the sources' own functions.

use std::path::Path;

use hearth_config::{PayloadKind, Plan};
use hearth_core::MessageMeta;
use hearth_engine::process::offline::Input;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::file::TestCase;

/// Larger inputs are refused (a test input is one message or a small file).
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// One journaled message, owned.
#[derive(Debug, Clone)]
pub struct Msg {
    pub channel: String,
    pub kind: PayloadKind,
    pub raw: Vec<u8>,
    pub meta: MessageMeta,
    pub dedup_key: Option<String>,
    pub now: OffsetDateTime,
}

impl Msg {
    pub fn input(&self) -> Input<'_> {
        Input {
            channel: &self.channel,
            kind: self.kind,
            raw: &self.raw,
            meta: &self.meta,
            dedup_key: self.dedup_key.as_deref(),
            journal_id: None,
            received_at: self.now,
            now: self.now,
            webhook_link: None,
        }
    }
}

pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

/// The messages a test's input makes: one for HL7 v2 and webhooks, one per row group for CSV.
pub fn messages(case: &TestCase, plan: &Plan, base: &Path, now: OffsetDateTime) -> Result<Vec<Msg>, String> {
    let i = &case.input;
    let given = [&i.hl7v2, &i.hl7v2_file, &i.csv, &i.csv_file, &i.webhook, &i.webhook_file];
    if given.iter().filter(|v| v.is_some()).count() != 1 {
        return Err("give exactly one of hl7v2, hl7v2_file, csv, csv_file, webhook, webhook_file".into());
    }
    let read = |f: &str| -> Result<Vec<u8>, String> {
        let path = base.join(f);
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.len() > MAX_INPUT_BYTES {
            return Err(format!("{}: larger than {MAX_INPUT_BYTES} bytes", path.display()));
        }
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let (kind, raw, name) = if let Some(t) = &i.hl7v2 {
        (PayloadKind::Hl7v2, t.as_bytes().to_vec(), "inline".to_owned())
    } else if let Some(f) = &i.hl7v2_file {
        (PayloadKind::Hl7v2, read(f)?, f.clone())
    } else if let Some(t) = &i.csv {
        (PayloadKind::Csv, t.as_bytes().to_vec(), "inline.csv".to_owned())
    } else if let Some(f) = &i.csv_file {
        (PayloadKind::Csv, read(f)?, file_name(f))
    } else if let Some(t) = &i.webhook {
        (PayloadKind::Webhook, t.as_bytes().to_vec(), "inline".to_owned())
    } else if let Some(f) = &i.webhook_file {
        (PayloadKind::Webhook, read(f)?, f.clone())
    } else {
        return Err("no input".into());
    };
    let channel = channel_for(case.channel.as_deref(), plan, kind)?;
    match kind {
        PayloadKind::Hl7v2 => Ok(vec![hl7v2(channel, raw, now)]),
        PayloadKind::Csv => csv(channel, plan, &raw, &name, now),
        PayloadKind::Webhook => webhook(channel, plan, raw, now),
        PayloadKind::Fhir => Err("FHIR input is not supported".into()),
    }
}

fn file_name(f: &str) -> String {
    Path::new(f).file_name().and_then(|n| n.to_str()).unwrap_or(f).to_owned()
}

/// The named channel (which must take this kind), or the first channel that does.
fn channel_for(name: Option<&str>, plan: &Plan, kind: PayloadKind) -> Result<String, String> {
    let takes = |ch: &hearth_config::ChannelPlan| ch.source.conversion().0 == kind;
    match name {
        Some(n) => {
            let ch = plan.channels.iter().find(|c| c.name == n).ok_or_else(|| format!("no channel {n:?}"))?;
            if takes(ch) { Ok(n.to_owned()) } else { Err(format!("channel {n:?} does not take {}", kind.as_str())) }
        }
        None => plan
            .channels
            .iter()
            .find(|c| takes(c))
            .map(|c| c.name.clone())
            .ok_or_else(|| format!("no channel takes {}", kind.as_str())),
    }
}

/// As an HL7 v2 source journals it: header facts and the dedup key from the parsed header. A message that does
/// not parse is kept with empty facts (its conversion then fails, as the test will show).
fn hl7v2(channel: String, raw: Vec<u8>, now: OffsetDateTime) -> Msg {
    let opts = hearth_hl7v2::ParseOptions { require_control_id: false, ..hearth_hl7v2::ParseOptions::default() };
    let (meta, dedup_key) = match hearth_hl7v2::parse(&raw, &opts) {
        Ok(m) => {
            let (meta, key) = hearth_sources::hl7v2_meta(m.header(), &raw);
            (meta, Some(key))
        }
        Err(_) => (MessageMeta::default(), None),
    };
    Msg { channel, kind: PayloadKind::Hl7v2, raw, meta, dedup_key, now }
}

/// As the file inbox journals a CSV file: one message per row group, under the channel's profile.
fn csv(channel: String, plan: &Plan, raw: &[u8], name: &str, now: OffsetDateTime) -> Result<Vec<Msg>, String> {
    let ch = plan.channels.iter().find(|c| c.name == channel).ok_or("no such channel")?;
    let profile = ch.source.csv_profile().ok_or("the channel has no CSV profile")?.load()?;
    let hash = hex::encode(Sha256::digest(raw));
    let splitter = hearth_csv::Splitter::new(&profile, raw).map_err(|e| format!("{name}: {e}"))?;
    let mut out = Vec::new();
    for chunk in splitter {
        let chunk = chunk.map_err(|e| format!("{name}: {e}"))?;
        out.push(Msg {
            channel: channel.clone(),
            kind: PayloadKind::Csv,
            dedup_key: Some(hearth_sources::file::dedup_key(&channel, &hash, &chunk.key)),
            meta: MessageMeta {
                message_code: Some("CSV".into()),
                trigger_event: Some(profile.name().to_owned()),
                control_id: Some(format!("{name}:{}", chunk.first_line)),
                ..MessageMeta::default()
            },
            raw: chunk.raw,
            now,
        });
    }
    Ok(out)
}

/// As the webhook source journals an event: the medium and status as message code and event, the vendor's
/// event id as dedup key. The signature is not checked (a test has no vendor to sign).
fn webhook(channel: String, plan: &Plan, raw: Vec<u8>, now: OffsetDateTime) -> Result<Vec<Msg>, String> {
    let ch = plan.channels.iter().find(|c| c.name == channel).ok_or("no such channel")?;
    let hearth_config::SourcePlan::Webhook(w) = &ch.source else { return Err("not a webhook channel".into()) };
    let profile = w.load_profile()?;
    let req = hearth_webhooks::Request { public_url: "", headers: &[], content_type: None, body: &raw, now };
    let (meta, dedup_key) = match hearth_webhooks::parse(&profile, &req) {
        Ok(hearth_webhooks::Parsed::Event(event)) => (
            hearth_sources::webhook::event_meta(&event),
            Some(hearth_sources::webhook::dedup_key(&channel, &event.event_key)),
        ),
        Ok(hearth_webhooks::Parsed::Ignored(i)) => {
            return Err(format!("the source would not journal it: {}", i.reason));
        }
        Err(e) => return Err(format!("the source would refuse it: {e}")),
    };
    Ok(vec![Msg { channel, kind: PayloadKind::Webhook, raw, meta, dedup_key, now }])
}
