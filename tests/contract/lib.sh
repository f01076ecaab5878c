# Shared helpers of the contract test runners (sourced, not run).
#
# Environment:
#   CFGEO_BIN         use this cfgeo binary instead of building one
#   CFGEO_NO_BUILD=1  do not run `cargo build`; use the binary already in the target dir
#   CARGO_TARGET_DIR  as for cargo (default: target)

contract_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$contract_dir/../.." && pwd)"
tools_dir="${CFGEO_CONTRACT_TOOLS:-$repo_root/target/contract-tools}"
venv_python="$tools_dir/venv/bin/python"
prism_bin="$tools_dir/node/node_modules/.bin/prism"

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/cfgeo-contract.XXXXXX")"
bg_pids=()

log() { echo "[contract] $*" >&2; }

cleanup() {
    local pid
    for pid in "${bg_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${bg_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need_tools() {
    if [ ! -x "$venv_python" ] || { [ "${1:-}" = prism ] && [ ! -x "$prism_bin" ]; }; then
        log "contract tools missing; installing them with scripts/contract-tools.sh"
        "$repo_root/scripts/contract-tools.sh" >&2
    fi
}

# Sets $cfgeo_bin, building it with cargo unless told not to.
locate_cfgeo() {
    if [ -n "${CFGEO_BIN:-}" ]; then
        cfgeo_bin="$CFGEO_BIN"
    else
        local target="${CARGO_TARGET_DIR:-$repo_root/target}"
        case "$target" in /*) ;; *) target="$repo_root/$target" ;; esac
        cfgeo_bin="$target/debug/cfgeo"
        if [ "${CFGEO_NO_BUILD:-}" != 1 ] || [ ! -x "$cfgeo_bin" ]; then
            log "cargo build --bin cfgeo"
            (cd "$repo_root" && cargo build --quiet --bin cfgeo) >&2
        fi
    fi
    [ -x "$cfgeo_bin" ] || { log "no cfgeo binary at $cfgeo_bin"; exit 1; }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL PID NAME [CURL_ARGS...]: polls URL until it answers (any HTTP status), for up to
# ~10 s, failing early if PID exits.
wait_http() {
    local url="$1" pid="$2" name="$3"
    shift 3
    local i
    for i in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before it was ready; its log:"
            tail -n 40 "$work_dir/$name.log" >&2 || true
            exit 1
        fi
        if curl -s -o /dev/null --max-time 1 "$@" "$url"; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer $url within 10 s; its log:"
    tail -n 40 "$work_dir/$name.log" >&2 || true
    exit 1
}

# start_emulator NAME [EXTRA_FLAGS...]: starts `cfgeo emulator` on a free port; sets
# $emu_port and $emu_url (…/client/v4).
start_emulator() {
    local name="$1"
    shift
    emu_port="$(free_port)"
    "$cfgeo_bin" emulator --listen "127.0.0.1:$emu_port" "$@" >"$work_dir/$name.log" 2>&1 &
    local pid=$!
    bg_pids+=("$pid")
    emu_url="http://127.0.0.1:$emu_port/client/v4"
    # Only a 2xx on GET /zones counts: a restricted emulator is polled with its own token.
    local tok="${EMU_READY_TOKEN:-contract-ready}" i
    for i in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before it was ready; its log:"
            tail -n 40 "$work_dir/$name.log" >&2 || true
            exit 1
        fi
        if curl -sf -o /dev/null --max-time 1 -H "Authorization: Bearer $tok" "$emu_url/zones"; then
            log "$name ready at $emu_url (pid $pid, log $work_dir/$name.log)"
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer GET $emu_url/zones within 10 s; its log:"
    tail -n 40 "$work_dir/$name.log" >&2 || true
    exit 1
}
