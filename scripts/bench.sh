#!/usr/bin/env bash
# bench.sh: p2p store/get throughput and daemon memory against the disk and hash limits of
# this machine, all measured in the same run (make bench). Prints figures; not a test.
#
# Env:  SIZE=1G          payload, bytes or with an IEC suffix (256M, 1G)
#       RUNS=3           timed runs per row; the median is reported
#       BENCH_TMP=/var/tmp/p2p-bench   scratch root, on the disk under test (not tmpfs);
#                        this run's run.XXXXXX inside it is removed at exit
#       P2P_BIN=...      the binary (default ./p2p, else build/p2p)
#       TIMEOUT=600      bound, in seconds, on every step
#       SETTLE=2         seconds of pause before each timed write (see settle below)
#       HTTP=0           1: also time store and get with the bytes in HTTP bodies
#                        (P2P_FDPASS=0: an upload session, a streamed GET), as for
#                        standard input / output or a daemon without fd.sock
#
# Rows (MB = 10^6 B):
#   openssl dgst -sha256 FILE       hash limit
#   cp FILE dst + sync              disk write limit (sync before the clock starts too)
#   p2p store                       CLI -> daemon -> chunks, durable when it returns (the
#                                   CLI hands the file over on fd.sock; the daemon reads it)
#   p2p get --out (+ sync)          daemon -> file (handed over on fd.sock), fsync'd and
#                                   renamed by the CLI; the ratio uses the "+ sync" time
# Each run measures the two baselines, then p2p's store and get, so load from elsewhere
# falls on both sides of a ratio; ratios are printed of the medians and per run.
# Every run stores different bytes under a fresh key (AES-CTR of the payload, made before
# the clock starts), so deduplication never shortcuts a store. The payload is hot in the page
# cache for every row. Targets: store <= 1.25 x (dgst + cp+sync), get <= 1.25 x cp+sync,
# daemon peak RSS (VmHWM) <= 32 MiB.
# shellcheck disable=SC2015  # "a && b || die" is meant
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u -o pipefail
export LC_ALL=C

die() { echo "bench: $*" >&2; exit 1; }
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

cd "$(dirname "$0")/.." || die "cannot cd to the source tree"
SIZE=$(numfmt --from=iec "${SIZE:-1G}") || die "bad SIZE '${SIZE:-}'"
RUNS=${RUNS:-3} TIMEOUT=${TIMEOUT:-600}
[ "$RUNS" -ge 1 ] 2>/dev/null || die "bad RUNS '$RUNS'"
if [ -z "${P2P_BIN:-}" ]; then
	for b in ./p2p build/p2p; do [ -f "$b" ] && [ -x "$b" ] && { P2P_BIN=$b; break; }; done
fi
[ -n "${P2P_BIN:-}" ] && [ -f "$P2P_BIN" ] && [ -x "$P2P_BIN" ] || die "no p2p binary (run make, or set P2P_BIN)"
P2P_BIN=$(realpath "$P2P_BIN")
for c in openssl curl numfmt timeout realpath cmp awk df; do
	command -v "$c" >/dev/null || die "missing '$c'"
done
unset P2P_DB

mkdir -p "${BENCH_TMP:=/var/tmp/p2p-bench}" || die "cannot create $BENCH_TMP"
W=$(mktemp -d "$(realpath "$BENCH_TMP")/run.XXXXXX") || die "mktemp in $BENCH_TMP failed"
NPID=
cleanup() {
	if [ -n "$NPID" ]; then kill -9 "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null; fi
	rm -rf "$W"
	rmdir "$BENCH_TMP" 2>/dev/null   # only if nothing else is in it
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
FSTYPE=$(df --output=fstype "$W" | tail -1)
[ "$FSTYPE" = tmpfs ] && die "$BENCH_TMP is on tmpfs; point BENCH_TMP at a disk"
F=$W/src.bin D=$W/node
avail=$(( $(df -k --output=avail "$W" | tail -1) * 1024 ))
need=$((SIZE * (RUNS + 4)))
[ "$avail" -gt "$need" ] || die "need about $(numfmt --to=iec "$need")B free in $W, have $(numfmt --to=iec "$avail")B"

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }

# stage RUN#: distinct bytes for this run in $W/in.bin, written back and hot in the cache
stage() {
	openssl enc -aes-128-ctr -K "$(printf %032x "$1")" -iv "$(printf %032x 0)" \
		-in "$F" -out "$W/in.bin" || die "cannot stage run $1's payload"
	sync
}

# settle: the state every timed write into $W/dst starts from (cp + sync, p2p get): the
# previous output deleted, the deletion committed, then SETTLE seconds. A file system
# mounted with `discard` (this VM's root is) trims the freed blocks at the commit, and a
# write that follows at once runs at 0.2-0.9 s per GiB depending on how far that got
# (measured: cp + sync and p2p get into the same directory, alternating, 0.19-0.76 s
# each without the pause, 0.64-0.76 s each with 2 s). Without it the row that happened
# to start sooner after a deletion won, whichever it was.
SETTLE=${SETTLE:-2}
settle() { rm -f "$W/dst"; sync; sleep "$SETTLE"; }

declare -A MED ALL
record() { MED[$1]=$(median "${@:2}"); ALL[$1]="${*:2}"; log "$1: median ${MED[$1]} s (runs: ${ALL[$1]})"; }

log "payload: $(numfmt --to=iec-i "$SIZE")B random in $W ($FSTYPE), $RUNS runs per row"
head -c "$SIZE" /dev/urandom >"$F" || die "cannot write the payload"
[ "$(stat -c %s "$F")" = "$SIZE" ] || die "short payload"
sync

# ---- limits: measured in every run, right before p2p's rows (see the loop below) ----------------
declare -a T_DGST T_CP
limits_run() {
	local s
	s=$(now); timeout "$TIMEOUT" openssl dgst -sha256 "$F" >/dev/null || die "openssl dgst failed"
	T_DGST+=("$(since "$s")")
	settle
	s=$(now); timeout "$TIMEOUT" cp "$F" "$W/dst" && sync || die "cp + sync failed"
	T_CP+=("$(since "$s")")
	cmp -s "$F" "$W/dst" || die "cp made a different copy"
	rm -f "$W/dst"
}

# ---- p2p -----------------------------------------------------------------------------------------
mkdir -p "$D"
# no peers: loopback listener on a free port, no mDNS
"$P2P_BIN" --db "$D/p2p.db" serve --listen 127.0.0.1:0 --no-mdns >"$W/node.log" 2>&1 &
NPID=$!
for ((i = 0; i < 100; i++)); do
	curl -sf --max-time 2 --unix-socket "$D/api.sock" http://x/health >/dev/null 2>&1 && break
	kill -0 "$NPID" 2>/dev/null || { tail -n 20 "$W/node.log" >&2; die "the daemon exited at start-up"; }
	sleep 0.1
done
((i < 100)) || { tail -n 20 "$W/node.log" >&2; die "the daemon did not answer /health within 10 s"; }
log "daemon pid $NPID on $D ($P2P_BIN)"

# CPU seconds (user + sys): the daemon's from /proc, the CLI's from bash's `time` (rusage
# of waited-for children, which includes the CLI under `timeout`)
TICK=$(getconf CLK_TCK)
dcpu() { awk -v t="$TICK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$NPID/stat"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
cli_cpu() { awk '{ printf "%.2f", $1 + $2 }' "$W/time.out"; }
TIMEFORMAT='%U %S'

# one_run MODE R: stage run R's payload, store it, get it back; times and CPU go to the
# arrays of MODE (fd: the CLI's default; http: P2P_FDPASS=0)
declare -A TS CPU
one_run() {
	local mode=$1 r=$2 d0 s env=()
	[ "$mode" = http ] && env=(env P2P_FDPASS=0)
	stage "$r"
	d0=$(dcpu); s=$(now)
	{ time "${env[@]}" timeout -k 5 "$TIMEOUT" "$P2P_BIN" --db "$D/p2p.db" \
		store "bench-$mode-$r" "$W/in.bin" --quiet >"$W/cli.out" 2>&1; } 2>"$W/time.out" ||
		{ cat "$W/cli.out" >&2; tail -n 20 "$W/node.log" >&2; die "p2p store ($mode, run $r) failed"; }
	TS[store.$mode]+=" $(since "$s")"
	CPU[sd.$mode]+=" $(sub "$(dcpu)" "$d0")" CPU[sc.$mode]+=" $(cli_cpu)"

	settle
	d0=$(dcpu); s=$(now)
	{ time "${env[@]}" timeout -k 5 "$TIMEOUT" "$P2P_BIN" --db "$D/p2p.db" \
		get "bench-$mode-$r" --out "$W/dst" >"$W/cli.out" 2>&1; } 2>"$W/time.out" ||
		{ cat "$W/cli.out" >&2; tail -n 20 "$W/node.log" >&2; die "p2p get ($mode, run $r) failed"; }
	TS[get.$mode]+=" $(since "$s")"
	CPU[gd.$mode]+=" $(sub "$(dcpu)" "$d0")" CPU[gc.$mode]+=" $(cli_cpu)"
	sync
	TS[gets.$mode]+=" $(since "$s")"
	cmp -s "$W/in.bin" "$W/dst" || die "p2p get ($mode, run $r) returned different bytes"
	rm -f "$W/dst"
	kill -0 "$NPID" 2>/dev/null || die "the daemon died ($mode, run $r)"
}

MODES=(fd)
[ "${HTTP:-0}" = 1 ] && MODES+=(http)
# Baselines and p2p take turns within each run, so a burst of load from elsewhere on the
# machine falls on both sides of a ratio rather than on one row.
for ((r = 1; r <= RUNS; r++)); do
	limits_run
	for m in "${MODES[@]}"; do one_run "$m" "$([ "$m" = fd ] && echo "$r" || echo $((r + 1000)))"; done
done
record dgst "${T_DGST[@]}"
record cp "${T_CP[@]}"
# shellcheck disable=SC2086  # word splitting of the space-separated lists is meant
for m in "${MODES[@]}"; do
	sfx=$([ "$m" = fd ] || echo ".$m")
	record "store$sfx" ${TS[store.$m]}
	record "get$sfx" ${TS[get.$m]}
	record "gets$sfx" ${TS[gets.$m]}
	log "CPU s per store ($m): CLI${CPU[sc.$m]}; daemon${CPU[sd.$m]}"
	log "CPU s per get ($m):   CLI${CPU[gc.$m]}; daemon${CPU[gd.$m]}"
done

RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$NPID/status" 2>/dev/null)
[ -n "$RSS_KB" ] || die "cannot read VmHWM of pid $NPID"
kill -TERM "$NPID"
for ((i = 0; i < 100; i++)); do kill -0 "$NPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$NPID" 2>/dev/null && die "the daemon did not stop within 10 s of SIGTERM"
wait "$NPID"; rc=$?; NPID=
[ "$rc" = 0 ] || log "WARNING: the daemon exited with status $rc"

# ---- report --------------------------------------------------------------------------------------
mbs() { awk -v b="$SIZE" -v t="$1" 'BEGIN { printf "%.1f", (t > 0 ? b / 1e6 / t : 0) }'; }
line() { printf '%-28s %9.3f %9s   %s\n' "$1" "${MED[$2]}" "$(mbs "${MED[$2]}")" "${ALL[$2]}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print ((v <= t) ? "ok" : "OVER") }'; }

r_store=$(ratio "${MED[store]}" "$(awk -v a="${MED[dgst]}" -v b="${MED[cp]}" 'BEGIN { print a + b }')")
r_get=$(ratio "${MED[gets]}" "${MED[cp]}")
# the same ratios within each run (baseline and p2p measured minutes apart at most)
read -ra _st <<<"${TS[store.fd]}"; read -ra _gs <<<"${TS[gets.fd]}"
pr_store=() pr_get=()
for ((r = 0; r < RUNS; r++)); do
	pr_store+=("$(ratio "${_st[r]}" "$(awk -v a="${T_DGST[r]}" -v b="${T_CP[r]}" 'BEGIN { print a + b }')")")
	pr_get+=("$(ratio "${_gs[r]}" "${T_CP[r]}")")
done
rss_mib=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')

cat <<EOF

p2p bench: $(numfmt --to=iec-i "$SIZE")B payload ($SIZE B), median of $RUNS runs, MB = 10^6 B
host: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)
disk: $FSTYPE on $(df --output=source "$W" | tail -1) ($W)
binary: $P2P_BIN ($("$P2P_BIN" version 2>/dev/null | head -1)), $(openssl version | cut -d' ' -f1-2)
row                           median s      MB/s   runs (s)
EOF
line "openssl dgst -sha256" dgst
line "cp + sync" cp
line "p2p store" store
line "p2p get --out" get
line "p2p get --out + sync" gets
if [ "${HTTP:-0}" = 1 ]; then
	line "p2p store (HTTP bodies)" store.http
	line "p2p get --out (HTTP)" get.http
	line "p2p get --out (HTTP) + sync" gets.http
fi
cat <<EOF

store / (dgst + cp+sync)    $r_store   target <= 1.25  $(verdict "$r_store" 1.25)   per run: ${pr_store[*]} (median $(median "${pr_store[@]}"))
get+sync / (cp+sync)        $r_get   target <= 1.25  $(verdict "$r_get" 1.25)   per run: ${pr_get[*]} (median $(median "${pr_get[@]}"))
daemon peak RSS (VmHWM)     $rss_mib MiB   target <= 32  $(verdict "$rss_mib" 32)
EOF
if [ "${HTTP:-0}" = 1 ]; then
	echo "HTTP bodies, same ratios (no target): store $(ratio "${MED[store.http]}" \
		"$(awk -v a="${MED[dgst]}" -v b="${MED[cp]}" 'BEGIN { print a + b }')")," \
		"get+sync $(ratio "${MED[gets.http]}" "${MED[cp]}")"
fi
echo
echo "CPU seconds, median (user+sys; $(nproc) cores = $(nproc) s per wall second):"
# shellcheck disable=SC2086  # word splitting of the space-separated lists is meant
for m in "${MODES[@]}"; do
	sfx=$([ "$m" = fd ] || echo " ($m)")
	printf '  %-25s CLI %s   daemon %s\n' "p2p store$sfx" "$(median ${CPU[sc.$m]})" \
		"$(median ${CPU[sd.$m]})"
	printf '  %-25s CLI %s   daemon %s\n' "p2p get --out$sfx" "$(median ${CPU[gc.$m]})" \
		"$(median ${CPU[gd.$m]})"
done
