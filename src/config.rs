//! Command-line and environment configuration (clap derive, every flag also an environment
//! variable), and its validation and resolution (defaults, owner-id fallbacks, zones) into the
//! plain settings each module takes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::{EnumValueParser, TypedValueParser};

use crate::cloudflare::types::RecordType;
use crate::cloudflare::types::{MonitorInput, SteeringPolicy};
use crate::cloudflare::{ClientSettings, DEFAULT_BASE_URL, TokenError, TokenSource};
use crate::emulator::{EmulatorConfig, EmulatorHandle};
use crate::geo::settings::keys;
use crate::geo::{GeoSettings, LbPolicy, MonitorPolicy};
use crate::leader::LeaderConfig;
use crate::model::{NameError, Region, Weight, validate_hostname};
use crate::records::engine::RecordSettings;
use crate::records::inputs::InputSpec;
use crate::records::registry::TxtNaming;
use crate::records::sources::{SourceKind, SourceSettings};
use crate::records::zone::{DomainFilter, FilterError};
use crate::records::{PlanSettings, Policy};
use crate::runtime::Timing;
use crate::sources::selector::{LabelSelector, SelectorError};
use crate::status::command::{Output, StatusOptions};
use crate::telemetry::{LogFormat, LogSettings};

/// A configuration value that cannot be used; each names the variable and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required value is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A value a command or engine needs is missing; the text says which and who needs it.
    #[error("{0}")]
    Required(&'static str),
    /// A value is out of its allowed set.
    #[error(transparent)]
    Invalid(#[from] NameError),
    /// The token cannot be read.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A domain filter does not build.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A label selector does not parse.
    #[error("{flag} {value:?}: {error}")]
    Selector {
        /// Flag or variable.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it does not parse.
        error: SelectorError,
    },
    /// Anything else, with the variable named.
    #[error("{var}: {message}")]
    Other {
        /// Variable or flag.
        var: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// How to reach Cloudflare. `Debug` never prints the token.
#[derive(Args, Clone)]
pub struct CloudflareArgs {
    /// Cloudflare API token, or `file:/path` to read it from a file (external-dns's form).
    /// Never logged.
    #[arg(long = "cf-api-token", env = "CF_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// File holding the API token (a mounted Secret); re-read when it changes, so rotation
    /// needs no restart. Wins over CF_API_TOKEN.
    #[arg(long = "cf-api-token-file", env = "CF_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,

    /// Cloudflare account id (owner of the pools and monitors).
    #[arg(long = "cf-account-id", env = "CF_ACCOUNT_ID")]
    pub account_id: Option<String>,

    /// Cloudflare zone id of the load balancers.
    #[arg(long = "cf-zone-id", env = "CF_ZONE_ID")]
    pub zone_id: Option<String>,

    /// Cloudflare API base URL.
    #[arg(long = "cf-api-base-url", env = "CF_API_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,

    /// Requests allowed per window, shared by every call of this process. Lower it when
    /// several clusters share one token (Cloudflare allows 1,200 per 5 minutes per token).
    #[arg(long = "cf-rate-limit", env = "CF_RATE_LIMIT", default_value_t = 1200)]
    pub rate_limit: u32,

    /// Length of the rate-limit window, in seconds.
    #[arg(
        long = "cf-rate-window-secs",
        env = "CF_RATE_WINDOW_SECS",
        default_value_t = 300
    )]
    pub rate_window_secs: u64,

    /// Timeout of each Cloudflare call, in seconds.
    #[arg(
        long = "cf-timeout-secs",
        env = "CF_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub timeout_secs: u64,
}

impl std::fmt::Debug for CloudflareArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareArgs")
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .field("api_token_file", &self.api_token_file)
            .field("account_id", &self.account_id)
            .field("zone_id", &self.zone_id)
            .field("base_url", &self.base_url)
            .field("rate_limit", &self.rate_limit)
            .field("rate_window_secs", &self.rate_window_secs)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

impl CloudflareArgs {
    /// Points these settings at the embedded emulator: its URL, a token, and its account and
    /// `example.com` zone unless others are given.
    pub fn use_emulator(&mut self, emu: &EmulatorHandle) {
        self.base_url = emu.base_url();
        self.api_token
            .get_or_insert_with(|| "embedded-emulator".into());
        self.account_id.get_or_insert_with(|| emu.account_id());
        if self.zone_id.is_none() {
            self.zone_id = emu.zone_id("example.com");
        }
    }

    /// Client settings and token source.
    pub fn client_parts(&self) -> Result<(ClientSettings, TokenSource), ConfigError> {
        let token =
            TokenSource::from_settings(self.api_token.as_deref(), self.api_token_file.as_deref())?;
        if self.rate_limit == 0 {
            return Err(ConfigError::Other {
                var: "CF_RATE_LIMIT",
                message: "must be at least 1".into(),
            });
        }
        let settings = ClientSettings {
            base_url: self.base_url.clone(),
            rate_limit: self.rate_limit,
            rate_window: Duration::from_secs(self.rate_window_secs.max(1)),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            ..ClientSettings::default()
        };
        Ok((settings, token))
    }
}

/// The geo engine's settings (the seed tool's variables and a few more).
#[derive(Args, Debug, Clone)]
pub struct GeoArgs {
    /// This cluster's region: eu, us_east, us_west or asia (the seed's coordinates), or any
    /// name made of letters, digits, '_' and '-' when GEO_LATITUDE and GEO_LONGITUDE are set.
    #[arg(long = "geo-location", env = "GEO_LOCATION")]
    pub geo_location: Option<String>,

    /// Latitude of a custom region (or to override a built-in one).
    #[arg(
        long = "geo-latitude",
        env = "GEO_LATITUDE",
        allow_hyphen_values = true
    )]
    pub latitude: Option<f64>,

    /// Longitude of a custom region (or to override a built-in one).
    #[arg(
        long = "geo-longitude",
        env = "GEO_LONGITUDE",
        allow_hyphen_values = true
    )]
    pub longitude: Option<f64>,

    /// Label selector of the Ingresses the geo engine serves.
    #[arg(
        long = "label-selector",
        env = "LABEL_SELECTOR",
        default_value = "dns.external/geo-route=true"
    )]
    pub label_selector: String,

    /// Hostname of the load balancer (must be inside the zone). An Ingress can choose another
    /// with the annotation cfgeo.io/lb-hostname.
    #[arg(
        long = "cf-lb-hostname",
        env = "CF_LB_HOSTNAME",
        default_value = "app.example.com"
    )]
    pub lb_hostname: String,

    /// Weight of each origin, as a whole percent from 1 to 100 (sent to Cloudflare as 0.01..1).
    #[arg(
        long = "cf-origin-weight",
        env = "CF_ORIGIN_WEIGHT",
        default_value = "33"
    )]
    pub origin_weight: String,

    /// Identity of this cluster, written into the marker of every pool and monitor this
    /// deployment owns (letters, digits and . _ - : / @ only). Must differ between clusters.
    /// Default: the kube-system namespace UID in a cluster, or `manifests-<cluster-name>` (the
    /// Ingresses' cluster-name labels) with --manifests.
    #[arg(long = "owner-id", env = "CFGEO_OWNER_ID")]
    pub owner_id: Option<String>,

    /// Identity of this deployment within the cluster, also written into the marker, so two
    /// deployments of one cluster never claim each other's pools. Default: CF_LB_HOSTNAME.
    #[arg(long = "deployment-id", env = "CFGEO_DEPLOYMENT_ID")]
    pub deployment_id: Option<String>,

    /// Drain every pool of this cluster: origins disabled, pools kept, traffic moves to the
    /// next-closest region.
    #[arg(long = "geo-drain", env = "CFGEO_GEO_DRAIN", default_value_t = false)]
    pub drain: bool,

    /// Monitor handling: `managed` (one monitor per pool, from the --monitor-* flags), `none`,
    /// or the id of an existing monitor to attach.
    #[arg(long = "monitor", env = "CFGEO_MONITOR", default_value = "managed")]
    pub monitor: String,

    /// Managed monitor type (http, https, tcp...).
    #[arg(
        long = "monitor-type",
        env = "CFGEO_MONITOR_TYPE",
        default_value = "https"
    )]
    pub monitor_type: String,

    /// Managed monitor HTTP path.
    #[arg(
        long = "monitor-path",
        env = "CFGEO_MONITOR_PATH",
        default_value = "/healthz"
    )]
    pub monitor_path: String,

    /// Managed monitor expected HTTP codes.
    #[arg(
        long = "monitor-expected-codes",
        env = "CFGEO_MONITOR_EXPECTED_CODES",
        default_value = "2xx"
    )]
    pub monitor_expected_codes: String,

    /// Managed https monitor: skip certificate verification (an Ingress controller reached by IP
    /// rarely has a certificate for it). The annotation cfgeo.io/monitor-allow-insecure
    /// overrides it per pool.
    #[arg(
        long = "monitor-allow-insecure",
        env = "CFGEO_MONITOR_ALLOW_INSECURE",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub monitor_allow_insecure: bool,

    /// Managed monitor interval, seconds (Cloudflare: 15..3600 outside Enterprise).
    #[arg(
        long = "monitor-interval",
        env = "CFGEO_MONITOR_INTERVAL",
        default_value_t = 60
    )]
    pub monitor_interval: u32,

    /// Steering policy written to the load balancer.
    #[arg(
        long = "lb-steering-policy",
        env = "CFGEO_LB_STEERING_POLICY",
        default_value = "proximity"
    )]
    pub steering_policy: String,

    /// Whether the load balancer is proxied (orange cloud).
    #[arg(long = "lb-proxied", env = "CFGEO_LB_PROXIED", default_value_t = true, action = clap::ArgAction::Set)]
    pub proxied: bool,

    /// Seconds a retiring pool stays out of every load balancer before it is deleted.
    #[arg(
        long = "geo-removal-delay-secs",
        env = "CFGEO_GEO_REMOVAL_DELAY_SECS",
        default_value_t = 30
    )]
    pub removal_delay_secs: u64,

    /// Full resync period, seconds (jittered by up to 10%).
    #[arg(
        long = "geo-resync-secs",
        env = "CFGEO_GEO_RESYNC_SECS",
        default_value_t = 300
    )]
    pub resync_secs: u64,
}

/// Values known only after talking to Cloudflare or Kubernetes.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The account that owns the pools and monitors (`CF_ACCOUNT_ID`).
    pub account_id: String,
    /// The zone of the load balancers (`CF_ZONE_ID`).
    pub zone_id: String,
    /// The zone's apex name, read from Cloudflare; `CF_LB_HOSTNAME` must be inside it.
    pub zone_name: String,
    /// The geo engine's owner id ([`Owners::geo`]): `--owner-id`, or derived from the
    /// cluster's kube-system UID or the manifests' clusters.
    pub owner_id: String,
}

/// Refuses a value the ownership marker could not carry back unchanged.
fn check_marker_value(var: &'static str, v: &str) -> Result<(), ConfigError> {
    if crate::model::marker_safe(v) {
        return Ok(());
    }
    let bad: String = v
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@')))
        .take(3)
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ConfigError::Other {
        var,
        message: if v.is_empty() || v.len() > 128 {
            format!("must be 1 to 128 characters, got {}", v.len())
        } else {
            format!(
                "{v:?} contains {bad}; only letters, digits and . _ - : / @ are allowed, because the value is written into and read back from Cloudflare descriptions"
            )
        },
    })
}

impl GeoArgs {
    /// The region, checked before anything else starts.
    pub fn region(&self) -> Result<Region, ConfigError> {
        let name = self.geo_location.as_deref().ok_or(ConfigError::Missing(
            "GEO_LOCATION (one of eu, us_east, us_west, asia, or a custom name with GEO_LATITUDE and GEO_LONGITUDE)",
        ))?;
        Ok(Region::resolve(name, self.latitude, self.longitude)?)
    }

    /// Validates everything that needs no network.
    pub fn precheck(&self) -> Result<(), ConfigError> {
        self.region()?;
        Weight::parse_percent("CF_ORIGIN_WEIGHT", &self.origin_weight)?;
        validate_hostname("CF_LB_HOSTNAME", &self.lb_hostname)?;
        if self.label_selector.trim().is_empty() {
            return Err(ConfigError::Other {
                var: "LABEL_SELECTOR",
                message: "must not be empty: the geo engine would take every Ingress".into(),
            });
        }
        self.steering()?;
        if let Some(o) = &self.owner_id {
            check_marker_value("CFGEO_OWNER_ID", o)?;
        }
        if let Some(d) = &self.deployment_id {
            check_marker_value("CFGEO_DEPLOYMENT_ID", d)?;
        }
        Ok(())
    }

    fn steering(&self) -> Result<SteeringPolicy, ConfigError> {
        let p = SteeringPolicy::from(self.steering_policy.as_str());
        if let SteeringPolicy::Other(v) = &p {
            return Err(ConfigError::Other {
                var: "CFGEO_LB_STEERING_POLICY",
                message: format!(
                    "{v:?} is not a steering policy; valid: off, geo, random, dynamic_latency, proximity, least_outstanding_requests, least_connections"
                ),
            });
        }
        Ok(p)
    }

    /// The full settings, once the zone and owner are known.
    pub fn settings(&self, r: &Resolved) -> Result<GeoSettings, ConfigError> {
        let region = self.region()?;
        let weight = Weight::parse_percent("CF_ORIGIN_WEIGHT", &self.origin_weight)?;
        let host = validate_hostname("CF_LB_HOSTNAME", &self.lb_hostname)?;
        if !crate::geo::desired::in_zone(&host, &r.zone_name) {
            return Err(ConfigError::Other {
                var: "CF_LB_HOSTNAME",
                message: format!(
                    "{host:?} is not inside zone {} (CF_ZONE_ID {})",
                    r.zone_name, r.zone_id
                ),
            });
        }
        let monitor = match self.monitor.trim() {
            "managed" => MonitorPolicy::Managed(MonitorInput {
                description: None,
                monitor_type: Some(self.monitor_type.clone()),
                path: Some(self.monitor_path.clone()),
                expected_codes: Some(self.monitor_expected_codes.clone()),
                interval: Some(self.monitor_interval),
                timeout: None,
                retries: None,
                port: None,
                // The Host header is the pool's LB hostname, added per pool by the planner.
                header: None,
                allow_insecure: Some(self.monitor_allow_insecure),
                follow_redirects: None,
                method: None,
            }),
            "none" => MonitorPolicy::None,
            id if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) => {
                MonitorPolicy::Existing(id.to_ascii_lowercase())
            }
            other => {
                return Err(ConfigError::Other {
                    var: "CFGEO_MONITOR",
                    message: format!("{other:?}: use managed, none, or a 32-hex monitor id"),
                });
            }
        };
        check_marker_value("CFGEO_OWNER_ID", &r.owner_id)?;
        let deployment_id = match &self.deployment_id {
            Some(d) => {
                check_marker_value("CFGEO_DEPLOYMENT_ID", d)?;
                d.clone()
            }
            None => host.clone(),
        };
        Ok(GeoSettings {
            deployment_id,
            account_id: r.account_id.clone(),
            zone_id: r.zone_id.clone(),
            zone_name: r.zone_name.clone(),
            region,
            default_lb_host: host,
            weight,
            owner_id: r.owner_id.clone(),
            cluster_labels: keys::CLUSTER_LABELS.map(String::from).to_vec(),
            lb_hostname_annotation: keys::LB_HOSTNAME.into(),
            drain_annotation: keys::DRAIN.into(),
            drain_all: self.drain,
            monitor,
            lb: LbPolicy {
                steering: self.steering()?,
                proxied: self.proxied,
                ttl: 30,
            },
            removal_delay_secs: self.removal_delay_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        geo: GeoArgs,
    }

    fn geo(args: &[&str]) -> GeoArgs {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        T::try_parse_from(v).unwrap().geo
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases: &[(&[&str], &str)] = &[
            (&["--geo-location", "mars"], "GEO_LOCATION"),
            (&[], "GEO_LOCATION"),
            (
                &["--geo-location", "eu", "--cf-origin-weight", "0"],
                "CF_ORIGIN_WEIGHT",
            ),
            (
                &["--geo-location", "eu", "--cf-origin-weight", "101"],
                "CF_ORIGIN_WEIGHT",
            ),
            (
                &["--geo-location", "eu", "--cf-origin-weight", "abc"],
                "CF_ORIGIN_WEIGHT",
            ),
            (
                &["--geo-location", "eu", "--cf-lb-hostname", "bad host"],
                "CF_LB_HOSTNAME",
            ),
            (
                &["--geo-location", "eu", "--lb-steering-policy", "nearest"],
                "CFGEO_LB_STEERING_POLICY",
            ),
            (
                &["--geo-location", "eu", "--label-selector", " "],
                "LABEL_SELECTOR",
            ),
            (
                &["--geo-location", "eu", "--owner-id", "my cluster"],
                "CFGEO_OWNER_ID",
            ),
            (
                &["--geo-location", "eu", "--owner-id", "a=b"],
                "CFGEO_OWNER_ID",
            ),
            (
                &["--geo-location", "eu", "--deployment-id", "x y"],
                "CFGEO_DEPLOYMENT_ID",
            ),
        ];
        for (args, var) in cases {
            let e = geo(args).precheck().unwrap_err().to_string();
            assert!(e.contains(var), "{args:?}: {e}");
        }
        assert!(geo(&["--geo-location", "eu"]).precheck().is_ok());
    }

    #[test]
    fn lb_hostname_must_be_in_zone() {
        let r = Resolved {
            account_id: "a".into(),
            zone_id: "z".into(),
            zone_name: "example.com".into(),
            owner_id: "o".into(),
        };
        let e = geo(&["--geo-location", "eu", "--cf-lb-hostname", "app.other.org"])
            .settings(&r)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CF_LB_HOSTNAME") && e.contains("example.com"),
            "{e}"
        );
        let s = geo(&["--geo-location", "eu", "--cf-origin-weight", "50"])
            .settings(&r)
            .unwrap();
        assert_eq!(s.weight.as_fraction(), 0.5);
    }

    #[test]
    fn empty_token_is_refused() {
        let a = CloudflareArgs {
            api_token: Some("".into()),
            api_token_file: None,
            account_id: None,
            zone_id: None,
            base_url: DEFAULT_BASE_URL.into(),
            rate_limit: 1200,
            rate_window_secs: 300,
            timeout_secs: 30,
        };
        assert!(
            a.client_parts()
                .unwrap_err()
                .to_string()
                .contains("CF_API_TOKEN")
        );
    }
}

/// `--source` as clap parses it and documents it in `--help`; maps one to one to
/// [`SourceKind`], which knows no clap.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SourceFlag {
    /// Ingresses (hosts, TLS hosts and the hostname annotation).
    Ingress,
    /// Services of type LoadBalancer, ClusterIP (internal-hostname) and ExternalName.
    Service,
    /// Gateway API HTTPRoutes.
    GatewayHttproute,
    /// Gateway API GRPCRoutes.
    GatewayGrpcroute,
    /// Gateway API TLSRoutes.
    GatewayTlsroute,
    /// Gateway API TCPRoutes.
    GatewayTcproute,
    /// Gateway API UDPRoutes.
    GatewayUdproute,
    /// external-dns DNSEndpoint objects (externaldns.k8s.io/v1alpha1).
    Crd,
}

impl From<SourceFlag> for SourceKind {
    fn from(f: SourceFlag) -> Self {
        match f {
            SourceFlag::Ingress => Self::Ingress,
            SourceFlag::Service => Self::Service,
            SourceFlag::GatewayHttproute => Self::GatewayHttproute,
            SourceFlag::GatewayGrpcroute => Self::GatewayGrpcroute,
            SourceFlag::GatewayTlsroute => Self::GatewayTlsroute,
            SourceFlag::GatewayTcproute => Self::GatewayTcproute,
            SourceFlag::GatewayUdproute => Self::GatewayUdproute,
            SourceFlag::Crd => Self::Crd,
        }
    }
}

/// `--policy` as clap parses it and documents it in `--help`; maps one to one to [`Policy`].
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PolicyFlag {
    /// Create, update and delete.
    Sync,
    /// Create and update, never delete.
    UpsertOnly,
    /// Create only.
    CreateOnly,
}

impl From<PolicyFlag> for Policy {
    fn from(f: PolicyFlag) -> Self {
        match f {
            PolicyFlag::Sync => Self::Sync,
            PolicyFlag::UpsertOnly => Self::UpsertOnly,
            PolicyFlag::CreateOnly => Self::CreateOnly,
        }
    }
}

/// The record synchronizer's settings, named as external-dns names them.
#[derive(Args, Debug, Clone)]
pub struct RecordArgs {
    /// Record sources; repeat the flag or separate with commas. Without any, the record
    /// synchronizer is off.
    #[arg(
        long = "source",
        env = "CFGEO_SOURCES",
        value_delimiter = ',',
        value_parser = EnumValueParser::<SourceFlag>::new().map(SourceKind::from)
    )]
    pub sources: Vec<SourceKind>,

    /// What the synchronizer may do: sync (create, update, delete), upsert-only (never delete)
    /// or create-only.
    #[arg(
        long = "policy",
        env = "CFGEO_POLICY",
        value_parser = EnumValueParser::<PolicyFlag>::new().map(Policy::from),
        default_value = "sync"
    )]
    pub policy: Policy,

    /// Owner written into ownership TXT records (external-dns's --txt-owner-id). Use the value
    /// external-dns used to adopt its records. Default: the owner id (CFGEO_OWNER_ID).
    #[arg(long = "txt-owner-id", env = "CFGEO_TXT_OWNER_ID")]
    pub txt_owner_id: Option<String>,

    /// Prefix of ownership TXT names; may contain %{record_type}. Excludes --txt-suffix.
    #[arg(
        long = "txt-prefix",
        env = "CFGEO_TXT_PREFIX",
        default_value = "",
        conflicts_with = "txt_suffix",
        allow_hyphen_values = true
    )]
    pub txt_prefix: String,

    /// Suffix of the first label of ownership TXT names; may contain %{record_type}.
    #[arg(
        long = "txt-suffix",
        env = "CFGEO_TXT_SUFFIX",
        default_value = "",
        allow_hyphen_values = true
    )]
    pub txt_suffix: String,

    /// Replacement for `*` in ownership TXT names of wildcard records. Cloudflare refuses
    /// `*` anywhere but as a whole leftmost label, so external-dns's default (empty: keep `*`)
    /// leaves wildcard records unowned (external-dns #2922); cfgeo defaults to `wildcard`.
    #[arg(
        long = "txt-wildcard-replacement",
        env = "CFGEO_TXT_WILDCARD_REPLACEMENT",
        default_value = "wildcard"
    )]
    pub txt_wildcard_replacement: String,

    /// Limit records to these domains (suffix match). A zone is used when it contains or is
    /// contained by a filter, so `dev.example.com` selects zone `example.com`.
    #[arg(
        long = "domain-filter",
        env = "CFGEO_DOMAIN_FILTER",
        value_delimiter = ','
    )]
    pub domain_filter: Vec<String>,

    /// Domains to leave alone even when --domain-filter matches.
    #[arg(
        long = "exclude-domains",
        env = "CFGEO_EXCLUDE_DOMAINS",
        value_delimiter = ','
    )]
    pub exclude_domains: Vec<String>,

    /// Regular expression of names to manage; overrides --domain-filter.
    #[arg(long = "regex-domain-filter", env = "CFGEO_REGEX_DOMAIN_FILTER")]
    pub regex_domain_filter: Option<String>,

    /// Regular expression of names to leave alone; overrides --exclude-domains.
    #[arg(long = "regex-domain-exclusion", env = "CFGEO_REGEX_DOMAIN_EXCLUSION")]
    pub regex_domain_exclusion: Option<String>,

    /// Only these zone ids (no zone listing, so the token needs no account-wide Zone Read).
    /// Default: CF_ZONE_ID when set, else every zone the token can see that the domain filter
    /// selects.
    #[arg(
        long = "zone-id-filter",
        env = "CFGEO_ZONE_ID_FILTER",
        value_delimiter = ','
    )]
    pub zone_id_filter: Vec<String>,

    /// Record types the synchronizer manages.
    #[arg(
        long = "managed-record-types",
        env = "CFGEO_MANAGED_RECORD_TYPES",
        value_delimiter = ',',
        default_value = "A,AAAA,CNAME"
    )]
    pub managed_record_types: Vec<String>,

    /// Proxy records through Cloudflare unless an object's cloudflare-proxied annotation says
    /// otherwise (never for types Cloudflare cannot proxy).
    #[arg(
        long = "cloudflare-proxied",
        env = "CFGEO_CLOUDFLARE_PROXIED",
        default_value_t = false,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub cloudflare_proxied: bool,

    /// Comment for records whose object sets none.
    #[arg(
        long = "cloudflare-record-comment",
        env = "CFGEO_CLOUDFLARE_RECORD_COMMENT"
    )]
    pub cloudflare_record_comment: Option<String>,

    /// Operations per batch transaction. Default: the zone plan's limit (200 on Free, 3,500
    /// on paid plans); a larger value is capped at that limit.
    #[arg(long = "batch-change-size", env = "CFGEO_BATCH_CHANGE_SIZE")]
    pub batch_change_size: Option<usize>,

    /// Full resync period in seconds (watch events are applied within a second between).
    #[arg(long = "interval", env = "CFGEO_INTERVAL", default_value = "600", value_parser = parse_secs)]
    pub interval: Duration,

    /// Plan and log, write nothing (both engines).
    #[arg(long = "dry-run", env = "CFGEO_DRY_RUN", default_value_t = false)]
    pub dry_run: bool,

    /// Only objects with these labels (label-selector syntax).
    #[arg(long = "label-filter", env = "CFGEO_LABEL_FILTER")]
    pub label_filter: Option<String>,

    /// Only objects whose annotations match (label-selector syntax).
    #[arg(long = "annotation-filter", env = "CFGEO_ANNOTATION_FILTER")]
    pub annotation_filter: Option<String>,

    /// Only this namespace (default: all namespaces).
    #[arg(long = "namespace", env = "CFGEO_NAMESPACE")]
    pub namespace: Option<String>,

    /// Only Ingresses of these classes (spec.ingressClassName, then the legacy
    /// kubernetes.io/ingress.class annotation).
    #[arg(
        long = "ingress-class",
        env = "CFGEO_INGRESS_CLASS",
        value_delimiter = ','
    )]
    pub ingress_class: Vec<String>,

    /// Only Gateways with these labels (label-selector syntax).
    #[arg(long = "gateway-label-filter", env = "CFGEO_GATEWAY_LABEL_FILTER")]
    pub gateway_label_filter: Option<String>,

    /// Annotation prefixes read, all at once (a later one wins when both set a key).
    #[arg(
        long = "annotation-prefix",
        env = "CFGEO_ANNOTATION_PREFIX",
        value_delimiter = ',',
        default_value = "external-dns.alpha.kubernetes.io/,external-dns.kubernetes.io/"
    )]
    pub annotation_prefix: Vec<String>,
}

/// Parses whole seconds or a duration such as `10m`, `1h30m`, `90s`.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        // 0 would make every loop iteration a full resync: a hot loop of zone listings.
        if n == 0 {
            return Err(format!(
                "{s:?} is not a positive number of seconds or a duration like 10m"
            ));
        }
        return Ok(Duration::from_secs(n));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not seconds or a duration like 10m"))?;
        num.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return Err(format!("{s:?} is not seconds or a duration like 10m")),
        };
    }
    if !num.is_empty() || total == 0 {
        return Err(format!(
            "{s:?} is not a positive number of seconds or a duration like 10m"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// How the process runs beside other replicas and how it is observed.
#[derive(Args, Debug, Clone)]
pub struct OpsArgs {
    /// Address of the admin server (/livez, /readyz, /metrics).
    #[arg(
        long = "admin-addr",
        env = "CFGEO_ADMIN_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub admin_addr: std::net::SocketAddr,

    /// Elect a leader among replicas on a coordination.k8s.io Lease: every replica watches
    /// and plans, only the leader writes.
    #[arg(
        long = "leader-elect",
        env = "CFGEO_LEADER_ELECT",
        default_value_t = false,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub leader_elect: bool,

    /// Namespace of the Lease. Default: POD_NAMESPACE, else `default`.
    #[arg(
        long = "leader-election-namespace",
        env = "CFGEO_LEADER_ELECTION_NAMESPACE"
    )]
    pub leader_election_namespace: Option<String>,

    /// Name of the Lease.
    #[arg(
        long = "leader-election-lease-name",
        env = "CFGEO_LEADER_ELECTION_LEASE_NAME",
        default_value = "cfgeo"
    )]
    pub leader_election_lease_name: String,
}

// ---------------------------------------------------------------------------------------
// Logging (every subcommand)

/// `--log-format` as clap parses it and documents it in `--help`; maps one to one to
/// [`LogFormat`].
#[derive(Copy, Clone, Debug, Default, clap::ValueEnum, PartialEq, Eq)]
pub enum LogFormatFlag {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// Logging flags shared by every subcommand.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "CFGEO_LOG_FORMAT", value_enum, default_value_t = LogFormatFlag::Plain, global = true)]
    pub log_format: LogFormatFlag,

    /// Log filter in `RUST_LOG` syntax; `RUST_LOG` itself wins when set.
    #[arg(long, env = "CFGEO_LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,
}

impl LogArgs {
    /// The logging settings.
    pub fn settings(&self) -> LogSettings {
        LogSettings {
            format: match self.log_format {
                LogFormatFlag::Plain => LogFormat::Plain,
                LogFormatFlag::Json => LogFormat::Json,
            },
            level: self.log_level.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// cfgeo emulator

/// Flags of `cfgeo emulator`.
#[derive(clap::Args, Clone)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, env = "CFGEO_EMULATOR_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: std::net::SocketAddr,

    /// Zone to serve, `NAME[:free|pro|business|enterprise]`; repeat for more. Replaces the default.
    #[arg(
        long = "zone",
        env = "CFGEO_EMULATOR_ZONES",
        value_delimiter = ',',
        default_value = "example.com:free"
    )]
    pub zones: Vec<crate::emulator::ZoneSpec>,

    /// Account ID (32 lowercase hex).
    #[arg(long, env = "CFGEO_EMULATOR_ACCOUNT_ID", default_value = crate::emulator::DEFAULT_ACCOUNT_ID, value_parser = parse_account_id)]
    pub account_id: String,

    /// Accept only these bearer tokens (repeat); without it any non-empty token is accepted.
    #[arg(
        long = "token",
        env = "CFGEO_EMULATOR_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,

    /// Requests allowed per window and token.
    #[arg(long, env = "CFGEO_EMULATOR_RATE_LIMIT", default_value_t = 1200)]
    pub rate_limit: u32,

    /// Rate-limit window in seconds.
    #[arg(long, env = "CFGEO_EMULATOR_RATE_WINDOW_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_window_secs: u64,

    /// State file: loaded at start if it exists, rewritten after every change.
    #[arg(long = "state", env = "CFGEO_EMULATOR_STATE")]
    pub state_file: Option<PathBuf>,
}

impl std::fmt::Debug for EmulatorArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorArgs")
            .field("listen", &self.listen)
            .field("zones", &self.zones)
            .field("account_id", &self.account_id)
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("rate_limit", &self.rate_limit)
            .field("rate_window_secs", &self.rate_window_secs)
            .field("state_file", &self.state_file)
            .finish()
    }
}

fn parse_account_id(s: &str) -> Result<String, String> {
    if s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(s.to_owned())
    } else {
        Err("the account ID must be 32 lowercase hex characters".to_owned())
    }
}

impl From<&EmulatorArgs> for EmulatorConfig {
    // `account_name` and the rest keep the embedded defaults: no flag sets them.
    fn from(args: &EmulatorArgs) -> Self {
        Self {
            listen: args.listen,
            zones: args.zones.clone(),
            account_id: args.account_id.clone(),
            tokens: args.tokens.clone(),
            rate_limit: args.rate_limit,
            rate_window: Duration::from_secs(args.rate_window_secs),
            state_file: args.state_file.clone(),
            ..Self::default()
        }
    }
}

// ---------------------------------------------------------------------------------------
// cfgeo status

/// `--output` as clap parses it and documents it in `--help`; maps one to one to [`Output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFlag {
    /// One aligned table per load balancer.
    Table,
    /// The status model as JSON, for scripts.
    Json,
    /// The world map as an SVG document (give FILE to write it there).
    Svg,
    /// The admin server's /status page (map and table) as one HTML file.
    Html,
}

impl From<OutputFlag> for Output {
    fn from(f: OutputFlag) -> Self {
        match f {
            OutputFlag::Table => Self::Table,
            OutputFlag::Json => Self::Json,
            OutputFlag::Svg => Self::Svg,
            OutputFlag::Html => Self::Html,
        }
    }
}

/// Flags of `cfgeo status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Token, account and zone to read; only read permissions are needed.
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
    pub output: OutputFlag,

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

impl StatusArgs {
    /// What to read and how to show it (after [`CloudflareArgs::use_emulator`], if any).
    pub fn options(&self) -> Result<StatusOptions, ConfigError> {
        let account_id = self
            .cloudflare
            .account_id
            .clone()
            .ok_or(ConfigError::Required(
                "CF_ACCOUNT_ID is required: cfgeo status reads the account's pools",
            ))?;
        let zone_id = self
            .cloudflare
            .zone_id
            .clone()
            .ok_or(ConfigError::Required(
                "CF_ZONE_ID is required: cfgeo status reads the zone's load balancers",
            ))?;
        let lb_hostname = self
            .lb_hostname
            .as_deref()
            .map(|h| validate_hostname("CF_LB_HOSTNAME", h))
            .transpose()?;
        Ok(StatusOptions {
            account_id,
            zone_id,
            lb_hostname,
            output: self.output.into(),
            file: self.file.clone(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// cfgeo run, plan, decommission

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

impl Mode {
    /// Whether Kubernetes Events are written: by a run and a `--once` pass, not by `plan` or
    /// `decommission`.
    pub fn writes_events(self) -> bool {
        matches!(self, Mode::Run | Mode::Once)
    }

    /// The exit code of a one-pass mode: [`EXIT_CHANGES`] for `plan` with changes, else 0.
    pub fn exit_code(self, changes: bool) -> u8 {
        if self == Mode::Plan && changes {
            EXIT_CHANGES
        } else {
            0
        }
    }
}

/// What the wiring reads before the owner ids can be resolved ([`owners`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerLookup {
    /// Nothing: an owner id is given, or nothing would use what was read.
    Nothing,
    /// The kube-system namespace's UID (a cluster is used and no owner id given).
    ClusterUid,
    /// The cluster-name labels of the selected manifest Ingresses ([`manifest_clusters`]).
    ManifestClusters,
}

/// What the process reads from its pod (the downward API's POD_NAMESPACE and POD_NAME).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodEnv {
    /// POD_NAMESPACE.
    pub namespace: Option<String>,
    /// POD_NAME: the replica's Lease identity and the Events' reporting instance.
    pub name: Option<String>,
}

impl PodEnv {
    /// Reads POD_NAMESPACE and POD_NAME; an unset or non-UTF-8 value is `None`.
    pub fn read() -> Self {
        Self {
            namespace: std::env::var("POD_NAMESPACE").ok(),
            name: std::env::var("POD_NAME").ok(),
        }
    }
}

impl OpsArgs {
    /// The Lease to compete for: only with --leader-elect and only in a run (`--once`, `plan`
    /// and `decommission` never elect). The namespace is --leader-election-namespace, else
    /// POD_NAMESPACE, else `default`; the identity is POD_NAME (empty when unset).
    pub fn election(&self, mode: Mode, pod: &PodEnv) -> Option<LeaderConfig> {
        if !self.leader_elect || mode != Mode::Run {
            return None;
        }
        let namespace = self
            .leader_election_namespace
            .clone()
            .or_else(|| pod.namespace.clone())
            .unwrap_or_else(|| "default".into());
        let identity = pod.name.clone().unwrap_or_default();
        Some(LeaderConfig::new(
            namespace,
            self.leader_election_lease_name.clone(),
            identity,
        ))
    }
}

/// Flags of `cfgeo run` and `cfgeo plan`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Token, account and zone both engines write with (one client and one rate budget).
    #[command(flatten)]
    pub cloudflare: CloudflareArgs,

    /// The geo engine's flags; the engine runs only when GEO_LOCATION is set.
    #[command(flatten)]
    pub geo: GeoArgs,

    /// The record synchronizer's flags; it runs only when at least one --source is given.
    #[command(flatten)]
    pub records: RecordArgs,

    /// Leader election, admin server, timing and Events: how the process runs beside its
    /// replicas and how it is observed.
    #[command(flatten)]
    pub ops: OpsArgs,

    /// Read objects from manifest files (a file or a directory, searched recursively) instead of
    /// a cluster. Without --once the files are read again at every resync.
    #[arg(long = "manifests", env = "CFGEO_MANIFESTS")]
    pub manifests: Option<PathBuf>,

    /// Run one pass of each engine, print what was done, and exit (non-zero if a pass failed).
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

    /// Print the pools, load balancers and records after each --once pass.
    #[arg(
        long = "print-state",
        env = "CFGEO_PRINT_STATE",
        default_value_t = false
    )]
    pub print_state: bool,
}

/// The owner ids of a run: the geo engine's marker owner and the TXT registry's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owners {
    /// Written into the marker of every pool and monitor.
    pub geo: String,
    /// Written into ownership TXT records.
    pub records: String,
}

/// The owner ids from the flags and what the wiring found: `cluster_uid` is the kube-system
/// namespace's UID when a cluster is used and no owner id is given; `manifest_clusters` are
/// the selected Ingresses' cluster-name labels with --manifests ([`manifest_clusters`]).
pub fn owners(
    geo: &GeoArgs,
    records: &RecordArgs,
    cluster_uid: Option<&str>,
    manifest_clusters: &[String],
) -> Owners {
    let fallback = format!(
        "manifests-{}",
        geo.geo_location.as_deref().unwrap_or("records")
    );
    let geo_owner = match (&geo.owner_id, cluster_uid) {
        (Some(o), _) => o.clone(),
        (None, Some(uid)) => format!("cluster-{uid}"),
        // Two clusters previewing their own manifests never share an owner.
        (None, None) if geo.geo_location.is_some() && !manifest_clusters.is_empty() => {
            format!("manifests-{}", manifest_clusters.join("."))
        }
        (None, None) => fallback.clone(),
    };
    // TXT ownership keeps the owner id earlier versions used with --manifests, so records they
    // wrote stay ours.
    let records_owner = match (&records.txt_owner_id, &geo.owner_id, cluster_uid) {
        (Some(t), _, _) => t.clone(),
        (None, None, None) => fallback,
        _ => geo_owner.clone(),
    };
    Owners {
        geo: geo_owner,
        records: records_owner,
    }
}

/// The cluster-name labels of manifest Ingresses, usable in a marker, sorted and once each.
pub fn manifest_clusters<'a>(
    labels: impl IntoIterator<Item = Option<&'a std::collections::BTreeMap<String, String>>>,
) -> Vec<String> {
    let mut clusters: Vec<String> = labels
        .into_iter()
        .filter_map(|l| {
            let l = l?;
            l.get("cluster-name").or(l.get("cluster_name")).cloned()
        })
        .filter(|c| crate::model::marker_safe(c))
        .collect();
    clusters.sort();
    clusters.dedup();
    clusters
}

impl RunArgs {
    /// The mode a command runs in: `cfgeo run --once` is [`Mode::Once`], every other request
    /// stands.
    pub fn mode(&self, requested: Mode) -> Mode {
        if requested == Mode::Run && self.once {
            Mode::Once
        } else {
            requested
        }
    }

    /// Whether `mode` needs a Kubernetes client: not with --manifests, and not for a
    /// decommission with an explicit owner id, which talks to Cloudflare only.
    pub fn uses_cluster(&self, mode: Mode) -> bool {
        let cloudflare_only =
            matches!(mode, Mode::Decommission { .. }) && self.geo.owner_id.is_some();
        self.manifests.is_none() && !cloudflare_only
    }

    /// What to read for the owner-id fallbacks, given whether a cluster is used.
    pub fn owner_lookup(&self, cluster: bool) -> OwnerLookup {
        match (&self.geo.owner_id, cluster, self.geo.geo_location.is_some()) {
            (Some(_), _, _) => OwnerLookup::Nothing,
            (None, true, _) => OwnerLookup::ClusterUid,
            (None, false, true) => OwnerLookup::ManifestClusters,
            (None, false, false) => OwnerLookup::Nothing,
        }
    }

    /// The account and zone of the admin server's `/status` page: both ids, or no page.
    pub fn status_ids(&self) -> Option<(String, String)> {
        let c = &self.cloudflare;
        c.account_id.clone().zip(c.zone_id.clone())
    }

    /// How often the geo engine resyncs and re-reads --manifests: --geo-resync-secs, at least
    /// 1 s.
    pub fn geo_resync(&self) -> Duration {
        Duration::from_secs(self.geo.resync_secs.max(1))
    }

    /// The geo engine's run-loop timing in a run.
    pub fn geo_timing(&self) -> Timing {
        Timing {
            resync: self.geo_resync(),
            ..Timing::default()
        }
    }

    /// The record synchronizer's run-loop timing in a run: resync every --interval.
    pub fn records_timing(&self) -> Timing {
        Timing {
            resync: self.records.interval,
            ..Timing::default()
        }
    }

    /// Whether the geo engine runs (GEO_LOCATION set) and whether the record synchronizer does
    /// (a --source given); at least one must.
    pub fn engines(&self) -> Result<(bool, bool), ConfigError> {
        let geo_on = self.geo.geo_location.is_some();
        let records_on = !self.records.sources.is_empty();
        if !geo_on && !records_on {
            return Err(ConfigError::Required(
                "nothing to do: set GEO_LOCATION for the geo engine and/or --source (CFGEO_SOURCES) for the record synchronizer",
            ));
        }
        Ok((geo_on, records_on))
    }

    /// The account and zone ids the geo engine needs.
    pub fn geo_ids(&self) -> Result<(String, String), ConfigError> {
        let account = self
            .cloudflare
            .account_id
            .clone()
            .ok_or(ConfigError::Required(
                "CF_ACCOUNT_ID is required by the geo engine",
            ))?;
        let zone = self
            .cloudflare
            .zone_id
            .clone()
            .ok_or(ConfigError::Required(
                "CF_ZONE_ID is required by the geo engine",
            ))?;
        Ok((account, zone))
    }

    /// The zone ids the record synchronizer uses: --zone-id-filter, else CF_ZONE_ID when no
    /// domain filter selects zones, else none (every zone the filter selects).
    pub fn record_zone_ids(&self) -> Vec<String> {
        let r = &self.records;
        let mut ids = r.zone_id_filter.clone();
        if ids.is_empty()
            && let Some(z) = &self.cloudflare.zone_id
            && r.domain_filter.is_empty()
            && r.regex_domain_filter.is_none()
        {
            ids.push(z.clone());
        }
        ids
    }

    /// The domain filter of the record synchronizer.
    pub fn domain_filter(&self) -> Result<DomainFilter, ConfigError> {
        let r = &self.records;
        Ok(DomainFilter::new(
            &r.domain_filter,
            &r.exclude_domains,
            r.regex_domain_filter.as_deref(),
            r.regex_domain_exclusion.as_deref(),
        )?)
    }

    /// What the record sources read.
    pub fn source_settings(&self) -> Result<SourceSettings, ConfigError> {
        let r = &self.records;
        let sel = |flag: &'static str, v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| selector(flag, s))
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
            geo_selector: Some(selector("LABEL_SELECTOR", &self.geo.label_selector)?),
        })
    }

    /// Where the record sources read from: --manifests or the cluster, the --source kinds,
    /// [`source_settings`](Self::source_settings), and --namespace and --label-filter for the
    /// watches.
    pub fn record_inputs(&self) -> Result<InputSpec, ConfigError> {
        let r = &self.records;
        Ok(InputSpec {
            manifests: self.manifests.clone(),
            kinds: r.sources.clone(),
            settings: self.source_settings()?,
            namespace: r.namespace.clone(),
            label_filter: r.label_filter.clone(),
        })
    }

    /// The record synchronizer's settings; `plan` (cfgeo plan) writes nothing.
    pub fn record_settings(
        &self,
        owners: &Owners,
        domains: DomainFilter,
        plan: bool,
    ) -> RecordSettings {
        let r = &self.records;
        RecordSettings {
            plan: PlanSettings {
                owner_id: owners.records.clone(),
                policy: r.policy,
                txt: TxtNaming {
                    prefix: r.txt_prefix.clone(),
                    suffix: r.txt_suffix.clone(),
                    wildcard_replacement: r.txt_wildcard_replacement.clone(),
                },
                managed_types: r
                    .managed_record_types
                    .iter()
                    .map(|t| RecordType::from(t.trim().to_ascii_uppercase().as_str()))
                    .collect(),
                domains,
                default_proxied: r.cloudflare_proxied,
                default_comment: r.cloudflare_record_comment.clone(),
                allow_deletes: false,
            },
            batch_size: r.batch_change_size,
            dry_run: r.dry_run || plan,
        }
    }
}

fn selector(flag: &'static str, value: &str) -> Result<LabelSelector, ConfigError> {
    LabelSelector::parse(value).map_err(|error| ConfigError::Selector {
        flag,
        value: value.to_string(),
        error,
    })
}

#[cfg(test)]
mod run_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        run: RunArgs,
    }

    fn run(args: &[&str]) -> RunArgs {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        T::try_parse_from(v).unwrap().run
    }

    /// Flags, kube-system uid, manifest clusters, geo owner, records owner.
    type OwnerCase<'a> = (
        &'a [&'a str],
        Option<&'a str>,
        &'a [String],
        &'a str,
        &'a str,
    );

    #[test]
    fn owner_fallbacks() {
        let clusters = vec!["a".to_string(), "b".to_string()];
        let cases: &[OwnerCase] = &[
            (&["--owner-id", "me"], None, &[], "me", "me"),
            (&["--owner-id", "me"], Some("u"), &[], "me", "me"),
            (&[], Some("u"), &[], "cluster-u", "cluster-u"),
            (
                &["--geo-location", "eu"],
                None,
                &[],
                "manifests-eu",
                "manifests-eu",
            ),
            (
                &["--geo-location", "eu"],
                None,
                &clusters,
                "manifests-a.b",
                "manifests-eu",
            ),
            (&[], None, &[], "manifests-records", "manifests-records"),
            (
                &["--txt-owner-id", "ext"],
                Some("u"),
                &[],
                "cluster-u",
                "ext",
            ),
            (
                &["--txt-owner-id", "ext"],
                None,
                &[],
                "manifests-records",
                "ext",
            ),
        ];
        for (flags, uid, found, geo, records) in cases {
            let a = run(flags);
            let o = owners(&a.geo, &a.records, *uid, found);
            assert_eq!(
                (o.geo.as_str(), o.records.as_str()),
                (*geo, *records),
                "{flags:?} {uid:?}"
            );
        }
    }

    #[test]
    fn modes() {
        let once = run(&["--once"]);
        let plain = run(&[]);
        let d = Mode::Decommission { force: false };
        // (args, requested, mode)
        let cases: &[(&RunArgs, Mode, Mode)] = &[
            (&plain, Mode::Run, Mode::Run),
            (&once, Mode::Run, Mode::Once),
            (&once, Mode::Plan, Mode::Plan),
            (&once, d, d),
            (&plain, Mode::Plan, Mode::Plan),
        ];
        for (a, requested, want) in cases {
            assert_eq!(a.mode(*requested), *want, "{requested:?}");
        }
        // (mode, writes events, exit code with changes, without)
        let cases: &[(Mode, bool, u8, u8)] = &[
            (Mode::Run, true, 0, 0),
            (Mode::Once, true, 0, 0),
            (Mode::Plan, false, EXIT_CHANGES, 0),
            (d, false, 0, 0),
        ];
        for (mode, events, changed, unchanged) in cases {
            assert_eq!(
                (
                    mode.writes_events(),
                    mode.exit_code(true),
                    mode.exit_code(false)
                ),
                (*events, *changed, *unchanged),
                "{mode:?}"
            );
        }
    }

    #[test]
    fn cluster_use_and_owner_lookup() {
        let d = Mode::Decommission { force: true };
        // (flags, mode, uses a cluster, lookup with a cluster, lookup without)
        type Case<'a> = (&'a [&'a str], Mode, bool, OwnerLookup, OwnerLookup);
        let cases: &[Case] = &[
            (
                &[],
                Mode::Run,
                true,
                OwnerLookup::ClusterUid,
                OwnerLookup::Nothing,
            ),
            (
                &["--manifests", "m"],
                Mode::Run,
                false,
                OwnerLookup::ClusterUid,
                OwnerLookup::Nothing,
            ),
            (
                &["--owner-id", "o"],
                d,
                false,
                OwnerLookup::Nothing,
                OwnerLookup::Nothing,
            ),
            (&[], d, true, OwnerLookup::ClusterUid, OwnerLookup::Nothing),
            (
                &["--geo-location", "eu"],
                Mode::Plan,
                true,
                OwnerLookup::ClusterUid,
                OwnerLookup::ManifestClusters,
            ),
            (
                &["--geo-location", "eu", "--owner-id", "o"],
                Mode::Run,
                true,
                OwnerLookup::Nothing,
                OwnerLookup::Nothing,
            ),
        ];
        for (flags, mode, cluster, with, without) in cases {
            let a = run(flags);
            assert_eq!(
                (
                    a.uses_cluster(*mode),
                    a.owner_lookup(true),
                    a.owner_lookup(false)
                ),
                (*cluster, *with, *without),
                "{flags:?} {mode:?}"
            );
        }
    }

    #[test]
    fn leader_election_defaults() {
        let pod = |ns: Option<&str>, name: Option<&str>| PodEnv {
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
        };
        // (flags, mode, pod, namespace, lease, identity); None: no election
        type Case<'a> = (
            &'a [&'a str],
            Mode,
            PodEnv,
            Option<(&'a str, &'a str, &'a str)>,
        );
        let cases: &[Case] = &[
            (&[], Mode::Run, pod(Some("ns"), Some("p")), None),
            (&["--leader-elect"], Mode::Once, pod(None, None), None),
            (&["--leader-elect"], Mode::Plan, pod(None, None), None),
            (
                &["--leader-elect"],
                Mode::Run,
                pod(None, None),
                Some(("default", "cfgeo", "")),
            ),
            (
                &["--leader-elect"],
                Mode::Run,
                pod(Some("ns"), Some("p")),
                Some(("ns", "cfgeo", "p")),
            ),
            (
                &[
                    "--leader-elect",
                    "--leader-election-namespace",
                    "x",
                    "--leader-election-lease-name",
                    "l",
                ],
                Mode::Run,
                pod(Some("ns"), Some("p")),
                Some(("x", "l", "p")),
            ),
        ];
        for (flags, mode, pod, want) in cases {
            let got = run(flags).ops.election(*mode, pod);
            let got = got.as_ref().map(|c| {
                (
                    c.namespace.as_str(),
                    c.lease_name.as_str(),
                    c.identity.as_str(),
                )
            });
            assert_eq!(got, *want, "{flags:?} {mode:?} {pod:?}");
        }
    }

    #[test]
    fn timings_and_status_page() {
        let a = run(&["--geo-resync-secs", "0", "--interval", "30s"]);
        assert_eq!(a.geo_resync(), Duration::from_secs(1));
        assert_eq!(a.geo_timing().resync, Duration::from_secs(1));
        assert_eq!(a.records_timing().resync, Duration::from_secs(30));
        assert_eq!(a.geo_timing().debounce, Timing::default().debounce);
        assert_eq!(a.status_ids(), None);
        let a = run(&["--cf-account-id", "a"]);
        assert_eq!(a.status_ids(), None);
        let a = run(&["--cf-account-id", "a", "--cf-zone-id", "z"]);
        assert_eq!(a.status_ids(), Some(("a".into(), "z".into())));
    }

    #[test]
    fn record_inputs_from_flags() {
        let a = run(&[
            "--source",
            "ingress",
            "--manifests",
            "m",
            "--namespace",
            "n",
        ]);
        let spec = a.record_inputs().unwrap();
        assert_eq!(spec.manifests, Some(PathBuf::from("m")));
        assert_eq!(spec.kinds, [SourceKind::Ingress]);
        assert_eq!(spec.namespace.as_deref(), Some("n"));
        assert_eq!(spec.label_filter, None);
        assert_eq!(spec.settings.namespace.as_deref(), Some("n"));
        let bad = run(&["--source", "ingress", "--label-filter", "a in"]);
        assert!(bad.record_inputs().is_err());
    }

    #[test]
    fn manifest_clusters_are_sorted_safe_and_once() {
        let l =
            |k: &str, v: &str| std::collections::BTreeMap::from([(k.to_string(), v.to_string())]);
        let maps = [
            l("cluster-name", "b"),
            l("cluster_name", "a"),
            l("cluster-name", "b"),
            l("cluster-name", "x y"),
            l("other", "c"),
        ];
        let got = manifest_clusters(maps.iter().map(Some).chain([None]));
        assert_eq!(got, ["a", "b"]);
    }

    #[test]
    fn record_zone_defaults() {
        // (flags, zone ids)
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &[]),
            (&["--cf-zone-id", "z"], &["z"]),
            (
                &["--cf-zone-id", "z", "--domain-filter", "example.com"],
                &[],
            ),
            (&["--cf-zone-id", "z", "--regex-domain-filter", "x"], &[]),
            (
                &["--cf-zone-id", "z", "--zone-id-filter", "a,b"],
                &["a", "b"],
            ),
        ];
        for (flags, want) in cases {
            assert_eq!(run(flags).record_zone_ids(), *want, "{flags:?}");
        }
    }

    #[test]
    fn record_settings_defaults() {
        let a = run(&["--source", "ingress"]);
        let owners = Owners {
            geo: "g".into(),
            records: "r".into(),
        };
        let s = a.record_settings(&owners, a.domain_filter().unwrap(), false);
        assert_eq!(s.plan.owner_id, "r");
        assert_eq!(s.plan.txt.wildcard_replacement, "wildcard");
        assert_eq!(
            s.plan.managed_types,
            [RecordType::A, RecordType::Aaaa, RecordType::Cname]
        );
        assert!(!s.dry_run && !s.plan.default_proxied && !s.plan.allow_deletes);
        assert!(
            a.record_settings(&owners, a.domain_filter().unwrap(), true)
                .dry_run
        );
        assert!(
            run(&[])
                .engines()
                .unwrap_err()
                .to_string()
                .starts_with("nothing to do")
        );
        let e = run(&["--source", "ingress", "--label-filter", "a in"])
            .source_settings()
            .unwrap_err();
        assert!(
            e.to_string().starts_with("--label-filter \"a in\": "),
            "{e}"
        );
    }
}
