#!/bin/bash
# log_escape: a value from Redis reaches a log line escaped.  A pub/sub message
# whose "action" holds a terminal escape sequence (set the window title) and a
# newline followed by a forged line makes kvwatch log one warning; in it the
# control bytes show as \xNN, no raw ESC or BEL reaches stderr, and no forged
# line appears.
. "$(dirname "$0")/lib.sh"
start_redis
. "$(dirname "$0")/kvwatch_lib.sh"

kv_conf esc "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
kv_load 3
kv_start esc
kv_wait 20 '.files == 3' "3 files published"
LOG="$T/kvwatch-esc.log"

# kvwatch logs the first malformed message (later ones are counted): one
# message carries both the escapes and the newline.
kv_publish '{"changes": [{"action": "\u001b]0;owned\u0007\nkvwatch: forged", "hashId": "x"}]}'
wait_for 10 grep -q 'unknown action' "$LOG" || fail "kvwatch did not log the malformed message"
kv_alive

grep -qF 'unknown action "\x1b]0;owned\x07\x0akvwatch: forged"' "$LOG" ||
	fail "the control bytes are not shown as \\xNN: $(grep 'unknown action' "$LOG")"
ok "ESC, BEL and a newline from a Redis value are logged as \\x1b, \\x07, \\x0a"
grep -q $'\x1b\\|\x07' "$LOG" && fail "a raw ESC or BEL reached the log"
ok "no raw control byte in the log"
grep -q '^\(<[0-9]>\)\?kvwatch: forged' "$LOG" && fail "a forged line reached the log"
ok "the newline did not forge a line"
kv_stop
