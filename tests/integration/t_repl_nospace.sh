#!/usr/bin/env bash
# A receiver out of space: B's data directory is a 12 MiB tmpfs. A 24 MiB store on A
# (3 nodes, R = 3): B answers the replicas it cannot hold with "no space" and keeps
# running; A reports those replicas as failed (log + metric) and the store still
# succeeds with 2 copies (A + C); a get on C is byte-equal; B stays up.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"
require_root "needs root to mount a tmpfs"
{ command -v mount && command -v umount; } >/dev/null || skip "no mount/umount"

A=$T/a B=$T/mnt C=$T/c
mkdir -p "$B"
mount -t tmpfs -o size=12m,mode=0700 tmpfs "$B" 2>"$T/mount.err" ||
	skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
on_exit "umount '$B' 2>/dev/null || umount -l '$B'"
repl_net "$A" "$B" "$C" -- --anti-entropy 1s

rand_file "$T/big" $((24 << 20))
run p2p "$A" store big "$T/big" --json
expect_rc 0 "store of 24 MiB with a full receiver"
[ "$(jq -r '.replicas.have' <<<"$OUT")" -ge 2 ] || fail "store reported $(jq -c .replicas <<<"$OUT")"
node_alive "$B" || fail "B died when its disk filled up"
health "$B" || fail "B does not answer /health"
api "$A" GET /metrics
f=$(awk '$1 == "p2p_repl_push_failures_total" {print $2}' <<<"$BODY")
[ "${f:-0}" -ge 1 ] || fail "A counted no failed replica (p2p_repl_push_failures_total=${f:-})"
grep -q "no space left" "$A/log" || fail "A did not log the refused replicas"
run p2p "$C" get big --out "$T/out" --quiet
expect_rc 0 "get on C"
assert_cmp "$T/big" "$T/out"
node_alive "$B" || fail "B died"
finish
