//! `labelSelector` and `fieldSelector` query parameters.
//!
//! Supported: comma-separated (AND) terms `key=value`, `key==value`,
//! `key!=value`; for labels also `key` (exists) and `!key` (does not exist).
//! Set-based terms (`key in (a,b)`, `notin`) get a 400 answer instead of a
//! silently wrong filter. A field selector may name any dotted path in the
//! object (`metadata.name`, `spec.nodeName`, `status.phase`); the real server
//! only accepts a few fields per kind and answers 400 for the rest.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Equals(String),
    NotEquals(String),
    Exists,
    NotExists,
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Selector {
    requirements: Vec<Requirement>,
}

/// Which of the two parameters a selector came from: they look the keys up in
/// different places.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Labels,
    Fields,
}

/// Both selectors of one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selectors {
    labels: Selector,
    fields: Selector,
}

impl Selectors {
    pub fn parse(
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Selectors {
            labels: parse(label_selector.unwrap_or(""), Target::Labels)?,
            fields: parse(field_selector.unwrap_or(""), Target::Fields)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.requirements.is_empty() && self.fields.requirements.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels
            .requirements
            .iter()
            .all(|r| r.matches(label(object, &r.key)))
            && self
                .fields
                .requirements
                .iter()
                .all(|r| r.matches(field(object, &r.key)))
    }
}

impl Requirement {
    fn matches(&self, found: Option<String>) -> bool {
        match &self.op {
            Op::Equals(v) => found.as_deref().unwrap_or("") == v,
            Op::NotEquals(v) => found.as_deref().unwrap_or("") != v,
            Op::Exists => found.is_some(),
            Op::NotExists => found.is_none(),
        }
    }
}

fn label(object: &Value, key: &str) -> Option<String> {
    object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A field's value as the server compares it: strings as they are, numbers
/// and booleans as their text, missing fields as absent (compared as "", so
/// `spec.nodeName=` selects unscheduled pods as it does on a real server).
fn field(object: &Value, path: &str) -> Option<String> {
    let mut current = object;
    for part in path.split('.') {
        current = current.get(part)?;
    }
    match current {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse(text: &str, target: Target) -> Result<Selector, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Selector::default());
    }
    if text.contains(['(', ')']) {
        return Err(unsupported(text));
    }
    let requirements = text
        .split(',')
        .map(|term| parse_term(term.trim(), target).ok_or_else(|| unsupported(text)))
        .collect::<Result<_, _>>()?;
    Ok(Selector { requirements })
}

fn parse_term(term: &str, target: Target) -> Option<Requirement> {
    let (key, op) = if let Some((k, v)) = term.split_once("!=") {
        (k, Op::NotEquals(v.trim().to_owned()))
    } else if let Some((k, v)) = term.split_once("==") {
        (k, Op::Equals(v.trim().to_owned()))
    } else if let Some((k, v)) = term.split_once('=') {
        (k, Op::Equals(v.trim().to_owned()))
    } else if target == Target::Labels {
        match term.strip_prefix('!') {
            Some(k) => (k, Op::NotExists),
            None => (term, Op::Exists),
        }
    } else {
        return None;
    };
    let key = key.trim();
    let value_ok = match &op {
        Op::Equals(v) | Op::NotEquals(v) => !v.contains(char::is_whitespace),
        Op::Exists | Op::NotExists => true,
    };
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains(['!', '=']) || !value_ok
    {
        return None;
    }
    Some(Requirement {
        key: key.to_owned(),
        op,
    })
}

fn unsupported(text: &str) -> String {
    format!(
        "unable to parse requirement in selector {text:?}: the fake API server supports only \
         comma-separated key=value, key==value, key!=value, key and !key terms"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "prod", "labels": {"app": "web", "tier": "front"}},
            "spec": {"nodeName": "node-a", "priority": 5},
            "status": {"phase": "Running"}
        })
    }

    fn sel(labels: &str, fields: &str) -> Selectors {
        Selectors::parse(Some(labels), Some(fields)).unwrap()
    }

    #[test]
    fn label_terms() {
        assert!(sel("", "").matches(&pod()));
        assert!(sel("app=web", "").matches(&pod()));
        assert!(sel("app==web,tier=front", "").matches(&pod()));
        assert!(!sel("app=web,tier=back", "").matches(&pod()));
        assert!(sel("app!=db", "").matches(&pod()));
        assert!(sel("tier", "").matches(&pod()));
        assert!(!sel("!tier", "").matches(&pod()));
        assert!(sel("!missing", "").matches(&pod()));
        assert!(sel("missing!=x", "").matches(&pod()));
    }

    #[test]
    fn field_terms() {
        assert!(sel("", "metadata.name=web-1").matches(&pod()));
        assert!(sel("", "metadata.namespace=prod,spec.nodeName=node-a").matches(&pod()));
        assert!(sel("", "status.phase!=Pending").matches(&pod()));
        assert!(sel("", "spec.priority=5").matches(&pod()));
        assert!(!sel("", "spec.nodeName=").matches(&pod()));
        assert!(sel("", "spec.hostname=").matches(&pod()));
    }

    #[test]
    fn unsupported_terms_are_errors() {
        for bad in ["app in (web,db)", "app notin (x)", "app=web,", "a b=c"] {
            assert!(Selectors::parse(Some(bad), None).is_err(), "{bad}");
        }
        assert!(Selectors::parse(None, Some("metadata.name")).is_err());
    }
}
