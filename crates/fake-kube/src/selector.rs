//! Label and field selectors with the Kubernetes query syntax, matched against JSON objects.

use serde_json::Value;

/// Why a selector could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    /// The selector text is not valid selector syntax.
    #[error("invalid selector {selector:?}: {reason}")]
    Invalid {
        /// The whole selector as given.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::Eq(want), Some(have)) => want == have,
            (Op::NotEq(want), have) => have != Some(want.as_str()),
            (Op::In(set), Some(have)) => set.iter().any(|v| v == have),
            (Op::NotIn(set), have) => have.is_none_or(|h| !set.iter().any(|v| v == h)),
            (Op::Exists, have) => have.is_some(),
            (Op::NotExists, have) => have.is_none(),
            (Op::Gt(n), Some(have)) => have.parse::<i64>().is_ok_and(|h| h > *n),
            (Op::Lt(n), Some(have)) => have.parse::<i64>().is_ok_and(|h| h < *n),
            (Op::Eq(_) | Op::In(_) | Op::Gt(_) | Op::Lt(_), None) => false,
        }
    }
}

/// A parsed label selector: requirements separated by commas, all of which must hold.
///
/// Supports `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, `a>1`, `a<1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses selector text; the empty string selects everything.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let invalid = |reason: &str| SelectorError::Invalid {
            selector: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut requirements = Vec::new();
        for part in split_top_level(text).map_err(|r| invalid(&r))? {
            let part = part.trim();
            if part.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(invalid("empty requirement"));
            }
            requirements.push(parse_requirement(part).map_err(|r| invalid(&r))?);
        }
        Ok(Self { requirements })
    }

    /// True when every requirement holds for `labels` (a JSON object of string values).
    pub fn matches_labels(&self, labels: Option<&Value>) -> bool {
        self.requirements.iter().all(|req| {
            let value = labels.and_then(|l| l.get(&req.key)).and_then(Value::as_str);
            req.matches(value)
        })
    }

    /// True when the object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches_labels(object.pointer("/metadata/labels"))
    }

    /// True for the empty selector.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Splits on commas that are not inside a parenthesised set.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("unbalanced ')'")?,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn valid_key(key: &str) -> Result<String, String> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    if ok {
        Ok(key.to_owned())
    } else {
        Err(format!("invalid key {key:?}"))
    }
}

fn valid_value(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        Ok(value.to_owned())
    } else {
        Err(format!("invalid value {value:?}"))
    }
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement {
            key: valid_key(key.trim())?,
            op: Op::NotExists,
        });
    }
    if let Some((head, rest)) = part.split_once('(') {
        let mut words = head.split_whitespace();
        let (Some(key), Some(op), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "expected `key in (..)` or `key notin (..)` in {part:?}"
            ));
        };
        let inner = rest
            .trim_end()
            .strip_suffix(')')
            .ok_or_else(|| format!("missing ')' in {part:?}"))?;
        let values = inner
            .split(',')
            .map(valid_value)
            .collect::<Result<Vec<_>, _>>()?;
        let op = match op {
            "in" => Op::In(values),
            "notin" => Op::NotIn(values),
            other => return Err(format!("unknown set operator {other:?}")),
        };
        return Ok(Requirement {
            key: valid_key(key)?,
            op,
        });
    }
    let number = |v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| format!("{v:?} is not an integer"))
    };
    let (key, op) = if let Some((k, v)) = part.split_once("!=") {
        (k, Op::NotEq(valid_value(v)?))
    } else if let Some((k, v)) = part.split_once("==") {
        (k, Op::Eq(valid_value(v)?))
    } else if let Some((k, v)) = part.split_once('=') {
        (k, Op::Eq(valid_value(v)?))
    } else if let Some((k, v)) = part.split_once('>') {
        (k, Op::Gt(number(v)?))
    } else if let Some((k, v)) = part.split_once('<') {
        (k, Op::Lt(number(v)?))
    } else {
        (part, Op::Exists)
    };
    Ok(Requirement {
        key: valid_key(key.trim())?,
        op,
    })
}

/// A parsed field selector: `path=value`, `path==value` or `path!=value` terms joined by
/// commas, where `path` is a dotted path into the object (`metadata.name`, `spec.type`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(Vec<String>, bool, String)>,
}

impl FieldSelector {
    /// Parses selector text; the empty string selects everything.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = part.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = part.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = part.split_once('=') {
                (p, true, v)
            } else {
                return Err(SelectorError::Invalid {
                    selector: text.to_owned(),
                    reason: format!("{part:?} has no operator"),
                });
            };
            let path = path.trim().split('.').map(str::to_owned).collect();
            terms.push((path, equal, value.trim().to_owned()));
        }
        Ok(Self { terms })
    }

    /// True when every term holds; a missing field compares as the empty string.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.terms.iter().all(|(path, equal, want)| {
            let have = path
                .iter()
                .try_fold(object, |node, key| node.get(key))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (have == *want) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "n1", "namespace": "ns", "labels": labels}, "spec": {"n": 3}})
    }

    fn sel(text: &str) -> LabelSelector {
        LabelSelector::parse(text).unwrap()
    }

    #[test]
    fn label_selector_operators() {
        let o = obj(json!({"app": "web", "tier": "edge", "n": "5"}));
        assert!(sel("").matches_object(&o));
        assert!(sel("app=web").matches_object(&o));
        assert!(sel("app==web,tier=edge").matches_object(&o));
        assert!(!sel("app=api").matches_object(&o));
        assert!(sel("app!=api").matches_object(&o));
        assert!(sel("missing!=x").matches_object(&o));
        assert!(sel("app").matches_object(&o));
        assert!(!sel("!app").matches_object(&o));
        assert!(sel("!missing").matches_object(&o));
        assert!(sel("app in (api, web),tier notin (core)").matches_object(&o));
        assert!(!sel("app in (api)").matches_object(&o));
        assert!(sel("missing notin (x)").matches_object(&o));
        assert!(!sel("missing in (x)").matches_object(&o));
        assert!(sel("n>4,n<6").matches_object(&o));
        assert!(!sel("app").matches_object(&json!({"metadata": {}})));
    }

    #[test]
    fn label_selector_rejects_garbage() {
        for bad in ["app in (x", "a b", "=x", "app,,b", "app in x)", "n>x"] {
            assert!(
                LabelSelector::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn field_selector_matches_paths() {
        let o = obj(json!({}));
        let f = |t: &str| FieldSelector::parse(t).unwrap().matches_object(&o);
        assert!(f("metadata.name=n1"));
        assert!(f("metadata.namespace==ns,metadata.name!=other"));
        assert!(!f("metadata.name=n2"));
        assert!(f("spec.n=3"));
        assert!(f("spec.missing="));
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
