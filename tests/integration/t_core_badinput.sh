#!/usr/bin/env bash
# Bad input to the CLI and to the HTTP API: bad keys, path-like keys, missing/unreadable
# files, bad --out, unknown keys/commands/flags, no daemon, and the API's error statuses.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

A=$T/a
start_node "$A" "${ISOLATED[@]}"
rand_file "$T/f" 5000

# ---- usage --------------------------------------------------------------------------------------
run "$P2P_BIN" --help; expect_rc 0 "p2p --help"
[ -n "$OUT$ERR" ] || fail "p2p --help printed nothing"
run "$P2P_BIN" store --help; expect_rc 0 "p2p store --help"
run "$P2P_BIN" version; expect_rc 0 "p2p version"
[ -n "$OUT" ] || fail "p2p version printed nothing on stdout"

run p2p "$A" frobnicate; expect_rc 2 "unknown command"
[ -n "$ERR" ] || fail "unknown command: nothing on stderr"
run p2p "$A" store --bogus k "$T/f"; expect_rc 2 "store --bogus"
run p2p "$A" get k --bogus; expect_rc 2 "get k --bogus"
run p2p "$A" files list --bogus; expect_rc 2 "files list --bogus"
run "$P2P_BIN" --bogus --db "$A/p2p.db" status; expect_rc 2 "p2p --bogus"
run p2p "$A" store onlykey; expect_rc 2 "store with a missing argument"
run p2p "$A" get; expect_rc 2 "get without a key"

# ---- bad keys: exit 2, a message about the key ------------------------------------------------
long=$(printf 'k%.0s' $(seq 1025))
for bad in "" "$long" $'a\x01b' $'a\xffb' $'a\nb'; do
	shown=$(printf '%q' "${bad:0:20}")
	run p2p "$A" store "$bad" "$T/f"
	expect_rc 2 "store with bad key $shown (${#bad} chars)"
	assert_contains "$ERR" "key" "store bad key $shown: stderr"
	run p2p "$A" get "$bad" --out "$T/never"
	expect_rc 2 "get with bad key $shown"
	run p2p "$A" delete "$bad"
	expect_rc 2 "delete with bad key $shown"
done
[ ! -e "$T/never" ] || fail "get with a bad key created its --out file"
assert_eq "$(files_json "$A" | jq length)" 0 "files after bad-key stores"

# 1024 bytes is the limit, and it is allowed; so is non-ASCII UTF-8
max=$(printf 'm%.0s' $(seq 1024))
for good in "$max" "données/été ✓" "a b"; do
	run p2p "$A" store "$good" "$T/f"; expect_rc 0 "store with key of ${#good} chars"
	rm -f "$T/out"; run p2p "$A" get "$good" --out "$T/out"; expect_rc 0 "get of a ${#good}-char key"
	assert_cmp "$T/f" "$T/out"
	run p2p "$A" delete "$good"; expect_rc 0 "delete ${#good}-char key"
done

# ---- a key that looks like a path is only a name -------------------------------------------------
pathkeys=("../../etc/passwd" "/etc/passwd" "../x" "./." "." ".." "a/../../b" "a/./b" "%2e%2e")
passwd_sum=$(sha256_of /etc/passwd)
passwd_stat=$(stat -c '%s %Y' /etc/passwd)
find "$A" ! -path "$A/log" | sort >"$T/before"
# what lies next to the data dir, and whether $T/.. has an "etc"
outside() { find "$T" -mindepth 1 -maxdepth 1 | sort; [ -e "$(dirname "$T")/etc" ] && echo "../etc"; true; }
rm -f "$T/out"
outside_before=$(outside)
stored=()
for k in "${pathkeys[@]}"; do
	run p2p "$A" store "$k" "$T/f"
	if [ "$RC" != 0 ]; then
		fail_later "store key '$k': exit $RC, want 0: $ERR"
		continue
	fi
	stored+=("$k")
	rm -f "$T/out"; run p2p "$A" get "$k" --out "$T/out"; expect_rc 0 "get key '$k'"
	assert_cmp "$T/f" "$T/out"
done
keys=$(files_json "$A" | jq -r '.[].key' | sort)
assert_eq "$keys" "$(printf "%s\n" "${stored[@]}" | sort)" "keys listed verbatim"
assert_eq "$(sha256_of /etc/passwd)" "$passwd_sum" "/etc/passwd content"
assert_eq "$(stat -c '%s %Y' /etc/passwd)" "$passwd_stat" "/etc/passwd size/mtime"
rm -f "$T/out"
assert_eq "$(outside)" "$outside_before" "entries next to the data dir"
# only chunk files, their fan-out directories and SQLite side files may be new
find "$A" ! -path "$A/log" | sort >"$T/after"
new=$(comm -13 "$T/before" "$T/after" |
	grep -v -E "^$A/chunks/[0-9a-f]{2}(/[0-9a-f]{2}(/[0-9a-f]{64})?)?\$" |
	grep -v -E "^$A/p2p\.db-(wal|shm|journal)\$" || true)
[ -z "$new" ] || fail "unexpected new paths in the data dir: $new"
for k in "${stored[@]}"; do
	run p2p "$A" delete "$k"; expect_rc 0 "delete key '$k'"
done

# ---- input and output files --------------------------------------------------------------------
run p2p "$A" store k "$T/no/such/file"
expect_rc 1 "store of a missing file"
assert_contains "$ERR" "$T/no/such/file" "store of a missing file: stderr"

if [ "$(id -u)" = 0 ]; then
	note "running as root: skipping the unreadable-file check (root reads mode 000 files)"
else
	rand_file "$T/unreadable" 100
	chmod 000 "$T/unreadable"
	run p2p "$A" store k "$T/unreadable"
	expect_rc 1 "store of an unreadable file"
	assert_contains "$ERR" "$T/unreadable" "store of an unreadable file: stderr"
	chmod 600 "$T/unreadable"
fi
assert_eq "$(files_json "$A" | jq length)" 0 "files after failed stores"

run p2p "$A" store k "$T/f"; expect_rc 0 "store k"
run p2p "$A" get k --out "$T/missing-dir/out"
expect_rc 1 "get --out into a missing directory"
[ ! -e "$T/missing-dir" ] || fail "get --out created $T/missing-dir"
assert_contains "$ERR" "$T/missing-dir" "get --out into a missing directory: stderr"

run p2p "$A" get no-such-key --out "$T/out"
expect_rc 1 "get of an unknown key"
assert_contains "$ERR" "not found" "get of an unknown key: stderr"
[ ! -e "$T/out" ] || fail "get of an unknown key left $T/out behind"
run p2p "$A" get no-such-key
expect_rc 1 "get of an unknown key to stdout"
assert_eq "$OUT" "" "get of an unknown key: stdout"
run p2p "$A" delete no-such-key
expect_rc 1 "delete of an unknown key"
assert_contains "$ERR" "not found" "delete of an unknown key: stderr"

# ---- no daemon ---------------------------------------------------------------------------------
stop_node "$A"
for c in "store k2 $T/f" "get k --out $T/out" "status" "delete k"; do
	# shellcheck disable=SC2086
	run p2p "$A" $c
	expect_rc 1 "'$c' with no daemon"
	assert_eq "$(grep -c . <<<"$ERR")" 1 "lines on stderr of '$c' with no daemon ($ERR)"
	assert_contains "$ERR" "serve" "'$c' with no daemon: stderr"
done
[ ! -e "$T/out" ] || fail "get with no daemon created its --out file"
run p2p "$A" files list; expect_rc 0 "files list with no daemon"
assert_contains "$OUT" "k" "files list with no daemon"
got=$(files_json "$A") || exit 1
assert_eq "$(jq -r '[.[].key] | join(",")' <<<"$got")" "k" "files list --json with no daemon"
run p2p "$A" verify; expect_rc 0 "verify with no daemon"

# ---- the HTTP API --------------------------------------------------------------------------------
start_node "$A" "${ISOLATED[@]}"
api "$A" PUT /v1/files/a%00b --data-binary @"$T/f"
expect_json_error 400 "PUT /v1/files/a%00b"
api "$A" PUT /v1/files/a%01b --data-binary @"$T/f"
expect_json_error 400 "PUT /v1/files/a%01b"
api "$A" PUT /v1/files/a%FFb --data-binary @"$T/f"
expect_json_error 400 "PUT /v1/files/a%FFb (invalid UTF-8)"
api "$A" PUT /v1/files/ --data-binary @"$T/f"
[ "$HTTP" = 400 ] || [ "$HTTP" = 404 ] || [ "$HTTP" = 405 ] || fail "PUT /v1/files/ (empty key): HTTP $HTTP"
api "$A" GET /v1/no/such/path
expect_json_error 404 "GET /v1/no/such/path"
api "$A" GET /nope
expect_json_error 404 "GET /nope"
api "$A" GET /v1/files/no-such-key
expect_json_error 404 "GET /v1/files/no-such-key"
api "$A" DELETE /v1/files/no-such-key
expect_json_error 404 "DELETE /v1/files/no-such-key"

# direct PUT: 4 MiB is allowed, one byte more is 413
rand_file "$T/4m" $((4 << 20))
api "$A" PUT /v1/files/direct --data-binary @"$T/4m"
[ "$HTTP" = 201 ] || fail "direct PUT of 4 MiB: HTTP $HTTP, want 201: ${BODY:0:300}"
assert_eq "$(jq -r .size <<<"$BODY")" $((4 << 20)) "direct PUT reply .size"
rm -f "$T/out"; p2p "$A" get direct --out "$T/out" || fail "get direct exit $?"
assert_cmp "$T/4m" "$T/out"
rand_file "$T/4m1" $(((4 << 20) + 1))
api "$A" PUT /v1/files/toobig --data-binary @"$T/4m1"
# API.md: over the hard body limit libevent itself answers 413 with an HTML page
[ "$HTTP" = 413 ] || fail_later "direct PUT of 4 MiB + 1: HTTP $HTTP, want 413: ${BODY:0:300}"
jq -e .error >/dev/null 2>&1 <<<"$BODY" || note "direct PUT of 4 MiB + 1: 413 from libevent (HTML body, documented)"
api "$A" GET /v1/files/toobig
expect_json_error 404 "GET after a rejected PUT"

# upload sessions: parts out of order are 409, a part over the chunk size is 413
api "$A" POST /v1/uploads
[ "$HTTP" = 201 ] || fail "POST /v1/uploads: HTTP $HTTP: ${BODY:0:300}"
up=$(jq -er .upload <<<"$BODY") || fail "POST /v1/uploads: no .upload in ${BODY:0:300}"
cs=$(jq -er .chunk_size <<<"$BODY") || fail "POST /v1/uploads: no .chunk_size in ${BODY:0:300}"
head -c "$cs" /dev/urandom >"$T/part"
api "$A" PUT "/v1/uploads/$up/1" --data-binary @"$T/part"
expect_json_error 409 "PUT part 1 before part 0"
api "$A" DELETE "/v1/uploads/$up"
[ "$HTTP" = 200 ] || [ "$HTTP" = 204 ] || [ "$HTTP" = 404 ] || fail "DELETE /v1/uploads/ID: HTTP $HTTP"

api "$A" POST /v1/uploads
up=$(jq -er .upload <<<"$BODY") || fail "POST /v1/uploads: ${BODY:0:300}"
api "$A" PUT "/v1/uploads/$up/0" --data-binary @"$T/part"
[ "$HTTP" = 202 ] || fail "PUT part 0: HTTP $HTTP, want 202: ${BODY:0:300}"
api "$A" PUT "/v1/uploads/$up/0" --data-binary @"$T/part"
expect_json_error 409 "PUT part 0 twice"
api "$A" DELETE "/v1/uploads/$up"

api "$A" POST /v1/uploads
up=$(jq -er .upload <<<"$BODY") || fail "POST /v1/uploads: ${BODY:0:300}"
head -c $((cs + 1)) /dev/urandom >"$T/bigpart"
api "$A" PUT "/v1/uploads/$up/0" --data-binary @"$T/bigpart"
expect_json_error 413 "PUT a part of chunk_size + 1 bytes"
api "$A" DELETE "/v1/uploads/$up"

api "$A" PUT "/v1/files/x?upload=no-such-upload"
[ "$HTTP" = 404 ] || [ "$HTTP" = 400 ] || fail "commit of an unknown upload: HTTP $HTTP, want 404 (or 400)"
api "$A" PUT "/v1/uploads/no-such-upload/0" --data-binary @"$T/part"
[ "$HTTP" = 404 ] || [ "$HTTP" = 400 ] || fail "part of an unknown upload: HTTP $HTTP, want 404 (or 400)"

# nothing of the above became a file; the daemon still serves and stops cleanly
got=$(files_json "$A") || exit 1
assert_eq "$(jq -r '[.[].key] | join(",")' <<<"$got")" "direct,k" "files after the API errors"
health "$A" || fail "daemon stopped answering /health"
run p2p "$A" verify; expect_rc 0 "verify at the end"
stop_node "$A"
finish
