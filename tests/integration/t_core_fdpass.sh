#!/usr/bin/env bash
# Stores and gets through fd.sock (the CLI hands the daemon a descriptor of the file;
# node/fdpass.h): same results as through HTTP bodies, both ways; the protocol's refusals
# (unknown or reused token, closed connection, not a regular file, wrong access mode, a
# non-empty or O_APPEND output file); progress lines; a client that goes away mid-store
# leaves no version; a get into a full file system fails with nothing left behind; a
# daemon without fd.sock is reached through HTTP.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "no python3"

K=65536
A=$T/a
start_node "$A" "${ISOLATED[@]}" --chunk-size 64K
[ -S "$A/fd.sock" ] || fail "no $A/fd.sock"
assert_eq "$(stat -c %a "$A/fd.sock")" 600 "fd.sock mode"

requests() {
	curl -sf --max-time 5 --unix-socket "$A/api.sock" http://x/metrics |
		awk '$1 == "p2p_http_requests_total" { print $2 }'
}

# ---- the CLI: fd.sock and HTTP bodies agree ---------------------------------------------------
for size in 0 1 $((K - 1)) $K $((K + 1)) $((3 * 1048576 + 7)); do
	f=$T/in.$size
	rand_file "$f" "$size"
	r0=$(requests)
	run p2p "$A" store "fd/$size" "$f"; expect_rc 0 "store fd/$size (fd.sock)"
	r1=$(requests)
	# one request (PUT ?fd=) against 2 + parts through an upload session
	[ $((r1 - r0)) -le 2 ] || fail "store fd/$size took $((r1 - r0)) HTTP requests: not through fd.sock"
	assert_contains "$OUT" "sha256 $(sha256_of "$f")" "store fd/$size"
	P2P_FDPASS=0 run p2p "$A" store "http/$size" "$f"; expect_rc 0 "store http/$size (HTTP)"
	assert_contains "$OUT" "sha256 $(sha256_of "$f")" "store http/$size"
	got=$(files_json "$A") || exit 1
	assert_eq "$(jq -r --arg k "fd/$size" '.[] | select(.key == $k) | .manifest' <<<"$got")" \
		"$(jq -r --arg k "http/$size" '.[] | select(.key == $k) | .manifest' <<<"$got")" \
		"manifest of fd/$size vs http/$size"

	rm -f "$T/o1" "$T/o2" "$T/o3"
	r0=$(requests)
	run p2p "$A" get "http/$size" --out "$T/o1"; expect_rc 0 "get http/$size --out (fd.sock)"
	r1=$(requests)
	[ $((r1 - r0)) -le 2 ] || fail "get --out took $((r1 - r0)) HTTP requests"
	assert_cmp "$f" "$T/o1" "get --out through fd.sock"
	P2P_FDPASS=0 run p2p "$A" get "fd/$size" --out "$T/o2"; expect_rc 0 "get fd/$size (HTTP)"
	assert_cmp "$f" "$T/o2" "get --out through HTTP"
	run p2p "$A" get "fd/$size" --verify --out "$T/o3"; expect_rc 0 "get --verify (fd.sock)"
	assert_cmp "$f" "$T/o3" "get --verify through fd.sock"
	run p2p "$A" store "fdv/$size" "$f" --verify; expect_rc 0 "store --verify (fd.sock)"
	ls -A "$T" | grep '^\.o[123]\.p2p-' >/dev/null && fail "a temporary file was left: $(ls -A "$T")"
done
note "fd.sock and HTTP bodies agree at 0, 1, 64 KiB +- 1, 3 MiB"

# ---- the protocol -------------------------------------------------------------------------
# fdpass.py DIR MODE FILE METHOD PATH: pass FILE (opened per MODE) on DIR/fd.sock, then
# METHOD PATH (@TOKEN@ replaced) on DIR/api.sock. Prints "refused: ...", or "HTTP <status>
# <body>" and "progress <last P count>". CLOSE=1: close fd.sock first; TWICE=1: the same
# request again; ABORT=SECS: close the HTTP connection SECS after sending, unanswered.
cat >"$T/fdpass.py" <<'EOF'
import os, socket, sys, time
d, mode, path, method, url = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(d + "/fd.sock")
if mode == "pipe":
    fd, _w = os.pipe()
elif mode == "dir":
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
else:
    fl = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR,
          "a": os.O_WRONLY | os.O_APPEND}[mode]
    fd = os.open(path, fl | os.O_CREAT, 0o600)
socket.send_fds(s, [b"FD\n"], [fd])
line = s.makefile("rb").readline().decode()
if not line.startswith("OK "):
    print("refused:", line.strip())
    sys.exit(0)
tok = line.split()[1]
if os.environ.get("CLOSE") == "1":
    s.close()
def request():
    h = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    h.connect(d + "/api.sock")
    h.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
               % (method, url.replace("@TOKEN@", tok))).encode())
    if os.environ.get("ABORT"):
        time.sleep(float(os.environ["ABORT"]))
        h.close()
        print("aborted")
        return
    data = b""
    while True:
        b = h.recv(65536)
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    print("HTTP", head.split()[1].decode(), body.decode().strip())
request()
if os.environ.get("TWICE") == "1":
    request()
if os.environ.get("CLOSE") != "1":
    s.setblocking(False)
    last = "none"
    try:
        for l in s.makefile("rb").read().decode().split("\n"):
            if l.startswith("P "):
                last = l.split()[1]
    except (BlockingIOError, TypeError):
        pass
    print("progress", last)
EOF
fdpass() { python3 "$T/fdpass.py" "$A" "$@" 2>&1; }

big=$T/in.$((3 * 1048576 + 7))
out=$(fdpass r "$big" PUT /v1/files/proto/put?fd=@TOKEN@)
assert_contains "$out" "HTTP 201" "PUT ?fd="
assert_contains "$out" "progress $(stat -c %s "$big")" "progress lines of PUT ?fd="
rm -f "$T/o"; p2p "$A" get proto/put --out "$T/o" || fail "get proto/put exit $?"
assert_cmp "$big" "$T/o" "PUT ?fd= stored"

out=$(TWICE=1 fdpass r "$big" PUT /v1/files/proto/twice?fd=@TOKEN@)
assert_contains "$(sed -n 1p <<<"$out")" "HTTP 201" "first use of a token"
assert_contains "$(sed -n 2p <<<"$out")" "HTTP 400" "second use of a token"
out=$(CLOSE=1 fdpass r "$big" PUT /v1/files/proto/closed?fd=@TOKEN@)
assert_contains "$out" "HTTP 400" "a token whose fd.sock connection closed"
api "$A" PUT "/v1/files/proto/none?fd=0123456789abcdef0123456789abcdef"
expect_json_error 400 "an unknown token"
assert_contains "$(fdpass dir "$T" PUT /v1/files/proto/dir?fd=@TOKEN@)" "refused: ERR not a regular file" "a directory"
assert_contains "$(fdpass pipe - PUT /v1/files/proto/pipe?fd=@TOKEN@)" "refused: ERR not a regular file" "a pipe"
assert_contains "$(fdpass w "$T/wonly" PUT /v1/files/proto/wonly?fd=@TOKEN@)" "HTTP 400" "store from a write-only descriptor"

out=$(fdpass rw "$T/g.empty" GET /v1/files/proto/put?fd=@TOKEN@)
assert_contains "$out" "HTTP 200" "GET ?fd= into an empty file"
assert_contains "$out" "\"sha256\":\"$(sha256_of "$big")\"" "GET ?fd= reply"
assert_contains "$out" "progress $(stat -c %s "$big")" "progress lines of GET ?fd="
assert_cmp "$big" "$T/g.empty" "GET ?fd= wrote the content"
echo x >"$T/g.full"
assert_contains "$(fdpass rw "$T/g.full" GET /v1/files/proto/put?fd=@TOKEN@)" "HTTP 400" "GET ?fd= into a non-empty file"
assert_eq "$(cat "$T/g.full")" x "a refused GET ?fd= left the file alone"
assert_contains "$(fdpass r "$T/g.ro" GET /v1/files/proto/put?fd=@TOKEN@)" "HTTP 400" "GET ?fd= into a read-only descriptor"
assert_contains "$(fdpass a "$T/g.app" GET /v1/files/proto/put?fd=@TOKEN@)" "HTTP 400" "GET ?fd= into an O_APPEND descriptor"
assert_contains "$(fdpass rw "$T/g.nokey" GET /v1/files/proto/nokey?fd=@TOKEN@)" "HTTP 404" "GET ?fd= of a missing key"
assert_eq "$(stat -c %s "$T/g.nokey")" 0 "GET ?fd= of a missing key wrote nothing"
note "protocol refusals ok"

# ---- a client that goes away mid-store leaves no version ---------------------------------
# 1 GiB of zeros (sparse: no disk, and one distinct chunk): hashing it takes long enough
truncate -s 1G "$T/zeros"
out=$(ABORT=0.2 fdpass r "$T/zeros" PUT /v1/files/proto/aborted?fd=@TOKEN@)
assert_contains "$out" "aborted" "abort"
"$P2P_BIN" --db "$A/p2p.db" store --quiet sig "$T/zeros" & pid=$!
track "$pid"
sleep 0.3
kill -INT "$pid"; wait "$pid"; rc=$?
[ "$rc" != 0 ] || note "store sig finished before SIGINT (a fast machine): nothing to check"
# shellcheck disable=SC2317  # called through poll
no_uploads() { [ "$(p2p "$A" status --json | jq -r .uploads)" = 0 ]; }
poll 20 no_uploads || fail "uploads still open 20 s after their clients went away"
sleep 2 # a wrongly finished store would be committed by now: its chunks are hashed
got=$(files_json "$A") || exit 1
assert_eq "$(jq -r '[.[].key | select(. == "proto/aborted")] | length' <<<"$got")" 0 "a version of the aborted store"
[ "$rc" = 0 ] || assert_eq "$(jq -r '[.[].key | select(. == "sig")] | length' <<<"$got")" 0 "a version of the interrupted store"
node_alive "$A" || fail "the daemon died"
# shellcheck disable=SC2317  # called through poll
db_matches() { chunks_match_db "$A"; }
poll 15 db_matches || fail "chunk files and the database differ after the aborts (orphans left)"
note "aborted stores left no version and no orphan"

# ---- a get into a full file system --------------------------------------------------------
if [ "$(id -u)" = 0 ] && command -v mount >/dev/null; then
	M=$T/mnt
	mkdir -p "$M"
	if mount -t tmpfs -o size=1m tmpfs "$M" 2>/dev/null; then
		on_exit "umount '$M' 2>/dev/null || umount -l '$M'"
		run p2p "$A" get proto/put --out "$M/out"; expect_rc 1 "get of 3 MiB into a 1 MiB tmpfs"
		assert_contains "$ERR" "space" "get into a full file system: stderr"
		assert_eq "$(find "$M" -mindepth 1 | wc -l)" 0 "files left in the full file system"
		node_alive "$A" || fail "the daemon died"
		note "a get into a full file system fails cleanly"
	else
		note "cannot mount a tmpfs: full-disk get not tested"
	fi
else
	note "not root: full-disk get not tested"
fi

# ---- a daemon without fd.sock: HTTP bodies ------------------------------------------------
rm -f "$A/fd.sock"
r0=$(requests)
run p2p "$A" store nofd "$big"; expect_rc 0 "store without fd.sock"
r1=$(requests)
[ $((r1 - r0)) -gt 2 ] || fail "store without fd.sock: $((r1 - r0)) requests, want an upload session"
rm -f "$T/o"; run p2p "$A" get nofd --out "$T/o"; expect_rc 0 "get without fd.sock"
assert_cmp "$big" "$T/o" "get without fd.sock"
note "no fd.sock: the CLI falls back to HTTP"

stop_node "$A"
finish
