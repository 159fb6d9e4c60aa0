#!/usr/bin/env bash
# The control API on loopback TCP (`serve --api HOST:PORT`):
#   - port 0: the kernel picks a free port; `status --json` shows it as api_tcp, and
#     /health and /v1/status answer there (the same node as on api.sock);
#   - a store through the TCP API is readable through the Unix socket CLI;
#   - a port already in use: serve exits 1 with the reason;
#   - a malformed --api: exit 1 naming it.
. "$(dirname "$0")/lib.sh"

A=$T/a
start_node "$A" --listen 127.0.0.1:0 --no-mdns --api 127.0.0.1:0
ADDR=$(status_field "$A" api_tcp)
[[ $ADDR =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "status api_tcp: '$ADDR', want 127.0.0.1:PORT"
PORT=${ADDR##*:}
[ "$PORT" != 0 ] || fail "api_tcp still says port 0"
note "--api 127.0.0.1:0 bound $ADDR"
curl -sf --max-time 5 "http://$ADDR/health" >/dev/null || fail "no /health on $ADDR"
assert_eq "$(curl -sf --max-time 5 "http://$ADDR/v1/status" | jq -r .node_id)" \
	"$(status_field "$A" node_id)" "node_id over TCP vs api.sock"
printf 'over tcp\n' >"$T/in"
code=$(curl -s -o "$T/put.out" -w '%{http_code}' --max-time 10 -X PUT --data-binary @"$T/in" "http://$ADDR/v1/files/viatcp")
assert_eq "$code" 201 "PUT over the TCP API"
run p2p "$A" get viatcp --out "$T/out"
expect_rc 0 "get viatcp through api.sock"
assert_cmp "$T/in" "$T/out" "viatcp"

# the port is taken now: a second node asking for it fails clearly
B=$T/b
mkdir -p "$B"
run timeout 20 "$P2P_BIN" --db "$B/p2p.db" serve --listen 127.0.0.1:0 --no-mdns --api "$ADDR"
expect_rc 1 "serve --api on a port in use"
assert_contains "$ERR" "address already in use" "serve's error"
run timeout 20 "$P2P_BIN" --db "$B/p2p.db" serve --listen 127.0.0.1:0 --no-mdns --api 127.0.0.1:99999
expect_rc 1 "serve --api with port 99999"
assert_contains "$ERR" "--api 127.0.0.1:99999" "serve's error"
finish
