#!/bin/sh
# make test / make asan: unit tests then integration tests for the build in $1.
build=${1:-build}
rc=0
sh tests/run_unit.sh "$build"/tests/test_* || rc=1
# the unit tests under valgrind (about 50 s on 2 cores); not for sanitizer builds
case $build in *asan*) ;; *) echo "== valgrind"; sh tests/run_valgrind.sh "$build"/tests/test_* || rc=1 ;; esac
P2P_BIN=$(pwd)/$build/p2p sh tests/run_integration.sh || rc=1
echo "== fuzz-replay"; make --no-print-directory fuzz-replay || rc=1 # prints "fuzz-replay: N inputs, K crashes"
if [ $rc -eq 0 ]; then echo "ALL TESTS PASSED"; else echo "SOME TESTS FAILED"; fi
exit $rc
