/*
 * mhdfloor: the least a libmicrohttpd server does for a GET, as a yardstick
 * for meta-fuse-davd in bench/davd/run.sh.  Not shipped.
 *
 * It answers every request with one body: a buffer in memory (-b) or a file
 * opened for each request and sent the way davd sends it (-f: by sendfile()
 * beyond -s bytes, read into the response up to them), after a Basic
 * authentication check by plain comparison.  The daemon is started with the
 * flags and options lib/http_server.c gives davd's (epoll, internal threads,
 * a pool of -t threads, the connection memory limit, the limits), so that the
 * difference between this server and davd is davd's own work: path routine,
 * snapshot lookup, the source's openat2, conditionals, headers, metrics.
 * What stays is libmicrohttpd's floor.
 *
 *   mhdfloor -p PORT [-t THREADS] [-a "Basic ..."] (-b SIZE | -f FILE [-s SMALL])
 *            [-T] (MHD_USE_TURBO) [-m POOL_BYTES] [-P] (a thread per connection)
 *
 * Runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *body;
static size_t body_len;
static const char *file;
static size_t small_max;
static const char *auth;

static enum MHD_Result answer_file(struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	struct stat st;
	enum MHD_Result r;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) < 0)
		return MHD_NO;
	if ((size_t)st.st_size <= small_max) {
		char *buf = malloc((size_t)st.st_size + 1);

		if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
			free(buf);
			close(fd);
			return MHD_NO;
		}
		close(fd);
		resp = MHD_create_response_from_buffer_with_free_callback((size_t)st.st_size, buf,
		                                                          free);
	} else {
		resp = MHD_create_response_from_fd_at_offset64((uint64_t)st.st_size, fd, 0);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "video/x-matroska");
	r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls)
{
	static int first;
	struct MHD_Response *resp;
	const char *a;
	enum MHD_Result r;

	if (!*req_cls) { /* the headers: answer with the end of the request, as davd does */
		*req_cls = &first;
		return MHD_YES;
	}
	a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (auth && (!a || strcmp(a, auth) != 0)) {
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Basic realm=\"bench\"");
		r = MHD_queue_response(conn, MHD_HTTP_UNAUTHORIZED, resp);
		MHD_destroy_response(resp);
		return r;
	}
	if (file)
		return answer_file(conn);
	resp = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "video/x-matroska");
	r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	*req_cls = NULL;
}

int main(int argc, char **argv)
{
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	unsigned threads = 2, port = 0;
	size_t pool = 16 * 1024;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct MHD_Daemon *daemon;
	sigset_t set;
	int opt, sig;

	while ((opt = getopt(argc, argv, "p:t:a:b:f:s:Tm:P")) != -1) {
		switch (opt) {
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			auth = optarg;
			break;
		case 'b':
			body_len = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			file = optarg;
			break;
		case 's':
			small_max = strtoul(optarg, NULL, 10);
			break;
		case 'T':
			flags |= MHD_USE_TURBO;
			break;
		case 'm':
			pool = strtoul(optarg, NULL, 10);
			break;
		case 'P':
			flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			        MHD_USE_POLL | MHD_USE_ERROR_LOG;
			threads = 1;
			break;
		default:
			fprintf(stderr, "usage: mhdfloor -p PORT [-t THREADS] [-a AUTH] "
			                "(-b SIZE | -f FILE [-s SMALL]) [-T] [-m POOL] [-P]\n");
			return 2;
		}
	}
	if (!port || threads == 0) {
		fprintf(stderr, "mhdfloor: -p PORT is needed, -t at least 1\n");
		return 2;
	}
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	body = calloc(1, body_len + 1);
	if (!body)
		return 1;
	memset(body, 'x', body_len);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_access, NULL,
	                          MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_CONNECTION_LIMIT,
	                          (unsigned)2048, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)256,
	                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
	                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
	                          MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (!daemon) {
		fprintf(stderr, "mhdfloor: cannot start on port %u\n", port);
		return 1;
	}
	sigwait(&set, &sig);
	MHD_stop_daemon(daemon);
	free(body);
	return 0;
}
