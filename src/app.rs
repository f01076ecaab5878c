//! Wiring for `cfgeo run`, `plan` and `decommission`: builds the Cloudflare client (or an
//! embedded emulator), the Kubernetes client, the admin server, leadership and the engines, in
//! that order, and spawns them (`--once` and `plan` run one pass in `app::once` instead). It
//! decides no defaults: they, the mode and the owner-id lookups are resolved in
//! [`crate::config`], the sources picked in [`crate::geo::inputs`] and
//! [`crate::records::inputs`], output text written by [`crate::report`]. `anyhow` lives here,
//! in `cli` and in `main` only.

mod once;

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, Health, Metrics};
use crate::cloudflare::Client;
use crate::config::{self, OwnerLookup, PodEnv, Resolved, RunArgs};
use crate::events::Reporter;
use crate::geo::engine::GeoEngine;
use crate::records::engine::{RecordEngine, resolve_zones};
use crate::records::inputs;
use crate::runtime::Timing;
use crate::sources::cluster::kube_system_uid;
use crate::{emulator, geo, leader, report};

pub use crate::config::{EXIT_CHANGES, Mode};

/// Runs `cfgeo run` (or `plan`, or `decommission`).
pub async fn run(
    mut args: RunArgs,
    mode: Mode,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let mode = args.mode(mode);
    let (geo_on, records_on) = args.engines()?;
    if geo_on {
        args.geo.precheck()?;
    }
    let domains = args.domain_filter()?;
    let record_inputs = args.record_inputs()?;
    let pod = PodEnv::read();

    let _emu = embedded_emulator(
        args.embedded_emulator,
        args.emulator_state.clone(),
        &mut args.cloudflare,
    )
    .await?;
    let (settings, token) = args.cloudflare.client_parts()?;
    let client = Client::new(settings, token)?;

    let kube_client = if args.uses_cluster(mode) {
        Some(kube::Client::try_default().await.context(
            "connecting to Kubernetes (KUBECONFIG, ~/.kube/config or in-cluster); use --manifests DIR to run without a cluster",
        )?)
    } else {
        None
    };
    let (uid, clusters) = match (args.owner_lookup(kube_client.is_some()), &kube_client) {
        (OwnerLookup::ClusterUid, Some(k)) => (Some(kube_system_uid(k.clone()).await?), vec![]),
        (OwnerLookup::ManifestClusters, _) => {
            let selector = &args.geo.label_selector;
            let snap = geo::inputs::snapshot(args.manifests.as_deref(), None, selector).await?;
            let labels = snap.iter().map(|i| i.metadata.labels.as_ref());
            (None, config::manifest_clusters(labels))
        }
        _ => (None, vec![]),
    };
    let owners = config::owners(&args.geo, &args.records, uid.as_deref(), &clusters);
    let reporter = match &kube_client {
        Some(k) if mode.writes_events() => Reporter::kube(k.clone(), "cfgeo", pod.name.clone()),
        _ => Reporter::Log,
    };

    let health = Health::new();
    let metrics = Metrics::new();
    metrics.track_cloudflare(&client);
    let token_ok = health.token_verified();
    if mode == Mode::Run {
        let status = args.status_ids().map(|(account, zone)| {
            let max_age = crate::status::read::STATUS_MAX_AGE;
            crate::status::cached_source(client.clone(), account, zone, max_age)
        });
        admin::spawn(
            args.ops.admin_addr,
            health.clone(),
            metrics.clone(),
            status,
            shutdown.clone(),
        )
        .await?;
    }
    let election = kube_client.clone().zip(args.ops.election(mode, &pod));
    let m = metrics.clone();
    let leader = leader::watch(
        election,
        move |leading| m.set_leader(leading),
        shutdown.clone(),
    );

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
        return once::one_pass(
            &args,
            mode,
            &client,
            geo,
            records,
            record_inputs,
            reporter,
            &kube_client,
        )
        .await;
    }

    // Long-running: every engine in its own task, all stopped by `shutdown`.
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(s) = geo {
        let rx = geo::inputs::watch(
            args.manifests.as_deref(),
            kube_client.as_ref(),
            &args.geo.label_selector,
            args.geo_resync(),
            shutdown.clone(),
        )?;
        health
            .condition("watch/geo-ingresses")
            .set_when_listed(rx.clone());
        let engine = GeoEngine::new(client.clone(), s, reporter.clone(), args.geo_timing())
            .with_metrics(metrics.clone())
            .with_dry_run(args.records.dry_run);
        tasks.spawn(engine.run(rx, leader.clone(), shutdown.clone()));
    }
    if let Some(engine) = records {
        let inputs = inputs::start(record_inputs, kube_client.as_ref(), shutdown.clone())?;
        let mut engine = engine
            .with_metrics(metrics.clone())
            .with_timing(args.records_timing())
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
