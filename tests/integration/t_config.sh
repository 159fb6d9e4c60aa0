#!/usr/bin/env bash
# `p2p serve --config FILE`: every long flag that `p2p serve --help` lists is accepted as
# a config key (with a valid value: the table below), one key per file and all of them in
# one file; the daemon starts (health answers) and stops cleanly. Then the precedence
# (CLI > file > environment > default) for api and db, the errors (unknown key, bad
# value: "FILE:LINE: ..." and exit 2), and the shipped systemd/p2p-storage.conf.example
# (every serve key is in it; it starts as is and with its replication keys uncommented).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "missing tool 'python3' (free TCP ports)"
EXAMPLE=$(cd "$(dirname "$0")/../.." && pwd)/systemd/p2p-storage.conf.example

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- the keys: from the help text ------------------------------------------------------
run "$P2P_BIN" serve --help
expect_rc 0 "serve --help"
mapfile -t KEYS < <(grep -oE '^  --[a-z][a-z0-9-]*' <<<"$OUT" | sed 's/^  --//' | sort -u)
[ "${#KEYS[@]}" -ge 15 ] || fail "found only ${#KEYS[@]} flags in serve --help: ${KEYS[*]}"
note "serve flags: ${KEYS[*]}"

# A network to join (for `join`): a running node's ticket.
J=$T/j
start_node "$J" "${ISOLATED[@]}"
run p2p "$J" invite
expect_rc 0 "invite on the node to join"
TICKET=$(grep -oE 'p2p1:[A-Za-z0-9_-]+' <<<"$OUT" | head -1)
[ -n "$TICKET" ] || fail "no ticket in invite output: $OUT"

# A network key file for `network-key`: 64 hex characters, mode 0600.
KEYFILE=$T/net.key
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEYFILE"; echo >>"$KEYFILE"
chmod 0600 "$KEYFILE"

# valid_value KEY DIR: a valid value of KEY for a node whose data directory is DIR.
# A key not in this table fails the test: a new serve flag needs a row here.
valid_value() {
	case $1 in
	db) echo "$2/p2p.db" ;;
	api) echo "127.0.0.1:$(free_port)" ;;
	chunk-size) echo 64K ;;
	inline-max) echo 8K ;;
	log-level) echo debug ;;
	listen) echo 127.0.0.1:0 ;;
	bootstrap) echo "127.0.0.1:1" ;;                  # nobody there: retried in the background
	bootstrap-url) echo "http://127.0.0.1:1/peers.txt" ;; # fetch fails: one warning
	network-key) echo "$KEYFILE" ;;
	join) echo "$TICKET" ;;
	max-peers) echo 16 ;;
	no-mdns) echo true ;;
	bluetooth) echo true ;;  # without a usable adapter: one warning, TCP only
	bt-adapter) echo hci0 ;; # used only with bluetooth
	bt-channel) echo 9 ;;
	bt-scan) echo true ;;
	no-tcp) echo false ;;    # true needs bluetooth, and exits 1 without an adapter
	replicas) echo all ;;
	min-copies) echo 1 ;;
	repair-after) echo 15m ;;
	tombstone-retention) echo 7d ;;
	anti-entropy) echo 2s ;;
	ephemeral) echo true ;;
	*) return 1 ;;
	esac
}

# serve_bg DIR ARGS...: "p2p serve ARGS" in the background (log DIR/log), no --db added;
# registered with lib.sh so that it is killed at exit. Waits for /health on DIR/api.sock
# (10 s); returns 1 (log shown) if the daemon exits or does not answer.
serve_bg() {
	local d=$1 p i; shift
	mkdir -p "$d"
	echo "=== serve $*" >>"$d/log"
	"$P2P_BIN" serve "$@" >>"$d/log" 2>&1 &
	p=$!
	NODE_PID[$d]=$p
	for ((i = 0; i < 100; i++)); do
		health "$d" && return 0
		if ! kill -0 "$p" 2>/dev/null; then
			wait "$p"
			echo "# daemon exited with status $? before serving /health"
			unset "NODE_PID[$d]"
			show_log "$d"
			return 1
		fi
		sleep 0.1
	done
	show_log "$d"
	return 1
}

# base_conf DIR: the lines every test config starts with (an isolated node in DIR)
base_conf() {
	printf 'db = %s/p2p.db\nlisten = 127.0.0.1:0\nno-mdns = true\n' "$1"
}

# ---- each key in its own file ------------------------------------------------------------
i=0
for k in "${KEYS[@]}"; do
	[ "$k" = config ] && continue # the file itself; `config = ...` inside one is refused
	i=$((i + 1))
	d=$T/k$i
	mkdir -p "$d"
	v=$(valid_value "$k" "$d") || { fail_later "serve flag --$k has no row in this test's table of valid values"; continue; }
	{ base_conf "$d"; echo "$k = $v"; } >"$d/c.conf"
	if ! serve_bg "$d" --config "$d/c.conf"; then
		fail_later "config key '$k = $v': serve --config did not start"
		continue
	fi
	grep -qiE "unknown setting|FILE:|\.conf:[0-9]+" "$d/log" && fail_later "config key '$k': the log complains: $(grep -iE 'unknown|conf:' "$d/log")"
	stop_node "$d"
done

# A value the key actually sets: checked where the daemon shows it.
d=$T/shown; mkdir -p "$d"
P=$(free_port)
{ base_conf "$d"; echo "api = 127.0.0.1:$P"; echo "chunk-size = 64K"; echo "replicas = 2"
  echo "min-copies = 1"; echo "repair-after = 15m"; echo "tombstone-retention = 7d"
  echo "inline-max = 0"; } >"$d/c.conf"
serve_bg "$d" --config "$d/c.conf" || fail "serve with api/chunk-size/replication keys did not start"
curl -sf --max-time 5 "http://127.0.0.1:$P/health" >/dev/null || fail "api = 127.0.0.1:$P from the file: no /health on TCP"
rand_file "$T/small" 200000
run p2p "$d" store s "$T/small"
expect_rc 0 "store on the node configured with chunk-size = 64K"
assert_contains "$OUT" "4 chunks" "chunk-size = 64K from the file (200000 bytes)"
# inline-max = 0: even the short last chunk (3392 bytes) is a file, none in the database
assert_eq "$(chunk_files "$d")/$(inline_chunks "$d")" "4/0" "chunk files/inline chunks with inline-max = 0"
grep -qE 'replication: replicas 2, min copies 1, repair after 900 s, tombstones kept 604800 s' "$d/log" ||
	fail_later "the replication keys from the file are not in the start-up log line: $(grep -i 'replication:' "$d/log")"
stop_node "$d"

# ---- every key in one file ---------------------------------------------------------------
# (join and network-key both name the network: network-key here, join got its own run)
d=$T/all; mkdir -p "$d"
{
	echo "# every serve key"
	for k in "${KEYS[@]}"; do
		case $k in config | join) continue ;; esac
		v=$(valid_value "$k" "$d") || continue
		[ "$k" = listen ] || [ "$k" = db ] || [ "$k" = no-mdns ] || echo "$k = $v"
	done
	# the repeatable ones, with a comma list too
	echo "listen = 127.0.0.1:0"
	echo "bootstrap = 127.0.0.1:1, 127.0.0.1:2"
	echo "db = $d/p2p.db"
	echo "no_mdns = true" # underscores work too
} >"$d/c.conf"
serve_bg "$d" --config "$d/c.conf" || fail "serve --config with every key did not start: $(cat "$d/c.conf")"
stop_node "$d"

# ---- precedence: CLI > file > environment > default ---------------------------------------
# api: the command line wins over the file
d=$T/prec; mkdir -p "$d"
P1=$(free_port); P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
{ base_conf "$d"; echo "api = 127.0.0.1:$P1"; } >"$d/c.conf"
serve_bg "$d" --config "$d/c.conf" --api "127.0.0.1:$P2" || fail "serve --config with --api did not start"
curl -sf --max-time 5 "http://127.0.0.1:$P2/health" >/dev/null || fail_later "--api 127.0.0.1:$P2 on the command line: no /health there"
curl -sf --max-time 2 "http://127.0.0.1:$P1/health" >/dev/null && fail_later "api = 127.0.0.1:$P1 from the file is served although --api overrides it"
stop_node "$d"

# db: the command line (--db after or before serve) over the file over P2P_DB
f=$T/pf; c=$T/pc; e=$T/pe
mkdir -p "$f" "$c" "$e"
{ printf 'db = %s/p2p.db\nlisten = 127.0.0.1:0\nno-mdns = true\n' "$f"; } >"$T/db.conf"
printf 'listen = 127.0.0.1:0\nno-mdns = true\n' >"$T/nodb.conf"

# the file's db wins over P2P_DB
P2P_DB=$e/p2p.db serve_bg "$f" --config "$T/db.conf" || fail "serve with db in the file and P2P_DB did not start"
[ -S "$e/api.sock" ] && fail_later "P2P_DB was used although the config file gives db"
stop_node "$f"
# --db (after serve) wins over the file and P2P_DB
P2P_DB=$e/p2p.db serve_bg "$c" --config "$T/db.conf" --db "$c/p2p.db" || fail "serve --db with a file db did not start"
[ -S "$f/api.sock" ] && fail_later "the file's db was used although --db was given"
stop_node "$c"
# --db before serve (a global flag) wins too
mkdir -p "$T/pg"
"$P2P_BIN" --db "$T/pg/p2p.db" serve --config "$T/db.conf" >>"$T/pg/log" 2>&1 &
NODE_PID[$T/pg]=$!
poll 10 health "$T/pg" || { show_log "$T/pg"; fail "p2p --db X serve --config F: no /health in X's directory"; }
[ -S "$f/api.sock" ] && fail_later "the file's db was used although the global --db was given"
stop_node "$T/pg"
# neither: P2P_DB applies
P2P_DB=$e/p2p.db serve_bg "$e" --config "$T/nodb.conf" || fail "serve with P2P_DB and a file without db did not start (P2P_DB not used?)"
stop_node "$e"

# P2P_LOG_LEVEL only where neither gives log-level
d=$T/ll; mkdir -p "$d"
{ base_conf "$d"; echo "log-level = warn"; } >"$d/c.conf"
P2P_LOG_LEVEL=debug serve_bg "$d" --config "$d/c.conf" || fail "serve with log-level in the file did not start"
stop_node "$d"
grep -q ' info: ' "$d/log" && fail_later "log-level = warn in the file: info lines were logged (P2P_LOG_LEVEL=debug won?)"

# ---- errors: FILE:LINE and exit 2 ---------------------------------------------------------
d=$T/err; mkdir -p "$d"
# conf_error NAME LINES...: serve --config with those lines must exit 2 naming FILE:LINE
# where LINE is the last line
conf_error() {
	local name=$1 cf=$d/$1.conf n; shift
	printf '%s\n' "$@" >"$cf"
	n=$#
	run timeout -k 5 30 "$P2P_BIN" serve --config "$cf"
	if [ "$RC" != 2 ]; then
		fail_later "$name: serve --config exited $RC, want 2; stderr: ${ERR:0:300}"
		[ "$RC" = 124 ] && return 0
	fi
	grep -qF "$cf:$n:" <<<"$ERR" || fail_later "$name: the error does not name $cf:$n: ${ERR:0:300}"
	[ -S "$d/api.sock" ] && fail_later "$name: a daemon started"
	return 0
}
conf_error unknown-key "db = $d/p2p.db" "listen = 127.0.0.1:0" "colour = blue"
grep -qF "unknown setting 'colour'" <<<"$ERR" || fail_later "unknown key: the error does not name the key: $ERR"
conf_error bad-max-peers "db = $d/p2p.db" "# comment" "" "max-peers = 0"
conf_error bad-chunk-size "db = $d/p2p.db" "chunk-size = 3K"
conf_error bad-inline-max "db = $d/p2p.db" "inline-max = 65K"
conf_error bad-log-level "db = $d/p2p.db" "log-level = loud"
conf_error bad-switch "db = $d/p2p.db" "no-mdns = maybe"
conf_error bad-replicas "db = $d/p2p.db" "replicas = none"
conf_error bad-min-copies "db = $d/p2p.db" "min-copies = -1"
conf_error bad-repair-after "db = $d/p2p.db" "repair-after = soon"
conf_error bad-tombstones "db = $d/p2p.db" "tombstone-retention = 0s"
conf_error bad-anti-entropy "db = $d/p2p.db" "anti-entropy = 5x"
conf_error nested-config "db = $d/p2p.db" "config = $d/other.conf"
conf_error syntax "db = $d/p2p.db" "this line has no equals sign"
# a bad value on the command line overrides nothing: exit 2 as well
run timeout -k 5 30 "$P2P_BIN" serve --db "$d/p2p.db" --replicas 0
expect_rc 2 "serve --replicas 0"
# a missing file
run timeout -k 5 30 "$P2P_BIN" serve --db "$d/p2p.db" --config "$d/missing.conf"
[ "$RC" = 2 ] || [ "$RC" = 1 ] || fail_later "serve --config MISSING exited $RC, want 1 or 2"
assert_contains "$ERR" "$d/missing.conf" "serve --config MISSING: stderr"

# ---- the shipped example -------------------------------------------------------------------
[ -f "$EXAMPLE" ] || fail "missing $EXAMPLE"
for k in "${KEYS[@]}"; do
	[ "$k" = config ] && continue
	grep -qE "^#?$k = " "$EXAMPLE" || fail_later "$EXAMPLE does not show the key '$k' (as '$k = ...' or '#$k = ...')"
done
# as shipped (the unit gives --db; the default listen port may be taken: a warning)
d=$T/ex; mkdir -p "$d"
cp "$EXAMPLE" "$d/c.conf"
serve_bg "$d" --config "$d/c.conf" --db "$d/p2p.db" --no-mdns --listen 127.0.0.1:0 ||
	fail "serve --config $EXAMPLE did not start"
stop_node "$d"
# with its replication settings uncommented (the commented defaults are valid values)
sed -E 's/^#(replicas|min-copies|repair-after|tombstone-retention|anti-entropy|ephemeral|chunk-size|max-peers|no-mdns|bluetooth|bt-channel|bt-scan|no-tcp) = /\1 = /' \
	"$EXAMPLE" >"$d/c2.conf"
n=$(grep -cE '^(replicas|min-copies|repair-after|tombstone-retention|anti-entropy|ephemeral) = ' "$d/c2.conf")
[ "$n" = 6 ] || fail_later "$EXAMPLE: $n of the 6 replication keys found as '#key = value' lines"
serve_bg "$d" --config "$d/c2.conf" --db "$d/p2p.db" --listen 127.0.0.1:0 ||
	fail "serve --config (the example with its defaults uncommented) did not start"
grep -qE 'replication: replicas 3, min copies 2, repair after 600 s, tombstones kept 2592000 s, anti-entropy every 5000 ms$' "$d/log" ||
	fail_later "the example's commented values are not the defaults: $(grep -i 'replication:' "$d/log")"
stop_node "$d"

stop_node "$J"
finish
