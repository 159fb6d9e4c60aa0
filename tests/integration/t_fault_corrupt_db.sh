#!/usr/bin/env bash
# Corrupt bytes in the SQLite file of a stopped node: detected, reported, never served as
# good (issue 8, faults).
#   1. a page of garbage in the middle of p2p.db (a page of the files table): `serve`
#      refuses to start (exit 1, no crash) with one line naming the file and what to do,
#      and leaves the file as it was; no API socket answers; `verify` exits 1 naming the
#      damage; `files list` fails with an error naming the file (no crash).
#   2. one flipped byte inside a value (the whole-file SHA-256 of one file's row), which
#      SQLite itself cannot see (no checksums; quick_check passes): the node starts, but a
#      get of that key fails (HTTP 500, the CLI exits 1 and writes no file) instead of
#      serving it with wrong metadata; every other key reads back byte-equal; `verify`
#      exits 1 and names the key ("damaged metadata").
#   3. a chunk's reference count changed (schema v6 keeps them with triggers): `verify`
#      recounts and exits 1 naming it.
. "$(dirname "$0")/lib.sh"
for c in sqlite3 python3; do command -v "$c" >/dev/null || skip "needs $c"; done

A=$T/a
start_node "$A" "${ISOLATED[@]}"
# enough rows that the files table spans many pages
for ((i = 0; i < 300; i++)); do
	head -c $((500 + i * 7)) /dev/urandom >"$T/f"
	api "$A" PUT "/v1/files/file-$i" --data-binary @"$T/f"
	[ "$HTTP" = 201 ] || fail "PUT file-$i: HTTP $HTTP: $BODY"
done
# the probe: 2 chunks, so its whole-file hash appears nowhere else in the database
rand_file "$T/probe" $((1536 * 1024))
run p2p "$A" store probe "$T/probe"; expect_rc 0 "store probe"
rand_file "$T/other" 70000
run p2p "$A" store other "$T/other"; expect_rc 0 "store other"
stop_node "$A"
# everything in the main file (no WAL left to replay over the damage)
sqlite3 "$A/p2p.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null || fail "checkpoint"
cp -a "$A" "$T/pristine"

# ---- 1. a page of garbage ---------------------------------------------------------------
# the middle leaf page of the files table (dbstat when the sqlite3 shell has it, else the
# middle page of the file)
pages=$(sqlite3 "$A/p2p.db" "PRAGMA page_count")
psize=$(sqlite3 "$A/p2p.db" "PRAGMA page_size")
page=$(sqlite3 "$A/p2p.db" "SELECT pageno FROM dbstat WHERE name = 'files' AND pagetype = 'leaf' ORDER BY pageno" 2>/dev/null |
	awk '{ p[NR] = $1 } END { if (NR) print p[int((NR + 1) / 2)] }')
[ -n "$page" ] || page=$((pages / 2))
[ "$page" -gt 1 ] || fail "database too small: $pages pages"
note "garbage over page $page of $pages ($psize bytes each)"
head -c "$psize" /dev/urandom | dd of="$A/p2p.db" bs="$psize" seek=$((page - 1)) conv=notrunc status=none ||
	fail "cannot write garbage"
sum=$(sha256_of "$A/p2p.db")

"$P2P_BIN" --db "$A/p2p.db" serve --listen 127.0.0.1:0 --no-mdns >"$T/serve.out" 2>&1 &
spid=$!
track "$spid"
poll 20 bash -c "! kill -0 $spid 2>/dev/null" || fail "serve still runs on a damaged database: $(cat "$T/serve.out")"
wait "$spid"; rc=$?
assert_eq "$rc" 1 "serve exit status on a damaged database ($(cat "$T/serve.out"))"
err=$(grep -i 'damaged' "$T/serve.out")
assert_eq "$(wc -l <<<"$err")" 1 "lines about the damage in serve's output"
assert_contains "$err" "$A/p2p.db" "serve's error"
assert_contains "$err" "backup" "serve's error (what to do)"
assert_not_contains "$(cat "$T/serve.out")" "serving" "serve's output"
assert_eq "$(sha256_of "$A/p2p.db")" "$sum" "p2p.db after the refused start (must be left as it was)"
health "$A" && fail "an API answers on $A/api.sock after the refused start"

run p2p "$A" verify
expect_rc 1 "verify on a damaged database"
assert_contains "$OUT$ERR" "damaged" "verify"
assert_contains "$OUT$ERR" "p2p.db" "verify"
run p2p "$A" verify --json
[ "$RC" = 1 ] || fail "verify --json on a damaged database: exit $RC"
run p2p "$A" files list
[ "$RC" = 1 ] || fail "files list on a damaged database: exit $RC, want 1 (stdout ${OUT:0:200}; stderr $ERR)"
assert_contains "$ERR" "p2p.db" "files list's error"
run p2p "$A" status
expect_rc 1 "status with no daemon"

# ---- 2. one flipped byte inside a value ---------------------------------------------------
rm -rf "$A"
cp -a "$T/pristine" "$A"
want=$(sha256_of "$T/probe")
# flip one bit of the probe's whole-file hash, stored once, in its files row
python3 - "$A/p2p.db" "$want" <<'EOF' || fail "cannot flip the byte"
import sys
path, h = sys.argv[1], bytes.fromhex(sys.argv[2])
data = bytearray(open(path, 'rb').read())
at = [i for i in range(len(data)) if data.startswith(h, i)]
if len(at) != 1:
    sys.exit("the probe's hash occurs %d times, want 1" % len(at))
data[at[0] + 5] ^= 0x10
open(path, 'r+b').write(data)
print("# flipped a bit at offset %d" % (at[0] + 5))
EOF
run sqlite3 "$A/p2p.db" "PRAGMA quick_check"
assert_eq "$OUT" ok "quick_check after a flip inside a value (SQLite cannot see it)"

start_node "$A" "${ISOLATED[@]}"
rm -f "$T/probe.out"
run p2p "$A" get probe --out "$T/probe.out"
expect_rc 1 "get of the key whose row is damaged"
assert_contains "$ERR" "damaged" "get's error"
[ ! -e "$T/probe.out" ] || fail "get of a damaged row wrote $T/probe.out ($(stat -c %s "$T/probe.out") bytes)"
api "$A" GET /v1/files/probe
expect_json_error 500 "GET /v1/files/probe (damaged row)"
run p2p "$A" get other --out "$T/other.out"
expect_rc 0 "get other"
assert_cmp "$T/other" "$T/other.out" "get other"
for i in 0 150 299; do
	api "$A" GET "/v1/files/file-$i"
	[ "$HTTP" = 200 ] || fail_later "GET file-$i: HTTP $HTTP"
done
stop_node "$A"

run p2p "$A" verify
expect_rc 1 "verify with a damaged row"
assert_contains "$OUT" "damaged metadata probe" "verify"
assert_not_contains "$OUT" "damaged metadata other" "verify"
run p2p "$A" verify --json
[ "$RC" = 1 ] || fail "verify --json: exit $RC"
assert_eq "$(jq -r '[.damaged_metadata[].key] | join(",")' <<<"$OUT")" probe "verify --json damaged_metadata"

# the pristine copy is clean: the checks above are about the damage, not the data
run p2p "$T/pristine" verify
expect_rc 0 "verify of the undamaged copy"

# 3. a chunk's reference count (garbage collection trusts it) changed behind the
#    triggers that keep it, as a damaged value would: verify recounts and says so
cp -a "$T/pristine" "$T/refs"
run sqlite3 "$T/refs/p2p.db" "UPDATE chunks SET refs = refs + 1 WHERE hash = (SELECT hash FROM chunks WHERE refs > 0 ORDER BY hash LIMIT 1)"
expect_rc 0 "change a reference count"
run p2p "$T/refs" verify
expect_rc 1 "verify with a wrong reference count"
assert_contains "$OUT" "reference counts: 1 chunks counted wrong, 0 chunk-list entries name no chunk" "verify"
run p2p "$T/refs" verify --json
[ "$RC" = 1 ] || fail "verify --json with a wrong reference count: exit $RC"
assert_contains "$(jq -r .database_damage <<<"$OUT")" "reference counts" "verify --json database_damage"
finish
