//! Wiring of `cfgeo status`: its flags, the Cloudflare client (or the embedded emulator), one
//! read, the output. Like [`crate::app`] this is wiring, the one file of this module that uses
//! anyhow. It needs no Kubernetes and no GEO_LOCATION, and only read permissions.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::read::{STATUS_MAX_AGE, StatusSource, cached_source, read_status};
use super::{html, svg, table};
use crate::cloudflare::Client;
use crate::config::CloudflareArgs;
use crate::model::validate_hostname;

/// What `cfgeo status` prints or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One aligned table per load balancer.
    Table,
    /// The status model as JSON, for scripts.
    Json,
    /// The world map as an SVG document (give FILE to write it there).
    Svg,
    /// The admin server's /status page (map and table) as one HTML file.
    Html,
}

/// Flags of `cfgeo status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cloudflare: CloudflareArgs,

    /// Output format.
    #[arg(
        long = "output",
        short = 'o',
        env = "CFGEO_STATUS_OUTPUT",
        value_enum,
        default_value = "table"
    )]
    pub output: Output,

    /// Write the output to FILE instead of standard output: `--output svg docs/status-map.svg`
    /// writes the map there.
    #[arg(value_name = "FILE", env = "CFGEO_STATUS_FILE")]
    pub file: Option<PathBuf>,

    /// Show only this load-balancer hostname (default: every hostname in the zone that has
    /// cfgeo pools). Exits 1 when it has none.
    #[arg(long = "cf-lb-hostname", env = "CF_LB_HOSTNAME")]
    pub lb_hostname: Option<String>,

    /// Read an in-process Cloudflare emulator instead of api.cloudflare.com: no account needed.
    /// Account and zone ids default to the emulator's.
    #[arg(
        long = "embedded-emulator",
        env = "CFGEO_EMBEDDED_EMULATOR",
        default_value_t = false
    )]
    pub embedded_emulator: bool,

    /// State file of the embedded emulator, e.g. the one `cfgeo run --once --embedded-emulator
    /// --emulator-state FILE` runs left behind.
    #[arg(
        long = "emulator-state",
        env = "CFGEO_EMULATOR_STATE",
        requires = "embedded_emulator"
    )]
    pub emulator_state: Option<PathBuf>,
}

const PERMISSIONS: &str =
    "the token needs Zone Read, Load Balancers Read and Load Balancing: Monitors and Pools Read";

/// Runs `cfgeo status`.
pub async fn run(mut args: StatusArgs) -> anyhow::Result<ExitCode> {
    let _emu = if args.embedded_emulator {
        Some(
            crate::app::embedded_emulator(&mut args.cloudflare, args.emulator_state.clone())
                .await?,
        )
    } else {
        None
    };
    let account = args
        .cloudflare
        .account_id
        .clone()
        .context("CF_ACCOUNT_ID is required: cfgeo status reads the account's pools")?;
    let zone = args
        .cloudflare
        .zone_id
        .clone()
        .context("CF_ZONE_ID is required: cfgeo status reads the zone's load balancers")?;
    let host = args
        .lb_hostname
        .as_deref()
        .map(|h| validate_hostname("CF_LB_HOSTNAME", h))
        .transpose()?;
    let (settings, token) = args.cloudflare.client_parts()?;
    let client = Client::new(settings, token)?;
    let status = read_status(&client, &account, &zone, host.as_deref())
        .await
        .with_context(|| format!("reading Cloudflare ({PERMISSIONS})"))?;
    let text = match args.output {
        Output::Table => table::render(&status),
        Output::Json => table::json(&status),
        Output::Svg => svg::render(&status),
        Output::Html => html::page(&status),
    };
    match &args.file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("status: wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    if let Some(h) = host
        && status.load_balancers.is_empty()
    {
        eprintln!(
            "status: no load balancer {h} with cfgeo pools in zone {}",
            status.zone
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The admin server's status source in `cfgeo run`: the run's client, when the account and
/// zone are known (the geo engine always has both; a records-only run may not).
pub fn admin_source(client: &Client, cloudflare: &CloudflareArgs) -> Option<StatusSource> {
    Some(cached_source(
        client.clone(),
        cloudflare.account_id.clone()?,
        cloudflare.zone_id.clone()?,
        STATUS_MAX_AGE,
    ))
}
