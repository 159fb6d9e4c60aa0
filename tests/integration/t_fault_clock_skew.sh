#!/usr/bin/env bash
# Clock skew between nodes (issue 8, faults): A's wall clock is 1 hour ahead, B's 1 hour
# behind, C's right (the test hook P2P_CLOCK_OFFSET_S, lib/util.c). The ordering rule
# (docs/PROTOCOL.md section 8): versions are hybrid logical clocks and every node moves
# its clock past each version it receives, so a write or delete made after another one
# has reached the writer orders after it whatever the writers' clocks say; writes that
# did not see each other (concurrent) order by (version, origin) and the losing live one
# is kept as a conflict copy. Checked, each on every node:
#   1. store on A (+1 h), overwrite on B (-1 h): B's content is current, no conflict copy
#   2. delete on C: deleted everywhere, and stays deleted after anti-entropy rounds and
#      a restart of every node with its clock set right (the clocks were "fixed")
#   3. store again on B (-1 h) after that delete: live again everywhere
#   4. delete on B (-1 h) of a version written on A (+1 h): stays deleted
#   5. concurrent writes while A and B cannot talk: both survive (the greater version
#      current, the other as its conflict copy), the same on every node
#   6. a holder that was down while A (+1 h) stored a file fetches its replicas once back
#      (repair is not put off by a version dated in the future)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

A=$T/a B=$T/b C=$T/c
declare -A PORT=()
# up DIR OFFSET_S: start (or restart) a node with its clock offset; a restart listens on
# the node's earlier port, so the others find it where they last saw it
up() {
	local d=$1 off=$2 args=(--listen "127.0.0.1:${PORT[$1]:-0}" --no-mdns --anti-entropy 1s)
	[ "$d" = "$A" ] || args+=(--network-key "$T/net.key" --bootstrap "127.0.0.1:${PORT[$A]}")
	P2P_CLOCK_OFFSET_S=$off start_node "$d" "${args[@]}"
	[ -e "$T/net.key" ] || install -m 0600 "$A/network.key" "$T/net.key"
	PORT[$d]=$(port_of "$d")
}
all_connected() { local d; for d in "$A" "$B" "$C"; do wait_connected 20 "$d" 2; done; }
up "$A" 3600
up "$B" -3600
up "$C" 0
all_connected
grep -q 'wall clock shifted by 3600 s' "$A/log" || fail "A did not take the clock offset: $(head -3 "$A/log")"

# everywhere KEY VERSION: every node has KEY at VERSION ("deleted" for a tombstone)
everywhere() { local d; for d in "$A" "$B" "$C"; do wait_file 30 "$d" "$1" "$2"; done; }
# content_everywhere KEY FILE: a get on every node is byte-equal to FILE
content_everywhere() {
	local d
	for d in "$A" "$B" "$C"; do
		rm -f "$T/got"
		run p2p "$d" get "$1" --out "$T/got"
		expect_rc 0 "get $1 on $(basename "$d")"
		assert_cmp "$2" "$T/got" "get $1 on $(basename "$d")"
	done
}
# gone_everywhere KEY: a get fails "not found" on every node
gone_everywhere() {
	local d
	for d in "$A" "$B" "$C"; do
		run p2p "$d" get "$1" --out "$T/got"
		expect_rc 1 "get $1 on $(basename "$d") (deleted)"
		assert_contains "$ERR" "not found" "get $1 on $(basename "$d")"
	done
}
conflicts() { files_json "$1" | jq -r --arg p "$2.conflict-" '[.[] | select(.key | startswith($p)) | .key] | sort | join(" ")'; }
# wall-clock part of a version (hex HLC: ms << 16 | counter), in ms
version_ms() { echo $(( 16#$1 >> 16 )); }
newer() { [[ "$1" > "$2" ]] || fail "${3:-version} $1 does not order after $2"; } # same-length hex

# ---- 1. store on A (+1 h), overwrite on B (-1 h) ---------------------------------------------
rand_file "$T/k1.a" 3000
run p2p "$A" store k1 "$T/k1.a"; expect_rc 0 "store k1 on A"
v1=$(file_version "$A" k1)
ahead=$(( $(version_ms "$v1") - $(now_ms) ))
note "A's version $v1 is dated $((ahead / 1000)) s ahead of this machine's clock"
[ "$ahead" -gt 1800000 ] || fail "A's version $v1 is not dated ahead (${ahead} ms): the clock hook did not act"
everywhere k1 "$v1"
rand_file "$T/k1.b" 4000
run p2p "$B" store k1 "$T/k1.b"; expect_rc 0 "overwrite k1 on B"
v2=$(file_version "$B" k1)
newer "$v2" "$v1" "B's overwrite (clock -1 h)"
everywhere k1 "$v2"
content_everywhere k1 "$T/k1.b"
for d in "$A" "$B" "$C"; do assert_eq "$(conflicts "$d" k1)" "" "conflict copies of k1 on $(basename "$d")"; done

# ---- 2. delete on C ------------------------------------------------------------------------------
run p2p "$C" delete k1; expect_rc 0 "delete k1 on C"
everywhere k1 deleted
v3=$(p2p "$C" files list --json --deleted | jq -r '.[] | select(.key == "k1") | .version')
newer "$v3" "$v2" "C's tombstone"
gone_everywhere k1

# ---- 3. store again on B (-1 h) after the delete ---------------------------------------------------
rand_file "$T/k1.b2" 5000
run p2p "$B" store k1 "$T/k1.b2"; expect_rc 0 "store k1 again on B"
v4=$(file_version "$B" k1)
newer "$v4" "$v3" "B's store after the delete"
everywhere k1 "$v4"
content_everywhere k1 "$T/k1.b2"

# ---- 4. delete on B (-1 h) of what A (+1 h) wrote ---------------------------------------------------
rand_file "$T/k2" 6000
run p2p "$A" store k2 "$T/k2"; expect_rc 0 "store k2 on A"
everywhere k2 "$(file_version "$A" k2)"
run p2p "$B" delete k2; expect_rc 0 "delete k2 on B"
everywhere k2 deleted
gone_everywhere k2

# the deletes stay: anti-entropy rounds, then every node restarted with a right clock
sleep 3
everywhere k2 deleted
for d in "$A" "$B" "$C"; do stop_node "$d"; done
for d in "$A" "$B" "$C"; do up "$d" 0; done
all_connected
sleep 3
everywhere k2 deleted
everywhere k1 "$v4"
gone_everywhere k2
# and a write made now, with right clocks, still orders after what the skewed clocks wrote
rand_file "$T/k1.c" 7000
run p2p "$C" store k1 "$T/k1.c"; expect_rc 0 "store k1 on C after the restart"
v5=$(file_version "$C" k1)
newer "$v5" "$v4" "C's write after the restart"
everywhere k1 "$v5"

# ---- 5. concurrent writes, A (+1 h) and B (-1 h) apart ---------------------------------------------
rand_file "$T/k3.c" 3000
run p2p "$C" store k3 "$T/k3.c"; expect_rc 0 "store k3 on C"
everywhere k3 "$(file_version "$C" k3)"
stop_node "$A"
rand_file "$T/k3.b" 3100
run p2p "$B" store k3 "$T/k3.b"; expect_rc 0 "store k3 on B (A down)"
vb=$(file_version "$B" k3)
wait_file 30 "$C" k3 "$vb"
stop_node "$B"
stop_node "$C"
up "$A" 3600
rand_file "$T/k3.a" 3200
run p2p "$A" store k3 "$T/k3.a"; expect_rc 0 "store k3 on A (B and C down)"
va=$(file_version "$A" k3)
up "$B" -3600
up "$C" 0
all_connected
# the greater (version, origin) is current everywhere; the other is its conflict copy
if [[ "$va" > "$vb" ]]; then win=$va winf=$T/k3.a lose=$vb losef=$T/k3.b losed=$B
else win=$vb winf=$T/k3.b lose=$va losef=$T/k3.a losed=$A; fi
note "concurrent versions of k3: A $va, B $vb; current: $win"
everywhere k3 "$win"
content_everywhere k3 "$winf"
cname="k3.conflict-$(id_of "$losed" | cut -c1-8)-$lose"
for d in "$A" "$B" "$C"; do
	poll 30 bash -c "[ \"\$(\"$P2P_BIN\" --db $d/p2p.db files list --json | jq -r '[.[] | select(.key | startswith(\"k3.conflict-\")) | .key] | join(\" \")')\" = '$cname' ]" ||
		fail "$(basename "$d"): conflict copies of k3: '$(conflicts "$d" k3)', want '$cname'"
done
content_everywhere "$cname" "$losef"

# ---- 6. a holder down while A (+1 h) stores fetches its replicas once back -------------------------
stop_node "$C"
rand_file "$T/k4" $((3 << 20))
run p2p "$A" store k4 "$T/k4"; expect_rc 0 "store k4 on A (C down)"
up "$C" 0
all_connected
wait_file 30 "$C" k4 "$(file_version "$A" k4)"
held_all() { local h; for h in $(file_chunks "$C" k4); do holds "$C" "$h" || return 1; done; }
poll 30 held_all || fail "C holds $(for h in $(file_chunks "$C" k4); do holds "$C" "$h" && echo; done | wc -l) of $(file_chunks "$C" k4 | wc -l) chunks of k4 30 s after it came back (replicas 3: it is a holder of every chunk)"
content_everywhere k4 "$T/k4"

for d in "$A" "$B" "$C"; do
	run p2p "$d" verify
	expect_rc 0 "verify on $(basename "$d")"
done
finish
