#!/bin/bash
# supervisor_config: `meta-fuse run` refuses what it cannot run, with one clear
# message and the right exit status, and leaves nothing behind: a broken file,
# an unknown writer_user or uid name, bad usage (exit 1); a runtime_dir that is
# a symlink (exit 75).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
# run_expect STATUS REGEX WHAT [ARGS...]: run the supervisor to its end.
run_expect() {
	local want=$1 re=$2 what=$3
	shift 3
	timeout 30 "$MF" run -c "$T/mf.conf" "$@" >"$T/run.log" 2>&1
	local rc=$?
	expect_eq "$rc" "$want" "$what: exit $want"
	expect_match "$(cat "$T/run.log")" "$re" "$what: the message"
	grep -qs " $MNT fuse" /proc/mounts && fail "$what: a mount was left"
	[ -z "$(sv_procs)" ] || fail "$what: processes left"
	ok "$what: nothing left behind"
}

sv_config 'fuse = { mount_point = ; };'
run_expect 1 "mf.conf:[0-9]+: (duplicate setting|syntax error)" "a broken file"

sv_config
sed -i 's/writer_user = "61000";/writer_user = "no-such-user-mf";/' "$T/mf.conf"
run_expect 1 'writer_user: user "no-such-user-mf" does not exist; create it' "an unknown writer_user"

sv_config
sed -i 's/^uid = 61001;/uid = "no-such-user-mf";/' "$T/mf.conf"
run_expect 1 'uid: user "no-such-user-mf" does not exist' "an unknown uid name"

sv_config
run_expect 1 'watchdog-sec: "x" is not a number' "a bad --watchdog-sec" --watchdog-sec x
run_expect 1 'watchdog-sec: "-1" is not a number of seconds \(0-86400\)' "a negative --watchdog-sec" \
	--watchdog-sec -1
run_expect 1 'start-timeout-sec: "0" is not a number of seconds \(1-86400\)' \
	"a zero --start-timeout-sec" --start-timeout-sec 0
run_expect 1 'start-timeout-sec: "86401" is not a number' "a --start-timeout-sec beyond a day" \
	--start-timeout-sec 86401

sv_config
mkdir -p "$T/elsewhere"
ln -s "$T/elsewhere" "$RUN"
run_expect 75 "\"$RUN\": .*not a symlink" "a runtime_dir that is a symlink"
expect_eq "$(stat -c %u "$T/elsewhere")" 0 "the symlink's target was not given away"
