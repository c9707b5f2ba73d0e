//! Routing-key templates: `{placeholder}`s between literal text, parsed once at load.

/// AMQP's limit on a routing key (a short string).
pub const MAX_ROUTING_KEY_BYTES: usize = 255;
/// Longest value one placeholder contributes; longer values are cut (they are ASCII after [`sanitize_into`]).
pub const MAX_VALUE_BYTES: usize = 64;

/// The values a template may use, for one delivery.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vars<'a> {
    pub channel: &'a str,
    pub event: &'a str,
    pub message_code: &'a str,
    pub resource_type: &'a str,
    pub route: &'a str,
    pub destination: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Channel,
    Event,
    MessageCode,
    ResourceType,
    Route,
    Destination,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A compiled routing-key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parse `src`; the error says what is wrong and at which byte.
    pub fn parse(src: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal_bytes = 0;
        let mut rest = src;
        while !rest.is_empty() {
            let at = src.len() - rest.len();
            if let Some(after) = rest.strip_prefix('{') {
                let end = after.find('}').ok_or_else(|| format!("unclosed `{{` at {at}"))?;
                parts.push(Part::Var(placeholder(&after[..end]).ok_or_else(|| {
                    format!(
                        "unknown placeholder `{{{}}}` at {at}; known: {{channel}}, {{event}}, {{messageCode}}, \
                         {{resourceType}}, {{route}}, {{destination}}",
                        &after[..end]
                    )
                })?));
                rest = &after[end + 1..];
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let text = &rest[..end];
                if let Some((i, c)) = text.char_indices().find(|&(_, c)| !c.is_ascii_graphic() || c == '}') {
                    return Err(format!("{c:?} at {} is not allowed in a routing key template", at + i));
                }
                literal_bytes += text.len();
                parts.push(Part::Text(text.to_owned()));
                rest = &rest[end..];
            }
        }
        if parts.is_empty() {
            return Err("empty routing key template".into());
        }
        if literal_bytes > MAX_ROUTING_KEY_BYTES {
            return Err(format!("literal text longer than {MAX_ROUTING_KEY_BYTES} bytes (the AMQP limit)"));
        }
        Ok(Self { source: src.to_owned(), parts })
    }

    /// The routing key for `vars`: placeholder values sanitised to `[A-Za-z0-9_-]` (a `.` or `#` from a message
    /// must not add topic words), and the whole cut to [`MAX_ROUTING_KEY_BYTES`]; all ASCII, so cuts are safe.
    pub fn render(&self, vars: &Vars<'_>) -> String {
        let mut out = String::with_capacity(64);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => sanitize_into(&mut out, value(*v, vars)),
            }
        }
        out.truncate(MAX_ROUTING_KEY_BYTES);
        out
    }
}

fn placeholder(name: &str) -> Option<Var> {
    Some(match name {
        "channel" => Var::Channel,
        "event" => Var::Event,
        "messageCode" => Var::MessageCode,
        "resourceType" => Var::ResourceType,
        "route" => Var::Route,
        "destination" => Var::Destination,
        _ => return None,
    })
}

fn value<'a>(var: Var, vars: &Vars<'a>) -> &'a str {
    match var {
        Var::Channel => vars.channel,
        Var::Event => vars.event,
        Var::MessageCode => vars.message_code,
        Var::ResourceType => vars.resource_type,
        Var::Route => vars.route,
        Var::Destination => vars.destination,
    }
}

/// Append `value` with every byte outside `[A-Za-z0-9_-]` replaced by `_` (a multi-byte character becomes one
/// `_`), at most [`MAX_VALUE_BYTES`]; an empty value becomes `none`.
fn sanitize_into(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push_str("none");
        return;
    }
    for c in value.chars().take(MAX_VALUE_BYTES) {
        let keep = c.is_ascii_alphanumeric() || c == '_' || c == '-';
        out.push(if keep { c } else { '_' });
    }
}

/// One line for `describe()`.
impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}
