//! The ownership marker cfgeo writes into the `description` of the pools and monitors it owns.
//! Monitors have no name in Cloudflare, so the marker is the only way to find ours again.

use std::collections::BTreeMap;

const PREFIX: &str = "managed-by=cfgeo";

/// Lifecycle of an owned pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerState {
    /// Not retiring: the pool stays in its load balancers (its origins may still be drained).
    Active,
    /// Being removed: origins disabled, to be dropped from every LB since the given unix time.
    Leaving(u64),
}

/// Who owns an object: the cluster (owner id), the region and the deployment. Two deployments
/// of one cluster, or two clusters sharing an owner id in different regions, never match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `CFGEO_OWNER_ID`, or the cluster's kube-system UID.
    pub owner: String,
    /// `GEO_LOCATION`.
    pub geo: String,
    /// `CFGEO_DEPLOYMENT_ID`, by default the deployment's `CF_LB_HOSTNAME`.
    pub deploy: String,
}

impl Identity {
    /// True when `m` was written by this identity. Markers of earlier versions carry no
    /// `deploy`; they match on owner and region, and on `lb` when they name one.
    pub fn owns(&self, m: &Marker) -> bool {
        if m.owner() != Some(self.owner.as_str()) {
            return false;
        }
        if m.get("geo").is_some_and(|g| g != self.geo) {
            return false;
        }
        match m.get("deploy") {
            Some(d) => d == self.deploy,
            None => m.lb().is_none_or(|h| h == self.deploy),
        }
    }

    /// `owner/geo/deploy`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.owner, self.geo, self.deploy)
    }
}

/// Characters a marker value can carry back unchanged.
pub fn marker_safe(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@'))
}

/// A pool cfgeo manages (any owner): its name has the cfgeo prefix and its description a
/// marker. The geo planner and the status page must agree on this, so it lives here.
pub fn is_cfgeo_pool(name: &str, description: Option<&str>) -> bool {
    name.starts_with(super::names::POOL_PREFIX) && Marker::parse(description).is_some()
}

/// Parsed marker: `managed-by=cfgeo key=value ...`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Marker {
    fields: BTreeMap<String, String>,
}

impl Marker {
    /// A pool marker.
    pub fn pool(id: &Identity, cluster: &str, lb: &str) -> Self {
        let mut m = Self::default();
        m.fields.insert("owner".into(), id.owner.clone());
        m.fields.insert("deploy".into(), id.deploy.clone());
        m.fields.insert("cluster".into(), cluster.into());
        m.fields.insert("geo".into(), id.geo.clone());
        m.fields.insert("lb".into(), lb.into());
        m
    }

    /// A monitor marker for the pool it serves.
    pub fn monitor(id: &Identity, pool: &str) -> Self {
        let mut m = Self::default();
        m.fields.insert("owner".into(), id.owner.clone());
        m.fields.insert("deploy".into(), id.deploy.clone());
        m.fields.insert("geo".into(), id.geo.clone());
        m.fields.insert("pool".into(), pool.into());
        m
    }

    /// A marker from raw fields (tests, and markers of earlier versions).
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
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

    /// The cluster (owner id) that owns the object.
    pub fn owner(&self) -> Option<&str> {
        self.get("owner")
    }

    /// The LB hostname a pool serves.
    pub fn lb(&self) -> Option<&str> {
        self.get("lb")
    }

    /// `owner/geo/deploy` as written, for messages.
    pub fn label(&self) -> String {
        format!(
            "{}/{}/{}",
            self.owner().unwrap_or("?"),
            self.get("geo").unwrap_or("?"),
            self.get("deploy").or(self.lb()).unwrap_or("?")
        )
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

    fn id(owner: &str, geo: &str, deploy: &str) -> Identity {
        Identity {
            owner: owner.into(),
            geo: geo.into(),
            deploy: deploy.into(),
        }
    }

    #[test]
    fn round_trip_and_foreign() {
        let m = Marker::pool(
            &id("o1", "eu", "app.example.com"),
            "prod",
            "app.example.com",
        );
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

    #[test]
    fn identity_needs_owner_region_and_deployment() {
        let me = id("cluster-1", "eu", "app.example.com");
        let mine = Marker::pool(&me, "prod", "app.example.com");
        assert!(me.owns(&mine));
        // Same cluster, second deployment for another hostname.
        assert!(!id("cluster-1", "eu", "shop.example.com").owns(&mine));
        // Same owner id in another region (e.g. manifests-eu copied to us_east).
        assert!(!id("cluster-1", "us_east", "app.example.com").owns(&mine));
        assert!(!id("cluster-2", "eu", "app.example.com").owns(&mine));
        // A marker of an earlier version: owner, geo and lb only.
        let old = Marker::from_fields([
            ("owner", "cluster-1"),
            ("geo", "eu"),
            ("cluster", "prod"),
            ("lb", "app.example.com"),
        ]);
        assert!(me.owns(&old));
        assert!(!id("cluster-1", "eu", "shop.example.com").owns(&old));
    }

    #[test]
    fn marker_safe_values() {
        for ok in ["cluster-3f2a", "manifests-eu", "prod.eu:1", "team/app@x"] {
            assert!(marker_safe(ok), "{ok}");
        }
        for bad in ["", "has space", "a=b", "tab\there", "é", &"x".repeat(129)] {
            assert!(!marker_safe(bad), "{bad}");
        }
    }
}
