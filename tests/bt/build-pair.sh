#!/bin/sh
# tests/bt/build-pair.sh OUTDIR: build OUTDIR/rfcomm_pair (tests/bt/rfcomm_pair.c with
# the project's own lib/ and p2p/ sources it needs, OpenSSL) for the in-guest tests.
# Uses only the libbluetooth headers (p2p/rfcomm.c needs no libbluetooth symbols).
set -eu
out=${1:?usage: build-pair.sh OUTDIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
CC=${CC:-gcc}
SRCS="tests/bt/rfcomm_pair.c p2p/rfcomm.c p2p/tls.c p2p/frame.c p2p/msg.c p2p/identity.c
p2p/netkey.c p2p/keyfile.c p2p/ossl.c p2p/transport.c p2p/tcp.c lib/util.c lib/log.c lib/buf.c"
for h in bluetooth/bluetooth.h bluetooth/rfcomm.h bluetooth/hci.h; do
	[ -f "/usr/include/$h" ] || { echo "build-pair: /usr/include/$h missing (apt-get install libbluetooth-dev)" >&2; exit 1; }
done
mkdir -p "$out"
# shellcheck disable=SC2086,SC2046 # SRCS and pkg-config output are word lists
$CC -std=c17 -O2 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -I. -pthread \
	$(pkg-config --cflags openssl) -o "$out/rfcomm_pair" $SRCS \
	$(pkg-config --libs openssl)
