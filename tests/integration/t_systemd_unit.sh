#!/usr/bin/env bash
# The systemd unit, offline (systemd need not run here):
#  1. `systemd-analyze verify --root` on p2p-storage@test.service installed into a scratch
#     root (with the host's units for the targets it references): no warning about it;
#     a deliberately broken copy must produce warnings (so the check is not vacuous).
#  2. `systemd-analyze security --offline`: exposure level at most 3.0.
#  3. The unit's ExecStart, with %i and the paths moved into a temp dir, run the way
#     systemd would (UMask=0077, NOTIFY_SOCKET, WATCHDOG_USEC/PID) on the example config:
#     it creates the data dir, serves GET /health on <datadir>/api.sock (mode 0600), sends
#     READY=1 and WATCHDOG=1 pings, and on SIGTERM sends STOPPING=1 and exits 0.
#  4. Config errors reach the journal as "FILE:LINE: ..." and a non-zero exit.
#  5. Every setting in the example config is one that `p2p serve` accepts.
cd "$(dirname "$0")" && . ./lib.sh || { echo "FAIL: cannot load lib.sh"; exit 1; }

ROOT=$(cd ../.. && pwd)

if ! command -v systemd-analyze >/dev/null; then
	# Installing the package in a container does not start systemd.
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		note "installing systemd for systemd-analyze"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			systemd >/dev/null 2>&1 || true
	fi
	command -v systemd-analyze >/dev/null || skip "systemd-analyze not available (package systemd)"
fi
[ -d /lib/systemd/system ] || skip "no /lib/systemd/system on this host"

# ---- stage an install: make install DESTDIR=$R with exactly $P2P_BIN ---------------------
B=$T/build
mkdir -p "$B" && cp "$P2P_BIN" "$B/p2p" || fail "cannot stage $P2P_BIN"
R=$T/root
make --no-print-directory -C "$ROOT" -o "$B/p2p" BUILD="$B" install DESTDIR="$R" \
	PREFIX=/usr/local >"$T/install.log" 2>&1 || fail "make install: $(tail -5 "$T/install.log")"
UNIT=$R/usr/local/lib/systemd/system/p2p-storage@.service
[ -f "$UNIT" ] || fail "make install did not install the unit"
# The targets and services the unit refers to: the host's own units.
mkdir -p "$R/lib/systemd/system" && cp -a /lib/systemd/system/. "$R/lib/systemd/system/" ||
	fail "cannot copy the host's units"

# ---- 1. systemd-analyze verify ----------------------------------------------------------
verify() { # verify ROOT: output in VOUT, status in VRC
	VOUT=$(systemd-analyze verify --man=no --root="$1" p2p-storage@test.service 2>&1)
	VRC=$?
}
verify "$R"
if [ "$VRC" != 0 ] || grep -qi 'p2p-storage' <<<"$VOUT"; then
	fail "systemd-analyze verify (exit $VRC): $VOUT"
fi
[ -z "$VOUT" ] || note "verify, about other units: $VOUT"
note "systemd-analyze verify: no warnings"

# Negative control: a bad key, a bad value and a missing binary must all be reported.
R2=$T/root-bad
cp -a "$R" "$R2"
sed -i -e 's/^UMask=.*/&\nNoSuchSetting=1\nProtectSystem=sometimes/' \
	"$R2/usr/local/lib/systemd/system/p2p-storage@.service"
rm -f "$R2/usr/local/bin/p2p"
verify "$R2"
assert_contains "$VOUT" "NoSuchSetting" "verify of a broken unit"
assert_contains "$VOUT" "sometimes" "verify of a broken unit"
assert_contains "$VOUT" "/usr/local/bin/p2p" "verify of a unit without its binary"
rm -rf "$R2"
note "systemd-analyze verify: catches broken units"

# ---- 2. systemd-analyze security --------------------------------------------------------
SOUT=$(systemd-analyze security --offline=yes --root="$R" p2p-storage@test.service 2>&1)
level=$(sed -n 's/.*Overall exposure level for p2p-storage@test.service: \([0-9.]*\).*/\1/p' <<<"$SOUT")
if [ -n "$level" ]; then
	awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }' ||
		fail "exposure level $level > 3.0: $(grep '✗' <<<"$SOUT" | head -20)"
	note "systemd-analyze security: exposure $level"
else
	note "systemd-analyze security --offline not usable here: ${SOUT:0:200}"
fi

# ---- 3. the ExecStart line, run by hand ----------------------------------------------------
line=$(sed -n 's/^ExecStart=//p' "$UNIT")
[ "$(grep -c '^ExecStart=' "$UNIT")" = 1 ] || fail "want exactly one ExecStart= line"
case $line in *\"* | *\'* | *\\* | *\$*) fail "ExecStart needs shell-free words: $line" ;; esac
grep -qx 'Type=notify' "$UNIT" || fail "unit is not Type=notify"
grep -qx 'StateDirectory=p2p-storage/%i' "$UNIT" || fail "StateDirectory is not p2p-storage/%i"
E=$T/etc/p2p-storage
S=$T/var/lib/p2p-storage
line=${line//%i/test}
line=${line//\/usr\/local\/bin\/p2p/$P2P_BIN}
line=${line//\/var\/lib\/p2p-storage\//$S/}
line=${line//\/etc\/p2p-storage\//$E/}
read -r -a cmd <<<"$line"
[ "${cmd[0]}" = "$P2P_BIN" ] || fail "ExecStart does not start with the binary: $line"
note "ExecStart: ${cmd[*]}"

mkdir -p "$E" "$S" || fail "mkdir"
CONF=$E/test.conf
install -m 0640 "$R/etc/p2p-storage/p2p-storage.conf.example" "$CONF"
DATA=$S/test # StateDirectory= creates it under systemd; here serve must

NS=$T/notify.sock
NLOG=$T/notify.log
have_socat=0
if command -v socat >/dev/null; then
	have_socat=1
	: >"$NLOG"
	socat -u "UNIX-RECV:$NS" "OPEN:$NLOG,append" 2>"$T/socat.err" &
	SOCAT=$!
	on_exit "kill $SOCAT 2>/dev/null"
	poll 5 test -S "$NS" || fail "socat did not create $NS: $(cat "$T/socat.err")"
else
	note "socat missing: not checking sd_notify messages"
fi

# As systemd runs it: umask 077, notify socket, watchdog every 2 s for this very PID.
(
	umask 077
	if [ "$have_socat" = 1 ]; then export NOTIFY_SOCKET=$NS; fi
	export WATCHDOG_USEC=2000000
	exec bash -c 'export WATCHDOG_PID=$$; exec "$@"' bash "${cmd[@]}"
) >"$T/serve.log" 2>&1 &
PID=$!
on_exit "kill -9 $PID 2>/dev/null"

up() { curl -sf --max-time 2 --unix-socket "$DATA/api.sock" http://x/health >/dev/null 2>&1; }
if ! poll 15 up; then
	kill -0 "$PID" 2>/dev/null || { wait "$PID"; note "serve exited with $?"; }
	fail "ExecStart did not serve /health on $DATA/api.sock within 15 s; log: $(tail -20 "$T/serve.log")"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$DATA/api.sock" http://x/health)
assert_eq "$code" 200 "GET /health"
assert_eq "$(stat -c %a "$DATA/api.sock")" 600 "api.sock mode"
[ -f "$DATA/p2p.db" ] || fail "no $DATA/p2p.db"
note "ExecStart: serving on $DATA/api.sock"

if [ "$have_socat" = 1 ]; then
	poll 5 grep -q 'READY=1' "$NLOG" || fail "no READY=1 on NOTIFY_SOCKET (got: $(cat "$NLOG"))"
	# WatchdogSec=2s: pings at least every 2 s, so two within 5 s.
	poll 5 bash -c "[ \$(grep -o 'WATCHDOG=1' '$NLOG' | wc -l) -ge 2 ]" ||
		fail "fewer than 2 WATCHDOG=1 pings in 5 s with WATCHDOG_USEC=2000000 (got: $(cat "$NLOG"))"
	note "sd_notify: READY=1 and watchdog pings"
fi

kill -TERM "$PID"
poll 30 bash -c "! kill -0 $PID 2>/dev/null" || fail "still running 30 s after SIGTERM (TimeoutStopSec=30s)"
wait "$PID"
rc=$?
assert_eq "$rc" 0 "exit status after SIGTERM"
if [ "$have_socat" = 1 ]; then
	grep -q 'STOPPING=1' "$NLOG" || fail "no STOPPING=1 on NOTIFY_SOCKET (got: $(cat "$NLOG"))"
fi
note "SIGTERM: clean exit"

# ---- 4. config errors -------------------------------------------------------------------
# A setting serve does not know, on line 3: the message names the file and the line.
printf '# test\nlog-level = info\nno-such-setting = 1\n' >"$CONF"
run timeout 20 "${cmd[@]}"
[ "$RC" != 0 ] || fail "serve accepted an unknown config key"
[ "$RC" != 124 ] || fail "serve with a bad config did not exit"
assert_contains "$ERR$OUT" "$CONF:3" "error for an unknown key"

# A world-writable config is refused.
printf 'log-level = info\n' >"$CONF"
chmod 0666 "$CONF"
run timeout 20 "${cmd[@]}"
[ "$RC" != 0 ] || fail "serve accepted a world-writable config"
assert_contains "$ERR$OUT" "world-writable" "error for a world-writable config"

# A missing config.
rm -f "$CONF"
run timeout 20 "${cmd[@]}"
[ "$RC" != 0 ] || fail "serve started without its config file"
assert_contains "$ERR$OUT" "$CONF: No such file or directory" "error for a missing config"
note "config errors: reported with file and line"

# ---- 5. every setting in the example is one serve knows ----------------------------------
# Uncomment them all (except the join ticket and key file, placeholders that need real
# values) and point --db below a regular file: serve must get past the config (exit 2
# would be a config error) and fail only at creating the data directory (exit 1).
EX=$T/all.conf
sed -e 's/^#\([a-z][a-z-]* = \)/\1/' -e '/^join = /d' -e '/^network-key = /d' \
	"$R/etc/p2p-storage/p2p-storage.conf.example" >"$EX"
chmod 0600 "$EX"
n=$(grep -c '^[a-z]' "$EX")
[ "$n" -ge 10 ] || fail "only $n settings in the example config"
: >"$T/not-a-dir"
run timeout 20 "$P2P_BIN" --db "$T/not-a-dir/d/p2p.db" serve --config "$EX"
assert_eq "$RC" 1 "serve with every example setting (stderr: ${ERR:0:300})"
assert_not_contains "$ERR" "$EX:" "serve with every example setting"
note "example config: all $n settings accepted"
exit 0
