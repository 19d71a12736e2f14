/* Joining a running VM (boot.h, "joining"): node 0's join socket, the
 * HELLO that carries the job cookie and the epoch a joiner expects, and
 * framed blobs or a refusal line after it.
 *
 *   frame: u32 magic BOOT_JOIN_MAGIC, u8 kind, u8 0 x 3, u32 len; then len
 *          bytes (little-endian)
 *   HELLO    joiner -> 0   u64 cookie, u64 epoch         (16 bytes)
 *   BLOB     either way    what node/join.c encodes
 *   REFUSED  either way    a line saying why (at most 512 bytes)
 *
 * Node 0 reads the HELLO first: a connection that says nothing within the
 * timeout, speaks another protocol or has the wrong cookie is refused
 * (the cookie is never echoed) and logged. */
#include "rdma/boot_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"

#define BOOT_JOIN_MAGIC 0x4e4a5643u /* "CVJN" */
#define BOOT_JOIN_FRAME_LEN 12
#define BOOT_JOIN_HELLO_LEN 16
#define BOOT_JOIN_WHY_MAX 512

enum { JOIN_HELLO = 1, JOIN_BLOB, JOIN_REFUSED };

static uint64_t deadline_of(int timeout_ms)
{
	return cvmm_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 30000);
}

static cvmm_status_t frame_send(int fd, int kind, const void *p, size_t len,
				int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	uint8_t h[BOOT_JOIN_FRAME_LEN] = { 0 };
	cvmm_status_t st;

	if (len > BOOT_JOIN_BLOB_MAX)
		return CVMM_ERR_INVALID;
	wire_put_u32(h, BOOT_JOIN_MAGIC);
	wire_put_u8(h + 4, (uint8_t)kind);
	wire_put_u32(h + 8, (uint32_t)len);
	st = boot_sock_write(fd, h, sizeof(h), deadline);
	if (st == CVMM_OK && len)
		st = boot_sock_write(fd, p, len, deadline);
	return st;
}

/* One frame; *p malloc'ed (NUL-terminated, len not counting it). */
static cvmm_status_t frame_recv(int fd, int *kind, void **p, size_t *len,
				size_t max, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	uint8_t h[BOOT_JOIN_FRAME_LEN];
	cvmm_status_t st = boot_sock_read(fd, h, sizeof(h), deadline);
	uint32_t n;
	uint8_t *b;

	if (st != CVMM_OK)
		return st;
	n = wire_get_u32(h + 8);
	*kind = wire_get_u8(h + 4);
	if (wire_get_u32(h) != BOOT_JOIN_MAGIC || h[5] || h[6] || h[7] ||
	    *kind < JOIN_HELLO || *kind > JOIN_REFUSED || n > max)
		return CVMM_ERR_INVALID;
	b = malloc((size_t)n + 1);
	if (!b)
		return CVMM_ERR_NOMEM;
	st = boot_sock_read(fd, b, n, deadline);
	if (st != CVMM_OK) {
		free(b);
		return st;
	}
	b[n] = '\0';
	*p = b;
	*len = n;
	return CVMM_OK;
}

cvmm_status_t boot_join_listen(const char *addr, char *bound, size_t cap,
			       int *out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	cvmm_status_t st = boot_sock_listen_port(addr, true, out);

	if (st != CVMM_OK)
		return st;
	if (getsockname(*out, (struct sockaddr *)&ss, &sl) != 0) {
		close(*out);
		return CVMM_ERR_IO;
	}
	if (!boot_sock_ip_str(&ss, bound, cap)) /* a UNIX path */
		snprintf(bound, cap, "%s", addr);
	return CVMM_OK;
}

cvmm_status_t boot_join_accept(int lfd, uint64_t cookie, int timeout_ms,
			       int *out, uint64_t *epoch, char *peer,
			       size_t peer_cap)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	void *hello = NULL;
	size_t len = 0;
	int fd, kind = 0;
	cvmm_status_t st;

	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return CVMM_ERR_IO;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ||
				       errno == ECONNABORTED
			       ? CVMM_ERR_TIMEOUT
			       : CVMM_ERR_IO;
	boot_sock_peer(fd, peer, peer_cap);
	st = frame_recv(fd, &kind, &hello, &len, BOOT_JOIN_HELLO_LEN,
			timeout_ms);
	if (st == CVMM_OK && (kind != JOIN_HELLO ||
			      len != BOOT_JOIN_HELLO_LEN))
		st = CVMM_ERR_INVALID;
	if (st != CVMM_OK) {
		log_warn("join from %s refused: %s", peer,
			 st == CVMM_ERR_TIMEOUT ? "it said nothing"
						: "not a cvmm join");
		free(hello);
		close(fd);
		return CVMM_ERR_PEER;
	}
	if (wire_get_u64(hello) != cookie) {
		log_warn("join from %s refused: wrong job cookie", peer);
		(void)boot_join_refuse(fd, "wrong job cookie", 1000);
		free(hello);
		close(fd);
		return CVMM_ERR_PEER;
	}
	*epoch = wire_get_u64((const uint8_t *)hello + 8);
	free(hello);
	*out = fd;
	return CVMM_OK;
}

cvmm_status_t boot_join_dial(const char *addr, uint64_t cookie,
			     uint64_t epoch, int timeout_ms, int *out)
{
	uint8_t hello[BOOT_JOIN_HELLO_LEN];
	cvmm_status_t st = boot_sock_connect_to(addr, "node 0's join address",
						timeout_ms, out);

	if (st != CVMM_OK)
		return st;
	wire_put_u64(hello, cookie);
	wire_put_u64(hello + 8, epoch);
	st = frame_send(*out, JOIN_HELLO, hello, sizeof(hello), timeout_ms);
	if (st != CVMM_OK) {
		log_error("join: cannot greet node 0 at %s: %s", addr,
			  cvmm_status_str(st));
		close(*out);
	}
	return st;
}

cvmm_status_t boot_join_send(int fd, const void *blob, size_t len,
			     int timeout_ms)
{
	return frame_send(fd, JOIN_BLOB, blob, len, timeout_ms);
}

cvmm_status_t boot_join_refuse(int fd, const char *why, int timeout_ms)
{
	size_t n = strlen(why);

	return frame_send(fd, JOIN_REFUSED, why,
			  n > BOOT_JOIN_WHY_MAX ? BOOT_JOIN_WHY_MAX : n,
			  timeout_ms);
}

cvmm_status_t boot_join_recv(int fd, void **blob, size_t *len,
			     int timeout_ms, char *why, size_t why_cap)
{
	int kind = 0;
	cvmm_status_t st = frame_recv(fd, &kind, blob, len, BOOT_JOIN_BLOB_MAX,
				      timeout_ms);

	if (why_cap)
		why[0] = '\0';
	if (st == CVMM_OK && kind == JOIN_REFUSED) {
		char *w = *blob;

		/* a line from the other side: printable bytes only */
		for (size_t i = 0; i < *len; i++)
			if (w[i] < 0x20 || w[i] > 0x7e)
				w[i] = '?';
		if (why_cap)
			snprintf(why, why_cap, "%.*s", (int)*len, w);
		free(w);
		*blob = NULL;
		return CVMM_ERR_PEER;
	}
	if (st == CVMM_OK && kind != JOIN_BLOB) {
		free(*blob);
		*blob = NULL;
		st = CVMM_ERR_INVALID;
	}
	if (st != CVMM_OK && why_cap && !why[0])
		snprintf(why, why_cap, "%s",
			 st == CVMM_ERR_INVALID ? "malformed join message"
						: cvmm_status_str(st));
	return st;
}
