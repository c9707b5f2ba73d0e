//! Per-destination projections: elements a destination must not see (`Patient.telecom`, `*.text`), removed from a
//! resource before it is serialised for that destination.

use serde_json::{Map, Value};

/// One excluded element path: a resource type (or any) and element names below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElementPath {
    source: String,
    resource_type: Option<String>,
    elements: Vec<String>,
}

impl ElementPath {
    /// `Type.a.b` or `*.a.b`; the error says what is wrong.
    pub fn parse(src: &str) -> Result<Self, String> {
        let mut segments = src.split('.');
        let first = segments.next().unwrap_or_default();
        let resource_type = match first {
            "*" => None,
            t if is_resource_type(t) => Some(t.to_owned()),
            _ => {
                return Err(format!("{src:?} must start with a resource type (`Patient.telecom`) or `*` (`*.text`)"));
            }
        };
        let elements: Vec<String> = segments.map(str::to_owned).collect();
        if elements.is_empty() {
            return Err(format!("{src:?} names no element; remove a resource with the route's resource_types"));
        }
        if let Some(bad) = elements.iter().find(|e| !is_element_name(e)) {
            return Err(format!("{bad:?} in {src:?} is not an element name (lowercase first letter, letters/digits)"));
        }
        Ok(Self { source: src.to_owned(), resource_type, elements })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn applies_to(&self, resource_type: &str) -> bool {
        self.resource_type.as_deref().is_none_or(|t| t == resource_type)
    }
}

/// A resource type name as FHIR spells them: an ASCII capital, then letters and digits.
pub(crate) fn is_resource_type(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_uppercase()) && b.all(|c| c.is_ascii_alphanumeric()) && s.len() <= 64
}

fn is_element_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_lowercase()) && b.all(|c| c.is_ascii_alphanumeric()) && s.len() <= 64
}

/// The exclusions of one destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Projection {
    paths: Vec<ElementPath>,
}

impl Projection {
    pub fn new(paths: Vec<ElementPath>) -> Self {
        Self { paths }
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Whether any path applies to `resource_type` (or to a resource it may contain), so callers clone only
    /// when there is something to remove.
    pub fn touches(&self, resource: &Value) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        let rtype = resource.get("resourceType").and_then(Value::as_str).unwrap_or_default();
        self.paths.iter().any(|p| p.applies_to(rtype)) || resource.get("contained").is_some()
    }

    /// Remove every excluded element from `resource` and from the resources it contains.
    pub fn apply(&self, resource: &mut Value) {
        let Some(obj) = resource.as_object_mut() else { return };
        let rtype = obj.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned();
        for path in self.paths.iter().filter(|p| p.applies_to(&rtype)) {
            remove(obj, &path.elements);
        }
        // A contained resource is the same patient data one level down; minimum necessary applies to it too.
        if let Some(Value::Array(contained)) = obj.get_mut("contained") {
            contained.iter_mut().for_each(|c| self.apply(c));
        }
    }

    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(ElementPath::source)
    }
}

/// Remove `elements` below `obj`, walking through arrays; a primitive's `_name` sibling (its id/extensions) goes
/// with it.
fn remove(obj: &mut Map<String, Value>, elements: &[String]) {
    match elements {
        [] => {}
        [last] => {
            obj.remove(last.as_str());
            obj.remove(format!("_{last}").as_str());
        }
        [first, rest @ ..] => match obj.get_mut(first.as_str()) {
            Some(Value::Object(child)) => remove(child, rest),
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    remove(item, rest);
                }
            }
            _ => {}
        },
    }
}
