//! The desired-record vocabulary shared by sources, registry and planner: one [`Endpoint`] per
//! (name, type) claimed by one Kubernetes object, in canonical form.

use std::cmp::Ordering;
use std::net::IpAddr;

use crate::cloudflare::types::RecordType;
use crate::model::ObjectRef;

/// Cloudflare properties of a desired record. `None` means "not set by the object", so the
/// planner fills the configured default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CfProps {
    /// Orange-cloud; `None` falls back to `--cloudflare-proxied`.
    pub proxied: Option<bool>,
    /// Record comment; `None` falls back to `--cloudflare-record-comment`.
    pub comment: Option<String>,
    /// Tags (`name:value`), trimmed, sorted and deduplicated.
    pub tags: Vec<String>,
}

/// One desired record set: every target of one (name, type) claimed by one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Fully qualified name, lower-case ASCII (IDNA punycode), no trailing dot. A leading `*.`
    /// is kept for wildcards.
    pub name: String,
    /// A, AAAA or CNAME (or whatever a DNSEndpoint asked for).
    pub record_type: RecordType,
    /// Canonical targets: IPs in canonical text form, hostnames lower-case without trailing dot;
    /// sorted with [`target_cmp`] and deduplicated.
    pub targets: Vec<String>,
    /// TTL in seconds; `None` when the object did not set one (Cloudflare's automatic TTL).
    pub ttl: Option<u32>,
    /// Cloudflare properties.
    pub props: CfProps,
    /// external-dns `resource` label: `ingress/<ns>/<name>`, `service/<ns>/<name>`,
    /// `crd/<ns>/<name>`, `httproute/<ns>/<name>`... It also names the object that asked for
    /// the record (see [`Endpoint::object`]), so that is not stored twice.
    pub resource: Box<str>,
    /// Kind of that object (`Ingress`, `Service`, `DNSEndpoint`, `HTTPRoute`...).
    pub kind: &'static str,
    /// UID of that object, when known (Events need it to attach).
    pub uid: Option<Box<str>>,
}

impl Endpoint {
    /// The object to report Events on, read from `kind`, `resource` and `uid`.
    pub fn object(&self) -> ObjectRef {
        let (namespace, name) = self.namespace_name();
        ObjectRef {
            kind: self.kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: self.uid.as_deref().map(str::to_string),
        }
    }

    /// The object's identity as [`ObjectRef`] orders it (kind, namespace, name, uid), without
    /// building one.
    pub fn object_key(&self) -> (&'static str, &str, &str, Option<&str>) {
        let (namespace, name) = self.namespace_name();
        (self.kind, namespace, name, self.uid.as_deref())
    }

    /// `<label>/<namespace>/<name>`: neither part can hold a `/`.
    fn namespace_name(&self) -> (&str, &str) {
        let mut parts = self.resource.splitn(3, '/').skip(1);
        (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        )
    }

    /// Sorts and deduplicates `targets` into canonical order.
    pub fn canonicalize_targets(&mut self) {
        for t in &mut self.targets {
            *t = canonical_target(t);
        }
        self.targets.sort_by(|a, b| target_cmp(a, b));
        self.targets.dedup();
    }
}

/// A target in canonical text: IPs re-printed (IPv6 shortened), hostnames lower-cased with the
/// trailing dot removed.
pub fn canonical_target(t: &str) -> String {
    let t = t.trim();
    match t.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => t.trim_end_matches('.').to_ascii_lowercase(),
    }
}

/// external-dns's target order: IPs numerically, IPs before hostnames, hostnames as strings.
pub fn target_cmp(a: &str, b: &str) -> Ordering {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// The record type a target calls for: IPv4 → A, IPv6 → AAAA, anything else → CNAME.
pub fn suitable_type(target: &str) -> RecordType {
    match target.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => RecordType::A,
        Ok(IpAddr::V6(_)) => RecordType::Aaaa,
        Err(_) => RecordType::Cname,
    }
}

/// Two target lists name the same targets: case-insensitive, IPs by value, order ignored.
pub fn same_targets(a: &[String], b: &[String]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut x: Vec<String> = a.iter().map(|t| canonical_target(t)).collect();
    let mut y: Vec<String> = b.iter().map(|t| canonical_target(t)).collect();
    x.sort_by(|p, q| target_cmp(p, q));
    y.sort_by(|p, q| target_cmp(p, q));
    x == y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_is_read_from_the_resource_label() {
        let ep = Endpoint {
            name: "a.example.com".into(),
            record_type: RecordType::A,
            targets: vec!["192.0.2.1".into()],
            ttl: None,
            props: CfProps::default(),
            resource: "httproute/team-a.prod/web-1".into(),
            kind: "HTTPRoute",
            uid: Some("u-1".into()),
        };
        let obj = ep.object();
        assert_eq!(
            (obj.kind.as_str(), obj.namespace.as_str(), obj.name.as_str()),
            ("HTTPRoute", "team-a.prod", "web-1")
        );
        assert_eq!(obj.uid.as_deref(), Some("u-1"));
        assert_eq!(
            ep.object_key(),
            ("HTTPRoute", "team-a.prod", "web-1", Some("u-1"))
        );
        // Ordered as ObjectRef orders: a namespace that is a prefix of another sorts first.
        let mut other = ep.clone();
        other.resource = "httproute/team-a/web-1".into();
        assert_eq!(
            ep.object_key().cmp(&other.object_key()),
            ep.object().cmp(&other.object())
        );
    }

    #[test]
    fn canonical_forms_compare_equal() {
        assert_eq!(canonical_target("2001:DB8:0:0::1"), "2001:db8::1");
        assert_eq!(canonical_target("LB.Example.com."), "lb.example.com");
        assert!(same_targets(
            &["2001:db8::1".into(), "b.example.com".into()],
            &["B.EXAMPLE.COM.".into(), "2001:0db8::0001".into()],
        ));
        assert!(!same_targets(&["1.1.1.1".into()], &["1.1.1.2".into()]));
    }

    #[test]
    fn targets_sort_ips_numerically_then_names() {
        let mut v = vec![
            "b.x".to_string(),
            "10.0.0.2".into(),
            "9.0.0.1".into(),
            "a.x".into(),
        ];
        v.sort_by(|a, b| target_cmp(a, b));
        assert_eq!(v, ["9.0.0.1", "10.0.0.2", "a.x", "b.x"]);
        assert_eq!(suitable_type("::1"), RecordType::Aaaa);
        assert_eq!(suitable_type("1.2.3.4"), RecordType::A);
        assert_eq!(suitable_type("lb.example.com"), RecordType::Cname);
    }
}
