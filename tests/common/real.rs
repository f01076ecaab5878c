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
    kinds: &[cfgeo::config::SourceKind],
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
