//! The source kinds, in one place: what `[channels.<name>] type = ...` may say, how each kind is validated,
//! described and started. A new source kind joins here (a variant in [`RawSource`] and [`SourcePlan`], an arm in
//! each match below) and in its own folder beside `mllp/`, which holds its config, runtime and tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use hearth_core::PayloadKind;
use hearth_core::config::{Problems, check_name};
use hearth_csv::Converter;
use hearth_hl7v2::Charset;
use hearth_store::Journal;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::amqp::{self, AmqpSource, AmqpSourcePlan, RawAmqpSource};
use crate::error::SourceError;
use crate::file::{self, CsvChannel, CsvProfileRef, FileInbox, FilePlan, RawFile};
use crate::http_ingest::{self, Hl7v2Ingest, HttpIngestPlan, HttpPayload, IngestChannel, RawHttpIngest};
use crate::mapping::{self, MappingPlan, NO_MAPPING};
use crate::mllp::{self, MllpPlan, MllpSource, RawMllp};
use crate::tls::{self, TlsListener};
use crate::webhook::{self, RawWebhook, WebhookChannel, WebhookPlan};
use hearth_tls::ServerTls;

/// `[channels.<name>]`, exactly as written: the `type` key picks the kind.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RawSource {
    Mllp(RawMllp),
    Amqp(RawAmqpSource),
    Webhook(RawWebhook),
    File(RawFile),
    Http(RawHttpIngest),
}

/// One validated inbound channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPlan {
    pub name: String,
    pub source: SourcePlan,
}

/// A validated source of one of the kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum SourcePlan {
    /// HL7 v2 over MLLP/TCP.
    Mllp(MllpPlan),
    /// HL7 v2 or FHIR consumed from an AMQP queue.
    Amqp(AmqpSourcePlan),
    /// `POST /webhooks/<name>` on the HTTP listener.
    Webhook(WebhookPlan),
    /// A CSV billing inbox (a directory polled for files).
    File(FilePlan),
    /// `POST /ingest/<name>` on the HTTP listener: a CSV upload or one HL7 v2 message.
    Http(HttpIngestPlan),
}

/// Validates every channel: names, each kind's keys, and listen addresses used once.
pub fn validate(raw: BTreeMap<String, RawSource>, problems: &mut Problems) -> Vec<ChannelPlan> {
    let mut channels = Vec::new();
    let mut listening: BTreeMap<SocketAddr, String> = BTreeMap::new();
    for (name, ch) in raw {
        let key = format!("channels.{name}");
        check_name(&name, &key, "channel", problems);
        let source = match ch {
            RawSource::Mllp(m) => {
                let plan = mllp::validate(m, &key, problems);
                if let Some(other) = listening.insert(plan.listen, name.clone()) {
                    problems
                        .add(format!("{key}.listen"), format!("{} is already used by channel {other}", plan.listen));
                }
                SourcePlan::Mllp(plan)
            }
            RawSource::Amqp(a) => SourcePlan::Amqp(amqp::validate(a, &key, problems)),
            RawSource::Webhook(w) => SourcePlan::Webhook(webhook::validate(w, &key, problems)),
            RawSource::File(f) => SourcePlan::File(file::validate(f, &key, problems)),
            RawSource::Http(h) => SourcePlan::Http(http_ingest::validate(h, &key, problems)),
        };
        channels.push(ChannelPlan { name, source });
    }
    channels
}

impl SourcePlan {
    /// How the processing stage converts this channel's messages: the kind of payload, the charset assumed for
    /// HL7 v2 without MSH-18, and the mapping options.
    pub fn conversion(&self) -> (PayloadKind, Charset, &MappingPlan) {
        match self {
            SourcePlan::Mllp(m) => (PayloadKind::Hl7v2, m.default_charset, &m.mapping),
            SourcePlan::Amqp(a) => (a.payload, a.default_charset, &a.mapping),
            // Webhooks and CSV map under their profiles; the HL7 v2 options do not apply.
            SourcePlan::Webhook(_) => (PayloadKind::Webhook, Charset::Ascii, &NO_MAPPING),
            SourcePlan::File(_) => (PayloadKind::Csv, Charset::Ascii, &NO_MAPPING),
            SourcePlan::Http(h) => match &h.payload {
                HttpPayload::Csv { .. } => (PayloadKind::Csv, Charset::Ascii, &NO_MAPPING),
                HttpPayload::Hl7v2 { default_charset, mapping, .. } => (PayloadKind::Hl7v2, *default_charset, mapping),
            },
        }
    }

    /// The plan with its conversion options (`mapping`) set to the defaults: what a configuration reload may
    /// not change without a restart is what differs between two channels' `listening_part`s.
    pub fn listening_part(&self) -> SourcePlan {
        let mut plan = self.clone();
        match &mut plan {
            SourcePlan::Mllp(m) => m.mapping = MappingPlan::default(),
            SourcePlan::Amqp(a) => a.mapping = MappingPlan::default(),
            SourcePlan::Http(HttpIngestPlan { payload: HttpPayload::Hl7v2 { mapping, .. }, .. }) => {
                *mapping = MappingPlan::default();
            }
            SourcePlan::Webhook(_) | SourcePlan::File(_) | SourcePlan::Http(_) => {}
        }
        plan
    }

    /// The CSV profile of a channel that takes CSV (a file inbox, a CSV HTTP upload).
    pub fn csv_profile(&self) -> Option<&CsvProfileRef> {
        match self {
            SourcePlan::File(f) => Some(&f.profile),
            SourcePlan::Http(HttpIngestPlan { payload: HttpPayload::Csv { profile }, .. }) => Some(profile),
            _ => None,
        }
    }

    /// The TCP address the source listens on itself (the HTTP kinds share the HTTP listener).
    pub fn listen(&self) -> Option<SocketAddr> {
        match self {
            SourcePlan::Mllp(m) => Some(m.listen),
            _ => None,
        }
    }
}

impl ChannelPlan {
    /// The channel's lines in `hearth check`'s topology.
    pub fn describe(&self) -> String {
        let name = &self.name;
        let what = match &self.source {
            SourcePlan::Mllp(m) => mllp::describe(m),
            SourcePlan::Amqp(a) => a.describe(),
            SourcePlan::Webhook(w) => w.describe(name),
            SourcePlan::File(f) => f.describe(),
            SourcePlan::Http(h) => h.describe(name),
        };
        let mut s = format!("channel  {name:<12} {what}\n");
        let (kind, _, m) = self.source.conversion();
        if kind == PayloadKind::Hl7v2 {
            s.push_str(&format!("         {:<12} {}\n", "", mapping::describe(m)));
        }
        s
    }
}

/// A channel ready to start: its plan and what it needs beyond it (secrets read, profiles loaded).
#[derive(Debug, Clone)]
pub struct Channel {
    pub plan: ChannelPlan,
    /// The CSV profile's converter, for a channel that takes CSV.
    pub csv: Option<Arc<Converter>>,
    /// A webhook channel's secret and profile.
    pub webhook: Option<WebhookChannel>,
    /// An MLLP channel's TLS configuration, files read and checked.
    pub tls: Option<Arc<ServerTls>>,
}

impl Channel {
    /// Reads what the channel needs beyond its plan (the only IO before binding): a missing secret or a bad
    /// profile fails start-up, not the first message.
    pub fn load(plan: &ChannelPlan) -> Result<Channel, SourceError> {
        let setup = |reason: String| SourceError::Setup { channel: plan.name.clone(), reason };
        let csv = plan.source.csv_profile().map(CsvProfileRef::converter).transpose().map_err(setup)?;
        let webhook = match &plan.source {
            SourcePlan::Webhook(w) => Some(WebhookChannel::load(&plan.name, w).map_err(setup)?),
            _ => None,
        };
        let tls = match &plan.source {
            SourcePlan::Mllp(MllpPlan { tls: Some(t), .. }) => {
                Some(Arc::new(ServerTls::new(t.settings.clone()).map_err(|e| setup(format!("tls: {e}")))?))
            }
            _ => None,
        };
        Ok(Channel { plan: plan.clone(), csv, webhook, tls })
    }

    pub fn name(&self) -> &str {
        &self.plan.name
    }

    fn csv_channel(&self) -> Result<CsvChannel, SourceError> {
        let converter = self.csv.clone().ok_or_else(|| SourceError::Setup {
            channel: self.plan.name.clone(),
            reason: "the CSV profile was not loaded".into(),
        })?;
        Ok(CsvChannel { name: self.plan.name.clone(), converter })
    }
}

/// Work that must run on one node at a time (a file inbox: two nodes polling one directory would race for
/// its files). The engine starts it while this node leads it and stops it (by cancelling the token it passed)
/// when the leadership is lost; it may start it again later.
pub type SingletonWork = Arc<dyn Fn(CancellationToken) -> BoxFuture<'static, Result<(), SourceError>> + Send + Sync>;

/// The running sources: tasks to spawn (listeners, consumers), singleton work to run under leadership (file
/// inboxes, keyed by the leadership name `inbox.<channel>`), and the routes they serve on the HTTP listener
/// (webhooks, uploads).
pub struct Running {
    pub tasks: Vec<(String, BoxFuture<'static, Result<(), SourceError>>)>,
    pub singletons: Vec<(String, SingletonWork)>,
    pub router: axum::Router,
    /// The TLS listeners (for the certificate-expiry alert); their reload tasks are among `tasks`.
    pub tls: Vec<TlsListener>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tasks.iter().map(|(n, _)| n.as_str()).collect();
        let singletons: Vec<&str> = self.singletons.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Running").field("tasks", &names).field("singletons", &singletons).finish_non_exhaustive()
    }
}

/// Binds and builds every channel's source. A port in use fails here (start-up), not in a background task.
pub async fn start(
    channels: &[Channel],
    journal: &Journal,
    shutdown: &CancellationToken,
) -> Result<Running, SourceError> {
    let mut tasks: Vec<(String, BoxFuture<'static, Result<(), SourceError>>)> = Vec::new();
    let mut singletons: Vec<(String, SingletonWork)> = Vec::new();
    let (mut hooks, mut ingest, mut tls_listeners) = (Vec::new(), Vec::new(), Vec::new());
    for ch in channels {
        let name = ch.name().to_owned();
        let token = shutdown.clone();
        match &ch.plan.source {
            SourcePlan::Mllp(m) => {
                let listener = TcpListener::bind(m.listen).await.map_err(|source| SourceError::Bind {
                    channel: name.clone(),
                    addr: m.listen,
                    source,
                })?;
                let mut src = MllpSource::new(&name, m.clone(), listener, journal.clone());
                if let (Some(tls), Some(plan)) = (&ch.tls, &m.tls) {
                    src = src.with_tls(Arc::clone(tls));
                    let listener = TlsListener { name: format!("channels.{name}"), tls: Arc::clone(tls) };
                    tls_listeners.push(listener.clone());
                    let upkeep = tls::upkeep(listener, plan.reload_interval, token.clone());
                    tasks.push((
                        format!("{name} tls"),
                        Box::pin(async move {
                            for task in upkeep {
                                let _ = task.await;
                            }
                            Ok(())
                        }),
                    ));
                }
                tracing::info!(channel = %name, listen = %m.listen, tls = %tls::mode(m.tls.as_ref()), "mllp channel listening");
                tasks.push((name, Box::pin(src.run(token))));
            }
            SourcePlan::Amqp(a) => {
                let cfg = a
                    .runtime(&name)
                    .map_err(|e| SourceError::Setup { channel: name.clone(), reason: e.to_string() })?;
                let src = AmqpSource::new(&name, cfg, journal.clone());
                tracing::info!(channel = %name, queue = %a.queue, "amqp channel consuming");
                tasks.push((name, Box::pin(async move { Ok(src.run(token).await?) })));
            }
            SourcePlan::Webhook(_) => {
                tracing::info!(channel = %name, path = %format!("/webhooks/{name}"), "webhook channel listening");
                hooks.extend(ch.webhook.clone());
            }
            SourcePlan::File(f) => {
                let inbox = Arc::new(FileInbox::new(ch.csv_channel()?, f.clone(), journal.clone())?);
                let work: SingletonWork = Arc::new(move |token| {
                    let inbox = Arc::clone(&inbox);
                    Box::pin(async move { Ok(inbox.run(token).await?) })
                });
                singletons.push((format!("inbox.{name}"), work));
            }
            SourcePlan::Http(h) => ingest.push(match &h.payload {
                HttpPayload::Csv { .. } => {
                    IngestChannel::Csv { channel: ch.csv_channel()?, max_body_bytes: h.max_body_bytes }
                }
                HttpPayload::Hl7v2 { default_charset, ack_sending_application, ack_sending_facility, .. } => {
                    IngestChannel::Hl7v2(Hl7v2Ingest::new(
                        &name,
                        h.max_body_bytes,
                        *default_charset,
                        ack_sending_application,
                        ack_sending_facility,
                    ))
                }
            }),
        }
    }
    let router =
        webhook::router(hooks, journal.clone()).merge(http_ingest::router(ingest, journal.clone(), shutdown.clone()));
    Ok(Running { tasks, singletons, router, tls: tls_listeners })
}
