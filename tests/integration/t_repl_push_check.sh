#!/usr/bin/env bash
# A pushed replica (CHUNK_PUT) is checked against its hash before anything is kept, on
# both of the receiver's paths: a chunk up to --inline-max (16 KiB) is checked on the
# loop and goes straight into the database; a larger one is checked and written by a
# worker. A raw peer (tests/net/rawpeer.c, after TLS, AUTH and HELLO) sends, to one node:
#   - a FILE (one chunk) then its CHUNK_PUT, of 3000 and 20000 bytes whose hash names
#     other bytes: CHUNK_ACK status 2 (data does not match the hash) for each, nothing
#     held (no row held, no file, no inline bytes);
#   - the same with their own hashes: CHUNK_ACK status 0, the small one held inline, the
#     large one as a file; `p2p get` of both is byte-equal; `p2p verify` is clean;
#   - the daemon serves on after each.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "needs python3"

R=$(cd "$(dirname "$0")/../.." && pwd)
A=$T/a
build_rawpeer "$T/rawpeer"

start_node "$A" --listen 127.0.0.1:0 --no-mdns
PA=$(status_field "$A" 'listen[0]' | sed 's/.*://')

# frames KEY SIZE GOOD|BAD: prints "HASH8 HEX": a FILE (version 1 of KEY, one chunk,
# from a made-up writer) and the CHUNK_PUT of that chunk, both protocol version 1; the
# data goes to $T/data.SIZE. BAD: the hash (in both) is the SHA-256 of other bytes. The
# FILE first, as a writer sends them: the chunk is then referenced (not garbage).
frames() {
	python3 - "$1" "$2" "$3" "$T/data.$2" <<'PY'
import hashlib, os, struct, sys, time
key, n, kind, out = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = os.urandom(n)
h = hashlib.sha256(data if kind == "GOOD" else data + b"x").digest()
open(out, "wb").write(data)
def frame(t, p):
    return "503201" + "%02x" % t + "%08x" % len(p) + p.hex()
now = int(time.time() * 1000)
f = struct.pack(">H", len(key)) + key + struct.pack(">Q", now << 16) + os.urandom(32)
f += struct.pack(">Q", 0) + bytes(32) + b"\0" + struct.pack(">Q", now)
f += struct.pack(">QII", n, 32768, 1) + hashlib.sha256(data).digest() + h
print(h[:4].hex(), frame(0x10, f) + frame(0x12, h + struct.pack(">I", n) + data))
PY
}
# push KEY SIZE GOOD|BAD WANT_STATUS
push() {
	local h8 fr
	read -r h8 fr < <(frames "$1" "$2" "$3")
	printf '%s\n' "$fr" >"$T/frame.hex"
	run "$T/rawpeer" --key "$A/network.key" --hello --send-file "$T/frame.hex" --wait 1500 \
		"127.0.0.1:$PA"
	expect_rc 0 "rawpeer: $2 bytes, $3 hash"
	assert_contains "$OUT" "recv CHUNK_ACK hash=$h8 status=$4" "ack of $2 bytes, $3 hash"
	node_alive "$A" || fail "A died after a $2-byte push with a $3 hash"
	run p2p "$A" status --json
	expect_rc 0 "status after a $2-byte push with a $3 hash"
}
held() { sqlite3 "file:$A/p2p.db?mode=ro" 'SELECT count(*) FROM chunks WHERE local = 1'; }

push bad-small 3000 BAD 2
push bad-large 20000 BAD 2
assert_eq "$(count_chunks "$A")" 0 "chunks kept after two pushes with bad hashes"
assert_eq "$(held)" 0 "chunk rows held after two pushes with bad hashes"
note "bad hashes: acknowledged with status 2, nothing kept"

push small 3000 GOOD 0
push large 20000 GOOD 0
assert_eq "$(inline_chunks "$A")" 1 "inline chunks after a good 3000-byte push"
assert_eq "$(chunk_files "$A")" 1 "chunk files after a good 20000-byte push"
for k in small:3000 large:20000; do
	run p2p "$A" get "${k%%:*}" --out "$T/out.${k#*:}" --quiet
	expect_rc 0 "get ${k%%:*} on A"
	assert_cmp "$T/data.${k#*:}" "$T/out.${k#*:}"
done
run p2p "$A" verify
expect_rc 0 "verify after the pushes"
note "good hashes: acknowledged with status 0, kept inline (3000 B) and as a file (20000 B), read back byte for byte"
finish
