#!/usr/bin/env bash
# Second line of defence for the emulator's contract: one curl exchange per operation of
# tests/contract/openapi-subset.relaxed.json (and a few documented errors), sent through Prism,
# which validates the request and the emulator's response against Cloudflare's schema. An exchange
# fails when Prism answers 422 (request broke the schema) or 500 with a `validation` list
# (response broke it), or when the status is not the one expected. All exchanges run; the
# violations are printed with Prism's messages.
#
#   tests/contract/prism_smoke.sh      starts the emulator and Prism itself (via prism.sh)
#
# Inside prism.sh (CFGEO_PRISM_URL set) it talks to that Prism.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${CFGEO_PRISM_URL:-}" ]; then
    exec "$here/prism.sh" "$here/prism_smoke.sh" "$@"
fi

P="${CFGEO_PRISM_URL%/}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/prism-smoke.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
run="s$RANDOM$RANDOM"
passed=0
failed=0
failures=()

# jget EXPR: evaluates a Python expression over the last response body `b` (parsed JSON).
jget() {
    python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$tmp/body" "$1"
}

# call NAME WANT_STATUS METHOD PATH [JSON_BODY]
call() {
    local name="$1" want="$2" method="$3" path="$4" data="${5:-}"
    local args=(-s -o "$tmp/body" -w '%{http_code} %{content_type}' -X "$method"
        -H "Authorization: Bearer prism-smoke-token" -H "Accept: application/json")
    if [ -n "$data" ]; then
        args+=(-H "Content-Type: application/json" --data "$data")
    fi
    local out code ctype
    out="$(curl "${args[@]}" "$P$path" || echo "000 none")"
    code="${out%% *}"
    ctype="${out#* }"
    if [[ "$ctype" == application/problem+json* ]] && { [ "$code" = 422 ] || [ "$code" = 500 ]; }; then
        failed=$((failed + 1))
        local what="response"
        [ "$code" = 422 ] && what="request"
        failures+=("$name: $method $path -> Prism $code ($what violates the schema)")
        echo "FAIL $name: $method $path -> Prism $code: $what violates the schema" >&2
        python3 - "$tmp/body" >&2 <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
seen = set()
for v in b.get("validation", []):
    line = "/".join(str(x) for x in v.get("location", [])) + " - " + str(v.get("message"))
    if line not in seen:
        seen.add(line)
        print("     ", line)
EOF
        return 1
    fi
    if [ "$code" != "$want" ]; then
        failed=$((failed + 1))
        failures+=("$name: $method $path -> HTTP $code, expected $want")
        echo "FAIL $name: $method $path -> HTTP $code, expected $want: $(head -c 600 "$tmp/body")" >&2
        return 1
    fi
    passed=$((passed + 1))
    echo "ok   $name ($method $path -> $code)"
}

# Setup exchanges must succeed for the later ones to mean anything.
must() { call "$@" || { echo "cannot go on without: $1" >&2; summary; exit 1; }; }

summary() {
    if [ "${#failures[@]}" -gt 0 ]; then
        echo "prism_smoke failures:" >&2
        printf '  %s\n' "${failures[@]}" >&2
    fi
    echo "prism_smoke: $passed passed, $failed failed"
}

# --- zones, token ------------------------------------------------------------------------------
must "user.tokens.verify" 200 GET /user/tokens/verify
must "zones.list" 200 GET "/zones?name=example.com&page=1&per_page=20"
ZONE="$(jget 'b["result"][0]["id"]')"
ACCOUNT="$(jget 'b["result"][0]["account"]["id"]')"
call "zones.list (no filter)" 200 GET /zones || true
call "zones.get" 200 GET "/zones/$ZONE" || true
call "zones.get unknown" 404 GET "/zones/00000000000000000000000000000000" || true

# --- DNS records ---------------------------------------------------------------------------------
Z="/zones/$ZONE/dns_records"
must "dns.create A" 200 POST "$Z" \
    "{\"type\":\"A\",\"name\":\"a-$run.example.com\",\"content\":\"192.0.2.1\",\"ttl\":1,\"proxied\":true,\"comment\":\"smoke\",\"tags\":[\"owner:cfgeo\"]}"
A_ID="$(jget 'b["result"]["id"]')"
call "dns.create AAAA" 200 POST "$Z" \
    "{\"type\":\"AAAA\",\"name\":\"aaaa-$run.example.com\",\"content\":\"2001:db8::1\",\"ttl\":300}" || true
call "dns.create CNAME" 200 POST "$Z" \
    "{\"type\":\"CNAME\",\"name\":\"www-$run.example.com\",\"content\":\"a-$run.example.com\",\"ttl\":1,\"proxied\":true}" || true
must "dns.create TXT" 200 POST "$Z" \
    "{\"type\":\"TXT\",\"name\":\"txt-$run.example.com\",\"content\":\"\\\"hello\\\"\",\"ttl\":120}"
TXT_ID="$(jget 'b["result"]["id"]')"
call "dns.create duplicate" 400 POST "$Z" \
    "{\"type\":\"A\",\"name\":\"a-$run.example.com\",\"content\":\"192.0.2.1\",\"ttl\":1,\"proxied\":true}" || true
call "dns.create CNAME conflict" 400 POST "$Z" \
    "{\"type\":\"CNAME\",\"name\":\"a-$run.example.com\",\"content\":\"x.example.net\",\"ttl\":1}" || true
call "dns.create outside zone" 400 POST "$Z" \
    "{\"type\":\"A\",\"name\":\"a-$run.example.org\",\"content\":\"192.0.2.1\",\"ttl\":1}" || true
call "dns.list" 200 GET "$Z?per_page=5&page=1" || true
call "dns.list past the end" 200 GET "$Z?per_page=5&page=100000" || true
call "dns.list filtered" 200 GET "$Z?type=A&name=a-$run.example.com&proxied=true&match=all" || true
call "dns.get" 200 GET "$Z/$A_ID" || true
call "dns.get unknown" 404 GET "$Z/ffffffffffffffffffffffffffffffff" || true
# The 2024 schema wants type and name on PATCH too (the SDK sends them as well).
call "dns.patch" 200 PATCH "$Z/$A_ID" "{\"type\":\"A\",\"name\":\"a-$run.example.com\",\"content\":\"192.0.2.2\"}" || true
call "dns.put" 200 PUT "$Z/$A_ID" \
    "{\"type\":\"A\",\"name\":\"a-$run.example.com\",\"content\":\"192.0.2.3\",\"ttl\":600,\"proxied\":false}" || true
call "dns.export" 200 GET "$Z/export" || true
call "dns.delete" 200 DELETE "$Z/$TXT_ID" || true
call "dns.delete unknown" 404 DELETE "$Z/$TXT_ID" || true

# --- monitors ------------------------------------------------------------------------------------
M="/accounts/$ACCOUNT/load_balancers/monitors"
must "monitors.create" 200 POST "$M" \
    "{\"type\":\"https\",\"path\":\"/healthz\",\"expected_codes\":\"2xx\",\"method\":\"GET\",\"description\":\"mon-$run\",\"header\":{\"Host\":[\"a.example.com\"]}}"
MON="$(jget 'b["result"]["id"]')"
call "monitors.list" 200 GET "$M" || true
call "monitors.get" 200 GET "$M/$MON" || true
# The 2024 schema requires expected_codes on monitor PATCH bodies.
call "monitors.patch" 200 PATCH "$M/$MON" "{\"expected_codes\":\"2xx\",\"description\":\"patched\"}" || true
call "monitors.put" 200 PUT "$M/$MON" "{\"type\":\"http\",\"path\":\"/\",\"expected_codes\":\"200\"}" || true
call "monitors.get unknown" 404 GET "$M/ffffffffffffffffffffffffffffffff" || true

# --- pools ---------------------------------------------------------------------------------------
PL="/accounts/$ACCOUNT/load_balancers/pools"
must "pools.create eu" 200 POST "$PL" \
    "{\"name\":\"eu-$run\",\"description\":\"keep\",\"monitor\":\"$MON\",\"latitude\":50.11,\"longitude\":8.68,\"origins\":[{\"name\":\"zeta\",\"address\":\"192.0.2.51\",\"enabled\":true,\"weight\":0.5},{\"name\":\"alpha\",\"address\":\"192.0.2.52\",\"header\":{\"Host\":[\"a.example.com\"]}}]}"
EU="$(jget 'b["result"]["id"]')"
must "pools.create us" 200 POST "$PL" \
    "{\"name\":\"us-$run\",\"latitude\":37.77,\"longitude\":-122.42,\"origins\":[{\"name\":\"o1\",\"address\":\"192.0.2.61\"}]}"
US="$(jget 'b["result"]["id"]')"
call "pools.list" 200 GET "$PL" || true
call "pools.list by monitor" 200 GET "$PL?monitor=$MON" || true
call "pools.get" 200 GET "$PL/$EU" || true
call "pools.patch" 200 PATCH "$PL/$US" "{\"description\":\"patched\",\"enabled\":true}" || true
call "pools.put" 200 PUT "$PL/$US" \
    "{\"name\":\"us-$run\",\"latitude\":37.77,\"longitude\":-122.42,\"origins\":[{\"name\":\"o1\",\"address\":\"192.0.2.61\"}]}" || true
call "pools.health" 200 GET "$PL/$EU/health" || true
call "pools.get unknown" 404 GET "$PL/ffffffffffffffffffffffffffffffff" || true

# --- load balancers ------------------------------------------------------------------------------
LB="/zones/$ZONE/load_balancers"
must "lb.create" 200 POST "$LB" \
    "{\"name\":\"lb-$run.example.com\",\"default_pools\":[\"$EU\",\"$US\"],\"fallback_pool\":\"$US\",\"steering_policy\":\"proximity\",\"proxied\":true,\"description\":\"smoke\"}"
LB_ID="$(jget 'b["result"]["id"]')"
call "lb.list" 200 GET "$LB" || true
call "lb.get" 200 GET "$LB/$LB_ID" || true
call "lb.patch" 200 PATCH "$LB/$LB_ID" "{\"default_pools\":[\"$US\",\"$EU\"]}" || true
call "lb.put" 200 PUT "$LB/$LB_ID" \
    "{\"name\":\"lb-$run.example.com\",\"default_pools\":[\"$EU\"],\"fallback_pool\":\"$EU\",\"steering_policy\":\"proximity\",\"proxied\":true}" || true
call "pools.references" 200 GET "$PL/$EU/references" || true
call "pools.delete referenced" 412 DELETE "$PL/$EU" || true
call "lb.get unknown" 404 GET "$LB/ffffffffffffffffffffffffffffffff" || true

# --- teardown ------------------------------------------------------------------------------------
call "lb.delete" 200 DELETE "$LB/$LB_ID" || true
call "pools.delete eu" 200 DELETE "$PL/$EU" || true
call "pools.delete us" 200 DELETE "$PL/$US" || true
call "monitors.delete" 200 DELETE "$M/$MON" || true
call "dns.delete A" 200 DELETE "$Z/$A_ID" || true

summary
[ "$failed" -eq 0 ]
