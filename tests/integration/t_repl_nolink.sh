#!/usr/bin/env bash
# A fetch that starts while no peer is connected waits a little (REPL_NO_HOLDER_WAIT_MS,
# 5 s) for one instead of failing at once: links come and go (a duplicate link being
# replaced, a peer restarting, a lossy cable; t_lab_lossy failed in CI on a get issued
# in such a moment). Two nodes, --replicas 1, so each chunk lives on one of them:
#   - B down, a get on A started, B restarted right away: the get completes byte-equal
#     (it fetched the chunks only B holds);
#   - B down for good: the get fails (exit 1) with a clear reason after the wait;
#     the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b
repl_net "$A" "$B" -- --replicas 1 --min-copies 1 --anti-entropy 1s --repair-after 600s

# 16 files of one chunk each: by placement, some live on B only (we need two such)
for i in $(seq 1 16); do
	rand_file "$T/f$i" 300000
	run p2p "$B" store "f$i" "$T/f$i"
	expect_rc 0 "store f$i on B"
done
BONLY=()
for i in $(seq 1 16); do
	wait_file 20 "$A" "f$i" "$(file_version "$B" "f$i")"
	h=$(file_chunks "$B" "f$i")
	[ -n "$h" ] || fail "no chunk listed for f$i"
	if ! holds "$A" "$h" && holds "$B" "$h"; then BONLY+=("f$i"); fi
done
[ "${#BONLY[@]}" -ge 2 ] || fail "placement put ${#BONLY[@]} of 16 one-chunk files on B only (R = 1), want 2"
KEY=${BONLY[0]} KEY2=${BONLY[1]}
note "${BONLY[*]}: their chunk is on B only"

# ---- B restarts while A's get waits for a peer
stop_node "$B"
assert_eq "$(connected "$A")" 0 "A's connected peers with B stopped"
p2p "$A" get "$KEY" --out "$T/got" --quiet 2>"$T/get.err" &
GET=$!
track "$GET"
restart_node "$B" --replicas 1 --min-copies 1 --anti-entropy 1s --repair-after 600s
wait "$GET"
st=$?
[ "$st" = 0 ] || fail "get $KEY on A while B was restarting: exit $st: $(head -c 400 "$T/get.err"); A's log: $(tail -n 15 "$A/log")"
assert_cmp "$T/$KEY" "$T/got" "get $KEY on A (chunk fetched from the restarted B)"
note "a get started with no peer connected completed once B was back"

# ---- B gone for good: a clear failure after the wait, and A keeps serving
stop_node "$B"
run p2p "$A" get "$KEY2" --out "$T/got2"
expect_rc 1 "get $KEY2 on A with no peer at all"
assert_contains "$ERR" "no connected node has it" "get's error with no peer"
note "no peer at all: $ERR"
health "$A" || fail "A stopped answering /health"
run p2p "$A" status --json
expect_rc 0 "status on A after the failed get"
finish
