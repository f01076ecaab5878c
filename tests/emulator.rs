//! The Cloudflare API emulator over real HTTP: validation and error codes, paging, batch
//! atomicity, pools and load balancers, rate limit, faults, tokens and persistence.

use std::time::{Duration, Instant};

use cfgeo::emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, FaultAction, FaultSpec, Plan, ZoneSpec, codes,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "test-token";

struct Env {
    emu: EmulatorHandle,
    http: reqwest::Client,
    zone: String,
    account: String,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> u64 {
        self.body["errors"][0]["code"].as_u64().unwrap_or(0)
    }

    fn message(&self) -> String {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[track_caller]
    fn expect_ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert_eq!(self.body["success"], true, "body: {}", self.body);
        &self.body["result"]
    }

    #[track_caller]
    fn expect_err(&self, status: u16, code: u32) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["success"], false, "body: {}", self.body);
        assert_eq!(self.body["result"], Value::Null);
        assert_eq!(self.code(), u64::from(code), "body: {}", self.body);
    }
}

async fn start(config: EmulatorConfig) -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(config).await.expect("emulator starts");
    let zone = emu.zone_id("example.com").unwrap_or_default();
    let account = emu.account_id();
    Env {
        emu,
        http: reqwest::Client::new(),
        zone,
        account,
    }
}

async fn default_env() -> Env {
    start(EmulatorConfig::default()).await
}

impl Env {
    async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.emu.base_url()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request answered");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_as(Some(TOKEN), method, path, body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    fn records_path(&self) -> String {
        format!("/zones/{}/dns_records", self.zone)
    }

    fn pools_path(&self) -> String {
        format!("/accounts/{}/load_balancers/pools", self.account)
    }

    fn lbs_path(&self) -> String {
        format!("/zones/{}/load_balancers", self.zone)
    }

    async fn create_record(&self, body: Value) -> Answer {
        self.post(&self.records_path(), body).await
    }

    async fn create_pool(&self, body: Value) -> Answer {
        self.post(&self.pools_path(), body).await
    }

    async fn pool_id(&self, name: &str, coords: bool) -> String {
        let mut body = json!({"name": name, "origins": [{"name": "o1", "address": "192.0.2.10"}]});
        if coords {
            body["latitude"] = json!(50.1109);
            body["longitude"] = json!(8.6821);
        }
        let a = self.create_pool(body).await;
        a.expect_ok()["id"].as_str().unwrap_or_default().to_owned()
    }
}

#[tokio::test]
async fn zones_list_and_detail_carry_account_and_plan() {
    let env = default_env().await;
    let a = env.get("/zones").await;
    let zones = a.expect_ok().as_array().cloned().unwrap_or_default();
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0]["name"], "example.com");
    assert_eq!(zones[0]["account"]["id"], env.account.as_str());
    assert_eq!(zones[0]["status"], "active");
    assert_eq!(a.body["result_info"]["total_count"], 1);

    let filtered = env.get("/zones?name=other.org").await;
    assert_eq!(filtered.expect_ok(), &json!([]));
    let by_account = env
        .get("/zones?account.id=00000000000000000000000000000000")
        .await;
    assert_eq!(by_account.expect_ok(), &json!([]));

    let detail = env.get(&format!("/zones/{}", env.zone)).await;
    let zone = detail.expect_ok();
    assert_eq!(zone["id"], env.zone.as_str());
    assert_eq!(zone["plan"]["legacy_id"], "free");
    assert_eq!(env.zone.len(), 32);

    env.get("/zones/ffffffffffffffffffffffffffffffff")
        .await
        .expect_err(404, codes::NO_ROUTE);
}

#[tokio::test]
async fn record_create_normalizes_and_validates() {
    let env = default_env().await;
    let a = env
        .create_record(json!({"type": "A", "name": "www", "content": "192.0.2.1", "ttl": 300, "tags": ["owner:cfgeo"], "comment": "c"}))
        .await;
    let rec = a.expect_ok().clone();
    assert_eq!(rec["name"], "www.example.com");
    assert_eq!(rec["proxiable"], true);
    assert_eq!(rec["proxied"], false);
    assert_eq!(rec["ttl"], 300);
    assert_eq!(rec["tags"], json!(["owner:cfgeo"]));
    assert!(rec.get("zone_id").is_none());
    assert_eq!(rec["id"].as_str().map(str::len), Some(32));

    let aaaa = env
        .create_record(json!({"type": "AAAA", "name": "v6.example.com", "content": "2001:DB8:0:0::1", "proxied": true, "ttl": 300}))
        .await;
    let aaaa = aaaa.expect_ok();
    assert_eq!(aaaa["content"], "2001:db8::1", "IPv6 is stored canonical");
    assert_eq!(aaaa["ttl"], 1, "proxied records have automatic TTL");

    env.create_record(json!({"type": "A", "name": "x.example.org", "content": "192.0.2.1"}))
        .await
        .expect_err(400, codes::DNS_VALIDATION);
    env.create_record(json!({"type": "A", "name": "ttl", "content": "192.0.2.1", "ttl": 10}))
        .await
        .expect_err(400, codes::BAD_TTL);
    env.create_record(json!({"type": "A", "name": "ttl", "content": "192.0.2.1", "ttl": 86401}))
        .await
        .expect_err(400, codes::BAD_TTL);
    env.create_record(json!({"type": "TXT", "name": "t", "content": "hello", "proxied": true}))
        .await
        .expect_err(400, codes::NOT_PROXIABLE);
    env.create_record(json!({"type": "A", "name": "bad", "content": "300.1.2.3"}))
        .await
        .expect_err(400, codes::BAD_IPV4);
    env.create_record(json!({"type": "AAAA", "name": "bad", "content": "192.0.2.1"}))
        .await
        .expect_err(400, codes::BAD_IPV6);
    env.create_record(json!({"type": "MX", "name": "@", "content": "mail.example.com"}))
        .await
        .expect_err(400, codes::DNS_VALIDATION);
    env.create_record(json!({"type": "TXT", "name": "long", "content": "x".repeat(2049)}))
        .await
        .expect_err(400, codes::DNS_VALIDATION);

    // A CNAME where any record of the name exists, anything where a CNAME exists, duplicates.
    env.create_record(json!({"type": "CNAME", "name": "www", "content": "target.example.net"}))
        .await
        .expect_err(400, codes::HOST_EXISTS);
    env.create_record(json!({"type": "CNAME", "name": "alias", "content": "target.example.net"}))
        .await
        .expect_ok();
    env.create_record(json!({"type": "A", "name": "alias", "content": "192.0.2.9"}))
        .await
        .expect_err(400, codes::CNAME_EXISTS);
    env.create_record(json!({"type": "A", "name": "www.example.com", "content": "192.0.2.1"}))
        .await
        .expect_err(400, codes::IDENTICAL_RECORD);
    env.create_record(json!({"type": "A", "name": "www.example.com", "content": "192.0.2.2"}))
        .await
        .expect_ok();

    let path = format!("{}/ffffffffffffffffffffffffffffffff", env.records_path());
    env.get(&path)
        .await
        .expect_err(404, codes::RECORD_NOT_FOUND);
    assert_eq!(env.emu.records(&env.zone).len(), 4);
}

#[tokio::test]
async fn record_put_replaces_patch_merges_delete_returns_id() {
    let env = default_env().await;
    let a = env
        .create_record(json!({"type": "A", "name": "p", "content": "192.0.2.1", "ttl": 120, "comment": "keep", "tags": ["a:b"]}))
        .await;
    let id = a.expect_ok()["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("{}/{id}", env.records_path());

    let patched = env
        .call(Method::PATCH, &path, Some(json!({"content": "192.0.2.2"})))
        .await;
    let patched = patched.expect_ok();
    assert_eq!(patched["content"], "192.0.2.2");
    assert_eq!(patched["comment"], "keep");
    assert_eq!(patched["ttl"], 120);

    let put = env
        .call(
            Method::PUT,
            &path,
            Some(json!({"type": "A", "name": "p.example.com", "content": "192.0.2.3"})),
        )
        .await;
    let put = put.expect_ok();
    assert_eq!(put["ttl"], 1, "PUT resets unsent fields");
    assert!(put.get("comment").is_none());
    assert_eq!(put["tags"], json!([]));

    let del = env.call(Method::DELETE, &path, None).await;
    assert_eq!(del.expect_ok(), &json!({"id": id}));
    env.get(&path)
        .await
        .expect_err(404, codes::RECORD_NOT_FOUND);
}

#[tokio::test]
async fn paging_reports_result_info_and_ends_with_an_empty_page() {
    let env = default_env().await;
    let posts: Vec<Value> = (0..7)
        .map(|i| json!({"type": "A", "name": format!("h{i}"), "content": format!("192.0.2.{i}")}))
        .collect();
    env.post(
        &format!("{}/batch", env.records_path()),
        json!({"posts": posts}),
    )
    .await
    .expect_ok();
    env.create_record(json!({"type": "TXT", "name": "h0", "content": "note"}))
        .await
        .expect_ok();

    let mut seen = Vec::new();
    for page in 1..=3 {
        let a = env
            .get(&format!(
                "{}?type=A&per_page=3&page={page}&order=name",
                env.records_path()
            ))
            .await;
        let items = a.expect_ok().as_array().cloned().unwrap_or_default();
        let info = &a.body["result_info"];
        assert_eq!(info["page"], page);
        assert_eq!(info["per_page"], 3);
        assert_eq!(info["total_count"], 7);
        assert_eq!(info["total_pages"], 3);
        assert_eq!(info["count"], items.len());
        seen.extend(
            items
                .iter()
                .map(|r| r["name"].as_str().unwrap_or_default().to_owned()),
        );
    }
    let expected: Vec<String> = (0..7).map(|i| format!("h{i}.example.com")).collect();
    assert_eq!(seen, expected);

    let past = env
        .get(&format!("{}?type=A&per_page=3&page=4", env.records_path()))
        .await;
    assert_eq!(past.expect_ok(), &json!([]));
    assert_eq!(past.body["result_info"]["count"], 0);

    let by_name = env
        .get(&format!("{}?name=h0.example.com", env.records_path()))
        .await;
    assert_eq!(by_name.expect_ok().as_array().map(Vec::len), Some(2));
    let exact = env
        .get(&format!(
            "{}?name.exact=h0.example.com&type=TXT",
            env.records_path()
        ))
        .await;
    assert_eq!(exact.expect_ok()[0]["content"], "note");
}

#[tokio::test]
async fn batch_runs_in_order_and_is_all_or_nothing() {
    let env = default_env().await;
    let a = env
        .create_record(json!({"type": "A", "name": "switch", "content": "192.0.2.1"}))
        .await;
    let a_id = a.expect_ok()["id"].as_str().unwrap_or_default().to_owned();
    let t = env
        .create_record(json!({"type": "TXT", "name": "owner", "content": "v1"}))
        .await;
    let t_id = t.expect_ok()["id"].as_str().unwrap_or_default().to_owned();
    let batch = format!("{}/batch", env.records_path());

    // A failing post must roll back the delete and the patch before it.
    let before = env.emu.state().records;
    let failing = env
        .post(
            &batch,
            json!({
                "deletes": [{"id": a_id}],
                "patches": [{"id": t_id, "content": "v2"}],
                "posts": [{"type": "A", "name": "ok", "content": "192.0.2.5"}, {"type": "A", "name": "bad", "content": "not-an-ip"}],
            }),
        )
        .await;
    failing.expect_err(400, codes::BAD_IPV4);
    assert!(
        failing.message().starts_with("posts[1]"),
        "{}",
        failing.body
    );
    assert_eq!(env.emu.state().records, before);

    // Deletes run before posts, so an A can become a CNAME in one call.
    let done = env
        .post(
            &batch,
            json!({
                "posts": [{"type": "CNAME", "name": "switch", "content": "lb.example.net"}],
                "puts": [{"id": t_id, "type": "TXT", "name": "owner", "content": "v3"}],
                "patches": [{"id": t_id, "content": "v2", "comment": "patched"}],
                "deletes": [{"id": a_id}],
            }),
        )
        .await;
    let result = done.expect_ok();
    assert_eq!(result["deletes"][0]["id"], a_id.as_str());
    assert_eq!(result["patches"][0]["content"], "v2");
    assert_eq!(result["patches"][0]["comment"], "patched");
    assert_eq!(result["puts"][0]["content"], "v3");
    assert!(
        result["puts"][0].get("comment").is_none(),
        "the put ran after the patch"
    );
    assert_eq!(result["posts"][0]["type"], "CNAME");
    let names: Vec<(String, String)> = env
        .emu
        .records(&env.zone)
        .into_iter()
        .map(|r| (r.name, r.record_type))
        .collect();
    assert_eq!(
        names,
        vec![
            ("owner.example.com".to_owned(), "TXT".to_owned()),
            ("switch.example.com".to_owned(), "CNAME".to_owned())
        ]
    );
}

#[tokio::test]
async fn batch_size_follows_the_plan() {
    let env = start(EmulatorConfig {
        zones: vec![
            ZoneSpec::new("example.com", Plan::Free),
            ZoneSpec::new("paid.example", Plan::Pro),
        ],
        ..EmulatorConfig::default()
    })
    .await;
    let posts = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"type": "TXT", "name": format!("r{i}"), "content": "x"}))
            .collect()
    };
    let free = env
        .post(
            &format!("{}/batch", env.records_path()),
            json!({"posts": posts(201)}),
        )
        .await;
    free.expect_err(400, codes::DNS_VALIDATION);
    assert!(free.message().contains("200"), "{}", free.body);
    assert!(env.emu.records(&env.zone).is_empty());
    env.post(
        &format!("{}/batch", env.records_path()),
        json!({"posts": posts(200)}),
    )
    .await
    .expect_ok();

    let paid = env.emu.zone_id("paid.example").unwrap_or_default();
    let ok = env
        .post(
            &format!("/zones/{paid}/dns_records/batch"),
            json!({"posts": posts(201)}),
        )
        .await;
    assert_eq!(ok.expect_ok()["posts"].as_array().map(Vec::len), Some(201));
}

#[tokio::test]
async fn pool_validation_and_sorted_origins() {
    let env = default_env().await;
    let origin = |name: &str, address: &str, weight: f64| json!({"name": name, "address": address, "weight": weight});

    env.create_pool(json!({"name": "k8s.pool", "origins": [origin("a", "192.0.2.1", 1.0)]}))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    env.create_pool(json!({"name": "p", "origins": [origin("a", "192.0.2.1", 0.333)]}))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    env.create_pool(json!({"name": "p", "origins": [origin("a", "192.0.2.1", 1.5)]}))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    env.create_pool(
        json!({"name": "p", "latitude": 50.0, "origins": [origin("a", "192.0.2.1", 1.0)]}),
    )
    .await
    .expect_err(400, codes::LB_VALIDATION);
    env.create_pool(json!({"name": "p", "origins": [origin("a", "192.0.2.1", 1.0), origin("b", "192.0.2.1", 1.0)]}))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    env.create_pool(json!({"name": "p", "origins": [origin("a", "192.0.2.1", 1.0), origin("a", "192.0.2.2", 1.0)]}))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    env.create_pool(json!({"name": "p"}))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    env.create_pool(json!({"name": "p", "monitor": "ffffffffffffffffffffffffffffffff", "origins": [origin("a", "192.0.2.1", 1.0)]}))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    assert!(env.emu.pools().is_empty());

    let created = env
        .create_pool(json!({
            "name": "k8s-pool-a_b",
            "check_regions": ["WEU"],
            "origins": [origin("zeta", "192.0.2.3", 0.33), origin("alpha", "2001:db8::1", 0.0), {"name": "mid", "address": "origin.example.net"}],
        }))
        .await;
    let pool = created.expect_ok();
    let names: Vec<&str> = pool["origins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, vec!["alpha", "mid", "zeta"]);
    assert_eq!(pool["origins"][1]["weight"], 1.0);
    assert_eq!(pool["origins"][1]["enabled"], true);
    assert_eq!(pool["minimum_origins"], 1);
    assert_eq!(pool["enabled"], true);
    assert_eq!(pool["check_regions"], Value::Null, "not taken on POST");
}

#[tokio::test]
async fn pool_put_overwrites_and_patch_merges() {
    let env = default_env().await;
    let a = env
        .create_pool(json!({
            "name": "p", "description": "hand-made", "latitude": 1.0, "longitude": 2.0,
            "origin_steering": {"policy": "random"},
            "origins": [{"name": "o", "address": "192.0.2.1"}],
        }))
        .await;
    let id = a.expect_ok()["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("{}/{id}", env.pools_path());

    let patched = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"origins": [{"name": "n", "address": "192.0.2.2", "enabled": false}], "check_regions": ["WEU", "ENAM"]})),
        )
        .await;
    let p = patched.expect_ok();
    assert_eq!(p["description"], "hand-made");
    assert_eq!(p["latitude"], 1.0);
    assert_eq!(p["origin_steering"]["policy"], "random");
    assert_eq!(p["origins"].as_array().map(Vec::len), Some(1));
    assert!(p["origins"][0]["disabled_at"].is_string());
    assert_eq!(p["check_regions"], json!(["WEU", "ENAM"]));

    let put = env
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "p", "origins": [{"name": "o", "address": "192.0.2.1"}]})),
        )
        .await;
    let p = put.expect_ok();
    assert_eq!(p["description"], "");
    assert!(p.get("latitude").is_none());
    assert!(p.get("origin_steering").is_none());
    assert_eq!(p["check_regions"], Value::Null);
    assert_eq!(p["id"], id.as_str());

    env.call(Method::PUT, &path, Some(json!({"name": "p"})))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    env.call(Method::PATCH, &path, Some(json!({"monitor": ""})))
        .await
        .expect_err(412, codes::LB_BAD_MONITOR_REF);
}

#[tokio::test]
async fn load_balancer_requires_existing_pools_in_zone() {
    let env = default_env().await;
    let pool = env.pool_id("p1", true).await;
    let missing = "ffffffffffffffffffffffffffffffff";
    env.post(
        &env.lbs_path(),
        json!({"name": "lb.example.com", "default_pools": [missing], "fallback_pool": pool}),
    )
    .await
    .expect_err(400, codes::LB_VALIDATION);
    env.post(
        &env.lbs_path(),
        json!({"name": "lb.example.com", "default_pools": [pool], "fallback_pool": missing}),
    )
    .await
    .expect_err(400, codes::LB_VALIDATION);
    env.post(
        &env.lbs_path(),
        json!({"name": "lb.example.com", "default_pools": [pool]}),
    )
    .await
    .expect_err(400, codes::LB_VALIDATION);
    let outside = env
        .post(
            &env.lbs_path(),
            json!({"name": "lb.example.org", "default_pools": [pool], "fallback_pool": pool}),
        )
        .await;
    outside.expect_err(400, codes::LB_VALIDATION);
    assert!(outside.message().contains("invalid hostname"));
    env.post(
        &env.lbs_path(),
        json!({"name": "lb.example.com", "default_pools": [pool], "fallback_pool": pool, "steering_policy": "nearest"}),
    )
    .await
    .expect_err(400, codes::LB_VALIDATION);

    let created = env
        .post(
            &env.lbs_path(),
            json!({"name": "LB.example.com", "default_pools": [pool], "fallback_pool": pool, "proxied": true, "session_affinity_attributes": {"drain_duration": 60}}),
        )
        .await;
    let lb = created.expect_ok().clone();
    assert_eq!(lb["name"], "lb.example.com");
    assert_eq!(lb["ttl"], 30);
    assert_eq!(lb["enabled"], true);
    assert_eq!(lb["zone_name"], "example.com");
    assert_eq!(lb["session_affinity_attributes"]["samesite"], "Auto");
    assert_eq!(lb["session_affinity_attributes"]["drain_duration"], 60);
    env.post(
        &env.lbs_path(),
        json!({"name": "lb.example.com", "default_pools": [pool], "fallback_pool": pool}),
    )
    .await
    .expect_err(400, codes::LB_NOT_UNIQUE);

    let id = lb["id"].as_str().unwrap_or_default();
    let path = format!("{}/{id}", env.lbs_path());
    let patched = env
        .call(Method::PATCH, &path, Some(json!({"session_affinity_attributes": {"secure": "Always"}, "country_pools": {"US": [pool]}})))
        .await;
    let p = patched.expect_ok();
    assert_eq!(p["proxied"], true, "PATCH keeps unsent fields");
    assert_eq!(
        p["session_affinity_attributes"]["drain_duration"], 60,
        "nested objects merge"
    );
    assert_eq!(p["session_affinity_attributes"]["secure"], "Always");
    let put = env
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "lb.example.com", "default_pools": [pool], "fallback_pool": pool})),
        )
        .await;
    let p = put.expect_ok();
    assert_eq!(p["proxied"], false, "PUT resets unsent fields");
    assert_eq!(p["country_pools"], json!({}));

    let list = env.get(&env.lbs_path()).await;
    assert_eq!(list.expect_ok().as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn proximity_needs_coordinates_on_every_pool() {
    let env = default_env().await;
    let with = env.pool_id("with", true).await;
    let without = env.pool_id("without", false).await;
    let refused = env
        .post(
            &env.lbs_path(),
            json!({"name": "geo.example.com", "steering_policy": "proximity", "default_pools": [with, without], "fallback_pool": with}),
        )
        .await;
    refused.expect_err(400, codes::LB_VALIDATION);
    assert_eq!(
        refused.message(),
        "Proximity Load Balancer has pools missing Latitude/Longitude"
    );
    let lb = env
        .post(
            &env.lbs_path(),
            json!({"name": "geo.example.com", "steering_policy": "proximity", "default_pools": [with], "fallback_pool": with}),
        )
        .await;
    let lb_id = lb.expect_ok()["id"].as_str().unwrap_or_default().to_owned();

    env.call(
        Method::PATCH,
        &format!("{}/{lb_id}", env.lbs_path()),
        Some(json!({"region_pools": {"WNAM": [without]}})),
    )
    .await
    .expect_err(400, codes::LB_VALIDATION);
    env.call(
        Method::PATCH,
        &format!("{}/{with}", env.pools_path()),
        Some(json!({"latitude": null, "longitude": null})),
    )
    .await
    .expect_err(400, codes::LB_VALIDATION);
    env.call(
        Method::PATCH,
        &format!("{}/{with}", env.pools_path()),
        Some(json!({"latitude": null})),
    )
    .await
    .expect_err(400, codes::LB_VALIDATION);
    let pool = env.get(&format!("{}/{with}", env.pools_path())).await;
    assert_eq!(pool.expect_ok()["latitude"], 50.1109);
}

#[tokio::test]
async fn referenced_pools_and_monitors_cannot_be_deleted() {
    let env = default_env().await;
    let monitors = format!("/accounts/{}/load_balancers/monitors", env.account);
    env.post(&monitors, json!({"type": "https", "path": "/healthz"}))
        .await
        .expect_err(400, codes::LB_VALIDATION);
    let m = env
        .post(&monitors, json!({"type": "https", "path": "/healthz", "expected_codes": "2xx", "description": "cfgeo"}))
        .await;
    let monitor = m.expect_ok().clone();
    assert_eq!(monitor["interval"], 60);
    assert_eq!(monitor["retries"], 2);
    assert_eq!(monitor["method"], "GET");
    let monitor_id = monitor["id"].as_str().unwrap_or_default().to_owned();

    let p = env
        .create_pool(json!({"name": "used", "monitor": monitor_id, "origins": [{"name": "a", "address": "192.0.2.1"}, {"name": "b", "address": "192.0.2.2", "enabled": false}]}))
        .await;
    let pool = p.expect_ok()["id"].as_str().unwrap_or_default().to_owned();
    let spare = env.pool_id("spare", false).await;
    let lb = env
        .post(
            &env.lbs_path(),
            json!({"name": "app.example.com", "default_pools": [spare], "fallback_pool": spare, "region_pools": {"WEU": [pool]}}),
        )
        .await;
    let lb_id = lb.expect_ok()["id"].as_str().unwrap_or_default().to_owned();

    let pool_path = format!("{}/{pool}", env.pools_path());
    env.call(Method::DELETE, &pool_path, None)
        .await
        .expect_err(412, codes::LB_REFERENCED);
    env.call(Method::DELETE, &format!("{monitors}/{monitor_id}"), None)
        .await
        .expect_err(412, codes::LB_REFERENCED);

    let refs = env.get(&format!("{pool_path}/references")).await;
    let refs = refs.expect_ok().clone();
    assert_eq!(
        refs,
        json!([
            {"reference_type": "referrer", "resource_id": lb_id, "resource_name": "app.example.com", "resource_type": "load_balancer"},
            {"reference_type": "referral", "resource_id": monitor_id, "resource_name": "cfgeo", "resource_type": "monitor"},
        ])
    );
    let health = env.get(&format!("{pool_path}/health")).await;
    let health = health.expect_ok();
    assert_eq!(health["pool_id"], pool.as_str());
    let pops = health["pop_health"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let pop = pops.values().next().cloned().unwrap_or_default();
    assert_eq!(pop["healthy"], true);
    assert_eq!(
        pop["origins"].as_array().map(Vec::len),
        Some(1),
        "disabled origins are not probed"
    );

    let by_monitor = env
        .get(&format!("{}?monitor={monitor_id}", env.pools_path()))
        .await;
    assert_eq!(by_monitor.expect_ok().as_array().map(Vec::len), Some(1));

    env.call(Method::DELETE, &format!("{}/{lb_id}", env.lbs_path()), None)
        .await
        .expect_ok();
    let refs = env.get(&format!("{pool_path}/references")).await;
    assert_eq!(refs.expect_ok().as_array().map(Vec::len), Some(1));
    let deleted = env.call(Method::DELETE, &pool_path, None).await;
    assert_eq!(deleted.expect_ok(), &json!({"id": pool}));
    env.call(Method::DELETE, &format!("{monitors}/{monitor_id}"), None)
        .await
        .expect_ok();
    env.get(&pool_path)
        .await
        .expect_err(404, codes::LB_NOT_FOUND);
}

#[tokio::test]
async fn monitor_header_and_flags_round_trip() {
    let env = default_env().await;
    let monitors = format!("/accounts/{}/load_balancers/monitors", env.account);
    let created = env
        .post(
            &monitors,
            json!({"type": "https", "path": "/healthz", "expected_codes": "2xx", "method": "HEAD",
                "header": {"Host": ["app.example.com"], "X-Probe": ["a", "b"]},
                "allow_insecure": true, "follow_redirects": true, "probe_zone": "example.com"}),
        )
        .await;
    let m = created.expect_ok().clone();
    let id = m["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("{monitors}/{id}");
    assert_eq!(
        m["header"],
        json!({"Host": ["app.example.com"], "X-Probe": ["a", "b"]})
    );
    assert_eq!(
        (
            &m["allow_insecure"],
            &m["follow_redirects"],
            &m["method"],
            &m["probe_zone"]
        ),
        (
            &json!(true),
            &json!(true),
            &json!("HEAD"),
            &json!("example.com")
        )
    );
    assert_eq!(env.get(&path).await.expect_ok(), &m);
    let list = env.get(&monitors).await;
    assert_eq!(list.expect_ok().as_array().map(|l| l[0].clone()), Some(m));

    // PATCH overwrites the supplied properties (the header map whole) and keeps the rest.
    let patched = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"header": {"Host": ["other.example.com"]}, "allow_insecure": false, "expected_codes": "2xx"})),
        )
        .await;
    let p = patched.expect_ok();
    assert_eq!(p["header"], json!({"Host": ["other.example.com"]}));
    assert_eq!(p["allow_insecure"], false);
    assert_eq!(
        (&p["follow_redirects"], &p["method"], &p["path"]),
        (&json!(true), &json!("HEAD"), &json!("/healthz"))
    );
    let cleared = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"header": null, "method": null})),
        )
        .await;
    let c = cleared.expect_ok();
    assert_eq!((&c["header"], &c["method"]), (&json!({}), &json!("GET")));

    // PUT resets everything not sent to Cloudflare's defaults.
    let put = env
        .call(
            Method::PUT,
            &path,
            Some(json!({"type": "https", "expected_codes": "200"})),
        )
        .await;
    let p = put.expect_ok();
    assert_eq!(
        (
            &p["header"],
            &p["allow_insecure"],
            &p["follow_redirects"],
            &p["method"],
            &p["path"]
        ),
        (
            &json!({}),
            &json!(false),
            &json!(false),
            &json!("GET"),
            &json!("/")
        )
    );
    assert_eq!(env.get(&path).await.expect_ok(), p);

    let tcp = env
        .post(&monitors, json!({"type": "tcp", "port": 443}))
        .await;
    assert_eq!(tcp.expect_ok()["method"], "connection_established");
}

#[tokio::test]
async fn monitor_fields_of_the_wrong_type_are_refused_by_name() {
    let env = default_env().await;
    let monitors = format!("/accounts/{}/load_balancers/monitors", env.account);
    let base = json!({"type": "https", "expected_codes": "2xx"});
    let cases = [
        ("header", json!({"Host": "app.example.com"})),
        ("header", json!(["Host: app.example.com"])),
        ("header", json!({"Host": [1]})),
        ("allow_insecure", json!("yes")),
        ("follow_redirects", json!(1)),
        ("method", json!(true)),
        ("path", json!(["/"])),
        ("probe_zone", json!(7)),
        ("method", json!("POST")),
    ];
    for (field, value) in &cases {
        let mut body = base.clone();
        body[*field] = value.clone();
        let answer = env.post(&monitors, body.clone()).await;
        answer.expect_err(400, codes::LB_VALIDATION);
        assert!(
            answer.message().contains(field),
            "{body}: {}",
            answer.message()
        );
    }
    let created = env.post(&monitors, base.clone()).await;
    let id = created.expect_ok()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("{monitors}/{id}");
    let bad = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"allow_insecure": "true"})),
        )
        .await;
    bad.expect_err(400, codes::LB_VALIDATION);
    assert!(
        bad.message().contains("allow_insecure"),
        "{}",
        bad.message()
    );
    let bad = env
        .call(
            Method::PUT,
            &path,
            Some(json!({"type": "https", "expected_codes": "2xx", "header": {"Host": null}})),
        )
        .await;
    bad.expect_err(400, codes::LB_VALIDATION);
    assert!(bad.message().contains("header"), "{}", bad.message());
    let kept = env.get(&path).await;
    assert_eq!(
        kept.expect_ok()["allow_insecure"],
        false,
        "a refused write changes nothing"
    );
}

/// cfgeo decodes these without defaults, so the emulator must always answer them.
#[tokio::test]
async fn answers_carry_every_field_cfgeo_computes_writes_from() {
    use cfgeo::cloudflare::types::{LoadBalancer, Pool};
    let env = default_env().await;
    let pool = env.pool_id("minimal", false).await;
    let lb = env
        .post(
            &env.lbs_path(),
            json!({"name": "min.example.com", "default_pools": [pool], "fallback_pool": pool}),
        )
        .await;
    let lb_id = lb.expect_ok()["id"].as_str().unwrap_or_default().to_owned();
    let got = env.get(&format!("{}/{pool}", env.pools_path())).await;
    let p: Pool = serde_json::from_value(got.expect_ok().clone()).expect("pool decodes");
    assert!(p.enabled && p.origins[0].enabled && p.origins[0].weight == 1.0);
    let listed = env.get(&env.lbs_path()).await;
    let lbs: Vec<LoadBalancer> =
        serde_json::from_value(listed.expect_ok().clone()).expect("LBs decode");
    assert_eq!(lbs.len(), 1);
    assert_eq!(
        (
            &lbs[0].id,
            &lbs[0].default_pools,
            &lbs[0].fallback_pool,
            lbs[0].proxied
        ),
        (&lb_id, &vec![pool.clone()], &pool, false)
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let env = start(EmulatorConfig {
        rate_limit: 10,
        rate_window: Duration::from_secs(2),
        ..EmulatorConfig::default()
    })
    .await;
    for i in 0..10 {
        let a = env.get("/zones").await;
        a.expect_ok();
        let header = a.header("ratelimit").unwrap_or_default();
        let prefix = format!("\"default\";r={};t=", 9 - i);
        let reset: u64 = header
            .strip_prefix(&prefix)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        assert!((1..=2).contains(&reset), "ratelimit header {header:?}");
        assert_eq!(
            a.header("ratelimit-policy").as_deref(),
            Some("\"default\";q=10;w=2")
        );
    }
    let limited = env.get("/zones").await;
    limited.expect_err(429, codes::RATE_LIMITED);
    assert_eq!(
        limited.message(),
        "More than 10 requests per 2 seconds reached. Please wait and consider throttling your request speed"
    );
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=2).contains(&retry), "retry-after {retry}");

    // Budgets are per token.
    env.call_as(Some("another"), Method::GET, "/zones", None)
        .await
        .expect_ok();

    // Waiting what Retry-After says is enough: the window is a time limit, not a sync point.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    env.get("/zones").await.expect_ok();
}

#[tokio::test]
async fn injected_faults_apply_to_the_next_matching_calls() {
    let env = default_env().await;
    let lbs = "/client/v4/zones/*/load_balancers";
    env.emu
        .inject_fault(FaultSpec::new("GET", lbs, 1, FaultAction::rate_limited(2)))
        .expect("valid fault");
    let a = env.get(&env.lbs_path()).await;
    a.expect_err(429, codes::RATE_LIMITED);
    assert_eq!(a.header("retry-after").as_deref(), Some("2"));
    env.get(&env.lbs_path()).await.expect_ok();

    // Through the admin API, two 503s on any method.
    let admin = env
        .http
        .post(format!("{}/faults", env.emu.admin_url()))
        .json(&json!({"method": "*", "path": lbs, "count": 2, "action": {"status": 503}}))
        .send()
        .await
        .expect("admin answers");
    assert_eq!(admin.status(), StatusCode::CREATED);
    env.get(&env.lbs_path())
        .await
        .expect_err(503, codes::INJECTED_FAULT);
    env.get(&env.lbs_path())
        .await
        .expect_err(503, codes::INJECTED_FAULT);
    env.get(&env.lbs_path()).await.expect_ok();
    // Unmatched paths were never affected.
    env.get("/zones").await.expect_ok();

    env.emu
        .inject_fault(FaultSpec::new(
            "GET",
            "/client/v4/zones",
            1,
            FaultAction::latency(300),
        ))
        .expect("valid fault");
    let t0 = Instant::now();
    env.get("/zones").await.expect_ok();
    assert!(t0.elapsed() >= Duration::from_millis(300));

    env.emu
        .inject_fault(FaultSpec::new(
            "POST",
            "/client/v4/zones/*/dns_records",
            1,
            FaultAction::drop_connection(),
        ))
        .expect("valid fault");
    let dropped = env
        .http
        .post(format!("{}{}", env.emu.base_url(), env.records_path()))
        .bearer_auth(TOKEN)
        .json(&json!({"type": "A", "name": "d", "content": "192.0.2.1"}))
        .send()
        .await;
    let err = dropped.expect_err("the connection closes without an answer");
    assert!(err.status().is_none(), "no HTTP status: {err:?}");
    assert!(
        env.emu.records(&env.zone).is_empty(),
        "a dropped call did nothing"
    );

    let calls = env.emu.call_log();
    let last = calls.last().cloned().expect("logged");
    assert_eq!(last.method, "POST");
    assert_eq!(last.status, None);
    assert_eq!(last.fault.as_deref(), Some("drop"));
    assert_eq!(last.route, "/client/v4/zones/{zone_id}/dns_records");
    let fp = last.token_fingerprint.unwrap_or_default();
    assert_eq!(fp.len(), 8);
    assert!(!TOKEN.contains(&fp));
    assert!(calls.windows(2).all(|w| w[0].seq < w[1].seq));

    let counters = env.emu.counters();
    let lb_503 = counters
        .iter()
        .find(|c| c.route == "/client/v4/zones/{zone_id}/load_balancers" && c.status == Some(503))
        .map(|c| c.count);
    assert_eq!(lb_503, Some(2));
    env.emu.reset_calls();
    assert!(env.emu.call_log().is_empty());
}

#[tokio::test]
async fn restricted_tokens_and_missing_credentials() {
    let env = start(EmulatorConfig {
        tokens: vec!["good".to_owned()],
        ..EmulatorConfig::default()
    })
    .await;
    env.call_as(Some("bad"), Method::GET, "/zones", None)
        .await
        .expect_err(403, codes::INVALID_TOKEN);
    env.call_as(None, Method::GET, "/zones", None)
        .await
        .expect_err(400, codes::MISSING_AUTH_EMAIL);
    let verify = env
        .call_as(Some("good"), Method::GET, "/user/tokens/verify", None)
        .await;
    let result = verify.expect_ok();
    assert_eq!(result["status"], "active");
    assert_eq!(result["id"].as_str().map(str::len), Some(32));
    let account_verify = env
        .call_as(
            Some("good"),
            Method::GET,
            &format!("/accounts/{}/tokens/verify", env.account),
            None,
        )
        .await;
    assert_eq!(account_verify.expect_ok()["id"], result["id"]);
}

#[tokio::test]
async fn routing_and_body_errors_use_the_envelope() {
    let env = default_env().await;
    env.get("/nope").await.expect_err(404, codes::NO_ROUTE);
    env.call(Method::DELETE, "/zones", None)
        .await
        .expect_err(405, codes::METHOD_NOT_ALLOWED);
    let malformed = env
        .http
        .post(format!("{}{}", env.emu.base_url(), env.records_path()))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answered");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], codes::MALFORMED_JSON);
    env.get(&format!(
        "/accounts/{}/load_balancers/pools",
        "0".repeat(32)
    ))
    .await
    .expect_err(403, codes::INVALID_TOKEN);
}

#[tokio::test]
async fn export_writes_a_bind_zone() {
    let env = default_env().await;
    env.create_record(json!({"type": "A", "name": "www", "content": "192.0.2.1", "ttl": 300}))
        .await
        .expect_ok();
    env.create_record(
        json!({"type": "MX", "name": "@", "content": "mail.example.com", "priority": 10}),
    )
    .await
    .expect_ok();
    let a = env.get(&format!("{}/export", env.records_path())).await;
    assert_eq!(a.status, StatusCode::OK);
    let text = a.body.as_str().unwrap_or_default();
    assert!(text.contains("$ORIGIN example.com."), "{text}");
    assert!(
        text.contains("www.example.com.\t300\tIN\tA\t192.0.2.1"),
        "{text}"
    );
    assert!(
        text.contains("example.com.\t1\tIN\tMX\t10 mail.example.com."),
        "{text}"
    );
}

#[tokio::test]
async fn admin_api_adds_zones_and_replaces_state() {
    let env = default_env().await;
    let admin = env.emu.admin_url();
    let zone: Value = env
        .http
        .post(format!("{admin}/zones"))
        .json(&json!({"name": "added.example", "plan": "business"}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(zone["plan"]["legacy_id"], "business");
    assert_eq!(
        env.emu.zone_id("added.example"),
        zone["id"].as_str().map(str::to_owned)
    );

    let mut state: Value = env
        .http
        .get(format!("{admin}/state"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    let zid = env.zone.clone();
    state["records"] = json!([{
        "id": "0123456789abcdef0123456789abcdef", "zone_id": zid, "name": "seeded.example.com",
        "type": "TXT", "content": "hello", "created_on": "2024-01-01T00:00:00Z", "modified_on": "2024-01-01T00:00:00Z"
    }]);
    let put = env
        .http
        .put(format!("{admin}/state"))
        .json(&state)
        .send()
        .await
        .expect("answered");
    assert_eq!(put.status(), StatusCode::OK);
    let listed = env.get(&env.records_path()).await;
    assert_eq!(listed.expect_ok()[0]["name"], "seeded.example.com");

    let calls: Value = env
        .http
        .get(format!("{admin}/calls"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(
        calls.as_array().map(Vec::len),
        Some(1),
        "admin calls are not logged"
    );
    assert_eq!(calls[0]["status"], 200);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("state.json");
    let config = EmulatorConfig {
        state_file: Some(file.clone()),
        ..EmulatorConfig::default()
    };
    let env = start(config.clone()).await;
    let rec = env
        .create_record(json!({"type": "A", "name": "kept", "content": "192.0.2.7"}))
        .await;
    let rec_id = rec.expect_ok()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let pool = env.pool_id("kept", true).await;
    let zone = env.zone.clone();
    env.emu.shutdown().await;
    assert!(file.exists());

    let env = start(config).await;
    assert_eq!(env.zone, zone, "zone IDs are stable across restarts");
    let got = env.get(&format!("{}/{rec_id}", env.records_path())).await;
    assert_eq!(got.expect_ok()["content"], "192.0.2.7");
    let got = env.get(&format!("{}/{pool}", env.pools_path())).await;
    assert_eq!(got.expect_ok()["name"], "kept");
    let fresh = env.pool_id("fresh", false).await;
    assert_ne!(fresh, pool);
    assert_eq!(env.emu.pools().len(), 2);
}
