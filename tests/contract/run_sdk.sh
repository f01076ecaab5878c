#!/usr/bin/env bash
# Runs the official-SDK contract scripts against a fresh `cfgeo emulator`:
#   tests/contract/sdk_contract.py  every operation the emulator implements, strict validation
#   tests/contract/sdk_unseen.py    an outsider's script, strict validation
# A second emulator started with `--token` and `--rate-limit 20` (when the binary has those flags)
# serves the authentication and rate-limit checks. Exits non-zero on the first failure.
#
# Needs the tools of scripts/contract-tools.sh (installed on first use). See lib.sh for
# CFGEO_BIN / CFGEO_NO_BUILD.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools
locate_cfgeo

start_emulator emulator
export CFGEO_EMULATOR_URL="$emu_url"

if "$cfgeo_bin" emulator --help 2>/dev/null | grep -q -- '--token'; then
    restricted_token="contract-restricted-$RANDOM$RANDOM"
    # A small rate limit too, so the 429 check needs a handful of requests, not 1,200.
    EMU_READY_TOKEN="$restricted_token" start_emulator emulator-restricted --token "$restricted_token" \
        --rate-limit 20 --rate-window-secs 300
    export CFGEO_EMULATOR_RESTRICTED_URL="$emu_url" CFGEO_EMULATOR_RESTRICTED_TOKEN="$restricted_token" \
        CFGEO_EMULATOR_RESTRICTED_RATE_LIMIT=20
else
    log "cfgeo emulator has no --token flag: authentication check skipped"
fi

status=0
for script in sdk_contract.py sdk_unseen.py; do
    log "running $script against $CFGEO_EMULATOR_URL"
    if ! "$venv_python" "$contract_dir/$script" "$CFGEO_EMULATOR_URL"; then
        log "FAILED: $script"
        status=1
        break
    fi
done

if [ "$status" -ne 0 ]; then
    log "emulator log (last 40 lines):"
    tail -n 40 "$work_dir/emulator.log" >&2 || true
    echo "sdk contract: 0 passed, 1 failed"
else
    echo "sdk contract: 2 passed, 0 failed"
fi
exit "$status"
