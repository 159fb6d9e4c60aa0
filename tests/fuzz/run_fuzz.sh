#!/bin/sh
# make fuzz: run each libFuzzer harness build-fuzz/libfuzzer/fuzz_<name> for FUZZ_SECONDS.
# New inputs go to a scratch corpus (build-fuzz/corpus/<name>/), seeded from
# tests/fuzz/corpus/<name>/, which stays untouched unless FUZZ_SAVE=1: then the inputs
# that add coverage are merged into it (-merge=1). Crash, leak and timeout inputs land in
# build-fuzz/artifacts/<name>/. Exit non-zero if any harness found something.
dir=${FUZZ_DIR:-build-fuzz}
secs=${FUZZ_SECONDS:-60}
failed=""
for name in "$@"; do
	bin=$dir/libfuzzer/fuzz_$name
	seeds=tests/fuzz/corpus/$name
	scratch=$dir/corpus/$name
	art=$dir/artifacts/$name
	mkdir -p "$scratch" "$art" "$seeds"
	dict=""
	[ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
	opts=""
	[ -f "tests/fuzz/$name.options" ] && opts=$(cat "tests/fuzz/$name.options")
	echo "== fuzz: $name for ${secs}s"
	# shellcheck disable=SC2086
	if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    "$bin" -max_total_time="$secs" -print_final_stats=1 \
	    -artifact_prefix="$art/" $dict $opts $FUZZ_ARGS "$scratch" "$seeds" \
	    2>"$dir/fuzz_$name.log"; then
		grep -E '^stat::number_of_executed_units|^Done ' "$dir/fuzz_$name.log"
	else
		tail -n 40 "$dir/fuzz_$name.log"
		echo "fuzz: $name FAILED: see $dir/fuzz_$name.log and $art/" >&2
		failed="$failed $name"
		continue
	fi
	if [ "${FUZZ_SAVE:-0}" = 1 ]; then
		"$bin" -merge=1 $dict "$seeds" "$scratch" 2>>"$dir/fuzz_$name.log" ||
			echo "fuzz: $name: merge into $seeds failed" >&2
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed"
	exit 1
fi
echo "fuzz: all harnesses ran clean"
