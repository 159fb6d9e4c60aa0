#!/usr/bin/env bash
# bench_scale.sh: CLI answers and daemon start-up with 10,000 files and 1,000 peers in the
# database (issue 8, "Scale"). Prints figures (median of RUNS runs each), with baselines
# measured in the same run; not a test (tests/integration/t_scale_smoke.sh is the test).
#
# Env:  FILES=10000 PEERS=1000 SIZE=4096  RUNS=5
#       PEER_KIND=blackhole|refused   where the inserted peers point: 192.0.2.0/24 (no
#                            answer: dials wait for their timeout) or closed loopback ports
#       BENCH_TMP=/var/tmp/p2p-bench  P2P_BIN=build/p2p
#       WATCH=10             seconds to watch the daemon with the 1,000 unreachable peers
#
# Populate: FILES files of SIZE bytes through the HTTP API (tests/load/p2pload, 16 clients,
# distinct bodies), then, daemon stopped, PEERS peers straight into the peers table
# (bench/scale_lib.sh: schema of db/db.c). Then, daemon running:
#   p2p files list, p2p files list --json, p2p peers, p2p peers --json, p2p shares (if it
#   exists): wall time from exec to exit, output to /dev/null
#   start-up: exec of `p2p serve` to the first 200 from GET /health (bench/ready.py)
# Baselines: sqlite3 CLI selecting the same rows; `p2p version` (process start); start-up
# of an empty data directory.
# Targets (issue 8): each command < 200 ms, start-up to ready < 200 ms.
# shellcheck disable=SC2015
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u -o pipefail
export LC_ALL=C

die() { echo "bench_scale: $*" >&2; exit 1; }
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

cd "$(dirname "$0")/.." || die "cannot cd to the source tree"
FILES=${FILES:-10000} PEERS=${PEERS:-1000} SIZE=${SIZE:-4096} RUNS=${RUNS:-5}
PEER_KIND=${PEER_KIND:-blackhole} WATCH=${WATCH:-10}
for c in curl jq sqlite3 python3 awk timeout; do command -v "$c" >/dev/null || die "missing '$c' (sh scripts/deps.sh)"; done
P2P_BIN=${P2P_BIN:-build/p2p}
[ -x "$P2P_BIN" ] || die "no p2p binary at $P2P_BIN (run make, or set P2P_BIN)"
P2P_BIN=$(realpath "$P2P_BIN")
LOAD=$(sh tests/load/build.sh) || die "cannot build tests/load/p2pload"
# shellcheck source=bench/scale_lib.sh
. bench/scale_lib.sh
unset P2P_DB

mkdir -p "${BENCH_TMP:=/var/tmp/p2p-bench}" || die "cannot create $BENCH_TMP"
W=$(mktemp -d "$(realpath "$BENCH_TMP")/scale.XXXXXX") || die "mktemp failed"
NPID=
cleanup() {
	if [ -n "$NPID" ]; then kill -9 "$NPID" 2>/dev/null; fi
	rm -rf "$W"
	rmdir "$BENCH_TMP" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

# start DIR: start a node (API on a fresh port) and time exec -> /health 200; sets NPID,
# PORT, READY_MS
start() {
	local out
	PORT=$(freeport) || die "no free port"
	out=$(python3 bench/ready.py "$PORT" "$1/log" "$P2P_BIN" --db "$1/p2p.db" serve \
		--api "127.0.0.1:$PORT" --listen 127.0.0.1:0 --no-mdns) || { tail -5 "$1/log"; die "start-up failed"; }
	READY_MS=${out% *} NPID=${out#* }
}
# stop: SIGTERM, wait up to 30 s for the process to go; sets STOP_MS
stop() {
	local t0=$EPOCHREALTIME i
	kill -TERM "$NPID" 2>/dev/null
	for ((i = 0; i < 3000; i++)); do kill -0 "$NPID" 2>/dev/null || break; sleep 0.01; done
	kill -0 "$NPID" 2>/dev/null && die "daemon $NPID still alive 30 s after SIGTERM"
	STOP_MS=$(ms_since "$t0")
	NPID=
}
# timeit NAME CMD...: RUNS runs, output discarded; the median goes to MED[NAME]
declare -A MED ALL
timeit() {
	local name=$1 t0 r=() i rc; shift
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		"$@" >/dev/null 2>"$W/err"; rc=$?
		r+=("$(ms_since "$t0")")
		[ "$rc" = 0 ] || die "$name: exit $rc: $(head -3 "$W/err")"
	done
	MED[$name]=$(median "${r[@]}"); ALL[$name]="${r[*]}"
	log "  $name: median ${MED[$name]} ms (runs: ${r[*]})"
}
# cpu_ms PID: user + system CPU time of PID so far, ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"; }

log "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $FILES files of $SIZE B, $PEERS peers ($PEER_KIND), $RUNS runs per row"
if awk '{ exit !($1 > 0.5) }' /proc/loadavg; then
	log "WARNING: the machine is busy (other processes: $(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | tr -s ' ' | tr '\n' ',')); figures are pessimistic"
fi

# ---- baseline: start-up of an empty data directory --------------------------------------
E=$W/empty; mkdir -p "$E"
start "$E"; stop   # first start creates the identity, keys and schema
r=()
for ((i = 0; i < RUNS; i++)); do start "$E"; r+=("$READY_MS"); stop; done
MED[start_empty]=$(median "${r[@]}"); ALL[start_empty]="${r[*]}"
log "  start-up, empty data directory: median ${MED[start_empty]} ms (runs: ${r[*]})"

# ---- populate ---------------------------------------------------------------------------
D=$W/node; mkdir -p "$D"
start "$D"
log "populate: $FILES files through the API"
out=$("$LOAD" put --addr "127.0.0.1:$PORT" --conns 16 --count "$FILES" --size "$SIZE" \
	--prefix scale --keys-out "$W/keys" | tail -1) || die "populate: $out"
log "  $out"
n=$(curl -sf "http://127.0.0.1:$PORT/v1/status" | jq -r .files)
[ "$n" = "$FILES" ] || die "populate: status says $n files, want $FILES"
stop
scale_add_peers "$D/p2p.db" "$PEERS" "$PEER_KIND" || die "cannot insert peers"
n=$(scale_count "$D/p2p.db" "SELECT count(*) FROM peers")
[ "$n" = "$PEERS" ] || die "peers table has $n rows, want $PEERS"

# ---- start-up with FILES files and PEERS peers ------------------------------------------
log "start-up with $FILES files and $PEERS peers"
r=() s=()
for ((i = 0; i < RUNS; i++)); do start "$D"; r+=("$READY_MS"); sleep 0.5; stop; s+=("$STOP_MS"); done
MED[start_full]=$(median "${r[@]}"); ALL[start_full]="${r[*]}"
MED[stop_full]=$(median "${s[@]}"); ALL[stop_full]="${s[*]}"
log "  start-up: median ${MED[start_full]} ms (runs: ${r[*]}); SIGTERM to exit 0.5 s later: median ${MED[stop_full]} ms"

# ---- what the daemon does with PEERS unreachable peers ----------------------------------
start "$D"
log "watching the daemon for $WATCH s"
c0=$(cpu_ms "$NPID")
for ((i = 1; i <= WATCH; i++)); do
	sleep 1
	st=$(curl -sf --max-time 5 "http://127.0.0.1:$PORT/v1/status")
	printf '%s t=%2ds cpu=%sms fds=%s threads=%s links=%s known=%s health=%s\n' "$(date +%T)" "$i" \
		"$(( $(cpu_ms "$NPID") - c0 ))" "$(find "/proc/$NPID/fd" -mindepth 1 | wc -l)" \
		"$(find "/proc/$NPID/task" -mindepth 1 -maxdepth 1 | wc -l)" \
		"$(jq -r .peers.links <<<"$st")" "$(jq -r .peers.known <<<"$st")" \
		"$(curl -s -o /dev/null -w '%{http_code}/%{time_total}s' "http://127.0.0.1:$PORT/health")"
done | tee "$W/watch" >&2
WATCH_CPU=$(( $(cpu_ms "$NPID") - c0 ))
DIAL_LOG=$(grep -ci 'dial\|connect' "$D/log")
log "  daemon CPU over $WATCH s: $WATCH_CPU ms; log lines about dials/connects so far: $DIAL_LOG"

# ---- commands, daemon running -----------------------------------------------------------
log "commands (daemon running)"
p() { "$P2P_BIN" --db "$D/p2p.db" "$@"; }
nf=$(p files list --json | jq 'if type == "array" then length else .files | length end')
[ "$nf" = "$FILES" ] || die "files list --json lists $nf files, want $FILES"
np=$(p peers --json | jq 'if type == "array" then length else .peers | length end')
timeit files_list p files list
timeit files_list_json p files list --json
timeit peers p peers
timeit peers_json p peers --json
if p shares --help >/dev/null 2>&1; then
	timeit shares p shares
	SHARES_NOTE=
else
	SHARES_NOTE="p2p shares does not exist in this build (skipped)"
	log "  $SHARES_NOTE"
fi
timeit status p status
timeit version p version
timeit sqlite_files sqlite3 -cmd '.timeout 10000' "$D/p2p.db" \
	"SELECT key, size, nchunks, printf('%016x', version), hex(file_hash), created_ms FROM files WHERE deleted = 0 ORDER BY key"
timeit sqlite_peers sqlite3 -cmd '.timeout 10000' "$D/p2p.db" \
	"SELECT hex(id), addr, transport, status, first_seen_ms, last_seen_ms, failures, rtt_us FROM peers ORDER BY id"
stop
log "commands (daemon stopped: read from the database)"
timeit files_list_nod p files list
timeit peers_nod p peers

# ---- figures ------------------------------------------------------------------------------
met() { awk -v v="$1" 'BEGIN { print (v < 200) ? "met" : "MISSED" }'; }
echo
echo "scale: $(nproc) CPUs (load average at start $(cut -d' ' -f1-3 /proc/loadavg)), $FILES files, $PEERS peers ($PEER_KIND), median of $RUNS runs, ms"
row() { printf '%-48s %9s   %-7s %s\n' "$1" "$2" "${3:-}" "${4:-}"; }
row "p2p files list  (daemon running)" "${MED[files_list]}" "$(met "${MED[files_list]}")" "(runs: ${ALL[files_list]})"
row "p2p files list --json" "${MED[files_list_json]}" "$(met "${MED[files_list_json]}")"
row "p2p files list  (no daemon)" "${MED[files_list_nod]}" "$(met "${MED[files_list_nod]}")"
row "  baseline: sqlite3 CLI, same $FILES rows" "${MED[sqlite_files]}"
row "p2p peers       (daemon running; lists $np)" "${MED[peers]}" "$(met "${MED[peers]}")" "(runs: ${ALL[peers]})"
row "p2p peers --json" "${MED[peers_json]}" "$(met "${MED[peers_json]}")"
row "p2p peers       (no daemon)" "${MED[peers_nod]}" "$(met "${MED[peers_nod]}")"
row "  baseline: sqlite3 CLI, same $PEERS rows" "${MED[sqlite_peers]}"
if [ -n "$SHARES_NOTE" ]; then row "p2p shares" "-" "skipped" "$SHARES_NOTE"
else row "p2p shares" "${MED[shares]}" "$(met "${MED[shares]}")"; fi
row "p2p status" "${MED[status]}"
row "  baseline: p2p version (process start)" "${MED[version]}"
row "start-up to /health 200 ($FILES files, $PEERS peers)" "${MED[start_full]}" "$(met "${MED[start_full]}")" "(runs: ${ALL[start_full]})"
row "  baseline: start-up, empty data directory" "${MED[start_empty]}" "" "(runs: ${ALL[start_empty]})"
row "SIGTERM to exit ($PEERS peers being dialled)" "${MED[stop_full]}"
echo "with $PEERS unreachable peers: daemon CPU ${WATCH_CPU} ms over ${WATCH} s; last sample: $(tail -1 "$W/watch" | cut -d' ' -f2-)"
