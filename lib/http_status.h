/*
 * http_status: the one place an -errno of the readers becomes an HTTP status, for
 * every HTTP front end (davd, apid).  Handlers return -errno from their lookups and
 * opens; the boundary converts once, here.  It does not build responses.
 */
#ifndef MF_HTTP_STATUS_H
#define MF_HTTP_STATUS_H

/*
 * The status for -errno r (or errno r; the sign is ignored):
 *   ENOENT, ENOTDIR                    404
 *   EACCES, EPERM, EXDEV, ELOOP        403 (a source that leaves the volume, too)
 *   EINVAL, EILSEQ, EBADMSG            400
 *   ENAMETOOLONG                       414
 *   EMSGSIZE, EFBIG                    413
 *   ERANGE                             416
 *   EOPNOTSUPP, EROFS                  405
 *   ENOSYS                             501
 *   ETIMEDOUT                          504
 *   EIO, ECONNREFUSED, EPROTO          502 (the source failed)
 *   ENOMEM, EMFILE, ENFILE, EAGAIN,    503
 *   EBUSY
 *   anything else                      500
 */
unsigned http_status_of_errno(int r);

/* The reason phrase of status ("Not Found"); "Unknown" for one not in the table. */
const char *http_status_reason(unsigned status);

#endif
