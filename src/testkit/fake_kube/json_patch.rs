//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902) as the fake API server applies them.

use serde_json::Value;

/// Why a JSON patch could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The body of a JSON patch must be an array of operations.
    #[error("a JSON patch must be an array of operations")]
    NotArray,
    /// An operation is malformed (unknown `op`, missing `path`, `value` or `from`).
    #[error("invalid patch operation: {0}")]
    InvalidOp(String),
    /// A path names a location that does not exist.
    #[error("path {0:?} does not exist")]
    PathMissing(String),
    /// A `test` operation did not hold.
    #[error("test operation failed at {0:?}")]
    TestFailed(String),
}

/// Applies an RFC 7386 merge patch (the same merge the emulator uses for Cloudflare PATCH).
pub use crate::emulator::merge_patch as merge;

/// Applies an RFC 6902 JSON patch. Works on a copy so a failing operation leaves `target`
/// untouched, as the operations are atomic.
pub fn apply_json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops = patch.as_array().ok_or(PatchError::NotArray)?;
    let mut doc = target.clone();
    for op in ops {
        let field = |name: &str| -> Result<&str, PatchError> {
            op.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| PatchError::InvalidOp(format!("missing {name:?} in {op}")))
        };
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError::InvalidOp(format!("missing \"value\" in {op}")))
        };
        let path = parse_pointer(field("path")?)?;
        match field("op")? {
            "add" => add(&mut doc, &path, value()?)?,
            "remove" => {
                remove(&mut doc, &path)?;
            }
            "replace" => {
                let slot = get_mut(&mut doc, &path)
                    .ok_or_else(|| PatchError::PathMissing(pointer_text(&path)))?;
                *slot = value()?;
            }
            "move" => {
                let from = parse_pointer(field("from")?)?;
                let moved = remove(&mut doc, &from)?;
                add(&mut doc, &path, moved)?;
            }
            "copy" => {
                let from = parse_pointer(field("from")?)?;
                let copied = get_mut(&mut doc, &from)
                    .ok_or_else(|| PatchError::PathMissing(pointer_text(&from)))?
                    .clone();
                add(&mut doc, &path, copied)?;
            }
            "test" => {
                let expected = value()?;
                if get_mut(&mut doc, &path).map(|v| &*v) != Some(&expected) {
                    return Err(PatchError::TestFailed(pointer_text(&path)));
                }
            }
            other => return Err(PatchError::InvalidOp(format!("unknown op {other:?}"))),
        }
    }
    *target = doc;
    Ok(())
}

fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| PatchError::InvalidOp(format!("path {pointer:?} must start with '/'")))?;
    Ok(rest
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn pointer_text(tokens: &[String]) -> String {
    tokens.iter().map(|t| format!("/{t}")).collect()
}

fn get_mut<'a>(root: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(root, |node, token| match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    })
}

fn add(root: &mut Value, tokens: &[String], value: Value) -> Result<(), PatchError> {
    let Some((last, parent)) = tokens.split_last() else {
        *root = value;
        return Ok(());
    };
    let missing = || PatchError::PathMissing(pointer_text(tokens));
    match get_mut(root, parent).ok_or_else(missing)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) if last == "-" => items.push(value),
        Value::Array(items) => {
            let index = last.parse::<usize>().map_err(|_| missing())?;
            if index > items.len() {
                return Err(missing());
            }
            items.insert(index, value);
        }
        _ => return Err(missing()),
    }
    Ok(())
}

fn remove(root: &mut Value, tokens: &[String]) -> Result<Value, PatchError> {
    let missing = || PatchError::PathMissing(pointer_text(tokens));
    let (last, parent) = tokens.split_last().ok_or_else(missing)?;
    match get_mut(root, parent).ok_or_else(missing)? {
        Value::Object(map) => map.remove(last).ok_or_else(missing),
        Value::Array(items) => {
            let index = last.parse::<usize>().map_err(|_| missing())?;
            if index >= items.len() {
                return Err(missing());
            }
            Ok(items.remove(index))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_objects_and_removes_nulls() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge(&mut doc, &json!({"a": {"b": null, "d": 3}, "l": [9]}));
        assert_eq!(doc, json!({"a": {"c": 2, "d": 3}, "l": [9]}));
    }

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({"a": [1, 2], "b": {"c": "x"}});
        let patch = json!([
            {"op": "add", "path": "/a/-", "value": 3},
            {"op": "replace", "path": "/b/c", "value": "y"},
            {"op": "copy", "from": "/b/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e"},
            {"op": "remove", "path": "/a/0"},
            {"op": "test", "path": "/e", "value": "y"},
        ]);
        apply_json_patch(&mut doc, &patch).unwrap();
        assert_eq!(doc, json!({"a": [2, 3], "b": {"c": "y"}, "e": "y"}));
    }

    #[test]
    fn failing_json_patch_leaves_document_untouched() {
        let mut doc = json!({"a": 1});
        let patch = json!([
            {"op": "replace", "path": "/a", "value": 2},
            {"op": "test", "path": "/a", "value": 3},
        ]);
        assert_eq!(
            apply_json_patch(&mut doc, &patch),
            Err(PatchError::TestFailed("/a".into()))
        );
        assert_eq!(doc, json!({"a": 1}));
    }
}
