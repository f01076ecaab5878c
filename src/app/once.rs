//! `--once` and `plan`: one pass of each engine over one complete read of its sources, printed
//! through [`crate::report`]; the exit code says whether `plan` found changes
//! ([`Mode::exit_code`]).

use std::io::IsTerminal;
use std::process::ExitCode;

use k8s_openapi::api::networking::v1::Ingress;
use tokio_util::sync::CancellationToken;

use crate::cloudflare::Client;
use crate::config::{Mode, RunArgs};
use crate::events::Reporter;
use crate::geo::GeoSettings;
use crate::geo::engine::GeoEngine;
use crate::records::engine::RecordEngine;
use crate::records::inputs::{self, InputSpec};
use crate::runtime::Timing;
use crate::{geo, report};

/// One pass of each engine given, printed: a preview for `plan` and `--dry-run`, else the
/// pass itself and what it did.
#[allow(clippy::too_many_arguments)]
pub(super) async fn one_pass(
    args: &RunArgs,
    mode: Mode,
    client: &Client,
    geo: Option<GeoSettings>,
    records: Option<RecordEngine>,
    record_inputs: InputSpec,
    reporter: Reporter,
    kube_client: &Option<kube::Client>,
) -> anyhow::Result<ExitCode> {
    let color = std::io::stdout().is_terminal();
    let mut changes = false;
    if let Some(s) = geo {
        let snap = geo::inputs::snapshot(
            args.manifests.as_deref(),
            kube_client.as_ref(),
            &args.geo.label_selector,
        )
        .await?;
        if mode == Mode::Plan || args.records.dry_run {
            let refs: Vec<&Ingress> = snap.iter().map(|i| i.as_ref()).collect();
            let (desired, notices) = geo::desired_state(&refs, &s);
            for n in &notices {
                println!("geo: warning: {}", n.message);
            }
            let (plan, obs) = geo::apply::preview(client, &s, &desired).await?;
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
        let mut inputs = inputs::start(record_inputs, kube_client.as_ref(), listed.clone())?;
        inputs.wait_synced().await;
        listed.cancel();
        let desired = inputs.current().unwrap_or_default();
        let pass = engine.pass(&desired, true).await?;
        changes |= pass.has_changes();
        print!("{}", report::records(&pass, &desired.notices, color));
        if args.print_state {
            print!("{}", report::records_state(engine.zones()));
        }
    }
    Ok(ExitCode::from(mode.exit_code(changes)))
}
