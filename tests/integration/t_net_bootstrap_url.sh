#!/usr/bin/env bash
# --bootstrap-url: the list is fetched once at start (http, one address per line, '#'
# comments); a list over 64 KiB, an unreachable URL or an HTTP error are one warning
# each, and the node runs anyway. Also: serve's network flag errors (exit 2, one line),
# and --bluetooth on a host without Bluetooth (one warning; exit 1 with --no-tcp).
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "needs python3"

A=$T/a E=$T/e F=$T/f WWW=$T/www
mkdir -p "$WWW"
start_node "$A" --listen 127.0.0.1:0 --no-mdns
PA=$(status_field "$A" 'listen[0]' | sed 's/.*://')
IA=$(status_field "$A" node_id)
install -m 0600 "$A/network.key" "$T/net.key"
printf '# bootstrap list\n\n  127.0.0.1:%s  \n127.0.0.1:9\n' "$PA" >"$WWW/list.txt"
head -c 70000 /dev/zero | tr '\0' 'a' >"$WWW/big.txt"

HP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$WWW" && exec python3 -m http.server "$HP" --bind 127.0.0.1) >"$T/http.log" 2>&1 &
HTTPD=$!
track "$HTTPD"
poll 10 curl -sf "http://127.0.0.1:$HP/list.txt" -o /dev/null || fail "http server did not start"

start_node "$E" --listen 127.0.0.1:0 --no-mdns --network-key "$T/net.key" \
	--bootstrap-url "http://127.0.0.1:$HP/list.txt"
connected() {
	[ "$(p2p "$E" peers --json | jq -r --arg id "$IA" 'map(select(.id == $id)) | .[0].status')" = connected ]
}
poll 10 connected || fail "E did not reach A from the bootstrap URL"
note "bootstrap URL: reached A"

start_node "$F" --listen 127.0.0.1:0 --no-mdns --network-key "$T/net.key" \
	--bootstrap-url "http://127.0.0.1:$HP/big.txt"
poll 5 grep -q "larger than 64 KiB" "$F/log" || fail "no warning for a list over 64 KiB: $(tail -3 "$F/log")"
stop_node "$F"
start_node "$F" --listen 127.0.0.1:0 --no-mdns --network-key "$T/net.key" \
	--bootstrap-url "http://127.0.0.1:$HP/missing.txt"
poll 5 grep -q "HTTP status 404" "$F/log" || fail "no warning for a 404 list: $(tail -3 "$F/log")"
stop_node "$F"
note "bootstrap URL errors: one warning, the node runs"

# serve's network flag errors
run "$P2P_BIN" --db "$T/x/p2p.db" serve --no-tcp
expect_rc 2 "serve --no-tcp without --bluetooth"
assert_contains "$ERR" "--no-tcp needs --bluetooth"
run "$P2P_BIN" --db "$T/x/p2p.db" serve --bluetooth --no-tcp --listen 127.0.0.1:0
expect_rc 2 "serve --no-tcp --listen"
run "$P2P_BIN" --db "$T/x/p2p.db" serve --bluetooth --bt-channel 31
expect_rc 2 "serve --bt-channel 31"
assert_contains "$ERR" "1..30"
run "$P2P_BIN" --db "$T/x/p2p.db" serve --bluetooth --bootstrap bt:00:11:22:33:44
expect_rc 2 "serve --bootstrap with a bad bt: address"
# Bluetooth that cannot be used (here: a kernel without AF_BLUETOOTH, the usual build
# host; tests/integration/t_bt_bridge.sh covers adapters that are down): one warning
# and the node runs on TCP; Bluetooth-only, it exits 1 with the reason
if ! python3 -c 'import socket; socket.socket(socket.AF_BLUETOOTH, socket.SOCK_STREAM, 3)' 2>/dev/null; then
	run timeout 20 "$P2P_BIN" --db "$T/x/p2p.db" serve --no-mdns --bluetooth --no-tcp
	expect_rc 1 "serve --bluetooth --no-tcp without Bluetooth"
	assert_contains "$ERR" "no Bluetooth"
	assert_contains "$ERR" "nothing to listen on"
	start_node "$T/bt" --listen 127.0.0.1:0 --no-mdns --bluetooth --bootstrap bt:00:11:22:33:44:55
	n=$(grep -v '^=== ' "$T/bt/log" | grep -ci 'bluetooth')
	assert_eq "$n" 1 "log lines about Bluetooth on a host without it: $(grep -i bluetooth "$T/bt/log")"
	grep -q 'warn: bluetooth: no Bluetooth: .*: running on TCP only$' "$T/bt/log" ||
		fail "serve --bluetooth without Bluetooth: no clear warning: $(cat "$T/bt/log")"
	stop_node "$T/bt"
	note "Bluetooth unusable: one warning and TCP; with --no-tcp exit 1"
fi
run "$P2P_BIN" --db "$T/x/p2p.db" serve --join p2p1:AAAA
expect_rc 2 "serve --join with a bad ticket"
run "$P2P_BIN" --db "$T/x/p2p.db" serve --listen nonsense
expect_rc 2 "serve --listen nonsense"
# a --listen port that is taken: one line, exit 1
run timeout 20 "$P2P_BIN" --db "$T/x/p2p.db" serve --no-mdns --listen "127.0.0.1:$PA"
expect_rc 1 "serve --listen on a taken port"
assert_contains "$ERR" "address already in use"
# a --join ticket of another network on a data directory that has a key: refused
G=$T/g
start_node "$G" --listen 127.0.0.1:0 --no-mdns
stop_node "$G"
run timeout 20 "$P2P_BIN" --db "$G/p2p.db" serve --no-mdns --listen 127.0.0.1:0 \
	--join "$(p2p "$A" invite)"
expect_rc 1 "serve --join on a data directory of another network"
assert_contains "$ERR" "holds the key of another network"
finish
