#!/bin/bash
# supervisor_reload: `meta-fuse reload` and SIGHUP.  A broken configuration
# changes nothing and the caller gets the message; a change of rules alone
# restarts nobody and keeps the mount (kvwatch applies it); a change of a fuse
# key restarts fused alone; a new program is started, a removed one stopped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config
cp "$T/mf.conf" "$T/base.conf"
start_sv --watchdog-sec 10
KP=$(wpid kvwatch)
FP=$(wpid fused)
mnt_id() { awk -v m="$MNT" '$5 == m { print $1 }' /proc/self/mountinfo; }
MID=$(mnt_id)

# --- broken configuration: nothing changes, the caller hears why ---
echo 'fuse = { mount_point = ; };' >>"$T/mf.conf"
out=$("$MF" reload -c "$T/base.conf" 2>&1)
rc=$?
expect_eq "$rc" 1 "reload of a broken configuration: exit 1"
expect_match "$out" "mf.conf:[0-9]+: .*keeping the running configuration" "the caller gets the error"
kill -HUP "$SV_PID"
sleep 0.5
grep -q "reload: .*keeping the running configuration" "$T/sv.log" || fail "SIGHUP: no log line"
ok "SIGHUP with a broken configuration: logged"
expect_eq "$(wpid kvwatch) $(wpid fused)" "$KP $FP" "nothing restarted"
expect_eq "$(sv_status | jq -r .state)" running "still running"
cmp "$MNT/Movies/Inception (2010)/Inception.mkv" \
	"$T/files/media1/Movies/Inception (2010)/Inception.mkv" || fail "not serving"
ok "still serving"

# --- rules alone: kvwatch re-reads them, nobody restarts, the mount stays ---
cp "$T/base.conf" "$T/mf.conf"
cat >>"$T/mf.conf" <<'EOR'
rules = (
	{ name = "flat"; priority = 10; template = "All/{title}.{extension}"; }
);
EOR
out=$("$MF" reload -c "$T/base.conf")
expect_eq "$?" 0 "reload with new rules: exit 0"
expect_match "$out" "no worker restarted" "reload with new rules: nobody restarted"
wait_for 20 test -f "$MNT/All/Inception.mkv" || fail "the new rules were not applied: $(ls -R "$MNT")"
ok "the new rules are applied (All/Inception.mkv)"
expect_eq "$(wpid kvwatch) $(wpid fused)" "$KP $FP" "no worker restarted for the rules"
expect_eq "$(mnt_id)" "$MID" "the same mount"
expect_eq "$(wfield fused restarts)$(wfield kvwatch restarts)" "00" "no restart counted"

# --- a fuse key: fused alone restarts ---
sed -i 's/attr_ttl_ms = 0;/attr_ttl_ms = 5;/' "$T/mf.conf"
out=$("$MF" reload -c "$T/base.conf")
expect_match "$out" "restarted or started/stopped: fused$" "reload names fused"
fp_new() { [ "$(wpid fused)" != "$FP" ] && wstate_is fused running; }
wait_for 20 fp_new || fail "fused was not restarted"
ok "fused restarted for fuse.attr_ttl_ms"
expect_eq "$(wpid kvwatch)" "$KP" "kvwatch untouched"
[ -f "$MNT/All/Inception.mkv" ] || fail "not serving after fused's restart"
ok "serving after fused's restart"

# --- programs: added, then removed ---
echo 'programs = ( { name = "extra"; command = [ "/bin/sleep", "1000" ]; } );' >>"$T/mf.conf"
"$MF" reload -c "$T/base.conf" >/dev/null || fail "reload with a new program"
wait_state extra running 20
EP=$(wpid extra)
ok "a new program is started by a reload"
sed -i '/^programs/d' "$T/mf.conf"
"$MF" reload -c "$T/base.conf" >/dev/null || fail "reload without the program"
gone() { ! kill -0 "$EP" 2>/dev/null; }
wait_for 20 gone || fail "the removed program still runs"
ok "a removed program is stopped by a reload"
wait_for 10 test "$(sv_status | jq '[.workers[] | select(.name == "extra")] | length')" = 0 ||
	fail "the removed program is still listed: $(sv_status)"
ok "a removed program leaves the status"
expect_eq "$(wpid kvwatch)" "$KP" "kvwatch untouched by programs"

stop_sv
