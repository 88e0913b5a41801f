/*
 * daemon: the worker's side of the service manager's protocols, as systemd
 * documents them for any implementation (sd_notify(3), sd_listen_fds(3),
 * sd_watchdog_enabled(3)): state lines sent as datagrams to $NOTIFY_SOCKET,
 * sockets passed from descriptor 3 on as $LISTEN_FDS / $LISTEN_FDNAMES for
 * $LISTEN_PID, and the watchdog period in $WATCHDOG_USEC for $WATCHDOG_PID.
 *
 * davd and apid face the network.  With these few lines of their own they link
 * neither libsystemd nor what it pulls in (libgcrypt, liblzma, libzstd, liblz4):
 * about 1 MB of resident library pages each, and code no request needs in the
 * address space of a server.  The supervisor implements the receiving side of
 * the same protocols; fused, kvwatch and the supervisor, built on sd-event,
 * keep libsystemd and its own sd_notify().
 */
#ifndef MF_DAEMON_H
#define MF_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

/* The first passed descriptor (SD_LISTEN_FDS_START). */
#define DAEMON_LISTEN_FDS_START 3

/*
 * Send state ("READY=1", "STATUS=...") to $NOTIFY_SOCKET (a path, or "@name" in
 * the abstract namespace).  1 when sent, 0 when there is no socket to send to,
 * -errno (-EINVAL for a value that names no socket).
 */
int daemon_notify(const char *state);
int daemon_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The descriptors passed to this process: their number (0 when $LISTEN_PID is
 * not this process or nothing was passed), each marked close-on-exec, and, when
 * $LISTEN_FDNAMES gives one name per descriptor, their names in *ret_names (a
 * NULL-terminated array the caller frees with daemon_free_names(); NULL without
 * names).  The variables are removed from the environment, so that no child
 * takes them for its own.  -EINVAL for values that are not numbers, a count
 * over 1,024 or a name list of another length.
 */
int daemon_listen_fds(char ***ret_names);
void daemon_free_names(char **names);

/* Whether fd is a listening stream socket. */
bool daemon_is_stream_listener(int fd);

/*
 * The watchdog period asked of this process in µs: 1 and *ret_usec when
 * $WATCHDOG_USEC is set (and $WATCHDOG_PID, when set, is this process), 0 when
 * not, -EINVAL for values that are not numbers.
 */
int daemon_watchdog_usec(uint64_t *ret_usec);

#endif
