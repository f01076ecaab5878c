//! The ownership marker cfgeo writes into the `description` of the pools and monitors it owns.
//! Monitors have no name in Cloudflare, so the marker is the only way to find ours again.

use std::collections::BTreeMap;

const PREFIX: &str = "managed-by=cfgeo";

/// Lifecycle of an owned pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerState {
    /// In service.
    Active,
    /// Being removed: origins disabled, to be dropped from every LB since the given unix time.
    Leaving(u64),
}

/// Parsed marker: `managed-by=cfgeo key=value ...`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Marker {
    fields: BTreeMap<String, String>,
}

impl Marker {
    /// A pool marker.
    pub fn pool(owner: &str, cluster: &str, geo: &str, lb: &str) -> Self {
        let mut m = Self::default();
        m.fields.insert("owner".into(), owner.into());
        m.fields.insert("cluster".into(), cluster.into());
        m.fields.insert("geo".into(), geo.into());
        m.fields.insert("lb".into(), lb.into());
        m
    }

    /// A monitor marker for the pool it serves.
    pub fn monitor(owner: &str, pool: &str) -> Self {
        let mut m = Self::default();
        m.fields.insert("owner".into(), owner.into());
        m.fields.insert("pool".into(), pool.into());
        m
    }

    /// Parses a description; `None` when cfgeo did not write it.
    pub fn parse(description: Option<&str>) -> Option<Self> {
        let d = description?.trim();
        let rest = d.strip_prefix(PREFIX)?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let fields = rest
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Self { fields })
    }

    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// The deployment that owns the object.
    pub fn owner(&self) -> Option<&str> {
        self.get("owner")
    }

    /// The LB hostname a pool serves.
    pub fn lb(&self) -> Option<&str> {
        self.get("lb")
    }

    /// Lifecycle state.
    pub fn state(&self) -> MarkerState {
        match (
            self.get("state"),
            self.get("since").and_then(|s| s.parse().ok()),
        ) {
            (Some("leaving"), Some(t)) => MarkerState::Leaving(t),
            (Some("leaving"), None) => MarkerState::Leaving(0),
            _ => MarkerState::Active,
        }
    }

    /// The same marker in another state.
    pub fn with_state(&self, state: MarkerState) -> Self {
        let mut m = self.clone();
        m.fields.remove("state");
        m.fields.remove("since");
        if let MarkerState::Leaving(t) = state {
            m.fields.insert("state".into(), "leaving".into());
            m.fields.insert("since".into(), t.to_string());
        }
        m
    }

    /// The description text.
    pub fn render(&self) -> String {
        let mut s = PREFIX.to_string();
        for (k, v) in &self.fields {
            s.push(' ');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign() {
        let m = Marker::pool("o1", "prod", "eu", "app.example.com");
        let text = m.render();
        assert_eq!(Marker::parse(Some(&text)), Some(m.clone()));
        assert_eq!(Marker::parse(Some("managed-by=cfgeoX")), None);
        assert_eq!(Marker::parse(Some("hand made")), None);
        assert_eq!(Marker::parse(None), None);
        let l = m.with_state(MarkerState::Leaving(42));
        let back = Marker::parse(Some(&l.render())).unwrap();
        assert_eq!(back.state(), MarkerState::Leaving(42));
        assert_eq!(back.with_state(MarkerState::Active), m);
    }
}
