#!/bin/sh
# Run each Check unit-test binary given; each prints Check's summary line.
# Exit non-zero if any binary fails.
fail=0
for t in "$@"; do
	echo "== unit: $(basename "$t")"
	CK_FORK=yes "$t" || fail=1
done
exit $fail
