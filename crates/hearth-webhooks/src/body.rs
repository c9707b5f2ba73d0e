//! Field access over a body, the same for form and JSON bodies, so profiles name fields uniformly.

use serde_json::Value;

/// A parsed body. For JSON, `event` is what relative paths start from (the EventBridge `detail`, or the whole
/// document), and `envelope` the EventBridge envelope, which absolute paths (`/id`) address; they are absent
/// when the body came without one, so a profile can name the envelope's event id without it doubling as the
/// event's own `id`.
#[derive(Debug)]
pub(crate) enum Body<'a> {
    Form(Vec<(String, String)>),
    Json { envelope: Option<&'a Value>, event: &'a Value },
}

/// Longest path a profile may use; bounds the walk.
const MAX_SEGMENTS: usize = 16;

impl Body<'_> {
    /// The value at `path` as text (numbers and booleans written out); `None` when absent, null or empty.
    pub(crate) fn get(&self, path: &str) -> Option<String> {
        match self {
            Body::Form(pairs) => {
                pairs.iter().find(|(k, _)| k == path).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
            }
            Body::Json { .. } => scalar(self.locate(path)?),
        }
    }

    /// The first present value among alternative paths.
    pub(crate) fn first(&self, paths: &[String]) -> Option<String> {
        paths.iter().find_map(|p| self.get(p))
    }

    /// Whether the path holds anything (an object or array counts).
    pub(crate) fn present(&self, path: &str) -> bool {
        match self {
            Body::Form(_) => self.get(path).is_some(),
            Body::Json { .. } => self.locate(path).is_some_and(|v| match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                _ => true,
            }),
        }
    }

    fn locate(&self, path: &str) -> Option<&Value> {
        let Body::Json { envelope, event } = self else { return None };
        match path.strip_prefix('/') {
            Some(rest) => walk((*envelope)?, rest),
            None => walk(event, path),
        }
    }
}

/// Follows `/`-separated keys. A key matches exactly, else ignoring ASCII case: Amazon's own samples spell the
/// same member `agentInfo` and `AgentInfo`.
fn walk<'v>(start: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = start;
    for seg in path.split('/').filter(|s| !s.is_empty()).take(MAX_SEGMENTS) {
        cur = match cur {
            Value::Object(m) => {
                m.get(seg).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(seg)).map(|(_, v)| v))?
            }
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_paths() {
        let root = json!({"id": "e1", "detail": {"AgentInfo": {"x": 1}, "list": [{"a": "b"}], "empty": "", "n": null}});
        let doc = Body::Json { envelope: Some(&root), event: &root["detail"] };
        assert_eq!(doc.get("/id").as_deref(), Some("e1"));
        assert_eq!(doc.get("id"), None);
        assert_eq!(doc.get("agentInfo/x").as_deref(), Some("1"));
        assert_eq!(doc.get("list/0/a").as_deref(), Some("b"));
        assert!(doc.present("agentInfo") && !doc.present("empty") && !doc.present("n") && !doc.present("zz"));
        assert_eq!(doc.first(&["zz".into(), "list/0/a".into()]).as_deref(), Some("b"));
        let bare = Body::Json { envelope: None, event: &root };
        assert_eq!((bare.get("/id"), bare.get("id").as_deref()), (None, Some("e1")));
    }
}
