#!/usr/bin/env bash
# Puts Stoplight Prism, validating against Cloudflare's own OpenAPI document
# (tests/contract/openapi-subset.relaxed.json), between a command and a fresh `cfgeo emulator`:
#
#   tests/contract/prism.sh COMMAND [ARGS...]
#
# The command runs with
#   CFGEO_PRISM_URL=http://127.0.0.1:<prism-port>/client/v4     (requests validated both ways)
#   CFGEO_EMULATOR_URL=http://127.0.0.1:<emulator-port>/client/v4
# and both servers are stopped when it ends; the exit status is the command's.
#
# Through Prism a request that breaks the schema gets HTTP 422 (not forwarded) and a response that
# breaks it HTTP 500, each with a `validation` list in an application/problem+json body; any such
# violation seen is also listed from Prism's log at the end (exit 1 if the command passed but
# Prism saw violations; set CFGEO_PRISM_ALLOW_VIOLATIONS=1 to keep the command's status).
#
# The schema's paths are relative to its server https://api.cloudflare.com/client/v4 and Prism
# does not strip a base path, so the runner serves a copy whose paths carry the /client/v4 prefix
# (nothing else changes). Operations absent from the 2024 schema (POST …/dns_records/batch,
# GET /accounts/{id}/tokens/verify) answer 404 NO_PATH_MATCHED_ERROR through Prism: call them on
# CFGEO_EMULATOR_URL.
#
# Needs the tools of scripts/contract-tools.sh (installed on first use). See lib.sh for
# CFGEO_BIN / CFGEO_NO_BUILD.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

need_tools prism
locate_cfgeo

start_emulator emulator
export CFGEO_EMULATOR_URL="$emu_url"

spec="$work_dir/openapi.prism.json"
python3 - "$contract_dir/openapi-subset.relaxed.json" "$spec" <<'EOF'
import json, sys
src, dst = sys.argv[1], sys.argv[2]
doc = json.load(open(src))
doc["paths"] = {"/client/v4" + p: v for p, v in doc["paths"].items()}
json.dump(doc, open(dst, "w"))
EOF

prism_port="$(free_port)"
"$prism_bin" proxy -h 127.0.0.1 -p "$prism_port" --errors "$spec" "http://127.0.0.1:$emu_port" \
    >"$work_dir/prism.log" 2>&1 &
prism_pid=$!
bg_pids+=("$prism_pid")
wait_http "http://127.0.0.1:$prism_port/client/v4/user/tokens/verify" "$prism_pid" prism \
    -H "Authorization: Bearer contract-ready"
export CFGEO_PRISM_URL="http://127.0.0.1:$prism_port/client/v4"
log "prism ready at $CFGEO_PRISM_URL -> $CFGEO_EMULATOR_URL (log $work_dir/prism.log)"

set +e
"$@"
status=$?
set -e

# Prism logs one line per rejected exchange (the details went to the client in the 422/500 body);
# list them so a run says which calls broke the contract.
violations="$(sed 's/\x1b\[[0-9;]*m//g' "$work_dir/prism.log" | grep -E 'errors#(VIOLATIONS|UNPROCESSABLE_ENTITY)' || true)"
if [ -n "$violations" ]; then
    log "Prism rejected these exchanges (VIOLATIONS = response broke the schema, UNPROCESSABLE_ENTITY = request did):"
    echo "$violations" >&2
    if [ "$status" -eq 0 ] && [ "${CFGEO_PRISM_ALLOW_VIOLATIONS:-}" != 1 ]; then
        status=1
    fi
fi
exit "$status"
