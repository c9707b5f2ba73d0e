//! `hearth replay --config NEW.toml --from JOURNAL [--since T] [--until T] [--channel NAME]`: runs journaled
//! messages through a candidate configuration (the engine's own conversion and routing,
//! `hearth_engine::process::offline`) without delivering anything, and reports what would change against what
//! the journal recorded: routes, destinations, routing keys, delivered FHIR content, newly failing, newly
//! converting, newly filtered and newly unmatched messages. Examples name journal ids and control ids only.
//!
//! The journal is opened read-only (`hearth_store::JournalReader`). Exit codes: 0 nothing would change, 1
//! something would, 2 bad arguments or configuration, or the journal could not be read.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use hearth_core::{MessageStatus, PayloadKind};
use hearth_engine::process::Outcome;
use hearth_engine::process::offline::{Input, Offline};
use hearth_store::{Converted, JournalConfig, JournalReader, PlannedRow, ReplayFilter, SqliteConfig};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Messages read per page (the reader's maximum is larger; this keeps memory small).
const PAGE: u32 = 500;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The candidate configuration.
    #[arg(long, short)]
    config: PathBuf,
    /// The journal: a SQLite file, or a configuration file (`.toml`) whose `[journal]` names it (PostgreSQL).
    #[arg(long)]
    from: PathBuf,
    /// Only messages received at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only messages received before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Only this channel's messages.
    #[arg(long)]
    channel: Option<String>,
    /// Examples shown per group.
    #[arg(long, default_value_t = 3)]
    examples: usize,
    /// `text` or `json` (one object: counts and groups).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

pub async fn run(args: ReplayArgs) -> ExitCode {
    let setup = match setup(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hearth: replay: {e}");
            return ExitCode::from(2);
        }
    };
    let (journal_cfg, filter, offline) = setup;
    let reader = match JournalReader::open(&journal_cfg).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hearth: replay: cannot open the journal read-only: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let result = replay(&reader, &filter, offline, args.examples).await;
    reader.close().await;
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hearth: replay: {e}");
            return ExitCode::from(2);
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    if args.format == "json" {
        println!("{}", summary.to_json(elapsed));
    } else {
        print!("{}", summary.to_text(elapsed));
    }
    if summary.changed() == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn setup(args: &ReplayArgs) -> Result<(JournalConfig, ReplayFilter, Offline), String> {
    let plan = hearth_config::load_file(&args.config).map_err(|e| e.to_string())?;
    let offline = Offline::from_plan(&plan).map_err(|e| e.to_string())?;
    let journal = if args.from.extension().is_some_and(|e| e == "toml") {
        let from = hearth_config::load_file(&args.from).map_err(|e| format!("--from {}: {e}", args.from.display()))?;
        from.journal.store_config().map_err(|e| format!("--from: journal password: {e}"))?
    } else {
        JournalConfig::Sqlite(SqliteConfig::new(&args.from))
    };
    let time = |s: &Option<String>, key: &str| {
        s.as_deref()
            .map(|v| OffsetDateTime::parse(v, &Rfc3339).map_err(|e| format!("--{key} {v:?}: not RFC 3339: {e}")))
            .transpose()
    };
    let filter = ReplayFilter {
        channel: args.channel.clone(),
        since: time(&args.since, "since")?,
        until: time(&args.until, "until")?,
    };
    Ok((journal, filter, offline))
}

/// Reads page after page (the next page is read while this one converts) and converts each page on every core.
async fn replay(
    reader: &JournalReader,
    filter: &ReplayFilter,
    offline: Offline,
    examples: usize,
) -> Result<Summary, hearth_store::StoreError> {
    let offline = std::sync::Arc::new(offline);
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let progress = std::io::stderr().is_terminal();
    let mut summary = Summary::new(examples);
    let mut page = reader.converted(filter, 0, PAGE).await?;
    while !page.is_empty() {
        let after = page.last().map_or(0, |c| c.message.summary.id);
        let next = reader.converted(filter, after, PAGE);
        let chunk = page.len().div_ceil(cores);
        let mut tasks = Vec::new();
        let mut rest = page;
        while !rest.is_empty() {
            let tail = rest.split_off(chunk.min(rest.len()));
            let part = std::mem::replace(&mut rest, tail);
            let offline = std::sync::Arc::clone(&offline);
            tasks.push(tokio::task::spawn_blocking(move || {
                part.into_iter().map(|c| compare(&offline, &c)).collect::<Vec<_>>()
            }));
        }
        let (converted, next) = (futures::future::join_all(tasks), next);
        let (done, next) = tokio::join!(converted, next);
        for part in done {
            match part {
                Ok(results) => results.into_iter().for_each(|r| summary.add(r)),
                Err(e) => return Err(hearth_store::StoreError::Io(format!("replay task failed: {e}"))),
            }
        }
        if progress {
            eprint!("\r{} messages replayed, {} would change", summary.total, summary.changed());
        }
        page = next?;
    }
    if progress {
        eprintln!();
    }
    Ok(summary)
}

/// What one message's replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    id: i64,
    control_id: Option<String>,
    channel: String,
    change: Change,
}

/// How a message's outcome changed: the first of these that applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    Unchanged,
    /// Not compared (and why).
    Skipped(&'static str),
    StillFailing,
    /// Converted before, fails now; the error's kind (never its text: it may quote input).
    NewlyFailing(&'static str),
    NewlyConverting,
    /// Deliveries before, none now.
    NewlyFiltered,
    NewlyUnmatched,
    /// Routes delivering: `+added -removed`.
    Routes(String),
    /// Destinations: `+added -removed` (same routes).
    Destinations(String),
    /// The routing keys of a route changed.
    RoutingKeys(String),
    /// The delivered FHIR content of a route → destination changed.
    Content(String),
}

impl Change {
    fn group(&self) -> (&'static str, String) {
        match self {
            Change::Unchanged => ("unchanged", String::new()),
            Change::Skipped(why) => ("not compared", (*why).to_owned()),
            Change::StillFailing => ("still failing", String::new()),
            Change::NewlyFailing(kind) => ("newly failing", (*kind).to_owned()),
            Change::NewlyConverting => ("newly converting", String::new()),
            Change::NewlyFiltered => ("newly filtered (no deliveries)", String::new()),
            Change::NewlyUnmatched => ("newly unmatched", String::new()),
            Change::Routes(d) => ("routes", d.clone()),
            Change::Destinations(d) => ("destinations", d.clone()),
            Change::RoutingKeys(d) => ("routing keys", d.clone()),
            Change::Content(d) => ("FHIR content", d.clone()),
        }
    }

    fn is_change(&self) -> bool {
        !matches!(self, Change::Unchanged | Change::Skipped(_) | Change::StillFailing)
    }
}

fn compare(offline: &Offline, c: &Converted) -> Found {
    let s = &c.message.summary;
    let found = |change| Found { id: s.id, control_id: s.meta.control_id.clone(), channel: s.channel.clone(), change };
    let Some(raw) = &c.message.raw else { return found(Change::Skipped("raw bytes pruned")) };
    if s.kind == PayloadKind::Webhook {
        // The stage links a webhook through the patient index as it stood then; a replay cannot reproduce it.
        return found(Change::Skipped("webhook (patient-index lookup not replayed)"));
    }
    let input = Input {
        channel: &s.channel,
        kind: s.kind,
        raw,
        meta: &s.meta,
        dedup_key: s.dedup_key.as_deref(),
        journal_id: Some(s.id),
        received_at: s.received_at,
        // The stage's clock was the conversion time, which is the row's last update for a message not resent.
        now: s.updated_at,
        webhook_link: None,
    };
    let was_error = s.status == MessageStatus::Error;
    let change = match (offline.run(&input), was_error) {
        (Outcome::Failed(_), true) => Change::StillFailing,
        (Outcome::Failed(e), false) => Change::NewlyFailing(error_kind(&e)),
        (Outcome::Routed(_), true) => Change::NewlyConverting,
        (Outcome::Routed(r), false) => {
            let new: Vec<PlannedRow> = r
                .deliveries
                .iter()
                .map(|d| PlannedRow {
                    route: d.route.clone(),
                    destination: d.destination.clone(),
                    routing_key: d.routing_key.clone(),
                    resource_type: d.resource_type.clone(),
                    content_id: d.content_id.clone(),
                })
                .collect();
            diff(&c.deliveries, &new)
        }
    };
    found(change)
}

fn error_kind(e: &hearth_engine::process::ConversionError) -> &'static str {
    use hearth_engine::process::ConversionError as E;
    match e {
        E::Parse(_) => "parse",
        E::Map(_) => "mapping",
        E::Route(_) => "routing",
        E::InvalidBundle(_) => "invalid Bundle",
        E::Pruned => "pruned",
        E::Task(_) => "task",
    }
}

/// Compares the planned deliveries, coarsest difference first.
fn diff(old: &[PlannedRow], new: &[PlannedRow]) -> Change {
    if !old.is_empty() && new.is_empty() {
        return Change::NewlyFiltered;
    }
    let routes = |v: &[PlannedRow]| v.iter().map(|d| d.route.clone()).collect::<BTreeSet<_>>();
    let (ro, rn) = (routes(old), routes(new));
    if rn.contains("unmatched") && !ro.contains("unmatched") {
        return Change::NewlyUnmatched;
    }
    if ro != rn {
        return Change::Routes(plus_minus(&ro, &rn));
    }
    let dests = |v: &[PlannedRow]| v.iter().map(|d| format!("{}→{}", d.route, d.destination)).collect::<BTreeSet<_>>();
    let (dold, dnew) = (dests(old), dests(new));
    if dold != dnew {
        return Change::Destinations(plus_minus(&dold, &dnew));
    }
    let keys = |v: &[PlannedRow]| {
        let mut k: Vec<(String, String, String)> =
            v.iter().map(|d| (d.route.clone(), d.destination.clone(), d.routing_key.clone())).collect();
        k.sort();
        k
    };
    let (ko, kn) = (keys(old), keys(new));
    if ko != kn {
        let changed: BTreeSet<String> = ko
            .iter()
            .chain(&kn)
            .filter(|k| ko.contains(k) != kn.contains(k) || count(&ko, k) != count(&kn, k))
            .map(|(r, d, _)| format!("{r}→{d}"))
            .collect();
        return Change::RoutingKeys(changed.into_iter().collect::<Vec<_>>().join(", "));
    }
    let content = |v: &[PlannedRow]| {
        let mut k: Vec<(String, String, String)> =
            v.iter().map(|d| (d.route.clone(), d.destination.clone(), d.content_id.clone())).collect();
        k.sort();
        k
    };
    let (co, cn) = (content(old), content(new));
    if co != cn {
        let changed: BTreeSet<String> = co
            .iter()
            .chain(&cn)
            .filter(|k| count(&co, k) != count(&cn, k))
            .map(|(r, d, _)| format!("{r}→{d}"))
            .collect();
        return Change::Content(changed.into_iter().collect::<Vec<_>>().join(", "));
    }
    Change::Unchanged
}

fn count<T: PartialEq>(v: &[T], x: &T) -> usize {
    v.iter().filter(|y| *y == x).count()
}

fn plus_minus(old: &BTreeSet<String>, new: &BTreeSet<String>) -> String {
    let added = new.difference(old).map(|r| format!("+{r}"));
    let removed = old.difference(new).map(|r| format!("-{r}"));
    added.chain(removed).collect::<Vec<_>>().join(" ")
}

/// A group's count and its first examples (journal id, control id).
type Group = (u64, Vec<(i64, Option<String>)>);

/// Counts per group, with the first few examples of each.
#[derive(Debug)]
struct Summary {
    examples: usize,
    total: u64,
    per_channel: BTreeMap<String, u64>,
    groups: BTreeMap<(&'static str, String), Group>,
}

impl Summary {
    fn new(examples: usize) -> Summary {
        Summary { examples, total: 0, per_channel: BTreeMap::new(), groups: BTreeMap::new() }
    }

    fn add(&mut self, f: Found) {
        self.total += 1;
        *self.per_channel.entry(f.channel).or_default() += 1;
        let is_change = f.change.is_change();
        let entry = self.groups.entry(f.change.group()).or_default();
        entry.0 += 1;
        if is_change && entry.1.len() < self.examples {
            entry.1.push((f.id, f.control_id));
        }
    }

    fn count(&self, group: &str) -> u64 {
        self.groups.iter().filter(|((g, _), _)| *g == group).map(|(_, (n, _))| n).sum()
    }

    fn changed(&self) -> u64 {
        self.total - self.count("unchanged") - self.count("not compared") - self.count("still failing")
    }

    fn to_text(&self, elapsed: f64) -> String {
        let mut s = String::new();
        let channels: Vec<String> = self.per_channel.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        let rate = if elapsed > 0.0 { self.total as f64 / elapsed } else { 0.0 };
        s.push_str(&format!(
            "replayed {} messages ({}) in {elapsed:.1} s ({rate:.0} messages/s); nothing was delivered\n",
            self.total,
            if channels.is_empty() { "none".to_owned() } else { channels.join(", ") },
        ));
        s.push_str(&format!("{:<34} {:>9}\n", "would change", self.changed()));
        for ((group, detail), (n, ex)) in &self.groups {
            let label = if detail.is_empty() { (*group).to_owned() } else { format!("{group}: {detail}") };
            s.push_str(&format!("  {label:<32} {n:>9}"));
            if !ex.is_empty() {
                let ex: Vec<String> = ex
                    .iter()
                    .map(|(id, c)| match c {
                        Some(c) => format!("#{id} ({c})"),
                        None => format!("#{id}"),
                    })
                    .collect();
                s.push_str(&format!("   e.g. {}", ex.join(", ")));
            }
            s.push('\n');
        }
        s
    }

    fn to_json(&self, elapsed: f64) -> serde_json::Value {
        let groups: Vec<serde_json::Value> = self
            .groups
            .iter()
            .map(|((g, d), (n, ex))| {
                let ex: Vec<serde_json::Value> =
                    ex.iter().map(|(id, c)| json!({"message_id": id, "control_id": c})).collect();
                json!({"group": g, "detail": d, "count": n, "examples": ex})
            })
            .collect();
        json!({
            "replayed": self.total,
            "changed": self.changed(),
            "unchanged": self.count("unchanged"),
            "not_compared": self.count("not compared"),
            "newly_failing": self.count("newly failing"),
            "newly_unmatched": self.count("newly unmatched"),
            "channels": self.per_channel,
            "groups": groups,
            "seconds": elapsed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(route: &str, dest: &str, key: &str, content: &str) -> PlannedRow {
        PlannedRow {
            route: route.into(),
            destination: dest.into(),
            routing_key: key.into(),
            resource_type: "Patient".into(),
            content_id: content.into(),
        }
    }

    #[test]
    fn the_coarsest_difference_names_the_change() {
        let old = vec![row("default", "fhir", "adt.A01.Patient", "c1")];
        assert_eq!(diff(&old, &old), Change::Unchanged);
        assert_eq!(diff(&old, &[]), Change::NewlyFiltered);
        let more = vec![old[0].clone(), row("billing", "billing", "adt.A01.Bundle", "c2")];
        assert_eq!(diff(&old, &more), Change::Routes("+billing".into()));
        assert_eq!(diff(&more, &old), Change::Routes("-billing".into()));
        let moved = vec![row("default", "ehr", "adt.A01.Patient", "c1")];
        assert_eq!(diff(&old, &moved), Change::Destinations("+default→ehr -default→fhir".into()));
        let rekeyed = vec![row("default", "fhir", "adt.A01.Person", "c1")];
        assert_eq!(diff(&old, &rekeyed), Change::RoutingKeys("default→fhir".into()));
        let edited = vec![row("default", "fhir", "adt.A01.Patient", "c9")];
        assert_eq!(diff(&old, &edited), Change::Content("default→fhir".into()));
        let unmatched = vec![row("unmatched", "leftovers", "adt.A01.unmatched", "c3")];
        assert_eq!(diff(&old, &unmatched), Change::NewlyUnmatched);
    }
}
