#!/bin/sh
# setup_local_nodes.sh: prepare three local nodes for the README's examples.
#
#   sh scripts/setup_local_nodes.sh [BASE]        (BASE defaults to /tmp/p2p-local)
#
# Creates (mode 0700 directories, 0600 key files; existing keys are kept):
#   BASE/node1/network.key   one network key (64 hex characters), shared by the three
#   BASE/node2/network.key     nodes: each node reads <datadir>/network.key by default,
#   BASE/node3/network.key     so they are in the same network without --join
#   BASE/commands            the commands below, to copy-paste
# and prints the commands that start the nodes in a chain on loopback:
#   node1 on 127.0.0.1:3000, node2 on :4000 bootstrapped to 3000, node3 on :5000
#   bootstrapped to 4000 (node3 then learns node1 from node2).
# Each node's database, chunks and identity (node.key) are created by `p2p serve` on
# first start. Remove everything with: rm -rf BASE
# (The other way to share the key: start node1 alone, run `p2p --db BASE/node1/p2p.db
# invite`, and start the others with --join TICKET.)
set -eu
BASE=${1:-/tmp/p2p-local}
P2P=${P2P_BIN:-p2p}
command -v openssl >/dev/null 2>&1 || { echo "setup_local_nodes: needs openssl" >&2; exit 1; }

umask 077
mkdir -p "$BASE/node1" "$BASE/node2" "$BASE/node3"
chmod 700 "$BASE" "$BASE/node1" "$BASE/node2" "$BASE/node3"
if [ -f "$BASE/node1/network.key" ]; then
	echo "keeping the existing key $BASE/node1/network.key"
else
	openssl rand -hex 32 >"$BASE/node1/network.key.tmp"
	mv "$BASE/node1/network.key.tmp" "$BASE/node1/network.key"
fi
for n in node2 node3; do
	if [ -f "$BASE/$n/network.key" ] && ! cmp -s "$BASE/$n/network.key" "$BASE/node1/network.key"; then
		echo "setup_local_nodes: $BASE/$n/network.key differs from node1's; remove it first" >&2
		exit 1
	fi
	cp "$BASE/node1/network.key" "$BASE/$n/network.key"
	chmod 600 "$BASE/$n/network.key"
done
chmod 600 "$BASE/node1/network.key"

cat >"$BASE/commands" <<EOC
# three terminals (or append ' &' to each):
$P2P --db $BASE/node1/p2p.db serve --listen 127.0.0.1:3000
$P2P --db $BASE/node2/p2p.db serve --listen 127.0.0.1:4000 --bootstrap 127.0.0.1:3000
$P2P --db $BASE/node3/p2p.db serve --listen 127.0.0.1:5000 --bootstrap 127.0.0.1:4000
# then:
$P2P --db $BASE/node3/p2p.db peers        # node1 and node2, connected
$P2P --db $BASE/node1/p2p.db status
EOC
echo "prepared $BASE/node1, node2, node3 (one shared network key); start them with:"
cat "$BASE/commands"
