#!/usr/bin/env bash
# A small chunk goes to a peer in one TLS record with its frame header (node/net.c
# out_add): capture loopback (tshark) while A stores N 4 KiB files and pushes each to B,
# then read the TLS record lengths A sent to B. A record holding a 4 KiB chunk alone
# (4,096 bytes + 17 of TLS 1.3 overhead), as when the chunk went by reference after a
# record of its own for the header, must not appear; N records (or more, should a repair
# fetch send one again) must be large enough for a chunk and its header. Every file must
# be readable on B. Skips (exit 77) when tshark is missing or capturing is not permitted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"
command -v tshark >/dev/null || skip "tshark is not installed (scripts/deps.sh installs it)"
command -v python3 >/dev/null || skip "needs python3"

N=20
SIZE=4096
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PA=$(free_port)
PB=$(free_port)
[ "$PA" != "$PB" ] || skip "no two distinct free ports"
PCAP=$T/lo.pcap
tshark -i lo -B 64 -f "tcp port $PA" -w "$PCAP" >"$T/tshark.out" 2>&1 &
TS=$!
track "$TS"
on_exit "kill $TS 2>/dev/null"
poll 10 grep -q "Capturing on" "$T/tshark.out" ||
	skip "cannot capture on lo: $(tr '\n' ' ' <"$T/tshark.out" | cut -c1-200)"

A=$T/a B=$T/b
# anti-entropy and gossip stay out of the way; B dials A, so A's records come from $PA
start_node "$A" --listen "127.0.0.1:$PA" --no-mdns --anti-entropy 1h
install -m 0600 "$A/network.key" "$T/net.key"
start_node "$B" --listen "127.0.0.1:$PB" --no-mdns --network-key "$T/net.key" \
	--bootstrap "127.0.0.1:$PA" --anti-entropy 1h
wait_connected 20 "$A" 1
wait_connected 20 "$B" 1

for i in $(seq "$N"); do
	rand_file "$T/f$i" "$SIZE"
	run p2p "$A" store "k$i" "$T/f$i"
	expect_rc 0 "store k$i on A"
done
for i in $(seq "$N"); do
	wait_file 20 "$B" "k$i" "$(file_version "$A" "k$i")"
	run p2p "$B" get "k$i" --out "$T/out" --quiet
	expect_rc 0 "get k$i on B"
	assert_cmp "$T/f$i" "$T/out"
done
stop_node "$B"
stop_node "$A"
sleep 1
kill -INT "$TS" 2>/dev/null
wait "$TS" 2>/dev/null
[ -s "$PCAP" ] || fail "nothing captured"

# the length of every TLS application-data record A sent (one per line)
tshark -r "$PCAP" -d "tcp.port==$PA,tls" -Y "tcp.srcport == $PA" -T fields \
	-E occurrence=a -E aggregator=, -e tls.record.opaque_type -e tls.record.length \
	2>/dev/null >"$T/records.txt"
python3 - "$T/records.txt" >"$T/lengths.txt" <<'PY'
import sys
for line in open(sys.argv[1]):
    cols = line.rstrip("\n").split("\t")
    if len(cols) < 2 or not cols[1]:
        continue
    types, lens = cols[0].split(","), cols[1].split(",")
    for t, n in zip(types, lens):
        if t == "23":
            print(n)
PY
total=$(wc -l <"$T/lengths.txt")
[ "$total" -ge "$N" ] || fail "only $total application-data records from A decoded ($(head -c 300 "$T/records.txt" | tr '\n' ' '))"
alone=$(awk -v n=$((SIZE + 17)) '$1 == n' "$T/lengths.txt" | wc -l)
# a chunk, its 44-byte CHUNK_PUT header and the record's 17 bytes of overhead
whole=$(awk -v n=$((SIZE + 44 + 17)) '$1 >= n' "$T/lengths.txt" | wc -l)
assert_eq "$alone" 0 "records holding a 4 KiB chunk without its header"
# at least N: a repair fetch (CHUNK_DATA, also whole) may add one
[ "$whole" -ge "$N" ] || fail "only $whole records hold a 4 KiB chunk with its header, want $N"
note "$total application-data records from A for $N stores; every chunk in one with its header"
finish
