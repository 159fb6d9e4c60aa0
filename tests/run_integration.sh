#!/bin/sh
# Run every tests/integration/t_*.sh against $P2P_BIN. Each script exits 0 (pass),
# 77 (skip, with a SKIP line) or anything else (fail). Prints "N passed, N failed, N skipped".
# TESTS="t_a t_b" restricts the run.
cd "$(dirname "$0")/integration" || exit 1
: "${P2P_BIN:?P2P_BIN must name the p2p binary}"
export P2P_BIN
pass=0 failn=0 skip=0 failed=""
for t in ${TESTS:-$(ls t_*.sh | sed 's/\.sh$//')}; do
	start=$(date +%s)
	out=$(mktemp)
	bash "./$t.sh" >"$out" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $t (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP $t: $(grep -m1 '^SKIP' "$out" | sed 's/^SKIP:* *//')" ;;
	*) failn=$((failn + 1)); failed="$failed $t"; echo "FAIL $t (exit $rc, ${secs}s)"
		# the test's own FAIL lines first (the logs dumped after them can be long), then the tail
		grep -E '^FAIL' "$out" | head -n 10 | sed 's/^/    ! /'
		sed 's/^/    | /' "$out" | tail -n 60 ;;
	esac
	rm -f "$out"
done
echo "integration: $pass passed, $failn failed, $skip skipped"
[ -n "$failed" ] && echo "failed:$failed"
[ "$failn" -eq 0 ]
