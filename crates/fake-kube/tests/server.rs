//! The fake Kubernetes API server driven by the real kube client and kube-runtime's watcher.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use fake_kube::{FakeKube, FakeKubeConfig, FakeKubeHandle, ResourceKind};
use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event as RecordedEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Upper bound for any single wait; a failure fails instead of hanging.
const WAIT: Duration = Duration::from_secs(15);

async fn start() -> (FakeKubeHandle, Client) {
    let fake = FakeKube::start().await.expect("fake kube starts");
    let client = fake.client().await.expect("kube client");
    (fake, client)
}

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn ingress(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"rules": [{"host": format!("{name}.example.com")}]},
    })
}

fn names(items: &[Ingress]) -> Vec<String> {
    items.iter().map(ResourceExt::name_any).collect()
}

type Seen = Result<Event<Ingress>, String>;

/// Watcher events, drained by a background task so the watcher keeps running (and
/// reconnecting) while a test waits on the server's state.
struct Events {
    rx: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn drive<S>(stream: S) -> Events
where
    S: Stream<Item = Result<Event<Ingress>, watcher::Error>> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if tx.send(item.map_err(|e| e.to_string())).is_err() {
                break;
            }
        }
    });
    Events { rx, task }
}

fn web_watcher(client: &Client) -> Events {
    let api: Api<Ingress> = Api::namespaced(client.clone(), "default");
    drive(watcher::watcher(api, watcher::Config::default().labels("app=web")).default_backoff())
}

fn reflected_watcher(client: &Client) -> (Store<Ingress>, Events) {
    let api: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher::watcher(api, watcher::Config::default()))
        .default_backoff();
    (reader, drive(stream))
}

/// Reads events until one satisfies `pick`, returning it and what came before it (watcher
/// errors included, as the backoff retries them).
async fn next_matching<T: Debug>(
    events: &mut Events,
    what: &str,
    mut pick: impl FnMut(&Event<Ingress>) -> Option<T>,
) -> (T, Vec<String>) {
    bounded(what, async {
        let mut seen = Vec::new();
        loop {
            match events.rx.recv().await {
                Some(Ok(event)) => {
                    if let Some(found) = pick(&event) {
                        return (found, seen);
                    }
                    seen.push(describe(&event));
                }
                Some(Err(e)) => seen.push(format!("error: {e}")),
                None => panic!("watch stream ended while waiting for {what}"),
            }
        }
    })
    .await
}

fn describe(event: &Event<Ingress>) -> String {
    match event {
        Event::Apply(o) => format!("apply {}", o.name_any()),
        Event::Delete(o) => format!("delete {}", o.name_any()),
        Event::Init => "init".into(),
        Event::InitApply(o) => format!("init-apply {}", o.name_any()),
        Event::InitDone => "init-done".into(),
    }
}

async fn expect_event(events: &mut Events, want: &str) -> Vec<String> {
    let (_, before) = next_matching(events, want, |e| (describe(e) == want).then_some(())).await;
    before
}

#[tokio::test]
async fn list_filters_by_label_and_pages() {
    let (fake, client) = start().await;
    fake.apply(ingress("a", json!({"app": "web"})));
    fake.apply(ingress("b", json!({"app": "api"})));
    fake.apply(ingress("c", json!({"app": "web", "tier": "edge"})));
    let mut other = ingress("d", json!({"app": "web"}));
    other["metadata"]["namespace"] = json!("other");
    fake.apply(other);

    let api: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let web = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(names(&web.items), ["a", "c"]);
    let rv = web.metadata.resource_version.expect("list resourceVersion");
    assert_eq!(rv, fake.resource_version().to_string());

    let mixed = api
        .list(&ListParams::default().labels("app in (web,api),tier!=edge"))
        .await
        .unwrap();
    assert_eq!(names(&mixed.items), ["a", "b"]);
    let edge = api
        .list(&ListParams::default().labels("tier,!missing"))
        .await
        .unwrap();
    assert_eq!(names(&edge.items), ["c"]);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(names(&by_name.items), ["b"]);

    let all: Api<Ingress> = Api::all(client.clone());
    let everywhere = all
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(names(&everywhere.items), ["a", "c", "d"]);

    // Paging is a consistent snapshot: a write between pages does not show up.
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(&first.items), ["a", "b"]);
    assert_eq!(first.metadata.remaining_item_count, Some(1));
    fake.apply(ingress("bb", json!({})));
    let token = first.metadata.continue_.expect("continue token");
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second.items), ["c"]);
    assert!(second.metadata.continue_.is_none());

    let bad = api.list(&ListParams::default().labels("app in (x")).await;
    assert!(matches!(bad, Err(kube::Error::Api(s)) if s.code == 400));
    fake.shutdown().await;
}

#[tokio::test]
async fn watcher_sees_selector_filtered_changes() {
    let (fake, client) = start().await;
    let mut events = web_watcher(&client);
    expect_event(&mut events, "init-done").await;

    fake.apply(ingress("a", json!({"app": "web"})));
    expect_event(&mut events, "apply a").await;

    let mut updated = ingress("a", json!({"app": "web"}));
    updated["spec"]["rules"][0]["host"] = json!("changed.example.com");
    fake.apply(updated);
    let (host, _) = next_matching(&mut events, "update of a", |e| match e {
        Event::Apply(o) => o
            .spec
            .as_ref()
            .and_then(|s| s.rules.as_ref())
            .and_then(|r| r[0].host.clone()),
        _ => None,
    })
    .await;
    assert_eq!(host, "changed.example.com");

    // Losing the label is a delete for this watch; regaining it an add.
    fake.apply(ingress("a", json!({"app": "other"})));
    expect_event(&mut events, "delete a").await;
    fake.apply(ingress("a", json!({"app": "web"})));
    expect_event(&mut events, "apply a").await;

    // Non-matching objects never show up: the next event is for c, not b.
    fake.apply(ingress("b", json!({"app": "api"})));
    fake.apply(ingress("c", json!({"app": "web"})));
    let (name, _) = next_matching(&mut events, "c", |e| match e {
        Event::Apply(o) => Some(o.name_any()),
        _ => None,
    })
    .await;
    assert_eq!(name, "c");

    // A delete through the API arrives with the deletion's resourceVersion.
    let api: Api<Ingress> = Api::namespaced(client.clone(), "default");
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let (rv, _) = next_matching(&mut events, "delete a", |e| match e {
        Event::Delete(o) if o.name_any() == "a" => o.resource_version(),
        _ => None,
    })
    .await;
    assert_eq!(rv, fake.resource_version().to_string());
    fake.shutdown().await;
}

#[tokio::test]
async fn watcher_reconnects_after_dropped_connections() {
    let (fake, client) = start().await;
    let mut events = web_watcher(&client);
    expect_event(&mut events, "init-done").await;
    // The watch opens after the initial list; wait for it before cutting it.
    assert!(fake.wait_until(WAIT, |f| f.open_watches() == 1).await);
    let watches = fake.request_count("watch", "ingresses");

    fake.drop_watches();
    let reconnected = fake
        .wait_until(WAIT, |f| {
            f.request_count("watch", "ingresses") > watches && f.open_watches() == 1
        })
        .await;
    assert!(reconnected, "watcher did not reconnect");
    fake.apply(ingress("late", json!({"app": "web"})));
    let before = expect_event(&mut events, "apply late").await;
    assert!(
        !before.iter().any(|e| e == "init"),
        "a resumable drop must not re-list: {before:?}"
    );
    assert_eq!(fake.request_count("list", "ingresses"), 1);
    fake.shutdown().await;
}

/// Deletes `b` while the watcher cannot see it, lets `disrupt` make the watcher's
/// resourceVersion Gone, and checks the watcher re-lists into a store without `b`.
async fn relist_after(disrupt: impl FnOnce(&FakeKubeHandle)) {
    let (fake, client) = start().await;
    fake.apply(ingress("a", json!({})));
    fake.apply(ingress("b", json!({})));
    let (store, mut events) = reflected_watcher(&client);
    expect_event(&mut events, "init-done").await;
    assert_eq!(store.state().len(), 2);
    assert!(fake.wait_until(WAIT, |f| f.open_watches() == 1).await);
    let lists = fake.request_count("list", "ingresses");

    fake.pause_watches();
    assert!(fake.delete("networking.k8s.io/v1", "Ingress", Some("default"), "b"));
    fake.apply(ingress("c", json!({})));
    disrupt(&fake);
    fake.resume_watches();

    let before = expect_event(&mut events, "init").await;
    assert!(
        !before
            .iter()
            .any(|e| e.starts_with("delete") || e.starts_with("apply")),
        "changes leaked before the re-list: {before:?}"
    );
    expect_event(&mut events, "init-done").await;
    let mut left: Vec<String> = store.state().iter().map(|o| o.name_any()).collect();
    left.sort();
    assert_eq!(left, ["a", "c"]);
    assert!(fake.request_count("list", "ingresses") > lists);

    // And the new watch is live.
    fake.apply(ingress("d", json!({})));
    expect_event(&mut events, "apply d").await;
    fake.shutdown().await;
}

#[tokio::test]
async fn watcher_relists_after_history_expires_while_connected() {
    relist_after(FakeKubeHandle::expire_history).await;
}

#[tokio::test]
async fn watcher_relists_after_history_expires_while_disconnected() {
    relist_after(|fake| {
        fake.expire_history();
        fake.drop_watches();
    })
    .await;
}

#[tokio::test]
async fn watcher_relists_after_apiserver_restart() {
    relist_after(FakeKubeHandle::restart_with_new_history).await;
}

#[tokio::test]
async fn injected_gone_and_server_errors() {
    let (fake, client) = start().await;
    fake.apply(ingress("a", json!({"app": "web"})));
    fake.fail_next_watches(1);
    let mut events = web_watcher(&client);
    expect_event(&mut events, "init-done").await;
    // The first watch is answered with 410, so the watcher lists again.
    let (_, before) = next_matching(&mut events, "second init-done", |e| {
        matches!(e, Event::InitDone).then_some(())
    })
    .await;
    assert!(before.iter().any(|e| e.contains("Expired")), "{before:?}");
    fake.apply(ingress("b", json!({"app": "web"})));
    expect_event(&mut events, "apply b").await;

    fake.fail_next_requests("ingresses", 1);
    let api: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let failed = api.get("a").await;
    assert!(matches!(failed, Err(kube::Error::Api(s)) if s.code == 500));
    assert_eq!(api.get("a").await.unwrap().name_any(), "a");
    let missing = api.get("nope").await;
    assert!(matches!(missing, Err(kube::Error::Api(s)) if s.code == 404 && s.reason == "NotFound"));
    assert_eq!(fake.request_count("get", "ingresses"), 3);
    fake.shutdown().await;
}

#[tokio::test]
async fn streaming_list_watcher() {
    let (fake, client) = start().await;
    fake.apply(ingress("a", json!({"app": "web"})));
    fake.apply(ingress("b", json!({"app": "api"})));
    let api: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let config = watcher::Config::default()
        .labels("app=web")
        .streaming_lists();
    let mut events = drive(watcher::watcher(api, config).default_backoff());
    let before = expect_event(&mut events, "init-done").await;
    assert_eq!(before, ["init", "init-apply a"]);
    assert_eq!(fake.request_count("list", "ingresses"), 0);
    fake.apply(ingress("c", json!({"app": "web"})));
    expect_event(&mut events, "apply c").await;
    fake.shutdown().await;
}

#[tokio::test]
async fn recorder_events_arrive() {
    let (fake, client) = start().await;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "cfgeo-test".into(),
            instance: None,
        },
    );
    let reference = ObjectReference {
        api_version: Some("networking.k8s.io/v1".into()),
        kind: Some("Ingress".into()),
        name: Some("a".into()),
        namespace: Some("default".into()),
        ..Default::default()
    };
    let event = RecordedEvent {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("pool updated".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    bounded("publish", recorder.publish(&event, &reference))
        .await
        .unwrap();
    bounded("publish again", recorder.publish(&event, &reference))
        .await
        .unwrap();

    let events = fake.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let stored = &events[0];
    assert_eq!(stored["apiVersion"], "events.k8s.io/v1");
    assert_eq!(stored["reason"], "Synced");
    assert_eq!(stored["regarding"]["name"], "a");
    assert_eq!(stored["series"]["count"], 2);
    assert_eq!(fake.request_count("create", "events"), 1);
    assert_eq!(fake.request_count("patch", "events"), 1);
    fake.shutdown().await;
}

#[tokio::test]
async fn lease_optimistic_concurrency() {
    let (fake, client) = start().await;
    let api: Api<Lease> = Api::namespaced(client.clone(), "default");
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("cfgeo-leader".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("one".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let created = api.create(&PostParams::default(), &lease).await.unwrap();
    assert!(created.metadata.uid.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    let again = api.create(&PostParams::default(), &lease).await;
    assert!(
        matches!(again, Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists")
    );

    let mut mine = created.clone();
    mine.spec.as_mut().unwrap().holder_identity = Some("two".into());
    let replaced = api
        .replace("cfgeo-leader", &PostParams::default(), &mine)
        .await
        .unwrap();
    assert_ne!(replaced.resource_version(), created.resource_version());
    assert_eq!(replaced.metadata.generation, Some(2));

    // `created` still carries the old resourceVersion.
    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("three".into());
    let conflict = api
        .replace("cfgeo-leader", &PostParams::default(), &stale)
        .await;
    assert!(
        matches!(conflict, Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "Conflict")
    );

    // A merge patch naming the stale resourceVersion conflicts too; one without it applies.
    let stale_patch = json!({"metadata": {"resourceVersion": created.resource_version()}, "spec": {"holderIdentity": "three"}});
    let conflict = api
        .patch(
            "cfgeo-leader",
            &PatchParams::default(),
            &Patch::Merge(&stale_patch),
        )
        .await;
    assert!(matches!(conflict, Err(kube::Error::Api(s)) if s.code == 409));
    let patched = api
        .patch(
            "cfgeo-leader",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": "three"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.spec.unwrap().holder_identity.as_deref(),
        Some("three")
    );
    let typed: Lease = fake.get_resource(Some("default"), "cfgeo-leader").unwrap();
    assert_eq!(typed.resource_version(), patched.metadata.resource_version);
    fake.shutdown().await;
}

#[tokio::test]
async fn ingress_status_subresource() {
    let (fake, client) = start().await;
    fake.apply(ingress("a", json!({})));
    let api: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}});
    let patched = api
        .patch_status("a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let ip = |i: &Ingress| {
        i.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .and_then(|l| l[0].ip.clone())
    };
    assert_eq!(ip(&patched).as_deref(), Some("192.0.2.10"));
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status does not bump generation"
    );

    // Replacing the main resource neither drops the status nor lets it change.
    let mut spec_change = patched.clone();
    spec_change.spec.as_mut().unwrap().ingress_class_name = Some("cf".into());
    spec_change.status = None;
    let replaced = api
        .replace("a", &PostParams::default(), &spec_change)
        .await
        .unwrap();
    assert_eq!(ip(&replaced).as_deref(), Some("192.0.2.10"));
    assert_eq!(replaced.metadata.generation, Some(2));

    // A no-op write keeps the resourceVersion.
    let same = api
        .replace("a", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(same.resource_version(), replaced.resource_version());

    // The handle's helper sets status directly.
    let set = fake
        .set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("default"),
            "a",
            json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.net"}]}}),
        )
        .unwrap();
    assert_eq!(
        set["status"]["loadBalancer"]["ingress"][0]["hostname"],
        "lb.example.net"
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn discovery_and_registered_kinds() {
    let fake = FakeKube::start_with(FakeKubeConfig {
        history_capacity: 4,
        ..FakeKubeConfig::default()
    })
    .await
    .unwrap();
    fake.register_kind(ResourceKind::namespaced(
        "example.com",
        "v1",
        "Widget",
        "widgets",
    ));
    let client = fake.client().await.unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_owned()).collect();
    for group in [
        "networking.k8s.io",
        "gateway.networking.k8s.io",
        "externaldns.k8s.io",
        "example.com",
    ] {
        assert!(
            groups.iter().any(|g| g == group),
            "{group} missing from {groups:?}"
        );
    }
    let (route, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "gateway.networking.k8s.io",
            "v1",
            "HTTPRoute",
        ))
        .expect("HTTPRoute discovered");
    assert_eq!(route.plural, "httproutes");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    // Dynamic objects of a registered kind round-trip through the API.
    let (widget_res, _) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "example.com",
            "v1",
            "Widget",
        ))
        .unwrap();
    let widgets: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &widget_res);
    for i in 0..6 {
        let w: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": format!("w{i}")}, "spec": {"size": i},
        }))
        .unwrap();
        widgets.create(&PostParams::default(), &w).await.unwrap();
    }
    assert_eq!(fake.list("example.com/v1", "Widget").len(), 6);

    // With a history of 4 changes, a resourceVersion from before the first widget is Gone.
    let old_rv = fake.resource_version() - 6;
    let exact = ListParams::default()
        .at(&old_rv.to_string())
        .matching(kube::api::VersionMatch::Exact);
    let gone = widgets.list(&exact).await;
    assert!(
        matches!(&gone, Err(kube::Error::Api(s)) if s.code == 410),
        "{gone:?}"
    );
    // Within the history an Exact list is the state at that version.
    let recent = ListParams::default()
        .at(&(fake.resource_version() - 2).to_string())
        .matching(kube::api::VersionMatch::Exact);
    assert_eq!(widgets.list(&recent).await.unwrap().items.len(), 4);

    // The control path mirrors the handle.
    let request = axum::http::Request::post("/__fake/fail-requests?plural=widgets&n=1")
        .body(Vec::new())
        .unwrap();
    client.request_text(request).await.unwrap();
    let failed = widgets.get("w0").await;
    assert!(matches!(failed, Err(kube::Error::Api(s)) if s.code == 500));
    fake.shutdown().await;
}

/// Reads a raw HTTP connection until `done` holds for everything received, bounded as a
/// whole: a watch that keeps sending (bookmarks) must not keep a failing test alive.
async fn read_until(
    conn: &mut tokio::net::TcpStream,
    what: &str,
    mut done: impl FnMut(&str) -> bool,
) -> String {
    use tokio::io::AsyncReadExt;
    bounded(what, async {
        let mut received = String::new();
        let mut buf = [0u8; 4096];
        while !done(&received) {
            let n = conn.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "closed early: {received}");
            received.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        received
    })
    .await
}

/// The watch lines in raw chunked HTTP: JSON objects between chunk-size lines.
fn watch_lines(received: &str) -> Vec<Value> {
    received
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

#[tokio::test]
async fn dropped_watch_closes_the_connection_mid_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (fake, _client) = start().await;
    fake.apply(ingress("a", json!({})));
    let mut conn = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    let request = "GET /apis/networking.k8s.io/v1/namespaces/default/ingresses?watch=true \
                   HTTP/1.1\r\nHost: fake\r\n\r\n";
    conn.write_all(request.as_bytes()).await.unwrap();
    // The synthetic ADDED for `a` arrives first.
    let head = read_until(&mut conn, "watch data", |r| {
        watch_lines(r).iter().any(|e| e["type"] == "ADDED")
    })
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase().contains("transfer-encoding: chunked"),
        "{head}"
    );

    fake.drop_watches();
    let mut rest = Vec::new();
    bounded("connection close", conn.read_to_end(&mut rest))
        .await
        .unwrap();
    // No terminating zero-length chunk: the stream was cut, not finished.
    assert!(
        !String::from_utf8_lossy(&rest).contains("0\r\n\r\n"),
        "{rest:?}"
    );
    assert!(fake.wait_until(WAIT, |f| f.open_watches() == 0).await);
    fake.shutdown().await;
}

#[tokio::test]
async fn watch_sends_periodic_bookmarks_at_the_current_version() {
    use tokio::io::AsyncWriteExt;
    let fake = FakeKube::start_with(FakeKubeConfig {
        bookmark_interval: Duration::from_millis(50),
        ..FakeKubeConfig::default()
    })
    .await
    .unwrap();
    let start = fake.resource_version();
    let mut conn = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    let request = format!(
        "GET /apis/networking.k8s.io/v1/ingresses?watch=1&resourceVersion={start}\
         &allowWatchBookmarks=true HTTP/1.1\r\nHost: fake\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    fake.apply(ingress("a", json!({})));
    let current = fake.resource_version().to_string();
    let received = read_until(&mut conn, "bookmark at the current version", |r| {
        watch_lines(r).iter().any(|e| {
            e["type"] == "BOOKMARK" && e["object"]["metadata"]["resourceVersion"] == *current
        })
    })
    .await;
    let events = watch_lines(&received);
    // The change itself comes before the bookmark that covers it.
    assert_eq!(events[0]["type"], "ADDED", "{events:?}");
    assert_eq!(events[0]["object"]["metadata"]["resourceVersion"], *current);
    let mark = events.iter().find(|e| e["type"] == "BOOKMARK").unwrap();
    assert_eq!(mark["object"]["kind"], "Ingress");
    assert_eq!(mark["object"]["apiVersion"], "networking.k8s.io/v1");
    fake.shutdown().await;
}
