#!/usr/bin/env python3
"""Timing helper of bench/supervisor/run.sh (not a benchmark by itself).

  probe.py start LOG FILE CMD...   start CMD (new session, output to LOG) with
                                   NOTIFY_SOCKET set to a socket of ours; print
                                   "pid ready_ms serving_ms": READY=1 received
                                   (-1 when none comes within the time FILE
                                   took) and FILE stat-able, from the fork.
                                   A child of the probe stays behind to write
                                   CMD's output to LOG, each line prefixed
                                   with the CLOCK_MONOTONIC time in ms.
  probe.py kills N FILE PIDCMD     N times: the worker's pid from PIDCMD (a
                                   shell command), kill -9, wait for its death
                                   (pidfd), then for FILE to be stat-able again;
                                   print one "kill_to_serving_ms kill_mono_ms"
                                   line per kill (kill_mono_ms: CLOCK_MONOTONIC
                                   at the kill, as in LOG); waits 1.2 s
                                   between kills.
"""
import os
import select
import signal
import socket
import subprocess
import sys
import time


def now_ms():
    return time.monotonic() * 1000.0


def wait_stat(path, deadline_ms):
    while now_ms() < deadline_ms:
        try:
            os.stat(path)
            return True
        except OSError:
            time.sleep(0.0002)
    return False


def start(log, path, cmd):
    name = "\0mf-bench-%d" % os.getpid()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(name)
    sock.setblocking(False)
    env = dict(os.environ, NOTIFY_SOCKET="@" + name[1:])
    rfd, wfd = os.pipe()
    t0 = now_ms()
    p = subprocess.Popen(cmd, stdout=wfd, stderr=wfd, env=env, start_new_session=True)
    os.close(wfd)
    if os.fork() == 0:
        # The log writer: until CMD and its children close the pipe.
        os.close(1)
        sock.close()
        with open(log, "w") as out, os.fdopen(rfd, "r", errors="replace") as src:
            for line in src:
                out.write("[%.1f] %s" % (now_ms(), line))
                out.flush()
        os._exit(0)
    os.close(rfd)
    ready = -1.0
    serving = -1.0
    deadline = t0 + 60000
    while now_ms() < deadline and (serving < 0 or ready < 0):
        try:
            msg = sock.recv(4096)
            if b"READY=1" in msg.split(b"\n") and ready < 0:
                ready = now_ms() - t0
        except BlockingIOError:
            pass
        if serving < 0:
            try:
                os.stat(path)
                serving = now_ms() - t0
                if ready < 0:
                    # READY may follow within moments; supervisord never says it.
                    deadline = min(deadline, now_ms() + 2000)
            except OSError:
                pass
        time.sleep(0.0002)
    print("%d %.1f %.1f" % (p.pid, ready, serving))


def kills(n, path, pidcmd):
    for _ in range(n):
        time.sleep(1.2)
        pid = int(subprocess.check_output(pidcmd, shell=True).split()[0])
        fd = os.pidfd_open(pid)
        t0 = now_ms()
        os.kill(pid, signal.SIGKILL)
        # A pidfd becomes readable when the process has exited.
        select.select([fd], [], [], 10)
        os.close(fd)
        if not wait_stat(path, now_ms() + 30000):
            print("-1 %.1f" % t0)
            continue
        print("%.2f %.1f" % (now_ms() - t0, t0), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "start":
        start(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == "kills":
        kills(int(sys.argv[2]), sys.argv[3], sys.argv[4])
