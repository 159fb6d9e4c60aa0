#!/bin/sh
# make fuzz-replay: run each replayer (build-fuzz/replay/fuzz_<name>, gcc + ASan/UBSan)
# over tests/fuzz/corpus/<name>/ and print one summary line:
#   fuzz-replay: N inputs, K crashes
# K counts harnesses that died (a replayer stops at its first crashing input, whose path
# it prints). Exit non-zero if any did.
dir=${FUZZ_DIR:-build-fuzz}
total=0
crashes=0
missing=0
for name in "$@"; do
	bin=$dir/replay/fuzz_$name
	corpus=tests/fuzz/corpus/$name
	if [ ! -d "$corpus" ]; then
		echo "fuzz-replay: no corpus $corpus" >&2
		missing=$((missing + 1))
		continue
	fi
	if out=$(ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$bin" "$corpus"); then
		n=$(printf '%s\n' "$out" | sed -n 's/^fuzz_[a-z_]*: \([0-9]*\) inputs$/\1/p')
		total=$((total + ${n:-0}))
	else
		printf '%s\n' "$out"
		echo "fuzz-replay: fuzz_$name FAILED (reproduce: $bin $corpus)" >&2
		crashes=$((crashes + 1))
	fi
done
echo "fuzz-replay: $total inputs, $crashes crashes"
[ "$missing" -eq 0 ] || echo "fuzz-replay: $missing corpus directories missing"
[ "$crashes" -eq 0 ] && [ "$missing" -eq 0 ]
