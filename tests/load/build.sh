#!/bin/sh
# build.sh [OUT]: build tests/load/p2pload.c into OUT (default build/load/p2pload under the
# source tree) when it is missing or older than its source; print its absolute path.
# Needs cc and libevent (pkg-config libevent_core libevent_extra), both build deps of p2p.
set -eu
src=$(cd "$(dirname "$0")" && pwd)/p2pload.c
out=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/load/p2pload}
mkdir -p "$(dirname "$out")"
if [ ! -x "$out" ] || [ -n "$(find "$src" -newer "$out")" ]; then
	# shellcheck disable=SC2046
	${CC:-cc} -O2 -g -std=c17 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -o "$out.tmp.$$" "$src" \
		$(pkg-config --cflags --libs libevent_core libevent_extra) >&2
	mv "$out.tmp.$$" "$out"
fi
echo "$out"
