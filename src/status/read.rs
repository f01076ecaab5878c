//! The effectful edge of the status: reads the zone, the pools, the load balancers and each
//! shown pool's health from Cloudflare (reads only), then builds the model. Also the status
//! source the admin server's `/status` uses: the same read, shared and kept for a few seconds.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::StatusError;
use super::model::{self, Observed, Status};
use crate::cloudflare::Client;

/// Health reads in flight at once: a few, so a big account does not burst the shared budget.
const HEALTH_CONCURRENCY: usize = 4;

/// How long the admin server reuses a status: a page left open refreshes every 30 s, and
/// several open pages or scrapes within this time cost one read.
pub const STATUS_MAX_AGE: Duration = Duration::from_secs(20);

/// Reads the status of the zone's cfgeo load balancers (only `only_host` when set). A failed
/// read of the zone, pools or load balancers fails the whole status; a pool whose health
/// cannot be read shows health `unknown` with the reason.
pub async fn read_status(
    client: &Client,
    account_id: &str,
    zone_id: &str,
    only_host: Option<&str>,
) -> Result<Status, StatusError> {
    let read = |what| move |error| StatusError::Read { what, error };
    let (zone, pools, lbs) = tokio::try_join!(
        async { client.get_zone(zone_id).await.map_err(read("zone")) },
        async { client.list_pools(account_id).await.map_err(read("pools")) },
        async {
            client
                .list_load_balancers(zone_id)
                .await
                .map_err(read("load balancers"))
        },
    )?;
    let read_at = jiff::Timestamp::now();
    let ids = model::health_needed(&pools, &lbs, only_host);
    let health: BTreeMap<String, _> = futures::stream::iter(ids)
        .map(|id| async move {
            let h = client
                .pool_health(account_id, &id)
                .await
                .map_err(|e| e.to_string());
            (id, h)
        })
        .buffer_unordered(HEALTH_CONCURRENCY)
        .collect()
        .await;
    Ok(model::build(&Observed {
        zone: &zone.name,
        pools: &pools,
        lbs: &lbs,
        health: &health,
        only_host,
        read_at,
    }))
}

/// A future of a status.
pub type StatusFuture = Pin<Box<dyn Future<Output = Result<Arc<Status>, Arc<StatusError>>> + Send>>;

/// Where the admin server gets the status it shows: called once per request.
pub type StatusSource = Arc<dyn Fn() -> StatusFuture + Send + Sync>;

/// A status source reading Cloudflare with `client` (the run's client, so its calls count in
/// the same rate budget and metrics). One read at a time; a status younger than `max_age` is
/// reused, and so is a failure, so a broken token does not turn every refresh into calls.
pub fn cached_source(
    client: Client,
    account_id: String,
    zone_id: String,
    max_age: Duration,
) -> StatusSource {
    type Cached = Option<(Instant, Result<Arc<Status>, Arc<StatusError>>)>;
    let cache: Arc<Mutex<Cached>> = Arc::new(Mutex::new(None));
    Arc::new(move || {
        let (client, account_id, zone_id, cache) = (
            client.clone(),
            account_id.clone(),
            zone_id.clone(),
            cache.clone(),
        );
        Box::pin(async move {
            // Held across the read: concurrent requests wait for one read instead of each
            // making their own.
            let mut slot = cache.lock().await;
            if let Some((at, r)) = slot.as_ref()
                && at.elapsed() < max_age
            {
                return r.clone();
            }
            let r = read_status(&client, &account_id, &zone_id, None)
                .await
                .map(Arc::new)
                .map_err(Arc::new);
            if let Err(e) = &r {
                tracing::warn!(error = %e, "status page: reading Cloudflare failed");
            }
            *slot = Some((Instant::now(), r.clone()));
            r
        })
    })
}
