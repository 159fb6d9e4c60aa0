# shellcheck shell=bash
# scale_lib.sh: helpers shared by scripts/bench_scale.sh and tests/integration/t_scale_*.sh.
#
#   scale_add_peers DB N KIND   insert N peers straight into DB's peers table (the node must
#                               be stopped), matching db/db.c's schema: random 32-byte ids,
#                               status "disconnected", last seen now (so the daemon dials
#                               them), transport tcp. KIND: blackhole (192.0.2.0/24,
#                               TEST-NET-1: SYNs go unanswered) or refused (127.0.0.1 ports
#                               nothing listens on, from 1 up: connect fails at once)
#   scale_count DB SQL          one number from sqlite3

scale_add_peers() {
	local db=$1 n=$2 kind=$3 addr
	case $kind in
	blackhole) addr="'192.0.2.' || (i % 250 + 1) || ':' || (3000 + i)" ;;
	refused) addr="'127.0.0.1:' || i" ;;
	*) echo "scale_add_peers: KIND must be blackhole or refused" >&2; return 2 ;;
	esac
	sqlite3 -bail "$db" <<-SQL
	.timeout 10000
	BEGIN;
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n),
	  t(ms) AS (SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
	INSERT INTO peers (id, addr, transport, status, first_seen_ms, last_seen_ms,
	                   last_connect_ms, failures, rtt_us)
	  SELECT randomblob(32), $addr, 'tcp', 'disconnected', t.ms, t.ms, 0, 0, -1 FROM n, t;
	COMMIT;
	SQL
}

scale_count() {
	sqlite3 -bail -cmd '.timeout 10000' "$1" "$2"
}
