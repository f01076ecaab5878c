//! The snapshots of every enabled record source, combined into one desired state.

use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, select_all};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use tokio::sync::watch;

use super::Endpoint;
use super::kinds::{DNSEndpoint, GRPCRoute, Gateway, HTTPRoute, TCPRoute, TLSRoute, UDPRoute};
use super::sources::{self, ObjectOutput, SourceOutput, SourceSettings};
use crate::model::{Notice, ObjectRef};
use crate::sources::Snapshot;

/// A snapshot channel of one kind; `None` inside until its first list is complete.
pub type Rx<K> = watch::Receiver<Option<Snapshot<K>>>;

/// The combined desired state. Built for a pass and dropped after it; the endpoints are shared
/// with what the watches keep, not copies.
#[derive(Debug, Clone, PartialEq, Default, Hash)]
pub struct DesiredRecords {
    /// Every endpoint of every source, sorted.
    pub endpoints: Vec<Arc<Endpoint>>,
    /// Problems found in the objects.
    pub notices: Vec<Notice>,
    /// True once every enabled source has listed once: only then may deletions be planned.
    pub synced: bool,
    /// DNSEndpoints and their `metadata.generation`, for `status.observedGeneration`.
    pub crd_generations: Vec<(ObjectRef, i64)>,
}

/// The channels of the enabled sources.
#[derive(Default)]
pub struct Inputs {
    /// Source settings.
    pub settings: SourceSettings,
    /// Each Ingress's endpoints and notices ([`sources::ingress_output`]).
    pub ingresses: Option<Rx<ObjectOutput>>,
    /// Each Service's endpoints and notices before the merge ([`sources::service_output`]).
    pub services: Option<Rx<ObjectOutput>>,
    /// Gateways (needed by every route source).
    pub gateways: Option<Rx<Gateway>>,
    /// HTTPRoutes.
    pub http_routes: Option<Rx<HTTPRoute>>,
    /// GRPCRoutes.
    pub grpc_routes: Option<Rx<GRPCRoute>>,
    /// TLSRoutes.
    pub tls_routes: Option<Rx<TLSRoute>>,
    /// TCPRoutes.
    pub tcp_routes: Option<Rx<TCPRoute>>,
    /// UDPRoutes.
    pub udp_routes: Option<Rx<UDPRoute>>,
    /// DNSEndpoints.
    pub dns_endpoints: Option<Rx<DNSEndpoint>>,
    closed: Vec<bool>,
}

fn take_shared(o: &ObjectOutput, endpoints: &mut Vec<Arc<Endpoint>>, notices: &mut Vec<Notice>) {
    endpoints.extend(o.endpoints.iter().cloned());
    notices.extend(o.notices.iter().cloned());
}

fn snap<K>(rx: &Option<Rx<K>>) -> Option<Option<Snapshot<K>>> {
    rx.as_ref().map(|r| r.borrow().clone())
}

impl Inputs {
    /// Inputs with these settings and no source yet.
    pub fn new(settings: SourceSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// The desired state from what has been listed so far; `None` before any source listed.
    pub fn current(&self) -> Option<DesiredRecords> {
        let mut endpoints: Vec<Arc<Endpoint>> = Vec::new();
        let mut notices: Vec<Notice> = Vec::new();
        let mut any = false;
        let mut all = true;
        let s = &self.settings;
        match snap(&self.ingresses) {
            Some(Some(v)) => {
                any = true;
                for o in v.iter() {
                    take_shared(o, &mut endpoints, &mut notices);
                }
            }
            Some(None) => all = false,
            None => {}
        }
        match snap(&self.services) {
            Some(Some(v)) => {
                any = true;
                let mut eps = Vec::new();
                for o in v.iter() {
                    take_shared(o, &mut eps, &mut notices);
                }
                endpoints.extend(sources::merge_services(eps));
            }
            Some(None) => all = false,
            None => {}
        }
        let mut take = |o: SourceOutput| {
            endpoints.extend(o.endpoints.into_iter().map(Arc::new));
            notices.extend(o.notices);
        };
        let gateways = snap(&self.gateways);
        let gws: Snapshot<Gateway> = match &gateways {
            Some(Some(g)) => g.clone(),
            Some(None) => {
                all = false;
                Arc::new(Vec::new())
            }
            None => Arc::new(Vec::new()),
        };
        let gateways_ready = !matches!(gateways, Some(None));
        macro_rules! routes {
            ($field:ident) => {
                match snap(&self.$field) {
                    Some(Some(v)) if gateways_ready => {
                        any = true;
                        take(sources::from_routes(&v, &gws, s));
                    }
                    Some(_) => all = false,
                    None => {}
                }
            };
        }
        routes!(http_routes);
        routes!(grpc_routes);
        routes!(tls_routes);
        routes!(tcp_routes);
        routes!(udp_routes);
        let mut crd_generations = Vec::new();
        match snap(&self.dns_endpoints) {
            Some(Some(v)) => {
                any = true;
                take(sources::from_dns_endpoints(&v, s));
                for d in v.iter() {
                    let Some(generation) = d.metadata.generation else {
                        continue;
                    };
                    let observed = d.status.as_ref().and_then(|st| st.observed_generation);
                    if observed != Some(generation) {
                        crd_generations
                            .push((ObjectRef::of("DNSEndpoint", &d.metadata), generation));
                    }
                }
            }
            Some(None) => all = false,
            None => {}
        }
        if !any {
            return None;
        }
        endpoints.sort_by(|a, b| {
            (a.name.as_str(), a.record_type.as_str(), &*a.resource).cmp(&(
                b.name.as_str(),
                b.record_type.as_str(),
                &*b.resource,
            ))
        });
        notices.sort();
        notices.dedup();
        Some(DesiredRecords {
            endpoints,
            notices,
            synced: all,
            crd_generations,
        })
    }

    fn receivers(&mut self) -> Vec<BoxFuture<'_, bool>> {
        let mut futs: Vec<BoxFuture<'_, bool>> = Vec::new();
        macro_rules! push {
            ($($field:ident),*) => {$(
                if let Some(rx) = self.$field.as_mut() {
                    futs.push(async move { rx.changed().await.is_ok() }.boxed());
                }
            )*};
        }
        push!(
            ingresses,
            services,
            gateways,
            http_routes,
            grpc_routes,
            tls_routes,
            tcp_routes,
            udp_routes,
            dns_endpoints
        );
        futs
    }

    /// Waits for any source to change. A closed channel (a fixed snapshot) never wakes; when
    /// every channel is closed this waits forever.
    pub async fn changed(&mut self) -> bool {
        loop {
            let n = self.count();
            let mut closed = std::mem::take(&mut self.closed);
            closed.resize(n, false);
            let open: Vec<usize> = (0..n).filter(|i| !closed[*i]).collect();
            if open.is_empty() {
                self.closed = closed;
                return std::future::pending().await;
            }
            let (ok, idx) = {
                let futs: Vec<BoxFuture<'_, bool>> = self
                    .receivers()
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !closed[*i])
                    .map(|(_, f)| f)
                    .collect();
                let (ok, idx, _) = select_all(futs).await;
                (ok, idx)
            };
            if ok {
                self.closed = closed;
                return true;
            }
            // A fixed snapshot's sender is gone: nothing changed; wait for the others.
            closed[open[idx]] = true;
            self.closed = closed;
        }
    }

    /// Waits until every enabled source has listed once (`--once` and `plan` plan from that).
    pub async fn wait_synced(&mut self) {
        loop {
            if self.current().is_some_and(|d| d.synced) {
                return;
            }
            self.changed().await;
        }
    }

    fn count(&self) -> usize {
        [
            self.ingresses.is_some(),
            self.services.is_some(),
            self.gateways.is_some(),
            self.http_routes.is_some(),
            self.grpc_routes.is_some(),
            self.tls_routes.is_some(),
            self.tcp_routes.is_some(),
            self.udp_routes.is_some(),
            self.dns_endpoints.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// What a watch keeps of one object: nothing when it contributes nothing.
fn derived(o: SourceOutput) -> Option<ObjectOutput> {
    let o = ObjectOutput::from(o);
    (!o.is_empty()).then_some(o)
}

/// Each object's output, in (namespace, name) order as a watch keeps them.
fn outputs<K>(items: &[Arc<K>], derive: impl Fn(&K) -> SourceOutput) -> Snapshot<ObjectOutput>
where
    K: kube::Resource,
{
    let mut v: Vec<&K> = items.iter().map(Arc::as_ref).collect();
    v.sort_by(|a, b| {
        let (a, b) = (a.meta(), b.meta());
        (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name))
    });
    Arc::new(
        v.into_iter()
            .filter_map(|o| derived(derive(o)))
            .map(Arc::new)
            .collect(),
    )
}

/// Watches every enabled source kind (and Gateways for route sources) through `client`:
/// `namespace` limits the watch, `label_filter` is sent to the API server.
pub fn watch_inputs(
    client: kube::Client,
    kinds: &[crate::records::sources::SourceKind],
    settings: SourceSettings,
    namespace: Option<&str>,
    label_filter: Option<&str>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Inputs {
    use crate::records::sources::SourceKind as S;
    use crate::sources::kube_watch::{watch_any_version, watch_derived, watch_projected};
    // Gateway API v1.5 made TLSRoute, TCPRoute and UDPRoute v1; older CRDs serve v1alpha2 only.
    const ROUTE_VERSIONS: &[&str] = &["v1", "v1alpha2"];
    use kube::runtime::watcher;

    fn api<K>(c: &kube::Client, ns: Option<&str>) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match ns {
            Some(n) => kube::Api::namespaced(c.clone(), n),
            None => kube::Api::all(c.clone()),
        }
    }
    let cfg = || match label_filter {
        Some(l) if !l.trim().is_empty() => watcher::Config::default().labels(l),
        _ => watcher::Config::default(),
    };
    // Each object is cut to what the sources and filters read before it is stored.
    let keep = std::sync::Arc::new(settings.keep());
    let derive_settings = Arc::new(settings.clone());
    let mut inputs = Inputs::new(settings);
    let sd = || shutdown.clone();
    let kept = || keep.clone();
    for k in kinds {
        match k {
            // Ingresses and Services are the kinds clusters have by the thousand: their watches
            // keep each object's endpoints, not the object.
            S::Ingress => {
                let s = derive_settings.clone();
                inputs.ingresses = Some(watch_derived(
                    api(&client, namespace),
                    cfg(),
                    move |o: &Ingress| derived(sources::ingress_output(o, &s)),
                    sd(),
                ))
            }
            S::Service => {
                let s = derive_settings.clone();
                inputs.services = Some(watch_derived(
                    api(&client, namespace),
                    cfg(),
                    move |o: &Service| derived(sources::service_output(o, &s)),
                    sd(),
                ))
            }
            S::GatewayHttproute => {
                let k = kept();
                inputs.http_routes = Some(watch_projected(
                    api(&client, namespace),
                    cfg(),
                    move |o: &mut HTTPRoute| k.metadata(&mut o.metadata),
                    sd(),
                ))
            }
            S::GatewayGrpcroute => {
                let k = kept();
                inputs.grpc_routes = Some(watch_projected(
                    api(&client, namespace),
                    cfg(),
                    move |o: &mut GRPCRoute| k.metadata(&mut o.metadata),
                    sd(),
                ))
            }
            S::GatewayTlsroute => {
                inputs.tls_routes = Some(watch_any_version::<TLSRoute>(
                    client.clone(),
                    namespace,
                    ROUTE_VERSIONS,
                    cfg(),
                    (*keep).clone(),
                    sd(),
                ))
            }
            S::GatewayTcproute => {
                inputs.tcp_routes = Some(watch_any_version::<TCPRoute>(
                    client.clone(),
                    namespace,
                    ROUTE_VERSIONS,
                    cfg(),
                    (*keep).clone(),
                    sd(),
                ))
            }
            S::GatewayUdproute => {
                inputs.udp_routes = Some(watch_any_version::<UDPRoute>(
                    client.clone(),
                    namespace,
                    ROUTE_VERSIONS,
                    cfg(),
                    (*keep).clone(),
                    sd(),
                ))
            }
            S::Crd => {
                let k = kept();
                inputs.dns_endpoints = Some(watch_projected(
                    api(&client, namespace),
                    cfg(),
                    move |o: &mut DNSEndpoint| k.metadata(&mut o.metadata),
                    sd(),
                ))
            }
        }
    }
    if kinds.iter().any(|k| k.is_gateway()) {
        // Gateways may live in another namespace than their routes; the gateway label filter
        // is applied by the source.
        let k = kept();
        inputs.gateways = Some(watch_projected(
            kube::Api::all(client.clone()),
            watcher::Config::default(),
            move |o: &mut Gateway| k.metadata(&mut o.metadata),
            sd(),
        ));
    }
    inputs
}

/// The same sources read once from manifest files.
pub fn manifest_inputs(
    dir: &std::path::Path,
    kinds: &[crate::records::sources::SourceKind],
    settings: SourceSettings,
) -> Result<Inputs, crate::sources::manifests::ManifestError> {
    use crate::records::sources::SourceKind as S;
    use crate::sources::manifests::load;
    fn rx<K>(s: Snapshot<K>) -> Rx<K> {
        let (_tx, rx) = watch::channel(Some(s));
        rx
    }
    let mut inputs = Inputs::new(settings);
    for k in kinds {
        match k {
            S::Ingress => {
                let items: Snapshot<Ingress> = load(dir, None)?;
                let s = &inputs.settings;
                inputs.ingresses = Some(rx(outputs(&items, |o| sources::ingress_output(o, s))));
            }
            S::Service => {
                let items: Snapshot<Service> = load(dir, None)?;
                let s = &inputs.settings;
                inputs.services = Some(rx(outputs(&items, |o| sources::service_output(o, s))));
            }
            S::GatewayHttproute => inputs.http_routes = Some(rx(load(dir, None)?)),
            S::GatewayGrpcroute => inputs.grpc_routes = Some(rx(load(dir, None)?)),
            S::GatewayTlsroute => inputs.tls_routes = Some(rx(load(dir, None)?)),
            S::GatewayTcproute => inputs.tcp_routes = Some(rx(load(dir, None)?)),
            S::GatewayUdproute => inputs.udp_routes = Some(rx(load(dir, None)?)),
            S::Crd => inputs.dns_endpoints = Some(rx(load(dir, None)?)),
        }
    }
    if kinds.iter().any(|k| k.is_gateway()) {
        inputs.gateways = Some(rx(load(dir, None)?));
    }
    Ok(inputs)
}

/// Where the record sources' objects come from and which are read ([`start`]); resolved from
/// the flags in [`crate::config`].
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// --manifests: read these files instead of the cluster.
    pub manifests: Option<std::path::PathBuf>,
    /// The enabled source kinds (--source).
    pub kinds: Vec<crate::records::sources::SourceKind>,
    /// What the sources read.
    pub settings: SourceSettings,
    /// --namespace: the only namespace watched.
    pub namespace: Option<String>,
    /// --label-filter as given, sent to the API server.
    pub label_filter: Option<String>,
}

/// Which inputs to start: the --manifests files when given, else one watch per source kind on
/// the cluster through `client` (the wiring always has one of the two).
pub fn start(
    spec: InputSpec,
    client: Option<&kube::Client>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<Inputs, crate::sources::manifests::ManifestError> {
    Ok(match (&spec.manifests, client) {
        (Some(dir), _) => manifest_inputs(dir, &spec.kinds, spec.settings)?,
        (None, Some(k)) => watch_inputs(
            k.clone(),
            &spec.kinds,
            spec.settings,
            spec.namespace.as_deref(),
            spec.label_filter.as_deref(),
            shutdown,
        ),
        (None, None) => unreachable!("a source is always set"),
    })
}
