//! Wiring for `cfgeo run`: builds the Cloudflare client (or an embedded emulator), the source
//! (a live watch or manifest files), and the engines. `anyhow` lives here and nowhere below.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cloudflare::Client;
use crate::config::{CloudflareArgs, GeoArgs, Resolved};
use crate::emulator;
use crate::events::Reporter;
use crate::geo::apply::Report;
use crate::geo::engine::{GeoEngine, Timing};
use crate::sources::selector::LabelSelector;
use crate::sources::{kube_watch, manifests};

/// Flags of `cfgeo run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub cloudflare: CloudflareArgs,

    #[command(flatten)]
    pub geo: GeoArgs,

    /// Read objects from manifest files (a file or a directory, searched recursively) instead of
    /// a cluster. Without --once the files are read again at every resync.
    #[arg(long = "manifests", env = "CFGEO_MANIFESTS")]
    pub manifests: Option<PathBuf>,

    /// Run one pass, print what was done, and exit (non-zero if the pass failed).
    #[arg(long = "once", env = "CFGEO_ONCE", default_value_t = false)]
    pub once: bool,

    /// Use an in-process Cloudflare emulator instead of api.cloudflare.com: no account needed.
    /// Account and zone ids default to the emulator's.
    #[arg(
        long = "embedded-emulator",
        env = "CFGEO_EMBEDDED_EMULATOR",
        default_value_t = false
    )]
    pub embedded_emulator: bool,

    /// State file of the embedded emulator, loaded at start and saved after each change, so
    /// several runs (one per region) can share one emulated account.
    #[arg(
        long = "emulator-state",
        env = "CFGEO_EMULATOR_STATE",
        requires = "embedded_emulator"
    )]
    pub emulator_state: Option<PathBuf>,

    /// Print the pools and load balancers after each pass.
    #[arg(
        long = "print-state",
        env = "CFGEO_PRINT_STATE",
        default_value_t = false
    )]
    pub print_state: bool,
}

/// Runs `cfgeo run`.
pub async fn run(
    mut args: RunArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<std::process::ExitCode> {
    args.geo.precheck()?;
    let region = args.geo.region()?;
    let _emu = if args.embedded_emulator {
        let cfg = emulator::EmulatorConfig {
            state_file: args.emulator_state.clone(),
            ..emulator::EmulatorConfig::default()
        };
        let handle = emulator::Emulator::start(cfg)
            .await
            .context("starting the embedded emulator")?;
        args.cloudflare.base_url = handle.base_url();
        args.cloudflare
            .api_token
            .get_or_insert_with(|| "embedded-emulator".into());
        args.cloudflare
            .account_id
            .get_or_insert_with(|| handle.account_id());
        if args.cloudflare.zone_id.is_none() {
            args.cloudflare.zone_id = handle.zone_id("example.com");
        }
        Some(handle)
    } else {
        None
    };
    let (settings, token) = args.cloudflare.client_parts()?;
    let client = Client::new(settings, token)?;
    let account_id = args
        .cloudflare
        .account_id
        .clone()
        .context("CF_ACCOUNT_ID is required")?;
    let zone_id = args
        .cloudflare
        .zone_id
        .clone()
        .context("CF_ZONE_ID is required")?;
    let zone = client
        .get_zone(&zone_id)
        .await
        .with_context(|| format!("CF_ZONE_ID {zone_id}: cannot read the zone (check the id and the token's Zone Read permission)"))?;

    let kube_client = if args.manifests.is_none() {
        Some(kube::Client::try_default().await.context(
            "connecting to Kubernetes (KUBECONFIG, ~/.kube/config or in-cluster); use --manifests DIR to run without a cluster",
        )?)
    } else {
        None
    };
    let owner_id = match (&args.geo.owner_id, &kube_client) {
        (Some(o), _) => o.clone(),
        (None, Some(k)) => cluster_uid(k.clone()).await?,
        (None, None) => format!("manifests-{}", region.name),
    };
    let resolved = Resolved {
        account_id,
        zone_id,
        zone_name: zone.name.clone(),
        owner_id,
    };
    let geo = args.geo.settings(&resolved)?;
    tracing::info!(region = %geo.region.name, zone = %geo.zone_name, lb = %geo.default_lb_host, owner = %geo.owner_id, "geo engine starting");
    let reporter = match &kube_client {
        Some(k) => Reporter::kube(k.clone(), "cfgeo", std::env::var("POD_NAME").ok()),
        None => Reporter::Log,
    };
    let timing = Timing {
        resync: std::time::Duration::from_secs(args.geo.resync_secs.max(1)),
        ..Timing::default()
    };
    let mut engine = GeoEngine::new(client, geo, reporter, timing);
    let selector = args.geo.label_selector.clone();

    if args.once {
        let snap = match (&args.manifests, &kube_client) {
            (Some(dir), _) => {
                manifests::load::<Ingress>(dir, Some(&LabelSelector::parse(&selector)?))?
            }
            (None, Some(k)) => {
                let api = kube::Api::<Ingress>::all(k.clone());
                let list = api
                    .list(&kube::api::ListParams::default().labels(&selector))
                    .await?;
                Arc::new(list.items.into_iter().map(Arc::new).collect())
            }
            (None, None) => unreachable!("a source is always set"),
        };
        let report = engine.pass(&snap).await;
        return match report {
            Ok(r) => {
                print_report(&r, args.print_state);
                Ok(std::process::ExitCode::SUCCESS)
            }
            Err(e) => Err(e.into()),
        };
    }

    let rx = match (&args.manifests, &kube_client) {
        (Some(dir), _) => manifest_source(
            dir.clone(),
            selector,
            engine_resync(&args),
            shutdown.clone(),
        )?,
        (None, Some(k)) => {
            let api = kube::Api::<Ingress>::all(k.clone());
            kube_watch::watch_objects(
                api,
                watcher::Config::default().labels(&selector),
                shutdown.clone(),
            )
        }
        (None, None) => unreachable!("a source is always set"),
    };
    engine.run(rx, shutdown).await;
    Ok(std::process::ExitCode::SUCCESS)
}

fn engine_resync(args: &RunArgs) -> std::time::Duration {
    std::time::Duration::from_secs(args.geo.resync_secs.max(1))
}

/// Re-reads the manifests every period and publishes a snapshot when they change.
fn manifest_source(
    dir: PathBuf,
    selector: String,
    period: std::time::Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<watch::Receiver<Option<crate::sources::Snapshot<Ingress>>>> {
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
    for w in &r.warnings {
        println!("geo: warning: {w}");
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
