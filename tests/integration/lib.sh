# shellcheck shell=bash
# lib.sh: helpers sourced by every tests/integration/t_*.sh (bash).
#
# Each test gets its own temporary directory $T (removed at exit, even on failure) and may
# run any number of daemons, each in its own data directory; every daemon started here is
# killed at exit. Every wait is a bounded poll; nothing asserts on wall-clock speed.
#
#   start_node DIR [serve args]   run "p2p --db DIR/p2p.db serve ARGS" (log: DIR/log) and
#                                 wait up to 10 s for GET /health on DIR/api.sock
#   ISOLATED                      serve args for a node with no peers: loopback listener on
#                                 a free port, no mDNS (start_node DIR "${ISOLATED[@]}")
#   stop_node DIR                 SIGTERM, wait up to 10 s; fails if it is still alive or
#                                 did not exit 0
#   kill9_node DIR                SIGKILL, reap
#   node_alive DIR                0 if the daemon started in DIR still runs
#   p2p DIR ARGS...               "$P2P_BIN" --db DIR/p2p.db ARGS... (bounded by P2P_TIMEOUT)
#   run CMD...                    run CMD, set RC, OUT (stdout), ERR (stderr); never fails
#   expect_rc N WHAT              fail unless the last `run` exited N
#   api DIR METHOD PATH [curl args]  HTTP on DIR/api.sock; sets HTTP (status) and BODY
#   build_rawpeer OUT            build the raw test peer (tests/net/rawpeer.c) into OUT, or
#                                 fail the test
#   fail MSG, skip MSG, require_root, note MSG
#   fail_later MSG                record a failure and go on; the test then exits 1 at the end
#   finish                        end of a test: exit 0, or 1 after fail_later
#   assert_eq GOT WANT [WHAT], assert_cmp FILE1 FILE2 [WHAT], assert_contains TEXT NEEDLE [WHAT]
#   rand_file PATH BYTES          random content (head -c N /dev/urandom)
#   count_chunks DIR              chunks held: files under DIR/chunks (not chunks/tmp)
#                                 plus those kept inline in DIR/p2p.db
#   chunk_files DIR, inline_chunks DIR   each of the two
#   tmp_entries DIR               entries in DIR/chunks/tmp
#   chunks_match_db DIR           chunk files on disk = status --json .chunks
#   poll SECS CMD...              retry CMD every 0.1 s until it succeeds or SECS pass
#   on_exit CMD                   run CMD (eval) at exit, after daemons are killed
#   track PID                     kill this background job at exit
set -u -o pipefail
export LC_ALL=C
unset P2P_DB

: "${P2P_BIN:?P2P_BIN must name the p2p binary (absolute path)}"
[ -x "$P2P_BIN" ] || { echo "FAIL: P2P_BIN=$P2P_BIN is not executable"; exit 1; }
for _c in curl jq cmp find head timeout; do
	command -v "$_c" >/dev/null || { echo "SKIP: missing tool '$_c'"; exit 77; }
done
P2P_TIMEOUT=${P2P_TIMEOUT:-300} # bound on any single CLI call, seconds
# shellcheck disable=SC2034  # used by the tests
ISOLATED=(--listen 127.0.0.1:0 --no-mdns)

T=$(mktemp -d "${TMPDIR:-/tmp}/p2p-it.XXXXXX") || { echo "FAIL: mktemp"; exit 1; }
declare -A NODE_PID=()
_EXIT_HOOKS=()
_LATER=()
_BG=()
_TEST=$(basename "$0" .sh)

_cleanup() {
	local rc=$? d p h
	trap - EXIT
	trap '' PIPE # a closed stdout must not cut the clean-up short
	if [ "$rc" = 0 ] && [ "${#_LATER[@]}" -gt 0 ]; then
		echo "FAIL: $_TEST: ${#_LATER[@]} failure(s):" >&2
		printf '  - %s\n' "${_LATER[@]}" >&2
		rc=1
	fi
	# tracked jobs that this shell has not reaped yet (so their PIDs are still theirs)
	for p in $(jobs -p); do
		[[ " ${_BG[*]} " == *" $p "* ]] && { kill -9 "$p"; wait "$p"; } 2>/dev/null
	done
	for d in "${!NODE_PID[@]}"; do
		p=${NODE_PID[$d]}
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	NODE_PID=()
	for h in "${_EXIT_HOOKS[@]}"; do eval "$h"; done
	# files made unreadable by a test must not stop the removal
	chmod -R u+rwX "$T" 2>/dev/null
	rm -rf "$T"
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM HUP
trap 'exit 141' PIPE

on_exit() { _EXIT_HOOKS+=("$1"); }
# track PID: a background job of the test, killed at exit if still running
track() { _BG+=("$1"); }

note() { echo "# $*"; }

# fail MSG: also works inside $(...): the message goes to stderr, the caller sees exit 1
fail() {
	echo "FAIL: $_TEST: $*" >&2
	exit 1
}

# fail_later MSG: a failure that should not hide the checks after it
fail_later() {
	echo "FAIL (continuing): $_TEST: $*" >&2
	_LATER+=("$*")
}

# finish: the last line of a test: exit 0 (or 1 if fail_later recorded something)
finish() {
	[ "${#_LATER[@]}" = 0 ] && echo "ok"
	exit 0
}

skip() {
	echo "SKIP: $*"
	exit 77
}

require_root() {
	[ "$(id -u)" = 0 ] || skip "${1:-needs root}"
}

now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

# poll SECS CMD...: retry CMD every 0.1 s until it succeeds (0) or SECS seconds pass (1).
poll() {
	local secs=$1 end; shift
	end=$(( $(now_ms) + secs * 1000 ))
	while :; do
		"$@" && return 0
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-value}: got '$1', want '$2'"
}

assert_cmp() {
	cmp -s -- "$1" "$2" || fail "${3:+$3: }contents differ: $1 vs $2 ($(stat -c %s -- "$1" 2>/dev/null || echo missing) vs $(stat -c %s -- "$2" 2>/dev/null || echo missing) bytes; $(cmp -- "$1" "$2" 2>&1 | head -1))"
}

# assert_contains TEXT NEEDLE [WHAT]: case-insensitive, fixed string
assert_contains() {
	grep -qiF -- "$2" <<<"$1" || fail "${3:-output} does not mention '$2': $1"
}

assert_not_contains() {
	! grep -qiF -- "$2" <<<"$1" || fail "${3:-output} mentions '$2': $1"
}

rand_file() {
	head -c "$2" /dev/urandom >"$1" || fail "cannot create $1"
	[ "$(stat -c %s "$1")" = "$2" ] || fail "short random file $1"
}

# ---- the CLI -------------------------------------------------------------------------------
p2p() {
	local d=$1; shift
	timeout -k 5 "$P2P_TIMEOUT" "$P2P_BIN" --db "$d/p2p.db" "$@"
}

# run CMD...: RC, OUT, ERR of CMD; stdin is the caller's
run() {
	"$@" >"$T/.run.out" 2>"$T/.run.err"
	RC=$?
	OUT=$(cat "$T/.run.out")
	ERR=$(cat "$T/.run.err")
	[ "$RC" = 124 ] && echo "# timed out after ${P2P_TIMEOUT}s: $*"
	return 0
}

# expect_rc N WHAT: the last `run` must have exited N
expect_rc() {
	[ "$RC" = "$1" ] || fail "$2: exit $RC, want $1; stdout: ${OUT:0:600}; stderr: ${ERR:0:600}"
}

# ---- daemons -------------------------------------------------------------------------------
health() {
	curl -sf --max-time 2 --unix-socket "$1/api.sock" http://x/health >/dev/null 2>&1
}

node_alive() {
	local p=${NODE_PID[$1]:-}
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

show_log() {
	echo "---- $1/log (last 40 lines) ----"
	tail -n 40 "$1/log" 2>/dev/null
	echo "----"
}

start_node() {
	local d=$1 p i; shift
	[ -z "${NODE_PID[$d]:-}" ] || fail "start_node $d: a daemon already runs there"
	mkdir -p "$d" || fail "mkdir $d"
	echo "=== $(date -u +%T) start: serve $*" >>"$d/log"
	"$P2P_BIN" --db "$d/p2p.db" serve "$@" >>"$d/log" 2>&1 &
	p=$!
	NODE_PID[$d]=$p
	for ((i = 0; i < 100; i++)); do
		health "$d" && return 0
		if ! kill -0 "$p" 2>/dev/null; then
			wait "$p"; local rc=$?
			unset "NODE_PID[$d]"
			show_log "$d"
			fail "start_node $d: daemon exited with status $rc before serving /health"
		fi
		sleep 0.1
	done
	show_log "$d"
	fail "start_node $d: no /health on $d/api.sock within 10 s"
}

stop_node() {
	local d=$1 p=${NODE_PID[$1]:-} i rc
	[ -n "$p" ] || fail "stop_node $d: no daemon started there"
	kill -TERM "$p" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$p" 2>/dev/null; then
		show_log "$d"
		fail "stop_node $d: daemon (pid $p) still alive 10 s after SIGTERM"
	fi
	wait "$p"; rc=$?
	unset "NODE_PID[$d]"
	if [ "$rc" != 0 ]; then
		show_log "$d"
		fail "stop_node $d: daemon exited with status $rc after SIGTERM, want 0"
	fi
}

kill9_node() {
	local d=$1 p=${NODE_PID[$1]:-}
	[ -n "$p" ] || fail "kill9_node $d: no daemon started there"
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	unset "NODE_PID[$d]"
}

node_pid() { echo "${NODE_PID[$1]:-}"; }

# api DIR METHOD PATH [curl args...]: sets HTTP (status code, 000 if no reply) and BODY.
api() {
	local d=$1 m=$2 path=$3; shift 3
	HTTP=$(curl -s --path-as-is --max-time 60 --unix-socket "$d/api.sock" -X "$m" \
		-o "$T/.api.body" -w '%{http_code}' "$@" "http://x$path" 2>/dev/null)
	[ -n "$HTTP" ] || HTTP=000
	BODY=$(cat "$T/.api.body" 2>/dev/null)
	rm -f "$T/.api.body"
}

# expect_json_error STATUS WHAT: the last `api` replied STATUS with {"error": "..."}
# (a mismatch is recorded with fail_later: the checks after it are independent)
expect_json_error() {
	if [ "$HTTP" != "$1" ]; then
		fail_later "$2: HTTP $HTTP, want $1; body: ${BODY:0:300}"
	elif ! jq -e '.error | type == "string" and length > 0' >/dev/null 2>&1 <<<"$BODY"; then
		fail_later "$2: HTTP $HTTP body is not a JSON error object: $(tr -s '\n' ' ' <<<"${BODY:0:200}")"
	fi
}

# ---- the data directory --------------------------------------------------------------------
chunk_files() {
	find "$1/chunks" -path "$1/chunks/tmp" -prune -o -type f -print 2>/dev/null | wc -l
}
# chunks whose bytes DIR's database keeps (inline: up to serve --inline-max, 16 KiB)
inline_chunks() {
	local n
	n=$(sqlite3 "file:$1/p2p.db?mode=ro" \
		"SELECT count(*) FROM chunks WHERE local = 1 AND data_id IS NOT NULL" 2>/dev/null)
	echo "${n:-0}"
}
count_chunks() {
	echo $(( $(chunk_files "$1") + $(inline_chunks "$1") ))
}

tmp_entries() {
	find "$1/chunks/tmp" -mindepth 1 2>/dev/null | wc -l
}

# chunks_match_db DIR: the chunk files on disk are exactly as many as the chunks the
# database holds (status --json .chunks): no orphan files, no missing ones
chunks_match_db() {
	local db
	db=$(p2p "$1" status --json 2>/dev/null | jq -r .chunks 2>/dev/null)
	[ -n "$db" ] && [ "$db" = "$(count_chunks "$1")" ]
}

# files_json DIR: `p2p files list --json` normalised to an array of file objects
files_json() {
	local out
	out=$(p2p "$1" files list --json) || fail "files list --json failed (exit $?)"
	jq -c 'if type == "array" then . else .files end' <<<"$out" ||
		fail "files list --json is not JSON: ${out:0:300}"
}

# status_field DIR FIELD: one field of `p2p status --json`
status_field() {
	local out
	out=$(p2p "$1" status --json) || fail "status --json failed (exit $?)"
	jq -er ".$2" <<<"$out" || fail "status --json has no '$2': ${out:0:300}"
}

build_rawpeer() {
	local r
	r=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	# shellcheck disable=SC2046 # pkg-config output is a word list
	cc -std=c17 -D_GNU_SOURCE -I"$r" -o "$1" "$r/tests/net/rawpeer.c" \
		"$r"/p2p/*.c "$r"/lib/*.c $(pkg-config --cflags --libs openssl) \
		$(pkg-config --libs bluez 2>/dev/null) 2>"$T/cc.err" ||
		fail "cannot build tests/net/rawpeer.c: $(head -5 "$T/cc.err")"
}

sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }
