//! Helpers for tests on the real kube-apiserver (tests/common/control_plane.rs): server-side
//! apply of any object with its status, namespaces, CRDs, and waiting for the emulator to idle.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use super::control_plane;

pub fn pp() -> PatchParams {
    PatchParams::apply("cfgeo-test").force()
}

/// Server-side applies any object; `status`, when the object has one, goes through the status
/// subresource as a controller would write it.
pub async fn apply(client: &kube::Client, obj: Value) -> DynamicObject {
    let (group, version) = match obj["apiVersion"].as_str().unwrap().split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (
            String::new(),
            obj["apiVersion"].as_str().unwrap().to_string(),
        ),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, obj["kind"].as_str().unwrap());
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discovery of {gvk:?}: {e}"));
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) if caps.scope == kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(client.clone(), ns, &ar)
        }
        _ => Api::all_with(client.clone(), &ar),
    };
    let mut body = obj.clone();
    let status = body.as_object_mut().unwrap().remove("status");
    let out = api
        .patch(&name, &pp(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("applying {}/{name}: {e}", gvk.kind));
    match status {
        Some(st) => api
            .patch_status(
                &name,
                &pp(),
                &Patch::Apply(&json!({
                    "apiVersion": obj["apiVersion"], "kind": obj["kind"],
                    "metadata": {"name": name, "namespace": obj["metadata"]["namespace"]},
                    "status": st,
                })),
            )
            .await
            .unwrap_or_else(|e| panic!("status of {}/{name}: {e}", gvk.kind)),
        None => out,
    }
}

pub async fn namespace(client: &kube::Client, name: &str) {
    apply(
        client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    .await;
}

/// Applies every CustomResourceDefinition in `files` and waits until each is Established.
pub async fn install_crds(client: &kube::Client, files: &[std::path::PathBuf]) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        for d in docs {
            if d["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            api.patch(&name, &pp(), &Patch::Apply(&d)).await.unwrap();
            names.push(name);
        }
    }
    for name in names {
        let cond = kube::runtime::conditions::is_crd_established();
        kube::runtime::wait::await_condition(api.clone(), &name, cond)
            .await
            .unwrap();
    }
}

pub fn gateway_crds(channel: &str) -> Vec<std::path::PathBuf> {
    let dir = control_plane::peer_bin("etcd")
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("gateway-api")
        .join(channel);
    [
        "gatewayclasses",
        "gateways",
        "httproutes",
        "grpcroutes",
        "tlsroutes",
        "tcproutes",
        "udproutes",
    ]
    .iter()
    .map(|k| dir.join(format!("gateway.networking.k8s.io_{k}.yaml")))
    .collect()
}

/// Waits until the emulator has received no call for one second: the engines are idle.
pub async fn quiet(emu: &cfgeo::emulator::EmulatorHandle) {
    let mut last = (emu.call_log().len(), std::time::Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = emu.call_log().len();
        if n != last.0 {
            last = (n, std::time::Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            return;
        }
    }
}

/// A record synchronizer with `settings` over `kinds` (in `namespace`, or all), watching
/// `client`, writing into the emulator's example.com zone; stops when the token is cancelled.
pub async fn start_record_engine(
    emu: &cfgeo::emulator::EmulatorHandle,
    client: &kube::Client,
    kinds: &[cfgeo::records::sources::SourceKind],
    settings: cfgeo::records::engine::RecordSettings,
    namespace: Option<&str>,
) -> tokio_util::sync::CancellationToken {
    use cfgeo::records::engine::{RecordEngine, resolve_zones};
    let cf = super::client(emu);
    let zone = emu.zone_id("example.com").unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let zones = resolve_zones(&cf, std::slice::from_ref(&zone), &settings.plan.domains)
        .await
        .unwrap();
    let inputs = cfgeo::records::inputs::watch_inputs(
        client.clone(),
        kinds,
        cfgeo::records::sources::SourceSettings::default(),
        namespace,
        None,
        shutdown.clone(),
    );
    let engine = RecordEngine::new(
        cf,
        settings,
        zones,
        cfgeo::events::Reporter::kube(client.clone(), "cfgeo", None),
        super::fast_timing(),
    )
    .with_status_writer(client.clone());
    let (tx, leader) = tokio::sync::watch::channel(true);
    let sd = shutdown.clone();
    tokio::spawn(async move {
        let _keep = tx;
        engine.run(inputs, leader, sd).await
    });
    shutdown
}

/// A real control plane behind the fake API server's handle shape (`apply`, `set_status`,
/// `merge_patch`, `delete`, `events`), so an end-to-end test reads the same on either. A
/// namespace is created the first time an object names it.
pub struct RealKube {
    pub cp: control_plane::ControlPlane,
    admin: kube::Client,
    namespaces: tokio::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl RealKube {
    /// A control plane; `crds` installs the Gateway API (experimental channel) and DNSEndpoint
    /// CRDs first, for tests that watch those kinds.
    pub async fn start(crds: bool) -> Self {
        let cp = control_plane::ControlPlane::start().await;
        let admin = cp.admin().await;
        if crds {
            let mut files = gateway_crds("experimental");
            files.push(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("deploy/manifests/crd-dnsendpoint.yaml"),
            );
            install_crds(&admin, &files).await;
        }
        Self {
            cp,
            admin,
            namespaces: Default::default(),
        }
    }

    /// A new admin client (each test runtime needs its own).
    pub async fn client(&self) -> kube::Client {
        self.cp.admin().await
    }

    async fn ensure_namespace(&self, obj: &Value) {
        if let Some(ns) = obj["metadata"]["namespace"].as_str() {
            let mut seen = self.namespaces.lock().await;
            if seen.insert(ns.to_string()) {
                namespace(&self.admin, ns).await;
            }
        }
    }

    async fn api(&self, api_version: &str, kind: &str, ns: Option<&str>) -> Api<DynamicObject> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, _) = kube::discovery::pinned_kind(&self.admin, &gvk)
            .await
            .unwrap_or_else(|e| panic!("discovery of {gvk:?}: {e}"));
        match ns {
            Some(ns) => Api::namespaced_with(self.admin.clone(), ns, &ar),
            None => Api::all_with(self.admin.clone(), &ar),
        }
    }

    /// Server-side applies `obj`, then its `status` through the status subresource.
    pub async fn apply(&self, obj: Value) -> Value {
        self.ensure_namespace(&obj).await;
        serde_json::to_value(apply(&self.admin, obj).await).unwrap()
    }

    /// An object, or None when it does not exist.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let api = self.api(api_version, kind, ns).await;
        api.get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("reading {kind} {name}: {e}"))
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// Replaces the status of an object through its status subresource.
    pub async fn set_status(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        status: Value,
    ) {
        let api = self.api(api_version, kind, ns).await;
        let body = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name}, "status": status});
        api.patch_status(name, &pp(), &Patch::Apply(&body))
            .await
            .unwrap_or_else(|e| panic!("status of {kind} {name}: {e}"));
    }

    /// A JSON merge patch of an object's main resource.
    pub async fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
    ) {
        let api = self.api(api_version, kind, ns).await;
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap_or_else(|e| panic!("patching {kind} {name}: {e}"));
    }

    /// Deletes an object; false when it did not exist.
    pub async fn delete(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> bool {
        let api = self.api(api_version, kind, ns).await;
        match api.delete(name, &Default::default()).await {
            Ok(_) => true,
            Err(kube::Error::Api(s)) if s.code == 404 => false,
            Err(e) => panic!("deleting {kind} {name}: {e}"),
        }
    }

    /// Polls the Events until `f` holds on them, for at most `timeout`.
    pub async fn wait_events(&self, timeout: Duration, f: impl Fn(&[Value]) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if f(&self.events().await) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every Event (core/v1), oldest first.
    pub async fn events(&self) -> Vec<Value> {
        let api: Api<k8s_openapi::api::core::v1::Event> = Api::all(self.admin.clone());
        let mut out: Vec<Value> = api
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        out.sort_by_key(|e| {
            e["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_default()
        });
        out
    }
}
