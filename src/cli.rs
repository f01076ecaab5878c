//! The command line: one clap tree whose every flag also reads an environment variable, and the
//! wiring that turns a parsed command into running tasks.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::cloudflare::Client;
use crate::config::{EmulatorArgs, LogArgs, RunArgs, StatusArgs};
use crate::status::command::{PERMISSIONS, render};
use crate::{app, emulator, telemetry};

/// cfgeo: Cloudflare geo load balancing and DNS records for Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "cfgeo", version, about, long_about = None)]
pub struct Cli {
    /// Log level and format; global, so they apply to every subcommand.
    #[command(flatten)]
    pub log: LogArgs,

    /// The subcommand given; clap refuses a command line without one.
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve a stateful, in-memory Cloudflare API (zones, DNS records, pools, monitors, load
    /// balancers) for tests and for trying cfgeo without an account.
    Emulator(EmulatorArgs),
    /// Run the controller: watch Kubernetes (or read --manifests) and keep this cluster's
    /// Cloudflare pool and the shared proximity load balancer in step (with GEO_LOCATION), and
    /// DNS records in step with the record sources (with --source).
    Run(Box<RunArgs>),
    /// Print what `run` would change in Cloudflare (both engines), as a diff, without writing.
    /// Reads a live cluster or --manifests. Exits 2 when there are changes, 0 when none.
    Plan(Box<RunArgs>),
    /// Retire a load-balancer hostname for good: delete the load balancer named CF_LB_HOSTNAME,
    /// then this deployment's pools and monitors for it. No other command or pass ever deletes
    /// a load balancer. Refuses while pools of other deployments in it still serve traffic,
    /// unless --force. With --dry-run, prints what it would delete.
    Decommission(Box<DecommissionArgs>),
    /// Show, read only, each cfgeo load balancer of the zone: its steering, proxied flag and
    /// fallback, and per pool its region, cluster, owner, coordinates, origins, state (serving,
    /// drained, leaving, foreign) and health, with the share of the world's land each pool
    /// serves and where it would go if the pool went down. As a table, JSON, an SVG map or an
    /// HTML page (`cfgeo run` serves the same page on its admin server at /status). Needs only
    /// read permissions; no Kubernetes, no GEO_LOCATION.
    Status(Box<StatusArgs>),
}

/// Flags of `cfgeo decommission`: those of `run`, plus --force.
#[derive(clap::Args, Debug)]
pub struct DecommissionArgs {
    /// The flags `cfgeo run` takes: decommission finds the load balancer, pools and monitors
    /// with the same account, zone, hostname and owner settings the running deployment uses.
    #[command(flatten)]
    pub run: RunArgs,

    /// Delete even while other deployments' pools in the load balancer still serve traffic.
    #[arg(long = "force", default_value_t = false)]
    pub force: bool,
}

/// Parses the process's arguments and environment; prints help or the error and exits on a
/// bad command line.
pub fn parse() -> Cli {
    Cli::parse()
}

/// The error and its causes on one line, each cause once: some libraries (kube's config
/// inference) put their source into their own message too, so a cause the text so far
/// already contains is left out.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Runs the parsed command; `Ok` carries the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    telemetry::init(&cli.log.settings())?;
    match cli.command {
        Command::Emulator(args) => {
            let shutdown = crate::telemetry::shutdown_on_signal();
            emulator::serve(emulator::EmulatorConfig::from(&args), shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            app::run(
                *args,
                app::Mode::Run,
                crate::telemetry::shutdown_on_signal(),
            )
            .await
        }
        Command::Decommission(args) => {
            let DecommissionArgs { run, force } = *args;
            app::run(
                run,
                app::Mode::Decommission { force },
                crate::telemetry::shutdown_on_signal(),
            )
            .await
        }
        Command::Status(args) => status(*args).await,
        Command::Plan(args) => {
            app::run(
                *args,
                app::Mode::Plan,
                crate::telemetry::shutdown_on_signal(),
            )
            .await
        }
    }
}

/// `cfgeo status`: one read of Cloudflare (or the embedded emulator), printed or written.
/// Needs no Kubernetes and no GEO_LOCATION, and only read permissions.
async fn status(mut args: StatusArgs) -> anyhow::Result<ExitCode> {
    let _emu = app::embedded_emulator(
        args.embedded_emulator,
        args.emulator_state.clone(),
        &mut args.cloudflare,
    )
    .await?;
    let opts = args.options()?;
    let (settings, token) = args.cloudflare.client_parts()?;
    let client = Client::new(settings, token)?;
    let host = opts.lb_hostname.as_deref();
    let status = crate::status::read_status(&client, &opts.account_id, &opts.zone_id, host)
        .await
        .with_context(|| format!("reading Cloudflare ({PERMISSIONS})"))?;
    let text = render(&status, opts.output);
    match &opts.file {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn error_text_names_each_cause_once() {
        let inner = std::io::Error::other("no such file");
        let err = anyhow::Error::new(Repeats(inner)).context("reading the config");
        assert_eq!(error_text(&err), "reading the config: outer: no such file");
        let plain = anyhow::anyhow!("a").context("b");
        assert_eq!(error_text(&plain), "b: a");
    }
}
