#!/usr/bin/env bash
# Replication traffic is encrypted: capture loopback (tshark) while a file is stored on
# A, replicated to B and C, and fetched by D; no 16-byte run of the file's content may
# appear anywhere in the captured bytes. Control: plaintext bytes of another random file
# sent to A's port must be found by the same check. Skips (exit 77) when tshark is
# missing or capturing is not permitted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"
command -v tshark >/dev/null || skip "tshark is not installed (scripts/deps.sh installs it)"
command -v python3 >/dev/null || skip "needs python3"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
P=()
for i in 0 1 2 3; do P+=("$(free_port)"); done
[ "$(printf '%s\n' "${P[@]}" | sort -u | wc -l)" = 4 ] || skip "no four distinct free ports"
PCAP=$T/lo.pcap
# -B 64: a 64 MiB capture buffer. With the default (2 MiB) the kernel dropped 38-55
# packets of a burst when tshark was not scheduled in time (ASan builds), and the
# capture held too few bytes to judge.
tshark -i lo -B 64 -f "tcp port ${P[0]} or tcp port ${P[1]} or tcp port ${P[2]} or tcp port ${P[3]}" \
	-w "$PCAP" >"$T/tshark.out" 2>&1 &
TS=$!
track "$TS"
on_exit "kill $TS 2>/dev/null"
poll 10 grep -q "Capturing on" "$T/tshark.out" ||
	skip "cannot capture on lo: $(tr '\n' ' ' <"$T/tshark.out" | cut -c1-200)"

A=$T/a B=$T/b C=$T/c D=$T/d
start_node "$A" --listen "127.0.0.1:${P[0]}" --no-mdns --anti-entropy 1s
install -m 0600 "$A/network.key" "$T/net.key"
i=1
for d in "$B" "$C" "$D"; do
	start_node "$d" --listen "127.0.0.1:${P[$i]}" --no-mdns --network-key "$T/net.key" \
		--bootstrap "127.0.0.1:${P[0]}" --anti-entropy 1s --replicas 3
	i=$((i + 1))
done
for d in "$A" "$B" "$C" "$D"; do wait_connected 20 "$d" 3; done

rand_file "$T/secret" $((640 * 1024))
run p2p "$A" store secret "$T/secret"
expect_rc 0 "store on A"
V=$(file_version "$A" secret)
for d in "$B" "$C" "$D"; do
	wait_file 20 "$d" secret "$V"
	run p2p "$d" get secret --out "$T/out" --quiet
	expect_rc 0 "get on $(basename "$d")"
	assert_cmp "$T/secret" "$T/out"
done
# control: plaintext bytes of another file, sent to A's port, must be found
rand_file "$T/canary" 4096
python3 - "${P[0]}" "$T/canary" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(open(sys.argv[2], "rb").read())
s.settimeout(2)
try:
    s.recv(100)
except Exception:
    pass
PY
for d in "$D" "$C" "$B" "$A"; do stop_node "$d"; done
sleep 1
kill -INT "$TS" 2>/dev/null
wait "$TS" 2>/dev/null
[ -s "$PCAP" ] || fail "nothing captured"
payload=$(tshark -r "$PCAP" -T fields -e tcp.len 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
[ "$payload" -ge $((2 * 640 * 1024)) ] || fail "only $payload payload bytes captured ($(grep -i drop "$T/tshark.out" | tr "\n" " "))"

# runs16 FILE: 1 if some 16-byte run of FILE appears in the capture
runs16() {
	python3 - "$1" "$PCAP" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
runs = {data[i:i + 16] for i in range(len(data) - 15)}
cap = open(sys.argv[2], "rb").read()
print(1 if any(cap[i:i + 16] in runs for i in range(len(cap) - 15)) else 0)
PY
}
assert_eq "$(runs16 "$T/canary")" 1 "the plaintext control is found"
assert_eq "$(runs16 "$T/secret")" 0 "a 16-byte run of the stored file in the capture"
note "$payload payload bytes captured: no 16-byte run of the file in clear"
finish
