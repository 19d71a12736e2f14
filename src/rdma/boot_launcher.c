/* The bootstrap coordinator server (boot_wire.h) and the local launcher
 * built on it. One thread polls the listening socket, connections that have
 * not said HELLO yet ("pending") and one connection per joined rank. A
 * round (allgather or barrier) completes when every rank sent it; the
 * server then answers everyone and starts the next round. The job fails,
 * and every rank gets ABORT, when a rank disconnects while a round is open,
 * a round is not complete within timeout_ms of its first message, or a rank
 * breaks the protocol. Pending connections cannot affect the job: a wrong
 * cookie, a silent or a malformed peer is dropped and logged. */
#include "rdma/boot_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

#define BOOT_SRV_PENDING_MAX 64
#define BOOT_SRV_HELLO_MS 2000 /* a rank says hello as soon as it connects */
#define BOOT_SRV_ABORT_MS 1000 /* budget for telling a rank the job failed */

/* One incoming message being assembled from non-blocking reads. */
typedef struct boot_srv_rx {
	uint8_t raw[BOOT_WIRE_HDR_LEN];
	size_t raw_got;
	boot_wire_hdr_t hdr;
	uint8_t *body;
	size_t body_got;
} boot_srv_rx_t;

typedef struct boot_srv_conn {
	int fd; /* -1: unused */
	uint64_t deadline; /* pending: HELLO due by then */
	char peer[64];
	boot_srv_rx_t rx;
} boot_srv_conn_t;

typedef enum boot_slot_state {
	BOOT_SLOT_EMPTY,  /* rank has not joined */
	BOOT_SLOT_JOINED,
	BOOT_SLOT_GONE,   /* rank left between rounds */
} boot_slot_state_t;

typedef struct boot_srv_slot {
	boot_slot_state_t state;
	boot_srv_conn_t conn;
	bool in; /* sent the current round */
	uint8_t *blob;
	uint32_t len;
} boot_srv_slot_t;

struct boot_srv {
	int size;
	uint64_t cookie;
	int timeout_ms;
	int lfd;
	int wake[2];
	char *unix_path; /* unlinked on stop */
	pthread_t thread;
	boot_srv_slot_t *slots;
	boot_srv_conn_t pend[BOOT_SRV_PENDING_MAX];
	uint32_t seq;            /* current round */
	int nin;                 /* ranks in the current round */
	uint16_t round_type;     /* BOOT_MSG_GATHER or BOOT_MSG_BARRIER */
	uint64_t round_deadline; /* 0: no round open */
	bool failed;
	struct pollfd *pfds;
	int *who; /* per pfd: rank >= 0, or -1 - pending index */
};

static const char *boot_srv_round_name(const boot_srv_t *s)
{
	return s->round_type == BOOT_MSG_BARRIER ? "barrier" : "allgather";
}

static void boot_srv_conn_close(boot_srv_conn_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->rx.body);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void boot_srv_rx_reset(boot_srv_rx_t *rx)
{
	memset(rx, 0, sizeof(*rx));
}

/* Reads what is there of one message of at most max_len payload bytes.
 * Returns 1 when it is complete, 0 when more is needed, CVMM_ERR_PEER on
 * EOF or a socket error, CVMM_ERR_INVALID on a bad header or length,
 * CVMM_ERR_NOMEM. */
static int boot_srv_rx_step(boot_srv_conn_t *c, uint32_t max_len)
{
	boot_srv_rx_t *rx = &c->rx;
	void *dst = rx->raw + rx->raw_got;
	size_t want = sizeof(rx->raw) - rx->raw_got;
	ssize_t n;

	if (want == 0) {
		dst = rx->body + rx->body_got;
		want = rx->hdr.len - rx->body_got;
	}
	n = want ? recv(c->fd, dst, want, 0) : 0;
	if (want && n == 0)
		return CVMM_ERR_PEER;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : CVMM_ERR_PEER;
	if (rx->raw_got < sizeof(rx->raw)) {
		rx->raw_got += (size_t)n;
		if (rx->raw_got < sizeof(rx->raw))
			return 0;
		if (boot_wire_hdr_decode(rx->raw, sizeof(rx->raw),
					 &rx->hdr) != CVMM_OK ||
		    rx->hdr.len > max_len)
			return CVMM_ERR_INVALID;
		rx->body = malloc(rx->hdr.len ? rx->hdr.len : 1);
		if (!rx->body)
			return CVMM_ERR_NOMEM;
	} else {
		rx->body_got += (size_t)n;
	}
	return rx->body_got == rx->hdr.len ? 1 : 0;
}

/* Tells every joined rank the job failed; the thread ends after this. The
 * caller has logged why. */
static void boot_srv_abort(boot_srv_t *s, boot_wire_reason_t reason, int rank)
{
	uint64_t deadline = cvmm_now_ms() + BOOT_SRV_ABORT_MS;
	uint8_t raw[BOOT_WIRE_ABORT_LEN];

	boot_wire_abort_pack(raw, reason, (uint32_t)rank);
	for (int r = 0; r < s->size; r++) {
		if (s->slots[r].conn.fd >= 0)
			boot_sock_send(s->slots[r].conn.fd, BOOT_MSG_ABORT, 0,
				       raw, sizeof(raw), deadline);
	}
	s->failed = true;
}

/* ---- joining ------------------------------------------------------------ */

static void boot_srv_refuse(boot_srv_t *s, boot_srv_conn_t *c,
			    boot_wire_reason_t reason, uint32_t rank)
{
	uint8_t raw[BOOT_WIRE_ABORT_LEN];

	boot_wire_abort_pack(raw, reason, rank);
	boot_sock_send(c->fd, BOOT_MSG_ABORT, 0, raw, sizeof(raw),
		       cvmm_now_ms() + BOOT_SRV_ABORT_MS);
	boot_srv_conn_close(c);
}

/* Why a HELLO with the right cookie cannot join, or BOOT_ABORT_NONE. */
static boot_wire_reason_t boot_srv_hello_check(const boot_srv_t *s,
					       const boot_wire_hello_t *h)
{
	if (h->size != (uint32_t)s->size)
		return BOOT_ABORT_SIZE;
	if (h->rank >= h->size)
		return BOOT_ABORT_RANK;
	if (s->slots[h->rank].state != BOOT_SLOT_EMPTY)
		return BOOT_ABORT_DUP;
	return BOOT_ABORT_NONE;
}

/* Moves pending connection c into rank's slot after a WELCOME. */
static void boot_srv_join(boot_srv_t *s, boot_srv_conn_t *c, uint32_t rank)
{
	uint64_t deadline = cvmm_now_ms() + (uint64_t)s->timeout_ms;
	boot_srv_slot_t *slot = &s->slots[rank];

	if (boot_sock_send(c->fd, BOOT_MSG_WELCOME, 0, NULL, 0, deadline) !=
	    CVMM_OK) {
		log_warn("bootstrap rank %u from %s left before the welcome",
			 rank, c->peer);
		boot_srv_conn_close(c);
		return;
	}
	free(c->rx.body);
	boot_srv_rx_reset(&c->rx);
	slot->conn = *c;
	slot->state = BOOT_SLOT_JOINED;
	c->fd = -1;
	log_debug("bootstrap rank %u joined from %s", rank, slot->conn.peer);
}

/* A complete HELLO from pending connection c: cookie first, then rank. */
static void boot_srv_hello(boot_srv_t *s, boot_srv_conn_t *c)
{
	boot_wire_reason_t why;
	boot_wire_hello_t h;

	if (c->rx.hdr.type != BOOT_MSG_HELLO ||
	    boot_wire_hello_decode(c->rx.body, c->rx.hdr.len, &h) != CVMM_OK) {
		log_warn("dropped bootstrap connection from %s: not a hello",
			 c->peer);
		boot_srv_conn_close(c);
		return;
	}
	if (h.cookie != s->cookie) {
		log_warn("dropped bootstrap connection from %s: wrong job "
			 "cookie",
			 c->peer);
		boot_srv_conn_close(c);
		return;
	}
	why = boot_srv_hello_check(s, &h);
	if (why == BOOT_ABORT_NONE) {
		boot_srv_join(s, c, h.rank);
		return;
	}
	log_error("refused bootstrap rank %u of %u from %s: it %s (job of %d "
		  "ranks)",
		  h.rank, h.size, c->peer, boot_wire_reason_str(why), s->size);
	boot_srv_refuse(s, c, why, h.rank);
}

static boot_srv_conn_t *boot_srv_pend_add(boot_srv_t *s, int fd)
{
	for (int i = 0; i < BOOT_SRV_PENDING_MAX; i++) {
		boot_srv_conn_t *c = &s->pend[i];

		if (c->fd >= 0)
			continue;
		boot_srv_rx_reset(&c->rx);
		c->fd = fd;
		c->deadline = cvmm_now_ms() + (uint64_t)(s->timeout_ms <
							  BOOT_SRV_HELLO_MS ?
						  s->timeout_ms :
						  BOOT_SRV_HELLO_MS);
		boot_sock_peer(fd, c->peer, sizeof(c->peer));
		return c;
	}
	return NULL;
}

static void boot_srv_accept(boot_srv_t *s)
{
	char peer[64];
	int fd;

	fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("bootstrap accept: %m");
		return;
	}
	if (!boot_srv_pend_add(s, fd)) {
		/* Full of connections that have not said hello: the oldest
		 * goes, so strangers cannot keep a rank out (a rank whose
		 * connection is dropped connects again). */
		boot_srv_conn_t *old = &s->pend[0];

		for (int i = 1; i < BOOT_SRV_PENDING_MAX; i++)
			if (s->pend[i].deadline < old->deadline)
				old = &s->pend[i];
		log_warn("dropped bootstrap connection from %s: the oldest of "
			 "%d without a hello",
			 old->peer, BOOT_SRV_PENDING_MAX);
		boot_srv_conn_close(old);
		if (!boot_srv_pend_add(s, fd)) {
			boot_sock_peer(fd, peer, sizeof(peer));
			log_warn("dropped bootstrap connection from %s", peer);
			close(fd);
		}
	}
}

static void boot_srv_pend_ready(boot_srv_t *s, boot_srv_conn_t *c)
{
	int rc = boot_srv_rx_step(c, BOOT_WIRE_HELLO_LEN);

	if (rc == 1) {
		boot_srv_hello(s, c);
	} else if (rc < 0) {
		log_warn("dropped bootstrap connection from %s: %s", c->peer,
			 rc == CVMM_ERR_INVALID ? "not a hello" :
						  "closed before its hello");
		boot_srv_conn_close(c);
	}
}

/* ---- rounds ------------------------------------------------------------- */

/* Packs the answer to the round that just completed: TABLE or RELEASE. */
static uint8_t *boot_srv_reply(boot_srv_t *s, size_t *out_len)
{
	size_t total = 0;
	uint8_t *buf;
	wire_w_t w;

	if (s->round_type == BOOT_MSG_GATHER) {
		for (int r = 0; r < s->size; r++)
			total += BOOT_WIRE_ENTRY_HDR + s->slots[r].len;
	}
	if (total > BOOT_WIRE_TABLE_MAX)
		return NULL;
	buf = malloc(BOOT_WIRE_HDR_LEN + total);
	if (!buf)
		return NULL;
	boot_wire_hdr_pack(buf, s->round_type == BOOT_MSG_GATHER ?
				BOOT_MSG_TABLE : BOOT_MSG_RELEASE,
			   s->seq, (uint32_t)total);
	w = wire_w_init(buf + BOOT_WIRE_HDR_LEN, total);
	for (int r = 0; total && r < s->size; r++)
		boot_wire_entry_put(&w, s->slots[r].blob, s->slots[r].len);
	*out_len = BOOT_WIRE_HDR_LEN + w.len;
	return buf;
}

static void boot_srv_round_done(boot_srv_t *s)
{
	uint64_t deadline = cvmm_now_ms() + (uint64_t)s->timeout_ms;
	size_t len = 0;
	uint8_t *buf = boot_srv_reply(s, &len);

	if (!buf) {
		log_error("bootstrap %s %u: no memory for a table of %d ranks",
			  boot_srv_round_name(s), s->seq, s->size);
		boot_srv_abort(s, BOOT_ABORT_TOO_BIG, -1);
		return;
	}
	/* Rank 0 hears last: once it has its answer, everyone's is queued in
	 * the kernel, so a coordinating rank 0 may even _exit at once. */
	for (int i = 1; i <= s->size && !s->failed; i++) {
		int r = i % s->size;

		if (boot_sock_write(s->slots[r].conn.fd, buf, len, deadline) ==
		    CVMM_OK)
			continue;
		log_error("bootstrap %s %u: lost rank %d (%s) while answering",
			  boot_srv_round_name(s), s->seq, r,
			  s->slots[r].conn.peer);
		boot_srv_abort(s, BOOT_ABORT_LOST, r);
	}
	free(buf);
	for (int r = 0; r < s->size; r++) {
		free(s->slots[r].blob);
		s->slots[r].blob = NULL;
		s->slots[r].len = 0;
		s->slots[r].in = false;
	}
	s->nin = 0;
	s->round_deadline = 0;
	s->seq++;
}

/* Opens a round with its first message; every rank must still be there. */
static bool boot_srv_round_open(boot_srv_t *s, uint16_t type)
{
	s->round_type = type;
	s->round_deadline = cvmm_now_ms() + (uint64_t)s->timeout_ms;
	for (int r = 0; r < s->size; r++) {
		if (s->slots[r].state != BOOT_SLOT_GONE)
			continue;
		log_error("bootstrap %s %u: rank %d has left the job",
			  boot_srv_round_name(s), s->seq, r);
		boot_srv_abort(s, BOOT_ABORT_LOST, r);
		return false;
	}
	return true;
}

/* A complete message from joined rank r. */
static void boot_srv_member_msg(boot_srv_t *s, int r)
{
	boot_srv_slot_t *slot = &s->slots[r];
	boot_wire_hdr_t *h = &slot->conn.rx.hdr;
	bool ok = (h->type == BOOT_MSG_GATHER || h->type == BOOT_MSG_BARRIER) &&
		  h->seq == s->seq && !slot->in &&
		  (s->nin == 0 || h->type == s->round_type) &&
		  (h->type == BOOT_MSG_GATHER || h->len == 0);

	if (!ok) {
		log_error("bootstrap round %u: rank %d (%s) sent message type "
			  "%u for round %u",
			  s->seq, r, slot->conn.peer, h->type, h->seq);
		boot_srv_abort(s, BOOT_ABORT_PROTO, r);
		return;
	}
	if (s->nin == 0 && !boot_srv_round_open(s, h->type))
		return;
	slot->blob = slot->conn.rx.body;
	slot->len = h->len;
	slot->in = true;
	boot_srv_rx_reset(&slot->conn.rx);
	if (++s->nin == s->size)
		boot_srv_round_done(s);
}

static void boot_srv_member_ready(boot_srv_t *s, int r)
{
	boot_srv_slot_t *slot = &s->slots[r];
	int rc = boot_srv_rx_step(&slot->conn, BOOT_WIRE_BLOB_MAX);

	if (rc == 1) {
		boot_srv_member_msg(s, r);
	} else if (rc == CVMM_ERR_INVALID || rc == CVMM_ERR_NOMEM) {
		log_error("bootstrap round %u: rank %d (%s) sent a malformed "
			  "header",
			  s->seq, r, slot->conn.peer);
		boot_srv_abort(s, BOOT_ABORT_PROTO, r);
	} else if (rc < 0 && s->nin > 0) {
		log_error("bootstrap %s %u: rank %d (%s) disconnected",
			  boot_srv_round_name(s), s->seq, r, slot->conn.peer);
		boot_srv_conn_close(&slot->conn);
		boot_srv_abort(s, BOOT_ABORT_LOST, r);
	} else if (rc < 0) {
		log_debug("bootstrap rank %d left after round %u", r, s->seq);
		boot_srv_conn_close(&slot->conn);
		slot->state = BOOT_SLOT_GONE;
	}
}

/* ---- the thread --------------------------------------------------------- */

static void boot_srv_check_deadlines(boot_srv_t *s)
{
	uint64_t now = cvmm_now_ms();
	int r;

	for (int i = 0; i < BOOT_SRV_PENDING_MAX; i++) {
		if (s->pend[i].fd < 0 || now < s->pend[i].deadline)
			continue;
		log_warn("dropped bootstrap connection from %s: no hello "
			 "within %d ms",
			 s->pend[i].peer, s->timeout_ms);
		boot_srv_conn_close(&s->pend[i]);
	}
	if (!s->round_deadline || now < s->round_deadline)
		return;
	for (r = 0; r < s->size && s->slots[r].in; r++)
		;
	if (s->slots[r].state == BOOT_SLOT_EMPTY)
		log_error("bootstrap %s %u: rank %d never joined (waited %d "
			  "ms)",
			  boot_srv_round_name(s), s->seq, r, s->timeout_ms);
	else
		log_error("bootstrap %s %u: rank %d did not arrive within %d "
			  "ms",
			  boot_srv_round_name(s), s->seq, r, s->timeout_ms);
	boot_srv_abort(s, BOOT_ABORT_TIMEOUT, r);
}

/* Fills s->pfds / s->who; returns the count and the poll timeout. */
static int boot_srv_pollset(boot_srv_t *s, int *timeout)
{
	uint64_t next = s->round_deadline;
	int n = 0;

	s->pfds[n] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
	s->who[n++] = INT_MIN;
	s->pfds[n] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	s->who[n++] = INT_MIN;
	for (int i = 0; i < BOOT_SRV_PENDING_MAX; i++) {
		if (s->pend[i].fd < 0)
			continue;
		if (!next || s->pend[i].deadline < next)
			next = s->pend[i].deadline;
		s->pfds[n] = (struct pollfd){ .fd = s->pend[i].fd,
					      .events = POLLIN };
		s->who[n++] = -1 - i;
	}
	for (int r = 0; r < s->size; r++) {
		if (s->slots[r].conn.fd < 0)
			continue;
		s->pfds[n] = (struct pollfd){ .fd = s->slots[r].conn.fd,
					      .events = POLLIN };
		s->who[n++] = r;
	}
	*timeout = next ? boot_left_ms(next) : -1;
	return n;
}

static void *boot_srv_main(void *arg)
{
	boot_srv_t *s = arg;
	int n, timeout;

	while (!s->failed) {
		n = boot_srv_pollset(s, &timeout);
		if (poll(s->pfds, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("bootstrap server poll: %m");
			boot_srv_abort(s, BOOT_ABORT_LOST, -1);
			break;
		}
		if (s->pfds[0].revents)
			break;
		if (s->pfds[1].revents)
			boot_srv_accept(s);
		for (int i = 2; i < n && !s->failed; i++) {
			if (!s->pfds[i].revents)
				continue;
			int w = s->who[i];

			if (w >= 0)
				boot_srv_member_ready(s, w);
			else
				boot_srv_pend_ready(s, &s->pend[-1 - w]);
		}
		if (!s->failed)
			boot_srv_check_deadlines(s);
	}
	/* Late ranks now get "connection refused" rather than silence. */
	close(s->lfd);
	s->lfd = -1;
	for (int i = 0; i < BOOT_SRV_PENDING_MAX; i++)
		boot_srv_conn_close(&s->pend[i]);
	for (int r = 0; r < s->size; r++)
		boot_srv_conn_close(&s->slots[r].conn);
	return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

static void boot_srv_free(boot_srv_t *s)
{
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	if (s->unix_path) {
		unlink(s->unix_path);
		free(s->unix_path);
	}
	for (int r = 0; s->slots && r < s->size; r++) {
		boot_srv_conn_close(&s->slots[r].conn);
		free(s->slots[r].blob);
	}
	for (int i = 0; i < BOOT_SRV_PENDING_MAX; i++)
		boot_srv_conn_close(&s->pend[i]);
	free(s->slots);
	free(s->pfds);
	free(s->who);
	free(s);
}

static boot_srv_t *boot_srv_alloc(int size, uint64_t cookie, int timeout_ms)
{
	size_t npfd = 2 + BOOT_SRV_PENDING_MAX + (size_t)size;
	boot_srv_t *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->size = size;
	s->cookie = cookie;
	s->timeout_ms = timeout_ms;
	s->lfd = s->wake[0] = s->wake[1] = -1;
	for (int i = 0; i < BOOT_SRV_PENDING_MAX; i++)
		s->pend[i].fd = -1;
	s->slots = calloc((size_t)size, sizeof(*s->slots));
	s->pfds = calloc(npfd, sizeof(*s->pfds));
	s->who = calloc(npfd, sizeof(*s->who));
	if (!s->slots || !s->pfds || !s->who) {
		boot_srv_free(s);
		return NULL;
	}
	for (int r = 0; r < size; r++)
		s->slots[r].conn.fd = -1;
	return s;
}

/* The socketpair end that rank 0 of this process talks through: joined
 * from the start (no HELLO), so it hears about every failure. */
static cvmm_status_t boot_srv_local(boot_srv_t *s, int *local_fd)
{
	boot_srv_slot_t *slot = &s->slots[0];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) != 0) {
		log_error("bootstrap socketpair: %m");
		return CVMM_ERR_IO;
	}
	slot->conn.fd = sv[0];
	snprintf(slot->conn.peer, sizeof(slot->conn.peer), "this process");
	slot->state = BOOT_SLOT_JOINED;
	*local_fd = sv[1];
	return CVMM_OK;
}

cvmm_status_t boot_srv_start(const char *addr, int size, uint64_t cookie,
			     int timeout_ms, int *local_fd, boot_srv_t **out)
{
	boot_srv_t *s = boot_srv_alloc(size, cookie, timeout_ms);
	cvmm_status_t st;
	int rc;

	if (!s) {
		log_error("no memory for a bootstrap server of %d ranks", size);
		return CVMM_ERR_NOMEM;
	}
	if (pipe2(s->wake, O_CLOEXEC) != 0) {
		log_error("bootstrap pipe: %m");
		st = CVMM_ERR_IO;
		goto err_free;
	}
	st = boot_sock_listen(addr, &s->lfd);
	if (st != CVMM_OK)
		goto err_free;
	if (boot_sock_unix_path(addr))
		s->unix_path = strdup(boot_sock_unix_path(addr));
	if (local_fd && (st = boot_srv_local(s, local_fd)) != CVMM_OK)
		goto err_free;
	rc = pthread_create(&s->thread, NULL, boot_srv_main, s);
	if (rc != 0) {
		log_error("bootstrap server thread: %s", strerror(rc));
		st = CVMM_ERR_IO;
		goto err_local;
	}
	*out = s;
	return CVMM_OK;
err_local:
	if (local_fd)
		close(*local_fd);
err_free:
	boot_srv_free(s);
	return st;
}

void boot_srv_stop(boot_srv_t *s)
{
	if (!s)
		return;
	(void)!write(s->wake[1], "x", 1);
	pthread_join(s->thread, NULL);
	boot_srv_free(s);
}

/* ---- the launcher ------------------------------------------------------- */

struct boot_launcher {
	boot_srv_t *srv;
	int size;
	uint64_t cookie;
	char dir[PATH_MAX];
	char addr[PATH_MAX + 16];
};

/* A private directory (mode 0700) under $TMPDIR or /tmp for the socket. */
static cvmm_status_t boot_launcher_dir(boot_launcher_t *l)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(l->dir, sizeof(l->dir), "%s/cvmm-boot.XXXXXX", tmp) >=
	    (int)sizeof(l->dir)) {
		log_error("TMPDIR is too long for the bootstrap socket");
		return CVMM_ERR_INVALID;
	}
	if (!mkdtemp(l->dir)) {
		log_error("cannot create a bootstrap directory in %s: %m", tmp);
		return CVMM_ERR_IO;
	}
	snprintf(l->addr, sizeof(l->addr), "unix:%s/boot.sock", l->dir);
	return CVMM_OK;
}

cvmm_status_t boot_launcher_start(int size, int timeout_ms,
				  boot_launcher_t **out)
{
	boot_launcher_t *l;
	cvmm_status_t st;

	if (size < 1 || size > (int)BOOT_WIRE_SIZE_MAX) {
		log_error("bad launcher job size %d: want 1 to %u", size,
			  BOOT_WIRE_SIZE_MAX);
		return CVMM_ERR_INVALID;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return CVMM_ERR_NOMEM;
	l->size = size;
	st = boot_cookie_random(&l->cookie);
	if (st != CVMM_OK)
		goto err_free;
	st = boot_launcher_dir(l);
	if (st != CVMM_OK)
		goto err_free;
	st = boot_srv_start(l->addr, size, l->cookie,
			    timeout_ms > 0 ? timeout_ms :
					     BOOT_TIMEOUT_DEFAULT_MS,
			    NULL, &l->srv);
	if (st != CVMM_OK)
		goto err_rmdir;
	log_debug("bootstrap launcher for %d ranks at %s", size, l->addr);
	*out = l;
	return CVMM_OK;
err_rmdir:
	rmdir(l->dir);
err_free:
	free(l);
	return st;
}

void boot_launcher_env(const boot_launcher_t *l, int rank, char *env[4])
{
	if (asprintf(&env[0], "CVMM_BOOT_ADDR=%s", l->addr) < 0)
		env[0] = NULL;
	if (asprintf(&env[1], "CVMM_BOOT_RANK=%d", rank) < 0)
		env[1] = NULL;
	if (asprintf(&env[2], "CVMM_BOOT_SIZE=%d", l->size) < 0)
		env[2] = NULL;
	if (asprintf(&env[3], "CVMM_JOB_COOKIE=%016llx",
		     (unsigned long long)l->cookie) < 0)
		env[3] = NULL;
}

void boot_launcher_stop(boot_launcher_t *l)
{
	if (!l)
		return;
	boot_srv_stop(l->srv);
	rmdir(l->dir);
	free(l);
}
