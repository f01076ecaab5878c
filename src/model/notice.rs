//! What the engines tell the owner of a Kubernetes object (each becomes a Kubernetes Event):
//! the object a notice or a write is about, its severity, its reason and message. Pure data.

use k8s_openapi::api::networking::v1::Ingress;

/// A Kubernetes object a notice or a write is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// `Ingress`, `Service`...
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID, when known (Events need it to attach).
    pub uid: Option<String>,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl ObjectRef {
    /// The reference of any object of `kind`.
    pub fn of(
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Self {
        Self {
            kind: kind.into(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
        }
    }

    /// The reference of an Ingress.
    pub fn ingress(ing: &Ingress) -> Self {
        Self {
            kind: "Ingress".into(),
            namespace: ing.metadata.namespace.clone().unwrap_or_default(),
            name: ing.metadata.name.clone().unwrap_or_default(),
            uid: ing.metadata.uid.clone(),
        }
    }
}

/// Severity of a notice, as Kubernetes Event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Informational.
    Normal,
    /// Something the user should fix.
    Warning,
}

/// Something to tell the owner of an object (becomes a Kubernetes Event).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Notice {
    /// The object.
    pub object: ObjectRef,
    /// Severity.
    pub severity: Severity,
    /// PascalCase reason.
    pub reason: String,
    /// Message naming the field at fault.
    pub message: String,
}
