#!/usr/bin/env bash
# store / get / delete round trips at the chunk-size boundaries (64 KiB chunks, then the
# default 1 MiB), a 50 MiB file, get to stdout, store from stdin, files list / status JSON.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

K=65536
M=1048576

# check_store_line OUT KEY FILE CHUNK: "stored KEY: SIZE bytes, N chunks, sha256 HEX"
check_store_line() {
	local out=$1 key=$2 f=$3 cs=$4 size n hex re
	size=$(stat -c %s "$f"); n=$(( (size + cs - 1) / cs )); hex=$(sha256_of "$f")
	re='^stored (.*): ([0-9]+) bytes, ([0-9]+) chunks?, sha256 ([0-9a-f]{64})$'
	[[ $out =~ $re ]] || fail "store $key: output '$out' is not 'stored KEY: SIZE bytes, N chunks, sha256 HEX'"
	assert_eq "${BASH_REMATCH[1]}" "$key" "store $key: key printed"
	assert_eq "${BASH_REMATCH[2]}" "$size" "store $key: size printed"
	assert_eq "${BASH_REMATCH[3]}" "$n" "store $key: chunks printed (chunk size $cs)"
	assert_eq "${BASH_REMATCH[4]}" "$hex" "store $key: sha256 printed"
}

# roundtrip DIR KEY SIZE CHUNK: store a random file, get it back three ways, compare
roundtrip() {
	local d=$1 key=$2 size=$3 cs=$4 f=$T/in.$3
	rand_file "$f" "$size"
	run p2p "$d" store "$key" "$f"
	expect_rc 0 "store $key ($size B)"
	check_store_line "$OUT" "$key" "$f" "$cs"

	rm -f "$T/out"
	run p2p "$d" get "$key" --out "$T/out"
	expect_rc 0 "get $key --out FILE"
	assert_cmp "$f" "$T/out" "get $key --out FILE"

	p2p "$d" get "$key" --out - >"$T/out.stdout" || fail "get $key --out - exit $?"
	assert_cmp "$f" "$T/out.stdout" "get $key --out -"
	p2p "$d" get "$key" >"$T/out.stdout2" || fail "get $key (no --out) exit $?"
	assert_cmp "$f" "$T/out.stdout2" "get $key (stdout)"
	rm -f "$T/out" "$T/out.stdout" "$T/out.stdout2"
	note "round trip $key: $size B ok"
}

# expect_files DIR "KEY SIZE"...: files list --json has exactly these, in key order
expect_files() {
	local d=$1 got want; shift
	got=$(files_json "$d") || exit 1
	got=$(jq -r '.[] | "\(.key) \(.size)"' <<<"$got")
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
	assert_eq "$got" "$want" "files list --json (key size)"
}

expect_gone() {
	local d=$1 key=$2
	run p2p "$d" get "$key" --out "$T/gone"
	expect_rc 1 "get $key after delete"
	assert_contains "$ERR" "not found" "get $key after delete: stderr"
	[ ! -s "$T/gone" ] || fail "get of a deleted key wrote $(stat -c %s "$T/gone") bytes"
	rm -f "$T/gone"
}

# ---- 64 KiB chunks ----------------------------------------------------------------------------
A=$T/a
start_node "$A" "${ISOLATED[@]}" --chunk-size 64K

keys=() want=()
for size in 0 1 $((K - 1)) $K $((K + 1)) $((50 * M)); do
	roundtrip "$A" "rt/size-$size" "$size" "$K"
	keys+=("rt/size-$size"); want+=("rt/size-$size $size")
done

# store from stdin
rand_file "$T/stdin.bin" $((3 * K + 17))
run p2p "$A" store rt/stdin - <"$T/stdin.bin"
expect_rc 0 "store rt/stdin - < file"
check_store_line "$OUT" rt/stdin "$T/stdin.bin" "$K"
p2p "$A" get rt/stdin --out - >"$T/stdin.out" || fail "get rt/stdin exit $?"
assert_cmp "$T/stdin.bin" "$T/stdin.out"
keys+=(rt/stdin); want+=("rt/stdin $((3 * K + 17))")

# --quiet prints nothing on stdout
rand_file "$T/q.bin" 1000
run p2p "$A" store rt/quiet "$T/q.bin" --quiet
expect_rc 0 "store --quiet"
assert_eq "$OUT" "" "store --quiet stdout"
keys+=(rt/quiet); want+=("rt/quiet 1000")

# files list / status
expect_files "$A" "${want[@]}"
files=$(status_field "$A" files) || exit 1
assert_eq "$files" "${#keys[@]}" "status --json .files"
# every listed object carries the documented sha256 of its content
got=$(files_json "$A") || exit 1
assert_eq "$(jq -r '.[] | select(.key == "rt/stdin") | .sha256' <<<"$got")" \
	"$(sha256_of "$T/stdin.bin")" "files list --json sha256 of rt/stdin"

# delete everything: get then says "not found", a second delete fails
for k in "${keys[@]}"; do
	run p2p "$A" delete "$k"
	expect_rc 0 "delete $k"
	expect_gone "$A" "$k"
done
run p2p "$A" delete rt/stdin
expect_rc 1 "second delete of rt/stdin"
assert_contains "$ERR" "not found" "second delete: stderr"
expect_files "$A"
files=$(status_field "$A" files) || exit 1
assert_eq "$files" 0 "status --json .files after deleting everything"

# the same key can be stored again after a delete
roundtrip "$A" "rt/size-1" 1 "$K"
stop_node "$A"

# ---- default chunk size (1 MiB) ---------------------------------------------------------------
B=$T/b
start_node "$B" "${ISOLATED[@]}"
want=()
for size in $((M - 1)) $M $((M + 1)); do
	roundtrip "$B" "def/$size" "$size" "$M"
	want+=("def/$size $size")
done
expect_files "$B" "${want[@]}"
files=$(status_field "$B" files) || exit 1
assert_eq "$files" 3 "status --json .files (1 MiB node)"

# the data survive a clean restart
stop_node "$B"
start_node "$B" "${ISOLATED[@]}"
for size in $((M - 1)) $M $((M + 1)); do
	p2p "$B" get "def/$size" --out "$T/out" || fail "get def/$size after restart exit $?"
	assert_cmp "$T/in.$size" "$T/out"
	rm -f "$T/out"
done

# --verify: the client hashes the content too; the summary shows the real SHA-256
rand_file "$T/v.in" $((3 * M + 5))
want_sha=$(sha256sum "$T/v.in" | cut -c1-64)
run p2p "$B" store v "$T/v.in" --verify
expect_rc 0 "store --verify"
assert_contains "$OUT" "sha256 $want_sha" "store --verify summary"
run p2p "$B" get v --verify --out "$T/v.out"
expect_rc 0 "get --verify"
assert_cmp "$T/v.in" "$T/v.out"
stop_node "$B"
finish
