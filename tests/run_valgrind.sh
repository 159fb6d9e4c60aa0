#!/bin/sh
# Run each Check unit-test binary given under valgrind (memcheck): any invalid access,
# use of uninitialised memory or definite/indirect/possible leak fails it (exit 1).
# CK_FORK=no: the tests run in the binary's own process, so valgrind sees them all (a
# forking runner would hide the children's errors and leaks from the parent's report).
# Suppressions: tests/valgrind.supp (libraries' one-time allocations only).
# Prints one line per binary and "valgrind: N passed, N failed" at the end.
command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (sh scripts/deps.sh)"; exit 1; }
supp=$(dirname "$0")/valgrind.supp
pass=0 failn=0 failed=""
for t in "$@"; do
	case $t in *.d) continue ;; esac
	[ -x "$t" ] || continue
	log=$(mktemp)
	start=$(date +%s)
	CK_FORK=no CK_DEFAULT_TIMEOUT=600 valgrind -q --error-exitcode=1 --leak-check=full \
	    --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
	    --track-origins=yes --suppressions="$supp" --log-file="$log" "$t" >"$log.out" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "valgrind $(basename "$t"): clean (${secs}s; $(grep -h '^[0-9]*%: Checks' "$log.out" | tail -1))"
	else
		failn=$((failn + 1))
		failed="$failed $(basename "$t")"
		echo "valgrind $(basename "$t"): FAILED (exit $rc, ${secs}s)"
		grep -v '^==[0-9]*== *$' "$log" | head -n 80 | sed 's/^/    | /'
		grep -E '^[0-9]+%: Checks|:[EF]:' "$log.out" | head -n 20 | sed 's/^/    > /'
	fi
	rm -f "$log" "$log.out"
done
echo "valgrind: $pass passed, $failn failed"
[ -n "$failed" ] && echo "failed:$failed"
[ "$failn" -eq 0 ]
