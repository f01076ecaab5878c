//! Wiring for `cfgeo run`, `plan` and `decommission`: builds the Cloudflare client (or an
//! embedded emulator), the sources (a live watch or manifest files), the admin server, leader
//! election and the engines, and spawns them. Defaults are resolved in [`crate::config`],
//! output text in [`crate::report`]. `anyhow` lives here, in `cli` and in `main` only.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, Health, Metrics};
use crate::cloudflare::Client;
use crate::config::{self, OpsArgs, Resolved, RunArgs};
use crate::events::Reporter;
use crate::geo::GeoSettings;
use crate::geo::engine::GeoEngine;
use crate::leader::{self, LeaderConfig};
use crate::records::engine::{RecordEngine, resolve_zones};
use crate::records::inputs::Inputs;
use crate::records::sources::SourceSettings;
use crate::runtime::Timing;
use crate::sources::selector::LabelSelector;
use crate::sources::{Snapshot, kube_watch, manifests};
use crate::{emulator, report};

/// How the engines run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Watch and write until stopped.
    Run,
    /// One pass, then exit.
    Once,
    /// Read only: print the planned changes; exit 2 when there are some.
    Plan,
    /// Delete the load balancer of CF_LB_HOSTNAME and this deployment's pools and monitors.
    Decommission {
        /// Even while other deployments' pools in it still serve.
        force: bool,
    },
}

/// Exit code of `cfgeo plan` when changes are pending.
pub const EXIT_CHANGES: u8 = 2;

/// Runs `cfgeo run` (or `plan`).
pub async fn run(
    mut args: RunArgs,
    mode: Mode,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let mode = if mode == Mode::Run && args.once {
        Mode::Once
    } else {
        mode
    };
    let (geo_on, records_on) = args.engines()?;
    if geo_on {
        args.geo.precheck()?;
    }
    let domains = args.domain_filter()?;
    let source_settings = args.source_settings()?;

    let _emu = embedded_emulator(
        args.embedded_emulator,
        args.emulator_state.clone(),
        &mut args.cloudflare,
    )
    .await?;
    let (settings, token) = args.cloudflare.client_parts()?;
    let client = Client::new(settings, token)?;

    // Decommission with an explicit owner id talks to Cloudflare only.
    let needs_kube = !(matches!(mode, Mode::Decommission { .. }) && args.geo.owner_id.is_some());
    let kube_client = if args.manifests.is_none() && needs_kube {
        Some(kube::Client::try_default().await.context(
            "connecting to Kubernetes (KUBECONFIG, ~/.kube/config or in-cluster); use --manifests DIR to run without a cluster",
        )?)
    } else {
        None
    };
    let uid = match (&args.geo.owner_id, &kube_client) {
        (None, Some(k)) => Some(kube_system_uid(k.clone()).await?),
        _ => None,
    };
    let clusters = match (&args.geo.owner_id, &kube_client, geo_on) {
        (None, None, true) => {
            let snap = geo_snapshot(&args, &None).await?;
            config::manifest_clusters(snap.iter().map(|i| i.metadata.labels.as_ref()))
        }
        _ => Vec::new(),
    };
    let owners = config::owners(&args.geo, &args.records, uid.as_deref(), &clusters);
    let reporter = match (&kube_client, mode) {
        (Some(k), Mode::Run | Mode::Once) => {
            Reporter::kube(k.clone(), "cfgeo", std::env::var("POD_NAME").ok())
        }
        _ => Reporter::Log,
    };

    let health = Health::new();
    let metrics = Metrics::new();
    metrics.track_cloudflare(&client);
    let token_ok = health.token_verified();
    if mode == Mode::Run {
        let server = admin::bind(
            args.ops.admin_addr,
            health.clone(),
            metrics.clone(),
            shutdown.clone(),
        )
        .await?
        .with_status(
            args.cloudflare
                .account_id
                .clone()
                .zip(args.cloudflare.zone_id.clone())
                .map(|(account, zone)| {
                    crate::status::cached_source(
                        client.clone(),
                        account,
                        zone,
                        crate::status::read::STATUS_MAX_AGE,
                    )
                }),
        );
        tokio::spawn(async move {
            if let Err(e) = server.run().await {
                tracing::error!(error = %e, "admin server failed");
            }
        });
    }
    let leader = leadership(&args.ops, &kube_client, mode, &metrics, shutdown.clone());

    // Geo engine.
    let geo = if geo_on {
        let (account_id, zone_id) = args.geo_ids()?;
        let zone = client.get_zone(&zone_id).await.with_context(|| {
            format!("CF_ZONE_ID {zone_id}: cannot read the zone (check the id and the token's Zone Read permission)")
        })?;
        token_ok.set(true);
        let resolved = Resolved {
            account_id,
            zone_id,
            zone_name: zone.name.clone(),
            owner_id: owners.geo.clone(),
        };
        let s = args.geo.settings(&resolved)?;
        tracing::info!(region = %s.region.name, zone = %s.zone_name, lb = %s.default_lb_host, owner = %s.owner_id, "geo engine starting");
        Some(s)
    } else {
        None
    };

    // Record synchronizer.
    let records = if records_on {
        let ids = args.record_zone_ids();
        let zones = resolve_zones(&client, &ids, &domains).await?;
        token_ok.set(true);
        let s = args.record_settings(&owners, domains.clone(), mode == Mode::Plan);
        tracing::info!(
            zones = %zones.iter().map(|z| z.zone.name.as_str()).collect::<Vec<_>>().join(","),
            owner = %s.plan.owner_id,
            sources = %args.records.sources.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
            policy = ?s.plan.policy,
            dry_run = s.dry_run,
            "record synchronizer starting"
        );
        Some(RecordEngine::new(
            client.clone(),
            s,
            zones,
            reporter.clone(),
            Timing::default(),
        ))
    } else {
        None
    };

    if let Mode::Decommission { force } = mode {
        let s = geo.context("cfgeo decommission needs GEO_LOCATION")?;
        let host = s.default_lb_host.clone();
        let dry_run = args.records.dry_run;
        let done = crate::geo::apply::decommission(&client, &s, &host, force, dry_run).await?;
        print!("{}", report::decommission(&done, dry_run));
        return Ok(ExitCode::SUCCESS);
    }
    if mode != Mode::Run {
        return one_pass(
            &args,
            mode,
            &client,
            geo,
            records,
            source_settings,
            reporter,
            &kube_client,
        )
        .await;
    }

    // Long-running: every engine in its own task, all stopped by `shutdown`.
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(s) = geo {
        let rx = geo_source(&args, &kube_client, shutdown.clone())?;
        let ready = health.condition("watch/geo-ingresses");
        let mut probe = rx.clone();
        tokio::spawn(async move {
            if probe.wait_for(Option::is_some).await.is_ok() {
                ready.set(true);
            }
        });
        let timing = Timing {
            resync: std::time::Duration::from_secs(args.geo.resync_secs.max(1)),
            ..Timing::default()
        };
        let engine = GeoEngine::new(client.clone(), s, reporter.clone(), timing)
            .with_metrics(metrics.clone())
            .with_dry_run(args.records.dry_run);
        tasks.spawn(engine.run(rx, leader.clone(), shutdown.clone()));
    }
    if let Some(engine) = records {
        let inputs = start_inputs(&args, &kube_client, source_settings, shutdown.clone())?;
        let timing = Timing {
            resync: args.records.interval,
            ..Timing::default()
        };
        let mut engine = engine
            .with_metrics(metrics.clone())
            .with_timing(timing)
            .with_ready(health.condition("watch/record-sources"));
        if let Some(k) = &kube_client {
            engine = engine.with_status_writer(k.clone());
        }
        tasks.spawn(engine.run(inputs, leader.clone(), shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// With `on`, starts the in-process emulator (from `state`, if given) and points the
/// Cloudflare flags at it; the handle keeps it running.
pub async fn embedded_emulator(
    on: bool,
    state: Option<std::path::PathBuf>,
    cloudflare: &mut config::CloudflareArgs,
) -> anyhow::Result<Option<emulator::EmulatorHandle>> {
    if !on {
        return Ok(None);
    }
    let emu = emulator::Emulator::start_embedded(state)
        .await
        .context("starting the embedded emulator")?;
    cloudflare.use_emulator(&emu);
    Ok(Some(emu))
}

/// `--once` and `plan`: one pass of each engine, printed.
#[allow(clippy::too_many_arguments)]
async fn one_pass(
    args: &RunArgs,
    mode: Mode,
    client: &Client,
    geo: Option<GeoSettings>,
    records: Option<RecordEngine>,
    source_settings: SourceSettings,
    reporter: Reporter,
    kube_client: &Option<kube::Client>,
) -> anyhow::Result<ExitCode> {
    let color = std::io::stdout().is_terminal();
    let mut changes = false;
    if let Some(s) = geo {
        let snap = geo_snapshot(args, kube_client).await?;
        if mode == Mode::Plan || args.records.dry_run {
            let refs: Vec<&Ingress> = snap.iter().map(|i| i.as_ref()).collect();
            let (desired, notices) = crate::geo::desired_state(&refs, &s);
            for n in &notices {
                println!("geo: warning: {}", n.message);
            }
            let (plan, obs) = crate::geo::apply::preview(client, &s, &desired).await?;
            print!("{}", report::geo_plan(&plan, &obs, color));
            changes |= !plan.is_empty();
        } else {
            let mut engine = GeoEngine::new(client.clone(), s, reporter.clone(), Timing::default());
            let r = engine.pass(&snap).await?;
            print!("{}", report::geo_report(&r, args.print_state));
        }
    }
    if let Some(mut engine) = records {
        // Watches stop once the first complete lists are in.
        let listed = CancellationToken::new();
        let mut inputs = start_inputs(args, kube_client, source_settings, listed.clone())?;
        wait_synced(&mut inputs).await;
        listed.cancel();
        let desired = inputs.current().unwrap_or_default();
        let pass = engine.pass(&desired, true).await?;
        changes |= pass.has_changes();
        print!("{}", report::records(&pass, &desired.notices, color));
        if args.print_state {
            print!("{}", report::records_state(engine.zones()));
        }
    }
    Ok(if mode == Mode::Plan && changes {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

async fn wait_synced(inputs: &mut Inputs) {
    loop {
        if inputs.current().is_some_and(|d| d.synced) {
            return;
        }
        inputs.changed().await;
    }
}

/// A constant `true` without election; the Lease's state with it.
fn leadership(
    ops: &OpsArgs,
    kube_client: &Option<kube::Client>,
    mode: Mode,
    metrics: &Metrics,
    shutdown: CancellationToken,
) -> watch::Receiver<bool> {
    let (Some(k), true, Mode::Run) = (kube_client, ops.leader_elect, mode) else {
        let (tx, rx) = watch::channel(true);
        metrics.set_leader(true);
        // Keep the sender alive for the life of the process: a closed channel stops engines.
        std::mem::forget(tx);
        return rx;
    };
    let namespace = ops
        .leader_election_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".into());
    let identity = std::env::var("POD_NAME").unwrap_or_default();
    let handle = leader::spawn(
        k.clone(),
        LeaderConfig::new(namespace, ops.leader_election_lease_name.clone(), identity),
        shutdown,
    );
    let rx = handle.subscribe();
    let m = metrics.clone();
    let mut watch_rx = rx.clone();
    tokio::spawn(async move {
        loop {
            let leading = *watch_rx.borrow_and_update();
            m.set_leader(leading);
            tracing::info!(leading, "leadership");
            if watch_rx.changed().await.is_err() {
                m.set_leader(false);
                break;
            }
        }
        handle.join().await;
    });
    rx
}

fn geo_source(
    args: &RunArgs,
    kube_client: &Option<kube::Client>,
    shutdown: CancellationToken,
) -> anyhow::Result<watch::Receiver<Option<Snapshot<Ingress>>>> {
    let selector = args.geo.label_selector.clone();
    Ok(match (&args.manifests, kube_client) {
        (Some(dir), _) => manifests::watch_files::<Ingress>(
            dir.clone(),
            LabelSelector::parse(&selector)?,
            std::time::Duration::from_secs(args.geo.resync_secs.max(1)),
            shutdown,
        )?,
        (None, Some(k)) => {
            let keep = crate::geo::settings::watch_keep(&LabelSelector::parse(&selector)?);
            kube_watch::watch_projected(
                kube::Api::<Ingress>::all(k.clone()),
                watcher::Config::default().labels(&selector),
                move |o: &mut Ingress| crate::sources::projection::ingress(o, &keep),
                shutdown,
            )
        }
        (None, None) => unreachable!("a source is always set"),
    })
}

async fn geo_snapshot(
    args: &RunArgs,
    kube_client: &Option<kube::Client>,
) -> anyhow::Result<Snapshot<Ingress>> {
    let selector = &args.geo.label_selector;
    Ok(match (&args.manifests, kube_client) {
        (Some(dir), _) => manifests::load::<Ingress>(dir, Some(&LabelSelector::parse(selector)?))?,
        (None, Some(k)) => {
            let api = kube::Api::<Ingress>::all(k.clone());
            let list = api
                .list(&kube::api::ListParams::default().labels(selector))
                .await?;
            Arc::new(list.items.into_iter().map(Arc::new).collect())
        }
        (None, None) => unreachable!("a source is always set"),
    })
}

/// The UID of the kube-system namespace: a stable, unique default owner id per cluster.
async fn kube_system_uid(client: kube::Client) -> anyhow::Result<String> {
    let api = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    let ns = api.get("kube-system").await.context(
        "reading namespace kube-system for the default owner id (set CFGEO_OWNER_ID to skip)",
    )?;
    ns.metadata
        .uid
        .context("namespace kube-system has no uid; set CFGEO_OWNER_ID")
}

/// The record sources' inputs from --manifests or the cluster's watches.
fn start_inputs(
    args: &RunArgs,
    kube_client: &Option<kube::Client>,
    settings: SourceSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<Inputs> {
    let r = &args.records;
    Ok(crate::records::inputs::start(
        args.manifests.as_deref(),
        kube_client.as_ref(),
        &r.sources,
        settings,
        r.namespace.as_deref(),
        r.label_filter.as_deref(),
        shutdown,
    )?)
}
