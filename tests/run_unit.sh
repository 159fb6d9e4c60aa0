#!/bin/sh
# Run each Check unit-test binary given; each prints Check's summary line.
# Exit non-zero if any binary fails.
fail=0
for t in "$@"; do
	case $t in *.d) continue ;; esac # make's dependency files sit beside the binaries
	[ -x "$t" ] || continue
	echo "== unit: $(basename "$t")"
	CK_FORK=yes "$t" || fail=1
done
exit $fail
