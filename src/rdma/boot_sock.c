/* Bootstrap sockets: "HOST:PORT" and "unix:/path" addresses, listening,
 * connecting with retries, whole-message I/O under a deadline, and the wire
 * encoding of boot_wire.h (little-endian, field by field). */
#include "rdma/boot_int.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"

#define BOOT_SOCK_RETRY_MIN_MS 20
#define BOOT_SOCK_RETRY_MAX_MS 500

typedef struct boot_sock_addr {
	struct sockaddr_storage ss;
	socklen_t len;
} boot_sock_addr_t;

int boot_left_ms(uint64_t deadline)
{
	uint64_t now = cvmm_now_ms();

	if (now >= deadline)
		return 0;
	if (deadline - now > 0x7fffffff)
		return 0x7fffffff;
	return (int)(deadline - now);
}

const char *boot_sock_unix_path(const char *addr)
{
	return strncmp(addr, "unix:", 5) == 0 ? addr + 5 : NULL;
}

static cvmm_status_t boot_sock_resolve_unix(const char *path,
					    boot_sock_addr_t *a)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;

	if (path[0] == '\0' || strlen(path) >= sizeof(un->sun_path)) {
		log_error("bad bootstrap address unix:%s: want unix:/path "
			  "shorter than %zu bytes",
			  path, sizeof(un->sun_path));
		return CVMM_ERR_INVALID;
	}
	memset(a, 0, sizeof(*a));
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, path);
	a->len = (socklen_t)sizeof(*un);
	return CVMM_OK;
}

/* Splits "HOST:PORT" / "[V6]:PORT" into host and a non-zero port. */
static bool boot_sock_split(const char *addr, char *host, size_t n,
			    char *port, size_t pn, long min_port)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t hl;
	char *end;
	long p;

	if (!colon || colon == addr)
		return false;
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (hl == 0 || hl >= n || *end || errno || p < min_port || p > 65535 ||
	    strlen(colon + 1) >= pn)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return true;
}

/* The first address getaddrinfo gives for addr: rank 0 binds it and the
 * other ranks connect to it, so both sides must resolve HOST alike. */
static cvmm_status_t boot_sock_resolve(const char *addr, boot_sock_addr_t *a,
				       long min_port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	char host[256], port[8];
	int rc;

	if (boot_sock_unix_path(addr))
		return boot_sock_resolve_unix(boot_sock_unix_path(addr), a);
	if (!boot_sock_split(addr, host, sizeof(host), port, sizeof(port),
			     min_port)) {
		log_error("bad address %s: want HOST:PORT with a port from "
			  "%ld to 65535, or unix:/path",
			  addr, min_port);
		return CVMM_ERR_INVALID;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		log_error("cannot resolve bootstrap address %s: %s", addr,
			  gai_strerror(rc));
		return CVMM_ERR_INVALID;
	}
	memset(a, 0, sizeof(*a));
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return CVMM_OK;
}

/* A UNIX socket file nobody listens on is left over from a dead job. */
static void boot_sock_unlink_stale(const boot_sock_addr_t *a)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
	struct stat st;
	int fd;

	if (stat(un->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 &&
	    errno == ECONNREFUSED) {
		log_warn("removing stale bootstrap socket %s", un->sun_path);
		unlink(un->sun_path);
	}
	close(fd);
}

cvmm_status_t boot_sock_listen(const char *addr, int *out)
{
	return boot_sock_listen_port(addr, false, out);
}

cvmm_status_t boot_sock_listen_port(const char *addr, bool any_port,
				    int *out)
{
	boot_sock_addr_t a;
	int one = 1;
	int fd;

	if (boot_sock_resolve(addr, &a, any_port ? 0 : 1) != CVMM_OK)
		return CVMM_ERR_INVALID;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		log_error("bootstrap socket for %s: %m", addr);
		return CVMM_ERR_IO;
	}
	if (a.ss.ss_family == AF_UNIX)
		boot_sock_unlink_stale(&a);
	else
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) != 0 ||
	    listen(fd, 128) != 0) {
		log_error("cannot listen on %s: %m", addr);
		close(fd);
		return CVMM_ERR_IO;
	}
	*out = fd;
	return CVMM_OK;
}

/* One connection attempt. *retry: nobody listens yet, try again later. */
static int boot_sock_try(const boot_sock_addr_t *a, uint64_t deadline,
			 bool *retry)
{
	socklen_t sl = sizeof(int);
	struct pollfd p;
	int one = 1, err = 0, fd;

	*retry = false;
	fd = socket(a->ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
		err = errno;
		if (err == EINPROGRESS) {
			p = (struct pollfd){ .fd = fd, .events = POLLOUT };
			err = ETIMEDOUT;
			if (poll(&p, 1, boot_left_ms(deadline)) == 1)
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		}
	}
	if (err == 0) {
		if (a->ss.ss_family != AF_UNIX)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		return fd;
	}
	close(fd);
	*retry = err == ECONNREFUSED || err == ENOENT || err == EAGAIN ||
		 err == ETIMEDOUT || err == ECONNRESET || err == EINTR ||
		 err == EHOSTUNREACH || err == ENETUNREACH;
	errno = err;
	return -1;
}

cvmm_status_t boot_sock_connect(const char *addr, int timeout_ms, int *out)
{
	return boot_sock_connect_to(addr, "the bootstrap coordinator",
				    timeout_ms, out);
}

cvmm_status_t boot_sock_connect_to(const char *addr, const char *what,
				   int timeout_ms, int *out)
{
	uint64_t deadline = cvmm_now_ms() + (uint64_t)timeout_ms;
	int delay = BOOT_SOCK_RETRY_MIN_MS;
	boot_sock_addr_t a;
	bool retry;
	int fd;

	if (boot_sock_resolve(addr, &a, 1) != CVMM_OK)
		return CVMM_ERR_INVALID;
	for (;;) {
		fd = boot_sock_try(&a, deadline, &retry);
		if (fd >= 0) {
			*out = fd;
			return CVMM_OK;
		}
		if (!retry) {
			log_error("cannot connect to %s at %s: %m", what,
				  addr);
			return CVMM_ERR_IO;
		}
		if (boot_left_ms(deadline) == 0)
			break;
		poll(NULL, 0, delay < boot_left_ms(deadline) ?
				      delay : boot_left_ms(deadline));
		delay = delay * 2 > BOOT_SOCK_RETRY_MAX_MS ?
				BOOT_SOCK_RETRY_MAX_MS : delay * 2;
	}
	log_error("cannot reach %s at %s within %d ms: %m", what, addr,
		  timeout_ms);
	return CVMM_ERR_TIMEOUT;
}

/* Waits for events on fd; CVMM_ERR_TIMEOUT once deadline passed. */
static cvmm_status_t boot_sock_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc;

	do {
		rc = poll(&p, 1, boot_left_ms(deadline));
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return CVMM_ERR_IO;
	return rc == 0 ? CVMM_ERR_TIMEOUT : CVMM_OK;
}

cvmm_status_t boot_sock_read(int fd, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;
	cvmm_status_t st;
	ssize_t n;

	while (len > 0) {
		n = recv(fd, p, len, 0);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0 || errno == ECONNRESET)
			return CVMM_ERR_PEER;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return CVMM_ERR_IO;
		st = boot_sock_wait(fd, POLLIN, deadline);
		if (st != CVMM_OK)
			return st;
	}
	return CVMM_OK;
}

cvmm_status_t boot_sock_write(int fd, const void *buf, size_t len,
			      uint64_t deadline)
{
	const uint8_t *p = buf;
	cvmm_status_t st;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return CVMM_ERR_PEER;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return CVMM_ERR_IO;
		st = boot_sock_wait(fd, POLLOUT, deadline);
		if (st != CVMM_OK)
			return st;
	}
	return CVMM_OK;
}

cvmm_status_t boot_sock_send(int fd, boot_wire_type_t type, uint32_t seq,
			     const void *payload, uint32_t len,
			     uint64_t deadline)
{
	uint8_t raw[BOOT_WIRE_HDR_LEN];
	cvmm_status_t st;

	boot_wire_hdr_pack(raw, type, seq, len);
	st = boot_sock_write(fd, raw, sizeof(raw), deadline);
	if (st == CVMM_OK && len > 0)
		st = boot_sock_write(fd, payload, len, deadline);
	return st;
}

bool boot_sock_ip_str(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, n, "%s:%u", host, ntohs(in->sin_port));
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
			(const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, n, "[%s]:%u", host, ntohs(in6->sin6_port));
		return true;
	}
	return false;
}

void boot_sock_peer(int fd, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		snprintf(buf, n, "an unknown peer");
	else if (boot_sock_ip_str(&ss, buf, n))
		return;
	else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		snprintf(buf, n, "pid %d", (int)cred.pid);
	else
		snprintf(buf, n, "a local peer");
}

/* ---- wire encoding ------------------------------------------------------ */

void boot_wire_hdr_pack(uint8_t raw[BOOT_WIRE_HDR_LEN], boot_wire_type_t type,
			uint32_t seq, uint32_t len)
{
	wire_w_t w = wire_w_init(raw, BOOT_WIRE_HDR_LEN);

	wire_w_u32(&w, BOOT_WIRE_MAGIC);
	wire_w_u16(&w, BOOT_WIRE_VERSION);
	wire_w_u16(&w, (uint16_t)type);
	wire_w_u32(&w, seq);
	wire_w_u32(&w, len);
	assert(wire_w_done(&w));
}

cvmm_status_t boot_wire_hdr_decode(const void *buf, size_t len,
				   boot_wire_hdr_t *h)
{
	wire_r_t r = wire_r_init(buf, buf ? len : 0);
	boot_wire_hdr_t m;

	m.magic = wire_r_u32(&r);
	m.version = wire_r_u16(&r);
	m.type = wire_r_u16(&r);
	m.seq = wire_r_u32(&r);
	m.len = wire_r_u32(&r);
	if (!wire_r_done(&r))
		return CVMM_ERR_INVALID;
	*h = m;
	if (m.magic != BOOT_WIRE_MAGIC || m.version != BOOT_WIRE_VERSION)
		return CVMM_ERR_INVALID;
	return CVMM_OK;
}

void boot_wire_hello_pack(uint8_t raw[BOOT_WIRE_HELLO_LEN],
			  const boot_wire_hello_t *h)
{
	wire_w_t w = wire_w_init(raw, BOOT_WIRE_HELLO_LEN);

	wire_w_u64(&w, h->cookie);
	wire_w_u32(&w, h->rank);
	wire_w_u32(&w, h->size);
	assert(wire_w_done(&w));
}

cvmm_status_t boot_wire_hello_decode(const void *buf, size_t len,
				     boot_wire_hello_t *h)
{
	wire_r_t r = wire_r_init(buf, buf ? len : 0);
	boot_wire_hello_t m;

	m.cookie = wire_r_u64(&r);
	m.rank = wire_r_u32(&r);
	m.size = wire_r_u32(&r);
	if (!wire_r_done(&r))
		return CVMM_ERR_INVALID;
	*h = m;
	return CVMM_OK;
}

void boot_wire_abort_pack(uint8_t raw[BOOT_WIRE_ABORT_LEN], uint32_t reason,
			  uint32_t rank)
{
	wire_w_t w = wire_w_init(raw, BOOT_WIRE_ABORT_LEN);

	wire_w_u32(&w, reason);
	wire_w_u32(&w, rank);
	assert(wire_w_done(&w));
}

cvmm_status_t boot_wire_abort_decode(const void *buf, size_t len,
				     boot_wire_abort_t *a)
{
	wire_r_t r = wire_r_init(buf, buf ? len : 0);
	boot_wire_abort_t m;

	m.reason = wire_r_u32(&r);
	m.rank = wire_r_u32(&r);
	if (!wire_r_done(&r))
		return CVMM_ERR_INVALID;
	*a = m;
	return CVMM_OK;
}

void boot_wire_entry_put(wire_w_t *w, const void *blob, uint32_t len)
{
	wire_w_u32(w, len);
	wire_w_bytes(w, blob, len);
}

bool boot_wire_entry_get(wire_r_t *r, const uint8_t **blob, uint32_t *len)
{
	uint32_t n = wire_r_u32(r);
	const uint8_t *at;

	if (n > BOOT_WIRE_BLOB_MAX)
		r->bad = true;
	at = wire_r_take(r, n);
	if (!at)
		return false;
	*blob = at;
	*len = n;
	return true;
}

const char *boot_wire_reason_str(uint32_t reason)
{
	static const char *const str[BOOT_ABORT_LAST] = {
		[BOOT_ABORT_SIZE] = "gave a different job size",
		[BOOT_ABORT_RANK] = "is out of range",
		[BOOT_ABORT_DUP] = "has already joined",
		[BOOT_ABORT_LOST] = "disconnected",
		[BOOT_ABORT_TIMEOUT] = "did not arrive in time",
		[BOOT_ABORT_PROTO] = "sent a malformed message",
		[BOOT_ABORT_TOO_BIG] = "made the table too big",
	};

	if (reason >= BOOT_ABORT_LAST || !str[reason])
		return "failed for an unknown reason";
	return str[reason];
}
