//! Command-line and environment configuration (clap derive, every flag also an environment
//! variable), and its validation into the settings each engine uses.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cloudflare::types::{MonitorInput, SteeringPolicy};
use crate::cloudflare::{ClientSettings, DEFAULT_BASE_URL, TokenError, TokenSource};
use crate::geo::settings::keys;
use crate::geo::{GeoSettings, LbPolicy, MonitorPolicy};
use crate::model::{NameError, Region, Weight, validate_hostname};

/// A configuration value that cannot be used; each names the variable and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required value is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A value is out of its allowed set.
    #[error(transparent)]
    Invalid(#[from] NameError),
    /// The token cannot be read.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Anything else, with the variable named.
    #[error("{var}: {message}")]
    Other {
        /// Variable or flag.
        var: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// How to reach Cloudflare.
#[derive(Args, Debug, Clone)]
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

impl CloudflareArgs {
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

    /// Identity written into the marker of every pool and monitor this deployment owns. Must
    /// differ between clusters. Default: the kube-system namespace UID in a cluster, or
    /// `manifests-<GEO_LOCATION>` with --manifests.
    #[arg(long = "owner-id", env = "CFGEO_OWNER_ID")]
    pub owner_id: Option<String>,

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
    /// Account id.
    pub account_id: String,
    /// Zone id.
    pub zone_id: String,
    /// Zone apex.
    pub zone_name: String,
    /// Owner id.
    pub owner_id: String,
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
        Ok(GeoSettings {
            account_id: r.account_id.clone(),
            zone_id: r.zone_id.clone(),
            zone_name: r.zone_name.clone(),
            region,
            default_lb_host: host,
            weight,
            owner_id: r.owner_id.clone(),
            cluster_labels: vec!["cluster-name".into(), "cluster_name".into()],
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
