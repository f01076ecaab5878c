//! Bad input: configuration, malformed objects and malformed Cloudflare answers, each named in an error and an Event.

use super::*;

/// A configuration case: `cfgeo run` flags (added to a working base) and the variable or flag
/// the error must name.
struct ConfigCase {
    id: &'static str,
    args: &'static [&'static str],
    /// Replaces the base flags entirely (for cases about the base itself).
    bare: bool,
    field: &'static [&'static str],
}

const fn cfg(
    id: &'static str,
    args: &'static [&'static str],
    field: &'static [&'static str],
) -> ConfigCase {
    ConfigCase {
        id,
        args,
        bare: false,
        field,
    }
}

const CONFIG_CASES: &[ConfigCase] = &[
    cfg(
        "unknown GEO_LOCATION",
        &["--geo-location", "mars"],
        &["GEO_LOCATION"],
    ),
    cfg(
        "GEO_LOCATION with a space",
        &["--geo-location", "eu west"],
        &["GEO_LOCATION"],
    ),
    cfg(
        "custom region without coordinates",
        &["--geo-location", "moon-base"],
        &["GEO_LOCATION", "GEO_LATITUDE"],
    ),
    cfg(
        "GEO_LATITUDE without GEO_LONGITUDE",
        &["--geo-location", "eu", "--geo-latitude", "10"],
        &["GEO_LATITUDE/GEO_LONGITUDE"],
    ),
    cfg(
        "GEO_LATITUDE out of range",
        &[
            "--geo-location",
            "x1",
            "--geo-latitude",
            "91",
            "--geo-longitude",
            "0",
        ],
        &["GEO_LATITUDE"],
    ),
    cfg(
        "GEO_LATITUDE not a number",
        &["--geo-location", "eu", "--geo-latitude", "north"],
        &["--geo-latitude"],
    ),
    cfg(
        "weight 0",
        &["--cf-origin-weight", "0"],
        &["CF_ORIGIN_WEIGHT"],
    ),
    cfg(
        "weight 101",
        &["--cf-origin-weight", "101"],
        &["CF_ORIGIN_WEIGHT"],
    ),
    cfg(
        "weight abc",
        &["--cf-origin-weight", "abc"],
        &["CF_ORIGIN_WEIGHT"],
    ),
    cfg(
        "LB hostname with a space",
        &["--cf-lb-hostname", "bad host"],
        &["CF_LB_HOSTNAME"],
    ),
    cfg(
        "LB hostname with an empty label",
        &["--cf-lb-hostname", "app..example.com"],
        &["CF_LB_HOSTNAME"],
    ),
    cfg(
        "LB hostname outside the zone",
        &["--cf-lb-hostname", "app.other.org"],
        &["CF_LB_HOSTNAME"],
    ),
    cfg(
        "unknown steering policy",
        &["--lb-steering-policy", "nearest"],
        &["CFGEO_LB_STEERING_POLICY"],
    ),
    cfg(
        "empty LABEL_SELECTOR",
        &["--label-selector", " "],
        &["LABEL_SELECTOR"],
    ),
    cfg(
        "malformed LABEL_SELECTOR",
        &["--label-selector", "app in (web"],
        &["LABEL_SELECTOR"],
    ),
    cfg(
        "malformed --label-filter",
        &["--label-filter", "tier in (web"],
        &["--label-filter"],
    ),
    cfg(
        "malformed --annotation-filter",
        &["--annotation-filter", "team in (a"],
        &["--annotation-filter"],
    ),
    cfg(
        "malformed --gateway-label-filter",
        &["--gateway-label-filter", "x notin y"],
        &["--gateway-label-filter"],
    ),
    cfg(
        "invalid --regex-domain-filter",
        &["--regex-domain-filter", "(example"],
        &["--regex-domain-filter"],
    ),
    cfg(
        "invalid --regex-domain-exclusion",
        &["--regex-domain-exclusion", "[a-"],
        &["--regex-domain-exclusion"],
    ),
    cfg("--interval 10x", &["--interval", "10x"], &["--interval"]),
    cfg("--interval 0", &["--interval", "0"], &["--interval"]),
    cfg("--interval -5m", &["--interval=-5m"], &["--interval"]),
    cfg(
        "monitor id not hex",
        &["--monitor", "abc"],
        &["CFGEO_MONITOR"],
    ),
    cfg(
        "monitor id of 32 non-hex characters",
        &["--monitor", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"],
        &["CFGEO_MONITOR"],
    ),
    cfg(
        "--monitor-interval not a number",
        &["--monitor-interval", "often"],
        &["--monitor-interval"],
    ),
    cfg(
        "CF_RATE_LIMIT 0",
        &["--cf-rate-limit", "0"],
        &["CF_RATE_LIMIT"],
    ),
    cfg(
        "CF_RATE_LIMIT negative",
        &["--cf-rate-limit=-5"],
        &["--cf-rate-limit"],
    ),
    cfg(
        "--cf-timeout-secs not a number",
        &["--cf-timeout-secs", "soon"],
        &["--cf-timeout-secs"],
    ),
    cfg("unknown --source", &["--source", "pods"], &["--source"]),
    cfg("unknown --policy", &["--policy", "mirror"], &["--policy"]),
    cfg(
        "empty CF_API_TOKEN",
        &["--cf-api-token", ""],
        &["CF_API_TOKEN"],
    ),
    cfg(
        "missing CF_API_TOKEN_FILE",
        &["--cf-api-token-file", "/nonexistent/cfgeo-token"],
        &["/nonexistent/cfgeo-token", "token file"],
    ),
    cfg(
        "bad --admin-addr",
        &["--admin-addr", "localhost"],
        &["--admin-addr"],
    ),
    cfg(
        "--txt-prefix with --txt-suffix",
        &["--txt-prefix", "p-", "--txt-suffix", "-s"],
        &["--txt-prefix", "--txt-suffix"],
    ),
    cfg(
        "--lb-proxied maybe",
        &["--lb-proxied", "maybe"],
        &["--lb-proxied"],
    ),
    cfg(
        "--batch-change-size not a number",
        &["--batch-change-size", "lots"],
        &["--batch-change-size"],
    ),
    cfg(
        "--geo-removal-delay-secs negative",
        &["--geo-removal-delay-secs=-1"],
        &["--geo-removal-delay-secs"],
    ),
    cfg(
        "--emulator-state without --embedded-emulator",
        &["--emulator-state", "/tmp/x.json"],
        &["--embedded-emulator"],
    ),
    cfg(
        "CF_ZONE_ID of no zone",
        &["--cf-zone-id", "0123456789abcdef0123456789abcdef"],
        &["CF_ZONE_ID"],
    ),
    ConfigCase {
        id: "neither engine enabled",
        args: &["--cf-api-token", "t", "--manifests", "."],
        bare: true,
        field: &["GEO_LOCATION", "--source"],
    },
];

fn run_args(emu: &EmulatorHandle, dir: &std::path::Path) -> Vec<String> {
    [
        "--cf-api-base-url",
        &emu.base_url(),
        "--cf-api-token",
        common::TOKEN,
        "--cf-account-id",
        &emu.account_id(),
        "--cf-zone-id",
        &emu.zone_id("example.com").unwrap(),
        "--manifests",
        dir.to_str().unwrap(),
        "--geo-location",
        "eu",
        "--monitor",
        "none",
        "--source",
        "ingress",
        "--txt-owner-id",
        "cfg",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `base` (flag, value pairs) without the flags that `case` sets itself.
fn without_flags(base: &[String], case: &[&str]) -> Vec<String> {
    let set: Vec<&str> = case
        .iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap())
        .collect();
    base.chunks(2)
        .filter(|pair| !set.contains(&pair[0].as_str()))
        .flatten()
        .cloned()
        .collect()
}

/// Parses and runs `cfgeo run --once` in-process; the error text on failure.
async fn run_once(args: Vec<String>) -> Result<(), String> {
    use clap::Parser;
    let mut argv = vec!["cfgeo".to_string(), "run".to_string(), "--once".to_string()];
    argv.extend(args);
    let cli = cfgeo::cli::Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let cfgeo::cli::Command::Run(args) = cli.command else {
        unreachable!()
    };
    match cfgeo::app::run(*args, cfgeo::app::Mode::Once, CancellationToken::new()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// An object case: a malformed object, the field its Event must name, and what must still
/// happen for it (a record that is still created, if the bad value is only ignored).
struct ObjectCase {
    id: &'static str,
    name: &'static str,
    object: Value,
    field: &'static str,
    /// (type, name, content) that must exist in the end despite the bad value.
    still: Option<(&'static str, &'static str, &'static str)>,
    /// A record name that must NOT exist (the bad value was not used).
    never: Option<&'static str>,
}

fn dnsep(name: &str, endpoints: Value) -> Value {
    json!({
        "apiVersion": "externaldns.k8s.io/v1alpha1",
        "kind": "DNSEndpoint",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"endpoints": endpoints},
    })
}

fn record_object_cases() -> Vec<ObjectCase> {
    let a = "external-dns.alpha.kubernetes.io/";
    let mut v = vec![
        ObjectCase {
            id: "annotation ttl \"abc\"",
            name: "bad-ttl",
            object: ann_ingress(
                "bad-ttl",
                "ttl.example.com",
                "192.0.2.31",
                json!({format!("{a}ttl"): "abc"}),
            ),
            field: "external-dns.alpha.kubernetes.io/ttl",
            still: Some(("A", "ttl.example.com", "192.0.2.31")),
            never: None,
        },
        ObjectCase {
            id: "annotation ttl \"-5\"",
            name: "neg-ttl",
            object: ann_ingress(
                "neg-ttl",
                "negttl.example.com",
                "192.0.2.32",
                json!({format!("{a}ttl"): "-5"}),
            ),
            field: "external-dns.alpha.kubernetes.io/ttl",
            still: Some(("A", "negttl.example.com", "192.0.2.32")),
            never: None,
        },
        ObjectCase {
            id: "annotation cloudflare-proxied \"maybe\"",
            name: "bad-proxied",
            object: ann_ingress(
                "bad-proxied",
                "proxied.example.com",
                "192.0.2.33",
                json!({format!("{a}cloudflare-proxied"): "maybe"}),
            ),
            field: "cloudflare-proxied",
            still: Some(("A", "proxied.example.com", "192.0.2.33")),
            never: None,
        },
        ObjectCase {
            id: "annotation hostname \"bad host!\"",
            name: "bad-hostname-svc",
            object: {
                let mut s = lb_service("bad-hostname-svc", "bad host!", &["192.0.2.34"]);
                s["metadata"]["annotations"] =
                    json!({format!("{a}hostname"): "bad host!,ok-svc.example.com"});
                s
            },
            field: "external-dns.alpha.kubernetes.io/hostname",
            still: Some(("A", "ok-svc.example.com", "192.0.2.34")),
            never: None,
        },
        ObjectCase {
            id: "annotation hostname that is an IP address",
            name: "ip-hostname",
            object: {
                let mut s = lb_service("ip-hostname", "x", &["192.0.2.35"]);
                s["metadata"]["annotations"] = json!({format!("{a}hostname"): "192.0.2.9"});
                s
            },
            field: "external-dns.alpha.kubernetes.io/hostname",
            still: None,
            never: Some("192.0.2.9"),
        },
        ObjectCase {
            id: "annotation target \"not a target!\"",
            name: "bad-target",
            object: ann_ingress(
                "bad-target",
                "target.example.com",
                "192.0.2.36",
                json!({format!("{a}target"): "not a target!"}),
            ),
            field: "external-dns.alpha.kubernetes.io/target",
            still: Some(("A", "target.example.com", "192.0.2.36")),
            never: None,
        },
        ObjectCase {
            id: "annotation ingress-hostname-source \"sometimes\"",
            name: "bad-source",
            object: ann_ingress(
                "bad-source",
                "source.example.com",
                "192.0.2.37",
                json!({format!("{a}ingress-hostname-source"): "sometimes"}),
            ),
            field: "ingress-hostname-source",
            still: Some(("A", "source.example.com", "192.0.2.37")),
            never: None,
        },
        ObjectCase {
            id: "annotations disagreeing across the two prefixes",
            name: "conflict",
            object: ann_ingress(
                "conflict",
                "conflict.example.com",
                "192.0.2.38",
                json!({format!("{a}ttl"): "300", "external-dns.kubernetes.io/ttl": "600"}),
            ),
            field: "external-dns.kubernetes.io/ttl",
            still: Some(("A", "conflict.example.com", "192.0.2.38")),
            never: None,
        },
        ObjectCase {
            id: "spec.rules[].host with an empty label",
            name: "bad-rule-host",
            object: plain_ingress(
                "bad-rule-host",
                &["bad..example.com", "goodrule.example.com"],
                &["192.0.2.39"],
            ),
            field: "spec.rules[0].host",
            still: Some(("A", "goodrule.example.com", "192.0.2.39")),
            never: Some("bad..example.com"),
        },
        ObjectCase {
            id: "spec.tls[].hosts[] starting with a hyphen",
            name: "bad-tls-host",
            object: {
                let mut v = plain_ingress("bad-tls-host", &["tlsok.example.com"], &["192.0.2.40"]);
                v["spec"]["tls"] = json!([{"hosts": ["-bad-.example.com"]}]);
                v
            },
            field: "spec.tls[0].hosts[0]",
            still: Some(("A", "tlsok.example.com", "192.0.2.40")),
            never: Some("-bad-.example.com"),
        },
        ObjectCase {
            id: "status hostname \"not a host!\"",
            name: "bad-status-host",
            object: plain_ingress(
                "bad-status-host",
                &["statushost.example.com"],
                &["not a host!", "192.0.2.42"],
            ),
            field: "status.loadBalancer.ingress[0].hostname",
            still: Some(("A", "statushost.example.com", "192.0.2.42")),
            never: None,
        },
        ObjectCase {
            id: "Service spec.externalIPs[] \"bad ip!\"",
            name: "bad-external-ip",
            object: {
                let mut s = lb_service("bad-external-ip", "extip.example.com", &[]);
                s["spec"]["externalIPs"] = json!(["bad ip!", "192.0.2.43"]);
                s
            },
            field: "spec.externalIPs[0]",
            still: Some(("A", "extip.example.com", "192.0.2.43")),
            never: None,
        },
        ObjectCase {
            id: "hostname outside every zone",
            name: "outside-zone",
            object: plain_ingress("outside-zone", &["app.other.org"], &["192.0.2.44"]),
            field: "app.other.org",
            still: None,
            never: Some("app.other.org"),
        },
        ObjectCase {
            id: "DNSEndpoint without dnsName",
            name: "no-dnsname",
            object: dnsep(
                "no-dnsname",
                json!([{"recordType": "A", "targets": ["192.0.2.45"]},
                       {"dnsName": "sibling.example.com", "recordType": "A", "targets": ["192.0.2.46"]}]),
            ),
            field: "spec.endpoints[0].dnsName",
            still: Some(("A", "sibling.example.com", "192.0.2.46")),
            never: None,
        },
        ObjectCase {
            id: "DNSEndpoint dnsName \"bad host\"",
            name: "bad-dnsname",
            object: dnsep(
                "bad-dnsname",
                json!([{"dnsName": "bad host", "recordType": "A", "targets": ["192.0.2.47"]}]),
            ),
            field: "spec.endpoints[0].dnsName",
            still: None,
            never: Some("bad host"),
        },
        ObjectCase {
            id: "DNSEndpoint A target that is not IPv4",
            name: "a-not-v4",
            object: dnsep(
                "a-not-v4",
                json!([{"dnsName": "av4.example.com", "recordType": "A", "targets": ["2001:db8::1"]}]),
            ),
            field: "spec.endpoints[0].targets[0]",
            still: None,
            never: Some("av4.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint AAAA target that is not IPv6",
            name: "aaaa-not-v6",
            object: dnsep(
                "aaaa-not-v6",
                json!([{"dnsName": "av6.example.com", "recordType": "AAAA", "targets": ["192.0.2.48"]}]),
            ),
            field: "spec.endpoints[0].targets[0]",
            still: None,
            never: Some("av6.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint CNAME target that is an IP",
            name: "cname-ip",
            object: dnsep(
                "cname-ip",
                json!([{"dnsName": "cn.example.com", "recordType": "CNAME", "targets": ["192.0.2.49"]}]),
            ),
            field: "spec.endpoints[0].targets[0]",
            still: None,
            never: Some("cn.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint negative recordTTL",
            name: "neg-record-ttl",
            object: dnsep(
                "neg-record-ttl",
                json!([{"dnsName": "negrttl.example.com", "recordType": "A", "targets": ["192.0.2.50"], "recordTTL": -30}]),
            ),
            field: "spec.endpoints[0].recordTTL",
            still: None,
            never: Some("negrttl.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint without targets",
            name: "no-targets",
            object: dnsep(
                "no-targets",
                json!([{"dnsName": "notargets.example.com", "recordType": "A", "targets": []}]),
            ),
            field: "spec.endpoints[0].targets",
            still: None,
            never: Some("notargets.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint providerSpecific cloudflare-proxied \"maybe\"",
            name: "ps-proxied",
            object: dnsep(
                "ps-proxied",
                json!([{"dnsName": "ps.example.com", "recordType": "A", "targets": ["192.0.2.51"],
                        "providerSpecific": [{"name": "external-dns.alpha.kubernetes.io/cloudflare-proxied", "value": "maybe"}]}]),
            ),
            field: "spec.endpoints[0].providerSpecific[0]",
            still: Some(("A", "ps.example.com", "192.0.2.51")),
            never: None,
        },
        ObjectCase {
            id: "DNSEndpoint with cloudflare-* in metadata.annotations",
            name: "misplaced",
            object: {
                let mut d = dnsep(
                    "misplaced",
                    json!([{"dnsName": "misplaced.example.com", "recordType": "A", "targets": ["192.0.2.52"]}]),
                );
                d["metadata"]["annotations"] = json!({format!("{a}cloudflare-proxied"): "true"});
                d
            },
            field: "providerSpecific",
            still: Some(("A", "misplaced.example.com", "192.0.2.52")),
            never: None,
        },
    ];
    v.push(ObjectCase {
        id: "status ip \"not-an-ip!\"",
        name: "bad-status-ip",
        object: {
            let mut v = plain_ingress("bad-status-ip", &["statusip.example.com"], &[]);
            v["status"] =
                json!({"loadBalancer": {"ingress": [{"ip": "not-an-ip!"}, {"ip": "192.0.2.41"}]}});
            v
        },
        field: "status.loadBalancer.ingress[0].ip",
        still: Some(("A", "statusip.example.com", "192.0.2.41")),
        never: None,
    });
    v
}

struct GeoCase {
    id: &'static str,
    name: &'static str,
    object: Value,
    field: &'static str,
}

fn geo_object_cases() -> Vec<GeoCase> {
    let mut no_label = ingress("geo-no-label", "x", &["203.0.113.61"]);
    no_label["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("cluster-name");
    let mut outside = ingress("geo-outside", "fra1", &["203.0.113.62"]);
    outside["metadata"]["annotations"] = json!({"cfgeo.io/lb-hostname": "app.other.org"});
    let mut bad_lb = ingress("geo-bad-lb", "fra1", &["203.0.113.63"]);
    bad_lb["metadata"]["annotations"] = json!({"cfgeo.io/lb-hostname": "bad host!"});
    vec![
        GeoCase {
            id: "Ingress without the cluster-name label",
            name: "geo-no-label",
            object: no_label,
            field: "cluster-name",
        },
        GeoCase {
            id: "cluster-name longer than 63 characters",
            name: "geo-long",
            object: ingress("geo-long", &"c".repeat(70), &["203.0.113.64"]),
            field: "label cluster-name",
        },
        GeoCase {
            id: "cluster-name with no letter or digit",
            name: "geo-dashes",
            object: ingress("geo-dashes", "...", &["203.0.113.65"]),
            field: "label cluster-name",
        },
        GeoCase {
            id: "cfgeo.io/lb-hostname outside the zone",
            name: "geo-outside",
            object: outside,
            field: "metadata.annotations[cfgeo.io/lb-hostname]",
        },
        GeoCase {
            id: "cfgeo.io/lb-hostname \"bad host!\"",
            name: "geo-bad-lb",
            object: bad_lb,
            field: "metadata.annotations[cfgeo.io/lb-hostname]",
        },
        GeoCase {
            id: "status.loadBalancer.ingress[].ip 300.1.1.1",
            name: "geo-bad-ip",
            object: {
                let mut v = ingress("geo-bad-ip", "ams1", &[]);
                v["status"] = json!({"loadBalancer": {"ingress": [{"ip": "300.1.1.1"}, {"ip": "203.0.113.66"}]}});
                v
            },
            field: "status.loadBalancer.ingress[0].ip",
        },
        GeoCase {
            id: "status hostname \"not a host!\"",
            name: "geo-bad-host",
            object: ingress("geo-bad-host", "lon1", &["not a host!", "203.0.113.67"]),
            field: "status.loadBalancer.ingress[0].hostname",
        },
        GeoCase {
            id: "status hostname that is the LB's own hostname",
            name: "geo-loop",
            object: ingress("geo-loop", "par1", &["app.example.com", "203.0.113.68"]),
            field: "status.loadBalancer.ingress[0].hostname",
        },
        GeoCase {
            id: "status hostname that is a wildcard",
            name: "geo-wild",
            object: ingress("geo-wild", "mad1", &["*.elb.example.net", "203.0.113.69"]),
            field: "status.loadBalancer.ingress[0].hostname",
        },
    ]
}

/// A tiny HTTP server in front of the emulator that forwards every call and, for matching
/// calls, replaces the answer with a crafted one (a Cloudflare that answers oddly). It logs
/// every request body so tests can see what cfgeo sent.
struct Proxy {
    base: String,
    rules: Arc<Mutex<Vec<Rewrite>>>,
    sent: Arc<Mutex<Vec<(String, String, String)>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

type Craft = Box<dyn Fn(u16, &[u8]) -> (u16, String) + Send + Sync>;

struct Rewrite {
    method: &'static str,
    path_suffix: String,
    remaining: usize,
    craft: Craft,
}

impl Proxy {
    async fn start(emu: &EmulatorHandle) -> Self {
        let upstream = format!("http://{}", emu.addr());
        let rules: Arc<Mutex<Vec<Rewrite>>> = Arc::default();
        let sent: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let (r, s) = (rules.clone(), sent.clone());
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let (rules, sent, http, upstream) =
                    (r.clone(), s.clone(), http.clone(), upstream.clone());
                async move {
                    let path = uri.path().to_string();
                    sent.lock().unwrap().push((
                        method.to_string(),
                        path.clone(),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    let url = format!(
                        "{upstream}{}",
                        uri.path_and_query().map_or("", |p| p.as_str())
                    );
                    let mut req = http
                        .request(method.clone(), url)
                        .header("content-type", "application/json")
                        .body(body.to_vec());
                    if let Some(a) = headers.get("authorization") {
                        req = req.header("authorization", a.clone());
                    }
                    let resp = req.send().await.expect("upstream answers");
                    let status = resp.status().as_u16();
                    let bytes = resp.bytes().await.unwrap_or_default();
                    let crafted = {
                        let mut rules = rules.lock().unwrap();
                        rules
                            .iter_mut()
                            .find(|x| {
                                x.remaining > 0
                                    && x.method == method.as_str()
                                    && path.ends_with(&x.path_suffix)
                            })
                            .map(|x| {
                                x.remaining -= 1;
                                (x.craft)(status, &bytes)
                            })
                    };
                    let (status, body) =
                        crafted.unwrap_or((status, String::from_utf8_lossy(&bytes).into_owned()));
                    axum::response::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body))
                        .unwrap()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            base: format!("http://{addr}/client/v4"),
            rules,
            sent,
            _stop: tx,
        }
    }

    fn rewrite(&self, method: &'static str, path_suffix: &str, times: usize, craft: Craft) {
        self.rules.lock().unwrap().push(Rewrite {
            method,
            path_suffix: path_suffix.to_string(),
            remaining: times,
            craft,
        });
    }

    fn client(&self) -> Client {
        Client::new(
            ClientSettings {
                base_url: self.base.clone(),
                backoff_min: Duration::from_millis(5),
                backoff_max: Duration::from_millis(20),
                ..ClientSettings::default()
            },
            TokenSource::Static(ApiToken::new(common::TOKEN)),
        )
        .unwrap()
    }

    fn writes(&self) -> Vec<(String, String, String)> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _, _)| m != "GET")
            .cloned()
            .collect()
    }
}

/// The upstream JSON answer with `f` applied to its `result`.
fn edit_result(f: impl Fn(&mut Value) + Send + Sync + 'static) -> Craft {
    Box::new(move |status, body| {
        let mut v: Value = serde_json::from_slice(body).expect("upstream JSON");
        f(&mut v["result"]);
        (status, v.to_string())
    })
}

fn fixed(status: u16, body: &'static str) -> Craft {
    Box::new(move |_, _| (status, body.to_string()))
}

/// Runs the record engine once over `hosts` (Ingresses) on a client through the proxy.
async fn records_pass_via(
    proxy: &Proxy,
    zones: &[String],
    ingresses: &[(&str, &str, &str)],
) -> Result<(), String> {
    let kube = FakeKube::start().await.unwrap();
    for (name, host, addr) in ingresses {
        kube.apply(plain_ingress(name, &[host], &[addr]));
    }
    let client = proxy.client();
    let s = record_settings(OWNER);
    let zs = resolve_zones(&client, zones, &s.plan.domains)
        .await
        .map_err(|e| e.to_string())?;
    let mut engine = RecordEngine::new(client, s, zs, Reporter::Log, fast_timing());
    let shutdown = CancellationToken::new();
    let mut inputs = watch_inputs(
        kube.client().await.unwrap(),
        &[SourceKind::Ingress],
        source_settings(),
        None,
        None,
        shutdown.clone(),
    );
    let desired = tokio::time::timeout(T, async {
        loop {
            if let Some(d) = inputs.current()
                && d.synced
                && d.endpoints.len() == ingresses.len()
            {
                return d;
            }
            inputs.changed().await;
        }
    })
    .await
    .expect("sources synced");
    let r = engine.pass(&desired, true).await;
    shutdown.cancel();
    r.map(|_| ()).map_err(|e| e.to_string())
}

async fn geo_pass_via(proxy: &Proxy, emu: &EmulatorHandle) -> Result<usize, String> {
    let kube = FakeKube::start().await.unwrap();
    kube.apply(ingress("web", "fra1", &["203.0.113.80"]));
    let ing: Vec<Arc<Ingress>> = kube
        .list_resources::<Ingress>()
        .into_iter()
        .map(Arc::new)
        .collect();
    let mut engine = GeoEngine::new(
        proxy.client(),
        settings(emu, "eu", OWNER),
        Reporter::Log,
        fast_timing(),
    );
    engine
        .pass(&ing)
        .await
        .map(|r| r.written.len())
        .map_err(|e| e.to_string())
}

/// One table row of evidence: what was fed in, and what cfgeo said.
fn row(rows: &mut Vec<Value>, category: &str, id: &str, field: &str, said: &str) {
    let mut said = said.replace('\n', " ");
    if said.len() > 220 {
        let mut cut = 220;
        while !said.is_char_boundary(cut) {
            cut -= 1;
        }
        said.truncate(cut);
        said.push('…');
    }
    rows.push(json!({"category": category, "input": id, "field": field, "said": said}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_configuration() {
    let mut ev = Evidence::new(
        "bad_input_configuration",
        "Malformed configuration: flags and environment of `cfgeo run`",
    );
    let emu = common::emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("objects.json"),
        serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": [
            ingress("geo", "fra1", &["203.0.113.90"]),
            plain_ingress("plain", &["plain.example.com"], &["192.0.2.90"]),
        ]}))
        .unwrap(),
    )
    .unwrap();
    // A record someone else owns: it must survive every failed start untouched.
    common::client(&emu)
        .create_dns_record(
            &zone,
            &DnsRecordInput {
                name: "keep.example.com".into(),
                record_type: RecordType::A,
                content: "198.51.100.99".into(),
                ttl: 1,
                proxied: false,
                comment: None,
                tags: vec![],
                priority: None,
            },
        )
        .await
        .unwrap();
    let before = emu.state_json();
    let base = run_args(&emu, dir.path());
    let mut rows = Vec::new();
    for case in CONFIG_CASES {
        emu.reset_calls();
        let mut args = if case.bare {
            Vec::new()
        } else {
            without_flags(&base, case.args)
        };
        args.extend(case.args.iter().map(|s| s.to_string()));
        let err = run_once(args).await.expect_err(case.id);
        let named = case.field.iter().all(|f| err.contains(f));
        ev.check(
            named,
            "each configuration error names the variable or flag at fault",
            format!("{}: {err}", case.id),
        );
        let writes = emu.call_log().iter().filter(|c| is_write(c)).count();
        ev.check(
            writes == 0 && emu.state_json() == before,
            "a refused configuration wrote nothing to Cloudflare (records and pools unchanged)",
            format!("{}: {writes} writes", case.id),
        );
        row(
            &mut rows,
            "configuration",
            case.id,
            &case.field.join(", "),
            &err,
        );
    }
    // Control: the same base configuration without a bad value does write, so the checks
    // above could have failed.
    run_once(base).await.expect("the base configuration works");
    ev.check(
        emu.records(&zone)
            .iter()
            .any(|r| r.name == "plain.example.com")
            && emu.pools().len() == 1,
        "control: the base configuration alone runs and writes (so \"wrote nothing\" is meaningful)",
        "the control run wrote nothing",
    );
    // The log level is checked before anything else starts.
    use clap::Parser;
    let cli = cfgeo::cli::Cli::try_parse_from(["cfgeo", "--log-level", "cfgeo=[", "emulator"])
        .expect("parses");
    let e = cfgeo::telemetry::init(&cli.log.settings())
        .expect_err("bad log level")
        .to_string();
    ev.check(
        e.contains("--log-level"),
        "each configuration error names the variable or flag at fault",
        &e,
    );
    row(
        &mut rows,
        "configuration",
        "--log-level \"cfgeo=[\"",
        "--log-level",
        &e,
    );
    ev.trials = rows.len();
    ev.injected(format!(
        "{} distinct malformed configurations of `cfgeo run --once` (in-process, against an emulator holding a foreign record)",
        rows.len()
    ));
    ev.figure("cases", rows.len());
    ev.figure("rows", Value::Array(rows));
    ev.write();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_objects() {
    let mut ev = Evidence::new(
        "bad_input_objects",
        "Malformed Kubernetes objects: labels, annotations, hostnames, addresses, DNSEndpoint specs",
    );
    let emu = common::emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.unwrap();
    let cases = record_object_cases();
    let geo_cases = geo_object_cases();
    // Good neighbours: their records and pool must appear as if nothing were wrong.
    kube.apply(plain_ingress(
        "good",
        &["good.example.com"],
        &["192.0.2.10"],
    ));
    kube.apply(lb_service(
        "good-svc",
        "goodsvc.example.com",
        &["192.0.2.11"],
    ));
    kube.apply(dnsep(
        "good-dnsep",
        json!([{"dnsName": "gooddnsep.example.com", "recordType": "A", "targets": ["192.0.2.12"]}]),
    ));
    kube.apply(ingress("geo-good", "good1", &["203.0.113.60"]));
    for c in &cases {
        kube.apply(c.object.clone());
    }
    for c in &geo_cases {
        kube.apply(c.object.clone());
    }
    let kc = kube.client().await.unwrap();
    let records = spawn_records(
        kc.clone(),
        common::client(&emu),
        &zone,
        record_settings(OWNER),
        &[SourceKind::Ingress, SourceKind::Service, SourceKind::Crd],
    )
    .await;
    let geo = spawn_geo(
        kc,
        common::client(&emu),
        settings(&emu, "eu", OWNER),
        fast_timing(),
    );
    let mut rows = Vec::new();
    let all_noted = kube
        .wait_until(T, |k| {
            cases
                .iter()
                .map(|c| (c.name, c.field))
                .chain(geo_cases.iter().map(|c| (c.name, c.field)))
                .all(|(name, field)| notes_for(k, name).iter().any(|n| n.contains(field)))
        })
        .await;
    for (id, name, field) in cases
        .iter()
        .map(|c| (c.id, c.name, c.field))
        .chain(geo_cases.iter().map(|c| (c.id, c.name, c.field)))
    {
        let notes = notes_for(&kube, name);
        let hit = notes.iter().find(|n| n.contains(field));
        ev.check(
            hit.is_some(),
            "each malformed object gets a Warning Event on that object whose message names the field",
            format!("{id}: events {notes:?} (all noted: {all_noted})"),
        );
        let category = if geo_cases.iter().any(|g| g.name == name) {
            "object (geo)"
        } else {
            "object (records)"
        };
        row(&mut rows, category, id, field, hit.unwrap());
    }
    // Nothing else affected: neighbours written, ignored bad values fell back to defaults.
    let mut want: Vec<(String, String, String)> = vec![
        ("A".into(), "good.example.com".into(), "192.0.2.10".into()),
        (
            "A".into(),
            "goodsvc.example.com".into(),
            "192.0.2.11".into(),
        ),
        (
            "A".into(),
            "gooddnsep.example.com".into(),
            "192.0.2.12".into(),
        ),
    ];
    want.extend(
        cases
            .iter()
            .filter_map(|c| c.still)
            .map(|(t, n, a)| (t.to_string(), n.to_string(), a.to_string())),
    );
    let written = wait_for(T, || {
        let have = record_set(&emu, &zone);
        want.iter().all(|w| have.contains(w))
    })
    .await;
    ev.check(
        written,
        "nothing else affected: the good objects' records, and the valid parts of partly bad objects, were all written",
        format!("missing {:?}", {
            let have = record_set(&emu, &zone);
            want.iter().filter(|w| !have.contains(w)).cloned().collect::<Vec<_>>()
        }),
    );
    let names: BTreeSet<String> = emu.records(&zone).into_iter().map(|r| r.name).collect();
    let leaked: Vec<&str> = cases
        .iter()
        .filter_map(|c| c.never)
        .filter(|n| names.iter().any(|x| x.contains(n)))
        .collect();
    ev.check(
        leaked.is_empty(),
        "no bad value became a record",
        format!("{leaked:?}"),
    );
    let good_pools = wait_for(T, || {
        let p = pools(&emu);
        p.get("k8s-pool-good1-eu") == Some(&vec![("203.0.113.60".to_string(), true)])
            && p.get("k8s-pool-ams1-eu") == Some(&vec![("203.0.113.66".to_string(), true)])
            && p.get("k8s-pool-lon1-eu") == Some(&vec![("203.0.113.67".to_string(), true)])
    })
    .await;
    ev.check(
        good_pools,
        "nothing else affected (geo): the good Ingress's pool exists, and partly bad Ingresses keep their valid addresses only",
        format!("{:?}", pools(&emu)),
    );
    let unexpected: Vec<String> = pools(&emu)
        .into_keys()
        .filter(|p| p.contains("other") || p.contains("cccc") || p.contains("k8s-pool---"))
        .collect();
    ev.check(
        unexpected.is_empty(),
        "no pool was built from a refused Ingress",
        format!("{unexpected:?}"),
    );
    records.stop(&mut ev).await;
    geo.stop(&mut ev).await;
    ev.trials = rows.len();
    ev.injected(format!(
        "{} malformed objects applied at once to one fake API server beside good ones, both engines running",
        rows.len()
    ));
    ev.figure("cases", rows.len());
    ev.figure("rows", Value::Array(rows));
    ev.write();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_cloudflare_answers() {
    let mut ev = Evidence::new(
        "bad_input_cloudflare_answers",
        "Malformed Cloudflare answers (a proxy in front of the emulator crafts them)",
    );
    let mut rows = Vec::new();

    // 1. An unknown record type in the listing: tolerated, never touched.
    {
        let emu = common::emulator().await;
        let zone = emu.zone_id("example.com").unwrap();
        let proxy = Proxy::start(&emu).await;
        proxy.rewrite(
            "GET",
            "/dns_records",
            usize::MAX,
            edit_result(|r| {
                r.as_array_mut().unwrap().push(json!({
                    "id": "0badc0de0badc0de0badc0de0badc0de", "type": "QUANTUM",
                    "name": "weird.example.com", "content": "entangled", "ttl": 1,
                    "proxied": false, "comment": null, "tags": []}));
            }),
        );
        let r = records_pass_via(
            &proxy,
            std::slice::from_ref(&zone),
            &[("good", "good.example.com", "192.0.2.5")],
        )
        .await;
        let touched = proxy
            .writes()
            .iter()
            .any(|(_, _, b)| b.contains("0badc0de0badc0de0badc0de0badc0de"));
        ev.check(
            r.is_ok() && !touched && record_set(&emu, &zone).contains(&("A".into(), "good.example.com".into(), "192.0.2.5".into())),
            "an unexpected enum value (record type QUANTUM) is tolerated: the pass succeeds, that record is never written, the others are",
            format!("{r:?}, touched {touched}"),
        );
        row(
            &mut rows,
            "cloudflare answer",
            "unknown DNS record type in the listing",
            "type",
            "tolerated: pass succeeded, record never written",
        );
    }

    // 2. An unknown steering policy on the LB: reset, nothing else changed.
    {
        let emu = common::emulator().await;
        let proxy = Proxy::start(&emu).await;
        geo_pass_via(&proxy, &emu).await.expect("first pass");
        let lb_before = emu.load_balancers();
        proxy.rewrite(
            "GET",
            "/load_balancers",
            1,
            edit_result(|r| r[0]["steering_policy"] = json!("quantum_tunnel")),
        );
        let n = proxy.writes().len();
        let r = geo_pass_via(&proxy, &emu).await;
        let writes = proxy.writes()[n..].to_vec();
        let ok = r.is_ok()
            && writes.len() == 1
            && writes[0].0 == "PATCH"
            && writes[0].2.contains("proximity")
            && !writes[0].2.contains("default_pools");
        ev.check(
            ok && emu.load_balancers()[0].default_pools == lb_before[0].default_pools,
            "an unexpected enum value (steering_policy quantum_tunnel) is corrected by a PATCH of that field alone",
            format!("{r:?} {writes:?}"),
        );
        row(
            &mut rows,
            "cloudflare answer",
            "unknown LB steering_policy",
            "steering_policy",
            &format!("PATCH {}", writes.first().map_or("", |w| w.2.as_str())),
        );
    }

    // 3..6: refused answers must name the endpoint and the field, and write nothing.
    type Setup = fn(&Proxy);
    let geo_cases: Vec<(&str, &str, Setup, &[&str])> = vec![
        (
            "a pool without its name",
            "name",
            |p| {
                p.rewrite(
                    "GET",
                    "/pools",
                    1,
                    edit_result(|r| {
                        r[0].as_object_mut().unwrap().remove("name");
                    }),
                )
            },
            &["pools.list", "name"],
        ),
        (
            "a pool origin whose enabled is \"yes\"",
            "enabled",
            |p| {
                p.rewrite(
                    "GET",
                    "/pools",
                    1,
                    edit_result(|r| r[0]["origins"][0]["enabled"] = json!("yes")),
                )
            },
            &["pools.list", "origins[0].enabled"],
        ),
        (
            "pools listing that is not JSON (HTTP 200)",
            "body",
            |p| {
                p.rewrite(
                    "GET",
                    "/pools",
                    1,
                    fixed(200, "<html>upstream hiccup</html>"),
                )
            },
            &["pools.list", "expected value"],
        ),
        (
            "success:false on HTTP 200 without errors",
            "success",
            |p| {
                p.rewrite(
                    "GET",
                    "/monitors",
                    1,
                    fixed(
                        200,
                        r#"{"success":false,"errors":[],"messages":[],"result":null}"#,
                    ),
                )
            },
            &["monitors.list", "success=false"],
        ),
        (
            "load balancer listing whose result is an object",
            "result",
            |p| {
                p.rewrite(
                    "GET",
                    "/load_balancers",
                    1,
                    fixed(
                        200,
                        r#"{"success":true,"errors":[],"messages":[],"result":{"id":"x"}}"#,
                    ),
                )
            },
            &["load_balancers.list", "sequence"],
        ),
    ];
    for (id, field, setup, must) in geo_cases {
        let emu = common::emulator().await;
        let proxy = Proxy::start(&emu).await;
        geo_pass_via(&proxy, &emu).await.expect("first pass");
        let before = emu.state_json();
        setup(&proxy);
        let n = proxy.writes().len();
        let e = geo_pass_via(&proxy, &emu).await.expect_err(id);
        // The decoder's own words, without the quoted start of the body (which would name
        // every field anyway).
        let message = e.split("; body starts").next().unwrap_or(&e);
        ev.check(
            must.iter().all(|m| message.contains(m)),
            "a malformed answer fails the read with an error naming the endpoint and the field",
            format!("{id}: {e}"),
        );
        ev.check(
            proxy.writes().len() == n && emu.state_json() == before,
            "a malformed answer writes nothing (a failed read never shrinks or changes shared state)",
            id,
        );
        let next = geo_pass_via(&proxy, &emu).await;
        ev.check(
            next.is_ok(),
            "the next pass, with sane answers, succeeds (nothing left broken)",
            format!("{id}: {next:?}"),
        );
        row(&mut rows, "cloudflare answer", id, field, &e);
    }

    // 7. One zone's listing is garbage: the other zone is still synced.
    {
        let emu = common::emulator().await;
        let z1 = emu.zone_id("example.com").unwrap();
        let z2 = emu
            .add_zone("example.org", cfgeo::emulator::Plan::Free)
            .unwrap();
        let proxy = Proxy::start(&emu).await;
        proxy.rewrite(
            "GET",
            &format!("/zones/{z1}/dns_records"),
            usize::MAX,
            fixed(200, "<html>oops</html>"),
        );
        let e = records_pass_via(
            &proxy,
            &[z1.clone(), z2.clone()],
            &[
                ("a", "a.example.com", "192.0.2.1"),
                ("b", "b.example.org", "192.0.2.2"),
            ],
        )
        .await
        .expect_err("zone example.com cannot be read");
        ev.check(
            e.contains("example.com") && e.contains("dns_records.list") && e.contains("<html>"),
            "a malformed answer fails the read with an error naming the endpoint and the field",
            &e,
        );
        ev.check(
            record_set(&emu, &z2).contains(&(
                "A".into(),
                "b.example.org".into(),
                "192.0.2.2".into(),
            )) && emu.records(&z1).is_empty(),
            "nothing else affected: the other zone was synced, the unreadable zone was not written",
            format!("{:?}", record_set(&emu, &z2)),
        );
        row(
            &mut rows,
            "cloudflare answer",
            "one zone's record listing is not JSON",
            "body",
            &e,
        );
    }

    // 8. A zone answer without its name.
    {
        let emu = common::emulator().await;
        let z1 = emu.zone_id("example.com").unwrap();
        let proxy = Proxy::start(&emu).await;
        proxy.rewrite(
            "GET",
            &format!("/zones/{z1}"),
            1,
            edit_result(|r| {
                r.as_object_mut().unwrap().remove("name");
            }),
        );
        let e = records_pass_via(
            &proxy,
            std::slice::from_ref(&z1),
            &[("a", "a.example.com", "192.0.2.1")],
        )
        .await
        .expect_err("zone without name");
        let message = e.split("; body starts").next().unwrap_or(&e);
        ev.check(
            message.contains(&z1) && message.contains("name"),
            "a malformed answer fails the read with an error naming the endpoint and the field",
            &e,
        );
        ev.check(
            proxy.writes().is_empty(),
            "a malformed answer writes nothing (a failed read never shrinks or changes shared state)",
            "writes",
        );
        row(
            &mut rows,
            "cloudflare answer",
            "zone answer without name",
            "name",
            &e,
        );
    }

    // 9. A batch answer that is not JSON: the zone is re-read, the next pass converges.
    {
        let emu = common::emulator().await;
        let z1 = emu.zone_id("example.com").unwrap();
        let proxy = Proxy::start(&emu).await;
        proxy.rewrite("POST", "/dns_records/batch", 1, fixed(200, "OK"));
        let hosts = [("a", "a.example.com", "192.0.2.1")];
        let e = records_pass_via(&proxy, std::slice::from_ref(&z1), &hosts)
            .await
            .expect_err("batch answer not JSON");
        ev.check(
            e.contains("dns_records.batch"),
            "a malformed answer fails the read with an error naming the endpoint and the field",
            &e,
        );
        let again = records_pass_via(&proxy, std::slice::from_ref(&z1), &hosts).await;
        let recs = record_set(&emu, &z1);
        ev.check(
            again.is_ok()
                && recs.contains(&("A".into(), "a.example.com".into(), "192.0.2.1".into()))
                && recs.len() == 2,
            "after an unreadable batch answer the zone is re-read and the next pass converges without duplicates",
            format!("{again:?} {recs:?}"),
        );
        row(
            &mut rows,
            "cloudflare answer",
            "batch answer that is not JSON",
            "body",
            &e,
        );
    }

    ev.trials = rows.len();
    ev.injected(format!(
        "{} crafted Cloudflare answers: unexpected enum values, a missing field, a wrong type, non-JSON bodies, success:false",
        rows.len()
    ));
    ev.figure("cases", rows.len());
    ev.figure("rows", Value::Array(rows));
    ev.write();
}
