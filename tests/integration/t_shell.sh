#!/usr/bin/env bash
# `p2p shell` against a running daemon, commands piped on stdin (no terminal: no prompt,
# no line editing): store, get --out, files list, an unknown command (error printed, the
# shell goes on), the seed's verbs `set` / `list` (they print a hint), help, quit (the
# lines after it are not run), and end of input without quit.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

A=$T/a
start_node "$A" "${ISOLATED[@]}"

F=$T/in.bin
G=$T/out.bin
rand_file "$F" 300000

# shell_run LINES...: pipe the lines into `p2p shell --db A`; sets RC, OUT, ERR
shell_run() {
	printf '%s\n' "$@" >"$T/.shell.in"
	run timeout -k 5 "$P2P_TIMEOUT" "$P2P_BIN" shell --db "$A/p2p.db" <"$T/.shell.in"
}

shell_run \
	"store k \"$F\"" \
	"get k --out \"$G\"" \
	"files list" \
	"frobnicate now" \
	"set k v" \
	"list" \
	"help" \
	"# a comment line is ignored" \
	"" \
	"quit" \
	"delete k"
expect_rc 0 "shell session"

# store: its usual summary line
assert_contains "$OUT" "stored k: 300000 bytes" "shell stdout (store)"
# get --out: the file equals the input
[ -f "$G" ] || fail "get k --out $G in the shell wrote no file; stdout: $OUT; stderr: $ERR"
assert_cmp "$G" "$F" "get k --out in the shell"
# files list: the key with its size
grep -qE '^k[[:space:]].*300000' <<<"$OUT" ||
	grep -qE '(^|[[:space:]])k[[:space:]]+300000([[:space:]]|$)' <<<"$OUT" ||
	fail "files list in the shell does not list k with 300000 bytes: $OUT"
# the unknown command: an error naming it and its exit code, and the shell went on
assert_contains "$ERR" "frobnicate" "shell stderr (unknown command)"
assert_contains "$ERR" "(exit 2)" "shell stderr (unknown command exit code)"
# the seed's verbs print hints (stderr) and run nothing
assert_contains "$ERR" "use: store <key> <file>" "shell stderr (set hint)"
assert_contains "$ERR" "use: files list" "shell stderr (list hint)"
# help lists the commands and quit
assert_contains "$OUT" "commands (each as" "shell help"
assert_contains "$OUT" "  quit" "shell help"
# no prompt without a terminal
assert_not_contains "$OUT" "p2p> " "shell stdout (no prompt when stdin is not a terminal)"
# quit ended the shell: the `delete k` after it did not run
run p2p "$A" get k --out "$T/after"
expect_rc 0 "get k after the shell (the delete after quit must not have run)"
assert_cmp "$T/after" "$F" "get k after the shell"

# end of input without quit ends the shell with status 0; an error does not change it;
# errors after an error still run (both are reported)
shell_run "get missing-key --out \"$T/nope\"" "delete k" "files list"
expect_rc 0 "shell session ending at end of input"
assert_contains "$ERR" "(exit 1)" "shell stderr (get of a missing key)"
[ ! -e "$T/nope" ] || fail "get of a missing key in the shell left $T/nope"
[ "$(files_json "$A" | jq 'length')" = 0 ] || fail "delete k in the shell did not delete: $(files_json "$A")"
assert_not_contains "$OUT" "300000" "files list after delete in the shell"

# quoting: a key with a space
shell_run "store \"a b\" \"$F\"" "get 'a b' --out \"$T/ab\"" "exit"
expect_rc 0 "shell session with a quoted key"
assert_cmp "$T/ab" "$F" "get 'a b' in the shell"
shell_run 'store "unterminated' 'files list'
expect_rc 0 "shell session with an unterminated quote"
assert_contains "$ERR" "unterminated" "shell stderr (unterminated quote)"
assert_contains "$OUT" "a b" "files list after a bad line (the shell went on)"

stop_node "$A"
finish
