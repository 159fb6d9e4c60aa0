#!/usr/bin/env bash
# kill -9 of a node at random points during store, replication and delete (issue 8,
# faults): 3 nodes (replicas 3, min copies 2), ITER=20 iterations, each one of
#   store/writer    a store on X, X killed after a random delay (while it stages, commits
#                   or pushes its chunks);
#   store/receiver  a store on X, another node Y killed (while it receives replicas);
#   delete          a delete on X of an acknowledged file, X or Y killed (while the
#                   tombstone is committed or applied).
# The killed node restarts (same port); once the three agree on the key, checked on every
# node: the key is absent, deleted or complete (a get is byte-equal: no half manifest, no
# corrupt chunk served); an acknowledged store (CLI exit 0) is present; an acknowledged
# delete is deleted; every earlier acknowledged delete is still deleted (never comes
# back); `p2p verify` is clean; the chunk files on disk match the database (no orphan)
# and chunks/tmp is left empty.
# At the end every acknowledged store that was not deleted reads back byte-equal on every
# node. Env: SEED=N replays a run's choices and delays (the timing of the machine still
# varies), ITER=20, MAXDELAY_MS=80 (store kill window: a 6 MiB store takes about 50 ms on
# loopback; deletes use a fifth of it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

SEED=${SEED:-$(( (10#$(date +%N) ^ $$) % 1000000 ))}
RANDOM=$SEED
echo "# seed $SEED (SEED=$SEED replays the same choices and kill delays)"
ITER=${ITER:-20} MAXDELAY_MS=${MAXDELAY_MS:-80}

A=$T/a B=$T/b C=$T/c
NODES=("$A" "$B" "$C")
declare -A PORT=()
# up DIR: start (or restart, on its earlier port) a node of the network
up() {
	local d=$1 args=(--listen "127.0.0.1:${PORT[$1]:-0}" --no-mdns --anti-entropy 1s)
	[ "$d" = "$A" ] || args+=(--network-key "$T/net.key" --bootstrap "127.0.0.1:${PORT[$A]}")
	start_node "$d" "${args[@]}"
	[ -e "$T/net.key" ] || install -m 0600 "$A/network.key" "$T/net.key"
	PORT[$d]=$(port_of "$d")
}
all_connected() { local d; for d in "${NODES[@]}"; do wait_connected 30 "$d" 2; done; }
name() { basename "$1"; }
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# agreed KEY: the three nodes list KEY alike (version, "deleted" or ""); prints it
same_version() {
	local v0 d
	v0=$(file_version "$A" "$1") || return 1
	for d in "$B" "$C"; do [ "$(file_version "$d" "$1")" = "$v0" ] || return 1; done
	echo "$v0"
}
agreed() {
	poll 60 same_version "$1" >/dev/null ||
		fail "$2: the nodes do not agree on $1 after 60 s: A '$(file_version "$A" "$1")', B '$(file_version "$B" "$1")', C '$(file_version "$C" "$1")'"
	same_version "$1"
}
# check_key KEY FILE WHAT: KEY is complete and byte-equal on every node
check_key() {
	local d
	for d in "${NODES[@]}"; do
		rm -f "$T/got"
		run p2p "$d" get "$1" --out "$T/got" --quiet
		expect_rc 0 "$3: get $1 on $(name "$d")"
		assert_cmp "$2" "$T/got" "$3: get $1 on $(name "$d")"
	done
	rm -f "$T/got"
}
# check_gone KEY WHAT: a get of KEY says "not found" on every node
check_gone() {
	local d
	for d in "${NODES[@]}"; do
		run p2p "$d" get "$1" --out "$T/got"
		expect_rc 1 "$2: get $1 on $(name "$d")"
		assert_contains "$ERR" "not found" "$2: get $1 on $(name "$d")"
	done
}

up "$A"; up "$B"; up "$C"
all_connected
declare -A STORED=() DELETED=() # acknowledged stores (key -> file) and deletes
for ((i = 0; i < 4; i++)); do
	rand_file "$T/base$i" $(( (i + 1) * 700000 ))
	run p2p "${NODES[i % 3]}" store "base$i" "$T/base$i" --quiet
	expect_rc 0 "store base$i"
	STORED[base$i]=$T/base$i
done
stats=""

for ((it = 1; it <= ITER; it++)); do
	x=$((RANDOM % 3)) y=$(( (x + 1 + RANDOM % 2) % 3 ))
	X=${NODES[x]} Y=${NODES[y]}
	kind=$(( (it - 1) % 3 ))
	live=()
	for k in "${!STORED[@]}"; do live+=("$k"); done
	[ "$kind" = 2 ] && [ "${#live[@]}" -lt 2 ] && kind=0
	case $kind in
	0|1)
		key=k$it
		size=$(( (RANDOM % 6) * 1048576 + RANDOM * 16 + 1 ))
		rand_file "$T/$key" "$size"
		V=$X; [ "$kind" = 1 ] && V=$Y
		delay=$((RANDOM % (MAXDELAY_MS + 1)))
		what="iteration $it: store $key ($size bytes) on $(name "$X"), kill -9 of $(name "$V") after $(ms "$delay") s"
		p2p "$X" store "$key" "$T/$key" --quiet >"$T/op.out" 2>&1 &
		;;
	2)
		key=$(printf '%s\n' "${live[@]}" | sort | sed -n "$((RANDOM % ${#live[@]} + 1))p")
		V=$X; [ $((RANDOM % 2)) = 1 ] && V=$Y
		delay=$((RANDOM % (MAXDELAY_MS / 5 + 1)))
		what="iteration $it: delete $key on $(name "$X"), kill -9 of $(name "$V") after $(ms "$delay") s"
		p2p "$X" delete "$key" >"$T/op.out" 2>&1 &
		;;
	esac
	opid=$!
	track "$opid"
	sleep "$(ms "$delay")"
	kill9_node "$V"
	wait "$opid"; orc=$?
	[ "$orc" = 124 ] && fail "$what: the CLI hung"
	up "$V"
	all_connected

	v=$(agreed "$key" "$what") || exit 1
	if [ "$kind" = 2 ]; then
		if [ "$orc" = 0 ]; then
			[ "$v" = deleted ] || fail "$what: delete acknowledged, but $key is '$v'"
			DELETED[$key]=1
			unset "STORED[$key]"
			state="deleted (acknowledged)"
		elif [ "$v" = deleted ]; then
			DELETED[$key]=1 # deleted after all: it must stay so from now on
			unset "STORED[$key]"
			state="deleted (not acknowledged: $(head -c 120 "$T/op.out"))"
		else
			check_key "$key" "${STORED[$key]}" "$what (delete not acknowledged)"
			state="kept (delete not acknowledged)"
		fi
		[ "$v" = deleted ] && check_gone "$key" "$what"
	else
		if [ -n "$v" ] && [ "$v" != deleted ]; then
			check_key "$key" "$T/$key" "$what"
			STORED[$key]=$T/$key
			state="present (store exit $orc)"
		else
			[ "$orc" != 0 ] || fail "$what: the store was acknowledged ($(cat "$T/op.out")), but $key is '$v' after the restart"
			[ -z "$v" ] || fail "$what: $key is '$v' but nobody deleted it"
			check_gone "$key" "$what"
			rm -f "$T/$key"
			state="absent (store exit $orc)"
		fi
	fi
	kinds=(writer receiver delete)
	stats+="${kinds[kind]}:${state%% *}:$([ "$orc" = 0 ] && echo ack || echo noack) "
	echo "# $what: $state"

	# every node lists exactly the files stored and not deleted: no deleted key back (nor
	# as a conflict copy), nothing else
	printf '%s\n' "${!STORED[@]}" | sort >"$T/want"
	for d in "${NODES[@]}"; do
		files_json "$d" | jq -r '.[].key' | sort >"$T/list" || exit 1
		cmp -s "$T/want" "$T/list" ||
			fail "$what: $(name "$d") lists other files than expected: $(diff "$T/want" "$T/list" | grep '^[<>]' | head -5 | tr '\n' ' ')"
	done
	for d in "${NODES[@]}"; do
		run p2p "$d" verify --quiet
		expect_rc 0 "$what: verify on $(name "$d")"
		poll 20 chunks_match_db "$d" ||
			fail "$what: $(name "$d") has $(count_chunks "$d") chunk files but its database $(status_field "$d" chunks) (orphans?)"
		poll 20 bash -c "[ \$(find $d/chunks/tmp -mindepth 1 | wc -l) = 0 ]" ||
			fail "$what: $(name "$d") keeps $(tmp_entries "$d") entries in chunks/tmp"
	done
done

note "outcomes (kind:state:acknowledged):$(tr ' ' '\n' <<<"$stats" | grep . | sort | uniq -c | tr -s ' \n' ' ')"
for k in $(printf '%s\n' "${!STORED[@]}" | sort); do check_key "$k" "${STORED[$k]}" "at the end"; done
for k in "${!DELETED[@]}"; do check_gone "$k" "at the end"; done
note "${#STORED[@]} files intact on every node, ${#DELETED[@]} deletes held"
finish
