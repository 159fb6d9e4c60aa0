#!/usr/bin/env bash
# make install / make uninstall and scripts/install.sh into scratch roots (DESTDIR):
# files and modes, the unit's ExecStart follows PREFIX, configs are never overwritten or
# removed, uninstall removes what install put there, install.sh is idempotent.
cd "$(dirname "$0")" && . ./lib.sh || { echo "FAIL: cannot load lib.sh"; exit 1; }

ROOT=$(cd ../.. && pwd)
command -v make >/dev/null || skip "make is not installed"

# Install exactly $P2P_BIN: stage it as BUILD/p2p and tell make not to rebuild it.
B=$T/build
mkdir -p "$B" && cp "$P2P_BIN" "$B/p2p" || fail "cannot stage $P2P_BIN"
mk() { make --no-print-directory -C "$ROOT" -o "$B/p2p" BUILD="$B" "$@"; }

mode_of() { stat -c %a -- "$1" 2>/dev/null || echo missing; }
assert_mode() { assert_eq "$(mode_of "$1")" "$2" "mode of ${1#"$T"/}"; }

# ---- make install, PREFIX=/usr/local ---------------------------------------------------
D=$T/root
run mk install DESTDIR="$D" PREFIX=/usr/local
expect_rc 0 "make install DESTDIR PREFIX=/usr/local"
UNIT=$D/usr/local/lib/systemd/system/p2p-storage@.service
assert_mode "$D/usr/local/bin/p2p" 755
assert_cmp "$P2P_BIN" "$D/usr/local/bin/p2p"
assert_mode "$UNIT" 644
assert_mode "$D/etc/p2p-storage/p2p-storage.conf.example" 644
assert_cmp "$ROOT/systemd/p2p-storage.conf.example" "$D/etc/p2p-storage/p2p-storage.conf.example"
assert_mode "$D/usr/local/share/doc/p2p/API.md" 644
[ ! -f "$ROOT/DEPLOYMENT.md" ] || assert_mode "$D/usr/local/share/doc/p2p/DEPLOYMENT.md" 644
grep -qx 'ExecStart=/usr/local/bin/p2p .*' "$UNIT" || fail "ExecStart does not run /usr/local/bin/p2p: $(grep ExecStart "$UNIT")"
grep -q '/etc/p2p-storage/%i.conf' "$UNIT" || fail "unit does not read /etc/p2p-storage/%i.conf"
# nothing outside DESTDIR: every installed path is under it (find lists only files there)
[ -z "$(find "$D" -name '*.tmp')" ] || fail "temporary files left: $(find "$D" -name '*.tmp')"
note "make install PREFIX=/usr/local: ok"

# A config next to the example survives install and uninstall.
printf 'log-level = debug\n' >"$D/etc/p2p-storage/a.conf"
chmod 0640 "$D/etc/p2p-storage/a.conf"
cp "$D/etc/p2p-storage/a.conf" "$T/a.conf.orig"
run mk install DESTDIR="$D" PREFIX=/usr/local
expect_rc 0 "make install again"
assert_cmp "$T/a.conf.orig" "$D/etc/p2p-storage/a.conf"
assert_mode "$D/etc/p2p-storage/a.conf" 640

run mk uninstall DESTDIR="$D" PREFIX=/usr/local
expect_rc 0 "make uninstall"
for f in usr/local/bin/p2p usr/local/lib/systemd/system/p2p-storage@.service \
	etc/p2p-storage/p2p-storage.conf.example usr/local/share/doc/p2p/API.md; do
	[ ! -e "$D/$f" ] || fail "make uninstall left /$f"
done
assert_cmp "$T/a.conf.orig" "$D/etc/p2p-storage/a.conf"
run mk uninstall DESTDIR="$D" PREFIX=/usr/local
expect_rc 0 "make uninstall twice"
note "make uninstall: ok (config kept)"

# ---- PREFIX=/usr: the unit follows the prefix ----------------------------------------
D2=$T/root-usr
run mk install DESTDIR="$D2" PREFIX=/usr
expect_rc 0 "make install PREFIX=/usr"
UNIT2=$D2/usr/lib/systemd/system/p2p-storage@.service
assert_mode "$D2/usr/bin/p2p" 755
grep -qx 'ExecStart=/usr/bin/p2p .*' "$UNIT2" || fail "PREFIX=/usr: ExecStart is $(grep ExecStart "$UNIT2")"
! grep -q /usr/local "$UNIT2" || fail "PREFIX=/usr: unit still mentions /usr/local: $(grep /usr/local "$UNIT2")"
note "make install PREFIX=/usr: ok"

# ---- scripts/install.sh, twice -------------------------------------------------------
# With DESTDIR it creates no user and calls no systemctl; --skip-deps when not root
# (deps.sh would need root for anything missing).
D3=$T/root-script
args=(--instance test)
[ "$(id -u)" = 0 ] || args+=(--skip-deps)
# Build and install $P2P_BIN itself when it is the tree's default build; otherwise
# install the staged copy without building.
if [ "$P2P_BIN" -ef "$ROOT/build/p2p" ]; then
	export BUILD=$ROOT/build
else
	export BUILD=$B
	args+=(--no-build)
fi
listing() { (cd "$D3" && find . -printf '%p %M %s\n' | sort); }

run env DESTDIR="$D3" PREFIX=/usr/local sh "$ROOT/scripts/install.sh" "${args[@]}"
expect_rc 0 "scripts/install.sh (first run)"
assert_mode "$D3/usr/local/bin/p2p" 755
assert_mode "$D3/usr/local/lib/systemd/system/p2p-storage@.service" 644
assert_mode "$D3/etc/p2p-storage/p2p-storage.conf.example" 644
assert_mode "$D3/etc/p2p-storage/test.conf" 640
assert_cmp "$ROOT/systemd/p2p-storage.conf.example" "$D3/etc/p2p-storage/test.conf"
assert_contains "$OUT" "created"
first=$(listing)

run env DESTDIR="$D3" PREFIX=/usr/local sh "$ROOT/scripts/install.sh" "${args[@]}"
expect_rc 0 "scripts/install.sh (second run)"
assert_eq "$(listing)" "$first" "files after the second run"
assert_contains "$OUT" "leaving it alone"

# An edited config is never overwritten.
printf 'log-level = warn\n' >"$D3/etc/p2p-storage/test.conf"
cp "$D3/etc/p2p-storage/test.conf" "$T/test.conf.edited"
run env DESTDIR="$D3" PREFIX=/usr/local sh "$ROOT/scripts/install.sh" "${args[@]}"
expect_rc 0 "scripts/install.sh (third run)"
assert_cmp "$T/test.conf.edited" "$D3/etc/p2p-storage/test.conf"

run env DESTDIR="$D3" sh "$ROOT/scripts/install.sh" --instance ../evil --skip-deps --no-build
expect_rc 2 "install.sh --instance ../evil"
[ ! -e "$D3/etc/evil.conf" ] || fail "install.sh wrote outside /etc/p2p-storage"
note "scripts/install.sh: ok, idempotent"
exit 0
