#!/bin/bash
# One daemon per data directory: a second `serve` on the same directory fails with a
# clear line and leaves the running daemon reachable (regression: it used to unlink the
# running daemon's api.sock on its way out).
. ./lib.sh

D=$T/node
start_node "$D"
out=$("$P2P_BIN" --db "$D/p2p.db" serve 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "a second daemon on the same data directory started"
echo "$out" | grep "already running" >/dev/null || fail "no clear message: $out"
[ -S "$D/api.sock" ] || fail "api.sock of the running daemon was removed"
echo hello >"$T/f"
p2p "$D" store k "$T/f" -q || fail "the running daemon is unreachable after the refused start"
p2p "$D" get k --out "$T/g" || fail "get failed"
assert_cmp "$T/f" "$T/g"
stop_node "$D"
echo "ok"
