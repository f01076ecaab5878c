#!/usr/bin/env python3
"""An "outsider's" script: written the way someone who only read Cloudflare's API docs and the
SDK README would, not against the emulator's code. It must pass against the emulator under strict
response validation, as it would against api.cloudflare.com.

    CFGEO_EMULATOR_URL=http://127.0.0.1:8787/client/v4 python sdk_unseen.py
"""

import os
import sys
import time

from cloudflare import Cloudflare

base_url = sys.argv[1] if len(sys.argv) > 1 else os.environ["CFGEO_EMULATOR_URL"]

client = Cloudflare(
    api_token=os.environ.get("CLOUDFLARE_API_TOKEN", "my-api-token"),
    base_url=base_url,
    max_retries=0,
    _strict_response_validation=True,
)

suffix = str(int(time.time() * 1000))[-8:]

# Find the zone and its account.
zone = next(z for z in client.zones.list() if z.name == "example.com")
account_id = zone.account.id
print("zone", zone.id, "account", account_id)

# --- DNS: create a few records -------------------------------------------------------------
created = []
for i in range(30):
    record = client.dns.records.create(
        zone_id=zone.id,
        type="A",
        name=f"host{i}-{suffix}.example.com",
        content=f"203.0.113.{i + 1}",
        ttl=3600,
        proxied=False,
        comment="demo",
    )
    created.append(record.id)
www = client.dns.records.create(
    zone_id=zone.id, type="CNAME", name=f"www-{suffix}.example.com",
    content=f"host0-{suffix}.example.com", ttl=1, proxied=True,
)
txt = client.dns.records.create(
    zone_id=zone.id, type="TXT", name=f"_verify-{suffix}.example.com", content='"v=verify1"', ttl=1,
)
created += [www.id, txt.id]

# --- DNS: page through everything, 7 per page ------------------------------------------------
seen = set()
for record in client.dns.records.list(zone_id=zone.id, per_page=7):
    assert record.id not in seen, f"record {record.id} listed twice"
    seen.add(record.id)
missing = set(created) - seen
assert not missing, f"records not listed: {missing}"
first = client.dns.records.list(zone_id=zone.id, per_page=7)
assert first.result_info.total_count == len(seen), (first.result_info, len(seen))
print("listed", len(seen), "records")

# --- DNS: one batch -------------------------------------------------------------------------
result = client.dns.records.batch(
    zone_id=zone.id,
    deletes=[{"id": created[0]}, {"id": created[1]}],
    patches=[{"id": created[2], "name": f"host2-{suffix}.example.com", "type": "A", "ttl": 3600, "proxied": True}],
    puts=[{"id": created[3], "name": f"host3-{suffix}.example.com", "type": "A", "ttl": 120, "content": "203.0.113.200"}],
    posts=[{"name": f"new-{suffix}.example.com", "type": "AAAA", "ttl": 1, "content": "2001:db8::1"}],
)
assert len(result.deletes) == 2 and len(result.patches) == 1 and len(result.puts) == 1 and len(result.posts) == 1, result
assert result.patches[0].proxied is True
assert result.puts[0].content == "203.0.113.200"
created = created[2:] + [result.posts[0].id]
print("batch ok")

# --- Load balancing: a monitor, two pools with coordinates, a proximity LB --------------------
monitor = client.load_balancers.monitors.create(
    account_id=account_id,
    type="http",
    method="GET",
    path="/health",
    expected_codes="200",
    interval=60,
    timeout=5,
    retries=2,
    description="demo monitor",
)
pool_a = client.load_balancers.pools.create(
    account_id=account_id,
    name=f"frankfurt-{suffix}",
    origins=[{"name": "fra-1", "address": "203.0.113.10", "enabled": True, "weight": 1}],
    monitor=monitor.id,
    latitude=50.1109,
    longitude=8.6821,
)
pool_b = client.load_balancers.pools.create(
    account_id=account_id,
    name=f"virginia-{suffix}",
    origins=[
        {"name": "iad-2", "address": "203.0.113.21", "enabled": True, "weight": 0.5},
        {"name": "iad-1", "address": "203.0.113.20", "enabled": True, "weight": 0.5},
    ],
    monitor=monitor.id,
    latitude=38.9519,
    longitude=-77.448,
)
lb = client.load_balancers.create(
    zone_id=zone.id,
    name=f"app-{suffix}.example.com",
    default_pools=[pool_a.id, pool_b.id],
    fallback_pool=pool_b.id,
    steering_policy="proximity",
    proxied=True,
)
assert lb.steering_policy == "proximity"
print("load balancer", lb.id, [p.name for p in client.load_balancers.pools.list(account_id=account_id)])

health = client.load_balancers.pools.health.get(pool_a.id, account_id=account_id)
refs = list(client.load_balancers.pools.references.get(pool_a.id, account_id=account_id))
assert any(r.resource_id == lb.id for r in refs), refs

# --- Clean up -------------------------------------------------------------------------------
client.load_balancers.delete(lb.id, zone_id=zone.id)
client.load_balancers.pools.delete(pool_a.id, account_id=account_id)
client.load_balancers.pools.delete(pool_b.id, account_id=account_id)
client.load_balancers.monitors.delete(monitor.id, account_id=account_id)
for record_id in created:
    client.dns.records.delete(record_id, zone_id=zone.id)
print("token", client.user.tokens.verify().status)
print("sdk_unseen: OK")
