/*
 * http_status: the errno -> status table (see http_status.h).
 */
#include "http_status.h"

#include <errno.h>
#include <stddef.h>

static const struct {
	int err;
	unsigned status;
} errno_table[] = {
    {ENOENT, 404},   {ENOTDIR, 404},   {EACCES, 403}, {EPERM, 403},        {EXDEV, 403},
    {ELOOP, 403},    {EINVAL, 400},    {EILSEQ, 400}, {EBADMSG, 400},      {ENAMETOOLONG, 414},
    {EMSGSIZE, 413}, {EFBIG, 413},     {ERANGE, 416}, {EOPNOTSUPP, 405},   {EROFS, 405},
    {ENOSYS, 501},   {ETIMEDOUT, 504}, {EIO, 502},    {ECONNREFUSED, 502}, {EPROTO, 502},
    {ENOMEM, 503},   {EMFILE, 503},    {ENFILE, 503}, {EAGAIN, 503},       {EBUSY, 503},
};

static const struct {
	unsigned status;
	const char *reason;
} reason_table[] = {
    {100, "Continue"},
    {200, "OK"},
    {204, "No Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {507, "Insufficient Storage"},
};

unsigned http_status_of_errno(int r)
{
	if (r < 0)
		r = -r;
	for (size_t i = 0; i < sizeof(errno_table) / sizeof(errno_table[0]); i++)
		if (errno_table[i].err == r)
			return errno_table[i].status;
	return 500;
}

const char *http_status_reason(unsigned status)
{
	for (size_t i = 0; i < sizeof(reason_table) / sizeof(reason_table[0]); i++)
		if (reason_table[i].status == status)
			return reason_table[i].reason;
	return "Unknown";
}
