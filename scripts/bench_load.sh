#!/usr/bin/env bash
# bench_load.sh: many concurrent clients storing and getting small files through the HTTP
# control API (issue 8, "Load"). Prints figures, with the HTTP layer's ceiling measured in
# the same run; not a test (tests/integration/t_load_smoke.sh is the test).
#
# Env:  NNODES=1           nodes to start here when NODES is unset: 1 (one node), or 3 for
#                          the issue's 3-node network (one peer network on loopback,
#                          --replicas 3, a store answers at 2 copies; each node serves the
#                          API on its own port and the clients are spread over the three)
#       NODES=H:P[,H:P...]  control API addresses of running nodes (`serve --api H:P`);
#                          connections are spread over them round-robin and every key is
#                          read back from every node. Unset: start NNODES nodes here.
#       CONNS=64  DURATION=60 (seconds per phase)  SIZE=4096 (bytes per file)
#       RATE=R                the store phase offers R stores/s (open loop, wrk2's way:
#                          each request has a due time and its latency counts from it, so
#                          a stall is not hidden); unset: closed loop, each client sends as
#                          soon as it is answered (the ceiling; its mean latency is
#                          CONNS / rate by Little's law). GET_RATE=R: the same for gets
#       LAT_OUT=FILE          the store phase writes each request's start (s), latency (ms)
#                          and node there, one line each (to see when a tail happens)
#       VERIFY=all|sample     read back every stored key byte for byte (default), or a
#                          random sample of SAMPLE=20000 GETs plus `p2p verify`
#       BENCH_TMP=/var/tmp/p2p-bench   scratch root (the node's data directory: a disk)
#       P2P_BIN=...           the binary (default build/p2p)
#       SERVE_ARGS="..."     extra `serve` options for the nodes started here (e.g.
#                          "--anti-entropy 1h" to see what anti-entropy costs)
#       PERF=1                also record `perf record -g` of the (first) local daemon during
#                          the store phase (report in $BENCH_TMP/perf-put.txt, kept)
#
# Phases (each bounded):
#   baseline  wrk -t1 -c$CONNS -d10s GET /health         HTTP layer ceiling of the daemon
#   put       p2pload put: $CONNS clients, $DURATION s, unique key and distinct body per
#             request (the body is a function of the key, so dedup never shortcuts a store);
#             closed loop, or RATE stores/s offered; CPU time and bytes written to
#             storage per store, all the daemons started here together (/proc/PID/stat,
#             /proc/PID/io), and in a closed loop the mean latency Little's law implies;
#             per node, where its committer's time went (GET /metrics: busy, WAL writes
#             and syncs, checkpoints of its own)
#   get       p2pload get: $CONNS clients, $DURATION s, random stored keys, each body
#             compared byte for byte with what its key must hold
#   check     stores answered 201 = files with this run's prefix in GET /v1/files (per node);
#             every stored key read back from every node and compared (VERIFY=all), or
#             a random sample; `p2p verify` of every node started here
# Targets (issue 8): >= 5000 stores/s, p99 < 10 ms, zero errors, every file readable.
# Client and daemon share this machine's CPUs: the figures include the client's cost.
# shellcheck disable=SC2015
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u -o pipefail
export LC_ALL=C

die() { echo "bench_load: $*" >&2; exit 1; }
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

cd "$(dirname "$0")/.." || die "cannot cd to the source tree"
CONNS=${CONNS:-64} DURATION=${DURATION:-60} SIZE=${SIZE:-4096} VERIFY=${VERIFY:-all}
SAMPLE=${SAMPLE:-20000} NNODES=${NNODES:-1}
case $NNODES in [1-9]) ;; *) die "NNODES must be 1..9" ;; esac
case $VERIFY in all|sample) ;; *) die "VERIFY must be all or sample" ;; esac
for c in curl jq wrk awk timeout; do command -v "$c" >/dev/null || die "missing '$c' (sh scripts/deps.sh)"; done
P2P_BIN=${P2P_BIN:-build/p2p}
[ -x "$P2P_BIN" ] || die "no p2p binary at $P2P_BIN (run make, or set P2P_BIN)"
P2P_BIN=$(realpath "$P2P_BIN")
LOAD=$(sh tests/load/build.sh) || die "cannot build tests/load/p2pload"
unset P2P_DB

mkdir -p "${BENCH_TMP:=/var/tmp/p2p-bench}" || die "cannot create $BENCH_TMP"
W=$(mktemp -d "$(realpath "$BENCH_TMP")/load.XXXXXX") || die "mktemp failed"
NPID='' NPIDS=() DIRS=() PERFPID=''
cleanup() {
	[ -n "$PERFPID" ] && { kill -INT "$PERFPID" 2>/dev/null; wait "$PERFPID" 2>/dev/null; }
	for p in "${NPIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$W"
	rmdir "$BENCH_TMP" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [ -z "${NODES:-}" ]; then
	# node i: data $W/node<i>, API on loopback TCP; node 1 makes the network, the others
	# join it with its key and address
	for i in $(seq "$NNODES"); do
		PORT=$(freeport) || die "no free port"
		D=$W/node$i
		mkdir -p "$D"
		# shellcheck disable=SC2206
		args=(--api "127.0.0.1:$PORT" --listen 127.0.0.1:0 --no-mdns ${SERVE_ARGS:-})
		[ "$i" = 1 ] || args+=(--network-key "$W/node1/network.key" --bootstrap "$LISTEN1")
		"$P2P_BIN" --db "$D/p2p.db" serve "${args[@]}" >"$D/log" 2>&1 &
		NPIDS+=($!)
		DIRS+=("$D")
		for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
		curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { tail "$D/log"; die "node $i did not start"; }
		[ "$i" = 1 ] && LISTEN1=$(curl -sf "http://127.0.0.1:$PORT/v1/status" | jq -r '.listen[0]')
		NODES=${NODES:+$NODES,}127.0.0.1:$PORT
	done
	NPID=${NPIDS[0]} D=${DIRS[0]}
	if [ "$NNODES" -gt 1 ]; then
		for a in ${NODES//,/ }; do
			for _ in $(seq 200); do
				[ "$(curl -sf "http://$a/v1/status" | jq -r .peers.connected)" = $((NNODES - 1)) ] && break
				sleep 0.1
			done
			[ "$(curl -sf "http://$a/v1/status" | jq -r .peers.connected)" = $((NNODES - 1)) ] ||
				die "the node at $a is not connected to the $((NNODES - 1)) others"
		done
	fi
	log "started $NNODES node(s): $NODES, data under $W ($(df --output=fstype "$W" | tail -1))"
fi
IFS=, read -r -a ADDRS <<<"$NODES"
for a in "${ADDRS[@]}"; do
	curl -sf --max-time 5 "http://$a/health" >/dev/null || die "no /health at $a"
done
PREFIX=ld$(date +%s)$$
if awk '{ exit !($1 > 0.5) }' /proc/loadavg; then
	log "WARNING: the machine is busy (load average $(cut -d' ' -f1-3 /proc/loadavg); top: $(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | tr -s ' ' | tr '\n' ',')); figures are pessimistic"
fi
log "$(nproc) CPUs; nodes: ${ADDRS[*]}; $CONNS connections, $DURATION s per phase, $SIZE-byte files, prefix $PREFIX"

declare -A R
# parse KEY "RESULT ..." into R[KEY.field]
parse() {
	local k=$1 kv
	for kv in $2; do [[ $kv == *=* ]] && R[$k.${kv%%=*}]=${kv#*=}; done
}

# ---- baseline: the HTTP layer's ceiling (GET /health, a static reply) ----------------------
log "baseline: wrk GET /health"
wrk -t1 -c"$CONNS" -d10s --latency "http://${ADDRS[0]}/health" >"$W/wrk.txt" 2>&1 || die "wrk failed: $(cat "$W/wrk.txt")"
R[health.rate]=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$W/wrk.txt")
# wrk prints 512.00us, 9.41ms or 1.20s: to ms
wrk_ms() {
	awk -v p="$1" '$1 == p { v = $2; m = 1
		if (v ~ /us$/) m = 0.001; else if (v ~ /ms$/) m = 1; else if (v ~ /s$/) m = 1000
		gsub(/[a-z]+$/, "", v); printf "%.2f", v * m }' "$W/wrk.txt"
}
R[health.p99]=$(wrk_ms 99%)
R[health.p50]=$(wrk_ms 50%)
R[health.err]=$(awk '/Non-2xx|Socket errors/ {print}' "$W/wrk.txt" | tr '\n' ' ')
log "  ${R[health.rate]} req/s, p50 ${R[health.p50]} ms, p99 ${R[health.p99]} ms ${R[health.err]}"

# ---- store phase ----------------------------------------------------------------------------
files_before=()
for a in "${ADDRS[@]}"; do files_before+=("$(curl -sf "http://$a/v1/status" | jq -r .files)"); done
if [ "${PERF:-0}" = 1 ] && [ -n "$NPID" ]; then
	perf record -g -F 499 -p "$NPID" -o "$W/perf.data" >/dev/null 2>&1 &
	PERFPID=$!
	sleep 0.5
fi
# threads: per-thread CPU (user + system, ms) of the local daemon
threads() {
	local t
	for t in /proc/"$NPID"/task/*; do
		awk -v hz="$(getconf CLK_TCK)" -v id="${t##*/}" \
			'{ sub(/^[^(]*\(/, ""); split($0, a, ") "); split(a[2], f, " ");
			   printf "%s/%s %d\n", a[1], id, (f[12] + f[13]) * 1000 / hz }' "$t/stat"
	done
}
# cputotal: CPU time (user + system, ms) of all the daemons started here, threads included
cputotal() {
	local p
	for p in "${NPIDS[@]}"; do cat "/proc/$p/stat"; done |
		awk -v hz="$(getconf CLK_TCK)" '{ sub(/^[^)]*\) /, ""); s += $12 + $13 }
			END { printf "%d\n", s * 1000 / hz }'
}
[ -n "$NPID" ] && threads | sort >"$W/threads0"
# wbytes: bytes the daemons started here wrote to storage (/proc/PID/io write_bytes)
wbytes() {
	local p
	for p in "${NPIDS[@]}"; do cat "/proc/$p/io"; done |
		awk '$1 == "write_bytes:" { s += $2 } END { printf "%.0f\n", s }'
}
cpu0=$( [ "${#NPIDS[@]}" -gt 0 ] && cputotal) wb0=$( [ "${#NPIDS[@]}" -gt 0 ] && wbytes)
# committer: the daemons' own timings (GET /metrics), one line per node:
# batches, busy s, WAL s, own checkpoints, their s, checkpointer passes, their s
committer() {
	local a
	for a in "${ADDRS[@]}"; do
		curl -sf --max-time 5 "http://$a/metrics" | awk '
			{ v[$1] = $2 }
			END { printf "%s %s %s %s %s %s %s\n", v["p2p_commit_batches_total"] + 0,
				v["p2p_commit_seconds_total"] + 0, v["p2p_commit_wal_seconds_total"] + 0,
				v["p2p_checkpoint_stalls_total"] + 0,
				v["p2p_checkpoint_stall_seconds_total"] + 0,
				v["p2p_checkpoints_total"] + 0, v["p2p_checkpoint_seconds_total"] + 0 }'
	done
}
committer >"$W/commit0"
log "put: $CONNS clients for $DURATION s, ${RATE:+$RATE stores/s offered (open loop)}${RATE:-closed loop}"
out=$("$LOAD" put --addr "$NODES" --conns "$CONNS" --duration "$DURATION" --size "$SIZE" \
	--prefix "$PREFIX" --keys-out "$W/keys" --progress 10 ${RATE:+--rate "$RATE"} ${LAT_OUT:+--lat-out "$LAT_OUT"} | tail -1)
put_rc=$?
parse put "$out"
log "  $out"
if [ -n "$PERFPID" ]; then
	kill -INT "$PERFPID"; wait "$PERFPID"; PERFPID=
	perf report -i "$W/perf.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null |
		head -120 >"$BENCH_TMP/perf-put.txt"
	log "  perf report: $BENCH_TMP/perf-put.txt"
fi
stored=$(wc -l <"$W/keys")
committer >"$W/commit1"
# per node: share of the phase the committer was busy, in WAL writes and syncs, and
# stalled in checkpoints of its own (no store commits meanwhile)
paste -d' ' "$W/commit0" "$W/commit1" | awk -v s="$DURATION" '{
	b = $8 - $1; own = $11 - $4; ck = $13 - $6
	printf "  committer, node %d: %d batches, busy %.0f%% of the phase (WAL writes and syncs %.0f%%); %d checkpoints of its own, mean %.1f ms (%.1f%% of the phase); checkpointer: %d passes, mean %.1f ms\n",
		NR, b, ($9 - $2) * 100 / s, ($10 - $3) * 100 / s, own,
		(own > 0 ? ($12 - $5) * 1000 / own : 0), ($12 - $5) * 100 / s,
		ck, (ck > 0 ? ($14 - $7) * 1000 / ck : 0) }' >"$W/commit.txt"
while IFS= read -r l; do log "$l"; done <"$W/commit.txt"
if [ -n "$NPID" ]; then
	threads | sort >"$W/threads1"
	R[threads]=$(join "$W/threads0" "$W/threads1" |
		awk -v s="$DURATION" '{ printf "%s %.0f%%  ", $1, ($3 - $2) / (s * 10) }')
	log "  daemon threads, CPU share of one core during the store phase: ${R[threads]}"
	cpu1=$(cputotal) wb1=$(wbytes)
	if [ "$stored" -gt 0 ]; then
		R[perstore]="CPU time $(( (cpu1 - cpu0) * 1000 / stored )) us, written to storage $(( (wb1 - wb0) / stored )) bytes"
		log "  per store, all ${#NPIDS[@]} nodes: ${R[perstore]} ($((cpu1 - cpu0)) ms, $(( (wb1 - wb0) >> 20 )) MiB for $stored stores)"
	fi
fi

# ---- get phase ------------------------------------------------------------------------------
log "get: $CONNS clients for $DURATION s over the $stored stored keys, ${GET_RATE:+$GET_RATE gets/s offered (open loop)}${GET_RATE:-closed loop}"
out=$("$LOAD" get --addr "$NODES" --conns "$CONNS" --duration "$DURATION" --size "$SIZE" \
	--keys "$W/keys" --progress 10 ${GET_RATE:+--rate "$GET_RATE"} | tail -1)
get_rc=$?
parse get "$out"
log "  $out"

# ---- check ----------------------------------------------------------------------------------
check_fail=0
i=0
for a in "${ADDRS[@]}"; do
	n=$(curl -sf --max-time 600 "http://$a/v1/files" |
		jq --arg p "$PREFIX." '[.files[] | select(.key | startswith($p))] | length')
	after=$(curl -sf "http://$a/v1/status" | jq -r .files)
	log "check $a: $stored stores answered 201; $n files with the prefix listed; status files $((after - files_before[i])) more than before"
	[ "$n" = "$stored" ] || { check_fail=1; log "  MISMATCH: listed $n, stored $stored"; }
	if [ "$VERIFY" = all ]; then
		out=$("$LOAD" get --addr "$a" --conns "$CONNS" --size "$SIZE" --keys "$W/keys" --all | tail -1)
		parse "verify$i" "$out"
		log "  read back every key: $out"
		[ "${R[verify$i.ok]}" = "$stored" ] || check_fail=1
	else
		shuf -n "$SAMPLE" "$W/keys" >"$W/sample"
		out=$("$LOAD" get --addr "$a" --conns "$CONNS" --size "$SIZE" --keys "$W/sample" --all | tail -1)
		parse "verify$i" "$out"
		log "  read back a sample: $out"
		[ "${R[verify$i.err]}" = 0 ] && [ "${R[verify$i.mismatch]}" = 0 ] || check_fail=1
	fi
	i=$((i + 1))
done
for D in "${DIRS[@]}"; do
	t0=$EPOCHREALTIME
	"$P2P_BIN" --db "$D/p2p.db" -q verify >"$W/verify.out" 2>&1
	vrc=$?
	R[pverify]="${R[pverify]:+${R[pverify]}, }exit $vrc in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s"
	[ "$vrc" = 0 ] || { check_fail=1; cat "$W/verify.out" >&2; }
	log "p2p verify of $(basename "$D") (re-hash every chunk): exit $vrc"
done

# ---- figures --------------------------------------------------------------------------------
get_errs=$(( ${R[get.err]:-0} + ${R[get.mismatch]:-0} ))
met() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= t : v < t; print ok ? "met" : "MISSED" }'; }
echo
echo "load: $(nproc) CPUs, ${#ADDRS[@]} node(s), $CONNS clients, ${DURATION} s per phase, $SIZE-byte files (client on the same machine)"
echo "stores: ${RATE:+open loop, $RATE/s offered (latency counted from each due time), ${R[put.late]} sent late}${RATE:-closed loop (the ceiling)}; gets: ${GET_RATE:+open loop, $GET_RATE/s offered, ${R[get.late]} sent late}${GET_RATE:-closed loop}"
printf '%-34s %10s %9s %9s %9s %7s\n' "" "req/s" "p50 ms" "p99 ms" "p99.9 ms" "errors"
printf '%-34s %10s %9s %9s %9s %7s\n' "baseline: wrk GET /health" "${R[health.rate]}" "${R[health.p50]}" "${R[health.p99]}" "-" "${R[health.err]:-0}"
printf '%-34s %10s %9s %9s %9s %7s\n' "PUT /v1/files/KEY (store)" "${R[put.rate]}" "${R[put.p50_ms]}" "${R[put.p99_ms]}" "${R[put.p999_ms]}" "${R[put.err]}"
printf '%-34s %10s %9s %9s %9s %7s\n' "GET /v1/files/KEY (random)" "${R[get.rate]}" "${R[get.p50_ms]}" "${R[get.p99_ms]}" "${R[get.p999_ms]}" "$get_errs"
[ -n "${R[threads]:-}" ] && echo "store phase, daemon CPU per thread (% of one core)${DIRS[1]:+, first node}: ${R[threads]}"
[ -n "${R[perstore]:-}" ] && echo "store phase, per store, all ${#NPIDS[@]} daemons together: ${R[perstore]} (/proc/PID/stat, /proc/PID/io)"
# Little's law: in a closed loop each client has one request out, so the mean latency is
# CONNS / rate, whatever the code does. A p99 under a mean is possible only when the
# slowest 1 % carry most of the time, so in practice a p99 target needs the mean below it
[ -z "${RATE:-}" ] && awk -v c="$CONNS" -v r="${R[put.rate]}" 'BEGIN { if (r > 0)
	printf "closed loop: mean store latency = %d clients / %d stores/s = %.1f ms (Little'"'"'s law); a mean under 10 ms, which in practice a p99 under 10 ms needs, takes more than %d stores/s\n", c, r, c * 1000 / r, c * 100 }'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes compete for the CPUs: see the warning above, if any)"
echo
echo "stored: $stored files (201s); check: $([ "$check_fail" = 0 ] && echo "passed" || echo "FAILED") ($VERIFY keys read back byte for byte${R[pverify]:+; p2p verify: ${R[pverify]}})"
echo "target stores/s >= 5000: $(met "${R[put.rate]}" ">=" 5000) (${R[put.rate]})"
echo "target store p99 < 10 ms: $(met "${R[put.p99_ms]}" "<" 10) (${R[put.p99_ms]} ms)"
echo "target get p99 < 10 ms: $(met "${R[get.p99_ms]}" "<" 10) (${R[get.p99_ms]} ms)"
echo "target zero errors: $([ "$put_rc$get_rc" = 00 ] && [ "${R[put.err]}${R[get.err]}${R[get.mismatch]}" = 000 ] && echo met || echo MISSED)"
[ "$check_fail" = 0 ] && [ "$put_rc$get_rc" = 00 ]
