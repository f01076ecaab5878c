//! Kubernetes Events: what was written, or why not, on the object that caused it.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter as KubeReporter};

use std::collections::BTreeSet;

use crate::model::{Notice, Severity};

/// The notices already published, so each one becomes an Event once while it holds, and again
/// only after it went away and came back.
#[derive(Debug, Default)]
pub struct Published(BTreeSet<Notice>);

impl Published {
    /// Publishes the notices of `now` that were not in the last set, then remembers `now`.
    pub async fn update(&mut self, reporter: &Reporter, now: Vec<Notice>) {
        let now: BTreeSet<Notice> = now.into_iter().collect();
        for n in now.difference(&self.0) {
            reporter.publish(n).await;
        }
        self.0 = now;
    }
}

/// Where the engines' [`Notice`]s go: Kubernetes Events on the objects they are about, or log
/// lines only.
#[derive(Clone)]
pub enum Reporter {
    /// Kubernetes Events through kube's recorder (plus a log line).
    Kube(Recorder),
    /// Log lines only (manifest mode, where there is no API server).
    Log,
}

impl Reporter {
    /// A reporter that publishes Events as `controller`.
    pub fn kube(client: kube::Client, controller: &str, instance: Option<String>) -> Self {
        let r = KubeReporter {
            controller: controller.into(),
            instance,
        };
        Self::Kube(Recorder::new(client, r))
    }

    /// Publishes a notice; failures to publish are logged, never fatal.
    pub async fn publish(&self, n: &Notice) {
        match n.severity {
            Severity::Warning => {
                tracing::warn!(object = %n.object, reason = %n.reason, "{}", n.message)
            }
            Severity::Normal => {
                tracing::info!(object = %n.object, reason = %n.reason, "{}", n.message)
            }
        }
        let Self::Kube(rec) = self else { return };
        let api_version = match n.object.kind.as_str() {
            "Ingress" => "networking.k8s.io/v1",
            "DNSEndpoint" => "externaldns.k8s.io/v1alpha1",
            "Gateway" | "HTTPRoute" | "GRPCRoute" => "gateway.networking.k8s.io/v1",
            _ => "v1",
        };
        let reference = ObjectReference {
            api_version: Some(api_version.into()),
            kind: Some(n.object.kind.clone()),
            namespace: Some(n.object.namespace.clone()),
            name: Some(n.object.name.clone()),
            uid: n.object.uid.clone(),
            ..Default::default()
        };
        let mut note = n.message.clone();
        note.truncate(1000);
        let ev = Event {
            type_: match n.severity {
                Severity::Warning => EventType::Warning,
                Severity::Normal => EventType::Normal,
            },
            reason: n.reason.clone(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = rec.publish(&ev, &reference).await {
            tracing::warn!(object = %n.object, error = %e, "could not publish Event");
        }
    }
}
