#!/usr/bin/env bash
# Bad input on the peer port. Each misbehaving connection costs only itself: after each
# case the daemon still serves its good peer (B stays "connected" in A's table), `p2p
# status` answers, and the bad peer left nothing in the peer table. Cases:
#   before TLS: garbage bytes; a TCP connection that never speaks (handshake timeout);
#   a TLS session that never sends AUTH (timeout); a flood of connections (--max-peers);
#   after AUTH (tests/net/rawpeer.c completes TLS + AUTH with the right key): truncated
#   frame, oversized length, bad magic, wrong protocol version (ERROR comes back), unknown
#   message type, first message not HELLO, trailing bytes, HELLO claiming another node ID,
#   PEERS with 5000 entries, PEERS listing the node's own ID and addresses.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "needs python3"

R=$(cd "$(dirname "$0")/../.." && pwd)
A=$T/a B=$T/b

port_of() { status_field "$1" 'listen[0]' | sed 's/.*://'; }
id_of() { status_field "$1" node_id; }
peer_status() {
	p2p "$1" peers --json | jq -r --arg id "$2" \
		'(map(select(.id == $id)) | .[0].status) // "absent"'
}
# frame TYPE PAYLOAD_HEX: a version-1 frame, hex
frame() { printf '503201%02x%08x%s' "$1" $(( ${#2} / 2 )) "$2"; }
hexstr() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

build_rawpeer "$T/rawpeer"

start_node "$A" --listen 127.0.0.1:0 --no-mdns --max-peers 8
PA=$(port_of "$A"); IA=$(id_of "$A"); KEY=$A/network.key
start_node "$B" --listen 127.0.0.1:0 --no-mdns --join "$(p2p "$A" invite)"
IB=$(id_of "$B")
poll 10 bash -c "[ \"\$(\"$P2P_BIN\" --db $A/p2p.db peers --json | jq -r '.[0].status')\" = connected ]" ||
	fail "B did not connect to A"

# still_fine WHAT [RAWPEER_OUTPUT]: A serves, B is connected, the table holds only B
still_fine() {
	local what=$1 out=${2:-} rid
	run p2p "$A" status --json
	expect_rc 0 "status after: $what"
	node_alive "$A" || fail "A died after: $what"
	assert_eq "$(peer_status "$A" "$IB")" connected "B in A's table after: $what"
	assert_eq "$(peer_status "$B" "$IA")" connected "A in B's table after: $what"
	rid=$(sed -n 's/^auth ok peer=.* self=//p' <<<"$out")
	if [ -n "$rid" ] && [ -n "${ONE_LINE:-}" ]; then
		# one line about the refusal (a peer that got as far as HELLO also has its
		# "connected" line)
		sleep 0.3
		n=$(grep -F "peer ${rid:0:8}" "$A/log" | grep -cvF " connected (")
		[ "$n" = 1 ] || fail_later "$what: $n log lines about ${rid:0:8}: $(grep -F "peer ${rid:0:8}" "$A/log" | tr '\n' '|')"
	fi
	assert_eq "$(p2p "$A" peers --json | jq -c '[.[].id]')" "[\"$IB\"]" "A's peer table after: $what"
	note "ok: $what"
}

# rawcase WHAT EXPECT RAWPEER_ARGS...: run rawpeer, its output must contain EXPECT
rawcase() {
	local what=$1 want=$2; shift 2
	run "$T/rawpeer" --key "$KEY" "$@" "127.0.0.1:$PA"
	expect_rc 0 "rawpeer: $what"
	assert_contains "$OUT" "auth ok" "rawpeer ($what)"
	[ -z "$want" ] || assert_contains "$OUT" "$want" "rawpeer ($what)"
	still_fine "$what" "$OUT"
}

# ---- slow cases in the background: handshake deadlines --------------------------------------
# a TCP connection that never speaks: the daemon closes it at the 10 s handshake deadline
python3 - "$PA" >"$T/silent.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20)
t = time.time()
try:
    d = s.recv(1)
    print("closed after %.1f s" % (time.time() - t) if not d else "data")
except ConnectionResetError:
    print("closed after %.1f s" % (time.time() - t))
except Exception as e:
    print("error %s after %.1f s" % (e, time.time() - t))
PY
SILENT=$!
track "$SILENT"
# a TLS session that never sends AUTH
"$T/rawpeer" --key "$KEY" --tls-only --wait 20000 "127.0.0.1:$PA" >"$T/tlsonly.out" 2>&1 &
TLSONLY=$!
track "$TLSONLY"

# ---- before TLS ------------------------------------------------------------------------------
python3 - "$PA" >"$T/garbage.out" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 4)
s.settimeout(5)
try:
    d = s.recv(4096)
    while d:
        d = s.recv(4096)
    print("closed")
except ConnectionResetError:
    print("closed")
except Exception as e:
    print("still open: %s" % e)
PY
assert_eq "$(cat "$T/garbage.out")" closed "garbage before TLS"
still_fine "garbage bytes instead of TLS"

# ---- after AUTH, instead of HELLO ------------------------------------------------------------
ONE_LINE=1
rawcase "truncated frame, then EOF" timeout --send 503201030000001000000000 --wait 500
rawcase "oversized length" closed --send 50320103ffffffff --wait 3000
rawcase "length just over the maximum" closed --send 5032010300110001 --wait 3000
rawcase "bad magic" closed --send deadbeef00000000 --wait 3000
rawcase "protocol version 2" "recv ERROR code=2 text=protocol version 2, we speak 1" \
	--send 5032020300000010 --wait 3000
assert_contains "$(cat "$A/log")" "protocol version 2, we speak 1" "A's log"
rawcase "unknown message type 0x99" closed --send "$(frame 0x99 '')" --wait 3000
rawcase "PING before HELLO" closed --send "$(frame 3 00000000000000010000000000000002)" --wait 3000
rawcase "garbage after AUTH" closed --send "$(hexstr 'hello there, this is not a frame')" --wait 3000

# ---- HELLO, then bad input (the peer answers no PING: it is never stored) --------------------
rawcase "trailing byte after a PING" closed --hello \
	--send "$(frame 3 0000000000000001000000000000000200)" --wait 3000
rawcase "HELLO claiming B's node ID" closed --hello-id "$IB" --wait 3000
assert_contains "$(cat "$A/log")" "HELLO claims node ID ${IB:0:8}" "A's log"
rawcase "HELLO claiming A's own node ID" closed --hello-id "$IA" --wait 3000
rawcase "second HELLO" closed --hello --send "$(frame 2 "${IA}00000000000000")" --wait 3000
python3 -c '
import os, struct
n = 5000
p = struct.pack(">H", n)
for i in range(n):
    a = b"10.%d.%d.1:4000" % (i >> 8, i & 255)
    p += os.urandom(32) + b"\x01" + struct.pack(">H", len(a)) + a + struct.pack(">Q", 1)
print("503201" + "05" + "%08x" % len(p) + p.hex())' >"$T/big.hex"
rawcase "PEERS with 5000 entries" closed --hello --send-file "$T/big.hex" --wait 3000
OVER=$(python3 -c 'import struct; print("503201" + "05" + "%08x" % 2 + "ffff")')
rawcase "PEERS count 65535, no entries" closed --hello --send "$OVER" --wait 3000

# ---- PEERS naming A itself: A must not dial itself ------------------------------------------
ONE_LINE=
entry() { # ID ADDR
	local a; a=$(hexstr "$2")
	printf '%s01%04x%s0000000000000001' "$1" $(( ${#a} / 2 )) "$a"
}
R1=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
R2=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
P=$(printf '0003%s%s%s' "$(entry "$IA" "127.0.0.1:9")" "$(entry "$R1" "127.0.0.1:$PA")" \
	"$(entry "$R2" "0.0.0.0:$PA")")
run "$T/rawpeer" --key "$KEY" --hello --pong --send "$(frame 5 "$P")" --wait 2000 "127.0.0.1:$PA"
expect_rc 0 "rawpeer: PEERS with A's own ID and addresses"
RID=$(sed -n 's/^auth ok peer=.* self=//p' <<<"$OUT")
sleep 1
TABLE=$(p2p "$A" peers --json)
for bad in "$IA" "$R1" "$R2"; do
	[ "$(jq --arg id "$bad" 'map(select(.id == $id)) | length' <<<"$TABLE")" = 0 ] ||
		fail "A stored ${bad:0:8} from a PEERS naming itself: $TABLE"
done
[ "$(jq --arg a "127.0.0.1:$PA" 'map(select(.addr == $a)) | length' <<<"$TABLE")" = 0 ] ||
	fail "A stored its own address: $TABLE"
assert_eq "$(peer_status "$A" "$IB")" connected "B after PEERS naming A"
# the raw peer answered PING, so it was a proper peer: it may be listed, but not connected
[ -z "$RID" ] || poll 5 bash -c "[ \"\$(\"$P2P_BIN\" --db $A/p2p.db peers --json | jq -r --arg id $RID '(map(select(.id == \$id)) | .[0].status) // \"absent\"')\" != connected ]" ||
	fail "the raw peer still shows as connected"
grep -q "connected (to 127.0.0.1:$PA" "$A/log" && fail "A connected to itself"
p2p "$A" cleanup --older-than 0s >/dev/null || fail "cleanup"
still_fine "PEERS naming A's own ID and addresses"

# ---- a flood of connections: the cap holds, the good peer stays ------------------------------
python3 - "$PA" >"$T/flood.out" 2>&1 <<'PY' &
import socket, sys, time
socks = []
for i in range(80):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
    except Exception as e:
        pass
print("opened %d" % len(socks), flush=True)
time.sleep(4)
for s in socks:
    s.close()
PY
FLOOD=$!
track "$FLOOD"
sleep 1.5
run p2p "$A" status --json
expect_rc 0 "status during the flood"
LINKS=$(jq .peers.links <<<"$OUT")
[ "$LINKS" -le 8 ] || fail "$LINKS links during the flood, over --max-peers 8"
[ "$LINKS" -ge 6 ] || fail "only $LINKS links during the flood: the flood did not reach A?"
assert_eq "$(peer_status "$A" "$IB")" connected "B during the flood"
run "$T/rawpeer" --key "$KEY" --hello --wait 500 "127.0.0.1:$PA"
note "a peer during the flood: $(head -1 <<<"$OUT")"
wait "$FLOOD"
note "flood: $(cat "$T/flood.out")"
# once the flood is gone, new peers get in again
poll 15 bash -c "\"$T/rawpeer\" --key \"$KEY\" --hello --wait 200 127.0.0.1:$PA | grep -q 'auth ok'" ||
	fail "no new peer accepted after the flood"
p2p "$A" cleanup --older-than 0s >/dev/null
still_fine "a flood of 80 connections (--max-peers 8)"

# ---- the handshake deadlines --------------------------------------------------------------
wait "$SILENT"
out=$(cat "$T/silent.out")
[[ $out =~ ^closed\ after\ ([0-9]+)\.[0-9]\ s$ ]] || fail "silent TCP connection: $out"
[ "${BASH_REMATCH[1]}" -ge 8 ] && [ "${BASH_REMATCH[1]}" -le 14 ] ||
	fail "silent TCP connection closed after ${BASH_REMATCH[1]} s, want about 10"
wait "$TLSONLY"
assert_contains "$(cat "$T/tlsonly.out")" "closed" "TLS without AUTH"
assert_contains "$(cat "$A/log")" "handshake not finished within 10 s"
still_fine "handshakes that never finish"
finish
