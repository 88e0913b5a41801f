#!/bin/bash
# supervisor_logs: the workers' output reaches the supervisor's stderr line by
# line with the worker's name, the journald priority prefix kept in front; two
# programs flooding at once lose no line and never interleave inside one; an
# over-long line is cut and marked; while they flood the supervisor still
# answers at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

N=100000
sv_library
cat >"$T/flood.sh" <<EOS
#!/bin/sh
echo plain start
seq 1 $N | sed "s/^/<4>\$1 line /"
printf '%10000s\n' '' | tr ' ' x
printf 'nul\0byte\n'
echo '<3>done'
exec sleep 1000
EOS
chmod 755 "$T/flood.sh"
flood() { # NAME
	echo "{ name = \"$1\"; command = [ \"/bin/sh\", \"$T/flood.sh\", \"$1\" ]; }"
}
sv_config "programs = ( $(flood flooda), $(flood floodb) );"
start_bg sv "$MF" run -c "$T/mf.conf" --watchdog-sec 10
SV_PID=$LAST_PID
register_mount "$MNT"

# The supervisor answers while they flood.
wait_for 30 sv_state_is running || fail "not running"
t0=$(now_ms)
sv_status >/dev/null || fail "no status while flooding"
echo "# status round trip while two programs flood: $(($(now_ms) - t0)) ms (CLI start included, ASan build)"
done_both() { [ "$(grep -c '^<3>flood[ab]: done$' "$T/sv.log")" -eq 2 ]; }
wait_for 120 done_both || fail "the floods did not finish: $(tail -3 "$T/sv.log")"

for p in flooda floodb; do
	lines=$(grep -c "^<4>$p: $p line [0-9]*$" "$T/sv.log")
	expect_eq "$lines" "$N" "$p: every line arrived whole, with its priority and name"
	grep "^<4>$p: $p line " "$T/sv.log" | sed 's/.* line //' >"$T/$p.seq"
	seq 1 $N | cmp - "$T/$p.seq" || fail "$p: lines lost or out of order: $(head -c 300 "$T/$p.seq")"
	ok "$p: in order, none lost"
	expect_match "$(grep "^$p: plain start$" "$T/sv.log")" "plain start" "$p: a line without priority gets the name"
	cut=$(grep "^$p: xxxx" "$T/sv.log")
	expect_eq "${#cut}" $((4096 + ${#p} + 2 + 11)) "$p: the long line is cut at 4096 bytes"
	expect_match "$cut" "x \[line cut\]$" "$p: the cut is marked"
	expect_eq "$(grep -a "^$p: nul" "$T/sv.log")" "$p: nul?byte" "$p: a NUL byte does not reach the log"
done
bad=$(grep -v -E '^(<[0-7]>)?[a-z-]+: ' "$T/sv.log" | grep -v '^[0-9]*:[A-Z] ' | head -3)
[ -z "$bad" ] || fail "a line without a name prefix (interleaved?): $bad"
ok "every line of the log starts with a name"
stop_sv
