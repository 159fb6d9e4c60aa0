#!/usr/bin/env bash
# --bootstrap-url: the list is fetched once at start (http, one address per line, '#'
# comments); a list over 64 KiB, an unreachable URL or an HTTP error are one warning
# each, and the node runs anyway. Also: serve's network flag errors (exit 2, one line).
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
run "$P2P_BIN" --db "$T/x/p2p.db" serve --bluetooth
expect_rc 2 "serve --bluetooth"
assert_contains "$ERR" "not available yet"
run "$P2P_BIN" --db "$T/x/p2p.db" serve --no-tcp
expect_rc 2 "serve --no-tcp"
assert_contains "$ERR" "not available yet"
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
