//! Wiring for `cfgeo run` and `cfgeo plan`: builds the Cloudflare client (or an embedded
//! emulator), the sources (a live watch or manifest files), the admin server, leader election
//! and the engines. `anyhow` lives here and nowhere below.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, Health, Metrics};
use crate::cloudflare::Client;
use crate::cloudflare::types::RecordType;
use crate::config::{OpsArgs, RecordArgs, Resolved, RunArgs};
use crate::emulator;
use crate::events::Reporter;
use crate::geo::GeoSettings;
use crate::geo::apply::Report;
use crate::geo::engine::GeoEngine;
use crate::leader::{self, LeaderConfig};
use crate::records::engine::{PassReport, RecordEngine, RecordSettings, resolve_zones};
use crate::records::inputs::{Inputs, manifest_inputs, watch_inputs};
use crate::records::registry::TxtNaming;
use crate::records::sources::SourceSettings;
use crate::records::zone::DomainFilter;
use crate::records::{Op, PlanSettings};
use crate::runtime::Timing;
use crate::sources::selector::LabelSelector;
use crate::sources::{Snapshot, kube_watch, manifests};

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
    let geo_on = args.geo.geo_location.is_some();
    let records_on = !args.records.sources.is_empty();
    if !geo_on && !records_on {
        anyhow::bail!(
            "nothing to do: set GEO_LOCATION for the geo engine and/or --source (CFGEO_SOURCES) for the record synchronizer"
        );
    }
    if geo_on {
        args.geo.precheck()?;
    }
    let domains = domain_filter(&args.records)?;
    let source_settings = source_settings(&args)?;

    let _emu = if args.embedded_emulator {
        let emu = emulator::Emulator::start_embedded(args.emulator_state.clone())
            .await
            .context("starting the embedded emulator")?;
        args.cloudflare.use_emulator(&emu);
        Some(emu)
    } else {
        None
    };
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
    let owner_id = match (&args.geo.owner_id, &kube_client) {
        (Some(o), _) => o.clone(),
        (None, Some(k)) => cluster_uid(k.clone()).await?,
        (None, None) => manifests_owner(&args).await?,
    };
    // TXT ownership keeps the owner id earlier versions used with --manifests, so records they
    // wrote stay ours.
    let records_owner = match (&args.geo.owner_id, &kube_client) {
        (None, None) => format!(
            "manifests-{}",
            args.geo.geo_location.as_deref().unwrap_or("records")
        ),
        _ => owner_id.clone(),
    };
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
        let account_id = args
            .cloudflare
            .account_id
            .clone()
            .context("CF_ACCOUNT_ID is required by the geo engine")?;
        let zone_id = args
            .cloudflare
            .zone_id
            .clone()
            .context("CF_ZONE_ID is required by the geo engine")?;
        let zone = client.get_zone(&zone_id).await.with_context(|| {
            format!("CF_ZONE_ID {zone_id}: cannot read the zone (check the id and the token's Zone Read permission)")
        })?;
        token_ok.set(true);
        let resolved = Resolved {
            account_id,
            zone_id,
            zone_name: zone.name.clone(),
            owner_id: owner_id.clone(),
        };
        let s = args.geo.settings(&resolved)?;
        tracing::info!(region = %s.region.name, zone = %s.zone_name, lb = %s.default_lb_host, owner = %s.owner_id, "geo engine starting");
        Some(s)
    } else {
        None
    };

    // Record synchronizer.
    let records = if records_on {
        let mut ids = args.records.zone_id_filter.clone();
        if ids.is_empty()
            && let Some(z) = &args.cloudflare.zone_id
            && args.records.domain_filter.is_empty()
            && args.records.regex_domain_filter.is_none()
        {
            ids.push(z.clone());
        }
        let zones = resolve_zones(&client, &ids, &domains).await?;
        token_ok.set(true);
        let s = RecordSettings {
            plan: PlanSettings {
                owner_id: args
                    .records
                    .txt_owner_id
                    .clone()
                    .unwrap_or_else(|| records_owner.clone()),
                policy: args.records.policy,
                txt: TxtNaming {
                    prefix: args.records.txt_prefix.clone(),
                    suffix: args.records.txt_suffix.clone(),
                    wildcard_replacement: args.records.txt_wildcard_replacement.clone(),
                },
                managed_types: args
                    .records
                    .managed_record_types
                    .iter()
                    .map(|t| RecordType::from(t.trim().to_ascii_uppercase().as_str()))
                    .collect(),
                domains: domains.clone(),
                default_proxied: args.records.cloudflare_proxied,
                default_comment: args.records.cloudflare_record_comment.clone(),
                allow_deletes: false,
            },
            batch_size: args.records.batch_change_size,
            dry_run: args.records.dry_run || mode == Mode::Plan,
        };
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
        for a in &done {
            if dry_run {
                println!("geo: dry run, not written: {}", a.describe());
            } else {
                println!("geo: {}", a.describe());
            }
        }
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
        let inputs = record_inputs(&args, &kube_client, source_settings, shutdown.clone())?;
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
            print_geo_plan(&plan, &obs, color);
            changes |= !plan.is_empty();
        } else {
            let mut engine = GeoEngine::new(client.clone(), s, reporter.clone(), Timing::default());
            let r = engine.pass(&snap).await?;
            print_report(&r, args.print_state);
        }
    }
    if let Some(mut engine) = records {
        // Watches stop once the first complete lists are in.
        let listed = CancellationToken::new();
        let mut inputs = record_inputs(args, kube_client, source_settings, listed.clone())?;
        wait_synced(&mut inputs).await;
        listed.cancel();
        let desired = inputs.current().unwrap_or_default();
        let report = engine.pass(&desired, true).await?;
        changes |= report.has_changes();
        print_records(&report, &desired.notices, color);
        if args.print_state {
            for z in engine.zones() {
                println!("\nrecords in {}:", z.zone.name);
                for r in z.records.iter().flatten() {
                    println!(
                        "  {} {} {} ttl={} proxied={}",
                        r.record_type, r.name, r.content, r.ttl, r.proxied
                    );
                }
            }
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

fn paint(color: bool, sign: char, line: &str) -> String {
    if !color {
        return line.to_string();
    }
    let code = match sign {
        '+' => "32",
        '-' => "31",
        _ => "33",
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

/// Prints a record pass as a diff: `+` create, `-` delete, `~` update.
pub fn print_records(report: &PassReport, notices: &[crate::model::Notice], color: bool) {
    let mut out = std::io::stdout().lock();
    for n in notices {
        let _ = writeln!(out, "records: warning: {}", n.message);
    }
    for (zone, p) in &report.plans {
        for n in &p.notices {
            let _ = writeln!(out, "records: warning: {}", n.message);
        }
        if p.is_empty() {
            let _ = writeln!(out, "records: {}: no changes", zone.name);
            continue;
        }
        let verb = if report.dry_run {
            "would change"
        } else {
            "changed"
        };
        let _ = writeln!(
            out,
            "records: {}: {verb} {} records",
            zone.name,
            p.op_count()
        );
        for g in &p.groups {
            for op in &g.ops {
                let sign = match op {
                    Op::Create(_) => '+',
                    Op::Delete(_) => '-',
                    Op::Update { .. } => '~',
                };
                let line = crate::records::engine::describe_op(op);
                let _ = writeln!(out, "  {}", paint(color, sign, &line));
            }
        }
    }
    for (zone, a) in &report.applied {
        for r in &a.rejected {
            let _ = writeln!(
                out,
                "records: {}: refused {}: {}",
                zone.name, r.name, r.message
            );
        }
    }
}

fn domain_filter(r: &RecordArgs) -> anyhow::Result<DomainFilter> {
    Ok(DomainFilter::new(
        &r.domain_filter,
        &r.exclude_domains,
        r.regex_domain_filter.as_deref(),
        r.regex_domain_exclusion.as_deref(),
    )?)
}

fn source_settings(args: &RunArgs) -> anyhow::Result<SourceSettings> {
    let r = &args.records;
    let sel = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<LabelSelector>> {
        v.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| LabelSelector::parse(s).with_context(|| format!("{flag} {s:?}")))
            .transpose()
    };
    Ok(SourceSettings {
        annotation_prefixes: r.annotation_prefix.clone(),
        label_filter: sel("--label-filter", &r.label_filter)?,
        annotation_filter: sel("--annotation-filter", &r.annotation_filter)?,
        namespace: r.namespace.clone(),
        ingress_classes: r.ingress_class.clone(),
        gateway_label_filter: sel("--gateway-label-filter", &r.gateway_label_filter)?,
        // Geo-selected Ingresses belong to a load balancer, never to a plain record, even
        // when the geo engine runs in another Deployment.
        geo_selector: Some(
            LabelSelector::parse(&args.geo.label_selector)
                .with_context(|| format!("LABEL_SELECTOR {:?}", args.geo.label_selector))?,
        ),
    })
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
        (Some(dir), _) => manifest_source(
            dir.clone(),
            selector,
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

fn record_inputs(
    args: &RunArgs,
    kube_client: &Option<kube::Client>,
    settings: SourceSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<Inputs> {
    Ok(match (&args.manifests, kube_client) {
        (Some(dir), _) => manifest_inputs(dir, &args.records.sources, settings)?,
        (None, Some(k)) => watch_inputs(
            k.clone(),
            &args.records.sources,
            settings,
            args.records.namespace.as_deref(),
            args.records.label_filter.as_deref(),
            shutdown,
        ),
        (None, None) => unreachable!("a source is always set"),
    })
}

/// Re-reads the manifests every period and publishes a snapshot when they change.
fn manifest_source(
    dir: PathBuf,
    selector: String,
    period: std::time::Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<watch::Receiver<Option<Snapshot<Ingress>>>> {
    let sel = LabelSelector::parse(&selector)?;
    let first = manifests::load::<Ingress>(&dir, Some(&sel))?;
    let (tx, rx) = watch::channel(Some(first));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            match manifests::load::<Ingress>(&dir, Some(&sel)) {
                Ok(s) => {
                    tx.send_if_modified(|cur| {
                        let changed = cur.as_ref().is_none_or(|c| **c != *s);
                        if changed {
                            *cur = Some(s.clone());
                        }
                        changed
                    });
                }
                // A broken file keeps the last good snapshot: nothing is removed by mistake.
                Err(e) => {
                    tracing::warn!(error = %e, "manifests unreadable; keeping the last good set")
                }
            }
        }
    });
    Ok(rx)
}

/// The default owner id with --manifests: `manifests-<cluster-name>` from the selected
/// Ingresses' labels, so two clusters previewing their own manifests never share an owner.
async fn manifests_owner(args: &RunArgs) -> anyhow::Result<String> {
    let geo = args.geo.geo_location.as_deref().unwrap_or("records");
    if args.geo.geo_location.is_none() {
        return Ok(format!("manifests-{geo}"));
    }
    let snap = geo_snapshot(args, &None).await?;
    let mut clusters: Vec<String> = snap
        .iter()
        .filter_map(|i| {
            let l = i.metadata.labels.as_ref()?;
            l.get("cluster-name").or(l.get("cluster_name")).cloned()
        })
        .filter(|c| crate::model::marker_safe(c))
        .collect();
    clusters.sort();
    clusters.dedup();
    Ok(if clusters.is_empty() {
        format!("manifests-{geo}")
    } else {
        format!("manifests-{}", clusters.join("."))
    })
}

/// The UID of the kube-system namespace: a stable, unique default owner id per cluster.
async fn cluster_uid(client: kube::Client) -> anyhow::Result<String> {
    let api = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    let ns = api.get("kube-system").await.context(
        "reading namespace kube-system for the default owner id (set CFGEO_OWNER_ID to skip)",
    )?;
    ns.metadata
        .uid
        .map(|u| format!("cluster-{u}"))
        .context("namespace kube-system has no uid; set CFGEO_OWNER_ID")
}
/// Prints the complete geo plan: each step, in order, with the state it expects.
pub fn print_geo_plan(plan: &crate::geo::Plan, obs: &crate::geo::Observed, color: bool) {
    let names: std::collections::BTreeMap<String, String> = obs
        .pools
        .iter()
        .map(|p| (p.id.clone(), p.name.clone()))
        .chain(obs.lbs.iter().map(|l| (l.id.clone(), l.name.clone())))
        .collect();
    for p in &plan.problems {
        println!("geo: warning: {}", p.message);
    }
    if plan.is_empty() {
        println!("geo: no changes");
    }
    for (i, st) in plan.steps.iter().enumerate() {
        let sign = match &st.action {
            crate::geo::Action::CreateMonitor { .. }
            | crate::geo::Action::CreatePool { .. }
            | crate::geo::Action::CreateLb { .. } => '+',
            crate::geo::Action::DeleteLb { .. }
            | crate::geo::Action::DeletePool { .. }
            | crate::geo::Action::DeleteMonitor { .. } => '-',
            _ => '~',
        };
        println!(
            "{}",
            paint(
                color,
                sign,
                &format!(
                    "geo: {}. [{:?}] {} ({})",
                    i + 1,
                    st.phase,
                    st.action.describe(),
                    st.expects.describe(&names)
                )
            )
        );
    }
    if let Some(w) = plan.requeue_after {
        println!("geo: a retiring pool may be deleted in {w} s");
    }
}

/// Prints what a pass did and, if asked, the resulting pools and load balancers.
pub fn print_report(r: &Report, state: bool) {
    if r.written.is_empty() {
        println!("geo: no change needed");
    }
    for a in &r.written {
        println!("geo: {}", a.describe());
    }
    for s in &r.skipped {
        println!("geo: skipped {s}");
    }
    for f in &r.refused {
        println!("geo: refused: {}", f.error);
    }
    for p in &r.problems {
        println!("geo: warning: {}", p.message);
    }
    if !state {
        return;
    }
    let names: std::collections::BTreeMap<&str, &str> = r
        .observed
        .pools
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    println!("\npools:");
    let mut pools: Vec<_> = r.observed.pools.iter().collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    for p in pools {
        println!(
            "  {} ({}, {}) monitor={}",
            p.name,
            p.latitude.map(|v| v.to_string()).unwrap_or("-".into()),
            p.longitude.map(|v| v.to_string()).unwrap_or("-".into()),
            p.monitor.as_deref().unwrap_or("none")
        );
        for o in &p.origins {
            println!(
                "    {} {} weight={} {}",
                o.name,
                o.address,
                o.weight,
                if o.enabled { "enabled" } else { "disabled" }
            );
        }
    }
    println!("load balancers:");
    for lb in &r.observed.lbs {
        let list: Vec<&str> = lb
            .default_pools
            .iter()
            .map(|id| names.get(id.as_str()).copied().unwrap_or(id))
            .collect();
        println!(
            "  {} steering={} proxied={} fallback={}\n    pools: {}",
            lb.name,
            lb.steering_policy
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            lb.proxied,
            names
                .get(lb.fallback_pool.as_str())
                .copied()
                .unwrap_or(&lb.fallback_pool),
            list.join(", ")
        );
    }
}
