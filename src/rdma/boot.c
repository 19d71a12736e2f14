/* Bootstrap: rank and size from the options or the launcher's environment,
 * the job cookie, the choice of exchange method (launcher socket, PMIx,
 * coordinator, or none for a job of one), and the client side of the
 * coordinator protocol of boot_wire.h. The server side is in
 * boot_launcher.c, the PMIx method in boot_pmix.c. */
#include "rdma/boot_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

/* Clients wait this much longer than the server for an answer, so that the
 * server's ABORT naming the late rank arrives before their own timeout. */
#define BOOT_CLIENT_GRACE_MS 1000
#define BOOT_JOIN_RETRY_MS 100 /* pause before connecting again */

/* Where rank and size come from, in order of preference. */
typedef struct boot_env_src {
	const char *rank;
	const char *size; /* NULL: from the PMIx job info */
} boot_env_src_t;

static const boot_env_src_t boot_env_srcs[] = {
	{ "CVMM_BOOT_RANK", "CVMM_BOOT_SIZE" },
	{ "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE" },
	{ "PMIX_RANK", NULL },
	{ "PMI_RANK", "PMI_SIZE" },
	{ "SLURM_PROCID", "SLURM_NTASKS" },
};

/* The coordinator and launcher methods: a connection to the server, and the
 * server itself when this is rank 0 with --coordinator. */
typedef struct boot_client {
	int fd;
	boot_srv_t *srv;
	char addr[256];
	bool joining;  /* a close before WELCOME is retried, not logged */
	bool closed;   /* the coordinator closed the connection */
} boot_client_t;

/* ---- rank and size ------------------------------------------------------ */

static void boot_ident_fail(const char *why)
{
	log_error("%s%scannot tell this agent's rank: use --rank/--size or "
		  "start it with mpirun, srun or cvmm run -n",
		  why ? why : "", why ? ": " : "");
}

/* 1: *out holds the variable's value; 0: unset or empty; -1: not a
 * non-negative decimal int. */
static int boot_env_int(const char *name, int *out)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v > 0x7fffffff || s[0] < '0' || s[0] > '9')
		return -1;
	*out = (int)v;
	return 1;
}

/* Fills in what o left open from the first environment form present. */
static cvmm_status_t boot_ident_env(int *rank, int *size, char *why, size_t n)
{
	const boot_env_src_t *src;
	int r, s;

	for (size_t i = 0; i < sizeof(boot_env_srcs) / sizeof(*src); i++) {
		src = &boot_env_srcs[i];
		switch (boot_env_int(src->rank, &r)) {
		case 0:
			continue;
		case -1:
			snprintf(why, n, "bad %s", src->rank);
			return CVMM_ERR_INVALID;
		}
		if (*rank < 0)
			*rank = r;
		if (*size >= 0 || !src->size)
			return CVMM_OK;
		switch (boot_env_int(src->size, &s)) {
		case 0:
			snprintf(why, n, "%s without %s", src->rank, src->size);
			return CVMM_ERR_INVALID;
		case -1:
			snprintf(why, n, "bad %s", src->size);
			return CVMM_ERR_INVALID;
		}
		*size = s;
		return CVMM_OK;
	}
	return CVMM_OK;
}

cvmm_status_t boot_ident_detect(const boot_opts_t *o, int *rank, int *size)
{
	int r = o && o->rank >= 0 ? o->rank : -1;
	int s = o && o->size >= 0 ? o->size : -1;
	char why[96] = "";

	if ((r < 0 || s < 0) &&
	    boot_ident_env(&r, &s, why, sizeof(why)) != CVMM_OK)
		goto err;
	if (r < 0) {
		boot_ident_fail(NULL);
		return CVMM_ERR_INVALID;
	}
	if (s == 0 || s > (int)BOOT_WIRE_SIZE_MAX)
		snprintf(why, sizeof(why), "job size %d is not 1 to %u", s,
			 BOOT_WIRE_SIZE_MAX);
	else if (s > 0 && r >= s)
		snprintf(why, sizeof(why), "rank %d is not below job size %d",
			 r, s);
	if (why[0])
		goto err;
	*rank = r;
	*size = s;
	return CVMM_OK;
err:
	boot_ident_fail(why);
	return CVMM_ERR_INVALID;
}

/* ---- the job cookie ----------------------------------------------------- */

cvmm_status_t boot_cookie_parse(const char *hex, uint64_t *out)
{
	uint64_t v = 0;
	int d;

	if (!hex || strlen(hex) != 16)
		return CVMM_ERR_INVALID;
	for (int i = 0; i < 16; i++) {
		char c = hex[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return CVMM_ERR_INVALID;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return CVMM_OK;
}

cvmm_status_t boot_cookie_random(uint64_t *out)
{
	uint64_t v;
	ssize_t n;

	do {
		n = getrandom(&v, sizeof(v), 0);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(v)) {
		log_error("cannot make a job cookie: getrandom: %m");
		return CVMM_ERR_IO;
	}
	*out = v;
	return CVMM_OK;
}

/* The cookie from o or CVMM_JOB_COOKIE; *have is false when neither. */
static cvmm_status_t boot_cookie_get(const boot_opts_t *o, uint64_t *cookie,
				     bool *have)
{
	const char *hex = o->cookie ? o->cookie : getenv("CVMM_JOB_COOKIE");

	*have = hex && *hex;
	if (!*have)
		return CVMM_OK;
	if (boot_cookie_parse(hex, cookie) != CVMM_OK) {
		log_error("bad job cookie from %s: want 16 hex digits",
			  o->cookie ? "the options" : "CVMM_JOB_COOKIE");
		return CVMM_ERR_INVALID;
	}
	return CVMM_OK;
}

/* ---- result tables ------------------------------------------------------ */

cvmm_status_t boot_table_alloc(int size, void ***all, size_t **lens)
{
	*all = calloc((size_t)size, sizeof(**all));
	*lens = calloc((size_t)size, sizeof(**lens));
	if (*all && *lens)
		return CVMM_OK;
	free(*all);
	free(*lens);
	log_error("no memory for a bootstrap table of %d ranks", size);
	return CVMM_ERR_NOMEM;
}

bool boot_table_set(void **all, size_t *lens, int r, const void *p,
		    size_t len)
{
	all[r] = malloc(len ? len : 1);
	if (!all[r])
		return false;
	if (len)
		memcpy(all[r], p, len);
	lens[r] = len;
	return true;
}

void boot_table_free(int size, void **all, size_t *lens)
{
	for (int r = 0; all && r < size; r++)
		free(all[r]);
	free(all);
	free(lens);
}

/* ---- the client side of the coordinator protocol ------------------------ */

static void boot_client_what(const boot_t *b, uint16_t want, char *buf,
			     size_t n)
{
	if (want == BOOT_MSG_WELCOME)
		snprintf(buf, n, "joining");
	else
		snprintf(buf, n, "%s %u",
			 want == BOOT_MSG_TABLE ? "allgather" : "barrier",
			 b->seq);
}

static cvmm_status_t boot_client_lost(const boot_t *b, cvmm_status_t st,
				      const char *what)
{
	boot_client_t *c = b->priv;

	c->closed = st == CVMM_ERR_PEER;
	if (c->closed && c->joining)
		return CVMM_ERR_PEER; /* boot_client_hello retries */
	if (st == CVMM_ERR_TIMEOUT)
		log_error("rank %d: no answer from the bootstrap coordinator "
			  "at %s while %s within %d ms",
			  b->rank, c->addr, what, b->timeout_ms);
	else if (st == CVMM_ERR_PEER)
		log_error("rank %d: the bootstrap coordinator at %s closed "
			  "the connection while %s",
			  b->rank, c->addr, what);
	else
		log_error("rank %d: bootstrap connection to %s while %s: %m",
			  b->rank, c->addr, what);
	return st == CVMM_ERR_TIMEOUT ? st : CVMM_ERR_PEER;
}

static void boot_client_aborted(const boot_t *b, const uint8_t *raw,
				const char *what)
{
	boot_wire_abort_t a;

	boot_wire_abort_decode(raw, BOOT_WIRE_ABORT_LEN, &a);
	if (a.rank == UINT32_MAX)
		log_error("rank %d: bootstrap failed while %s: the "
			  "coordinator gave up",
			  b->rank, what);
	else
		log_error("rank %d: bootstrap failed while %s: rank %u %s",
			  b->rank, what, a.rank,
			  boot_wire_reason_str(a.reason));
}

/* Receives the answer `want` to the current round (payload <= max). An
 * ABORT, EOF, timeout or anything unexpected is logged and an error. */
static cvmm_status_t boot_client_recv(boot_t *b, uint16_t want, uint32_t max,
				      uint8_t **body, uint32_t *len)
{
	uint64_t deadline = cvmm_now_ms() + (uint64_t)b->timeout_ms +
			    BOOT_CLIENT_GRACE_MS;
	boot_client_t *c = b->priv;
	uint8_t raw[BOOT_WIRE_HDR_LEN], *buf;
	boot_wire_hdr_t h;
	cvmm_status_t st;
	char what[32];

	boot_client_what(b, want, what, sizeof(what));
	st = boot_sock_read(c->fd, raw, sizeof(raw), deadline);
	if (st != CVMM_OK)
		return boot_client_lost(b, st, what);
	if (boot_wire_hdr_decode(raw, sizeof(raw), &h) != CVMM_OK ||
	    (h.type == BOOT_MSG_ABORT && h.len != BOOT_WIRE_ABORT_LEN) ||
	    (h.type != BOOT_MSG_ABORT &&
	     (h.type != want || h.seq != b->seq || h.len > max))) {
		log_error("rank %d: bad message from the bootstrap coordinator "
			  "at %s while %s (type %u round %u, %u bytes)",
			  b->rank, c->addr, what, h.type, h.seq, h.len);
		return CVMM_ERR_PEER;
	}
	buf = malloc(h.len ? h.len : 1);
	if (!buf)
		return CVMM_ERR_NOMEM;
	st = boot_sock_read(c->fd, buf, h.len, deadline);
	if (st != CVMM_OK) {
		free(buf);
		return boot_client_lost(b, st, what);
	}
	if (h.type == BOOT_MSG_ABORT) {
		boot_client_aborted(b, buf, what);
		free(buf);
		return CVMM_ERR_PEER;
	}
	*body = buf;
	*len = h.len;
	return CVMM_OK;
}

static cvmm_status_t boot_client_send(boot_t *b, boot_wire_type_t type,
				      const void *p, size_t len)
{
	uint64_t deadline = cvmm_now_ms() + (uint64_t)b->timeout_ms;
	boot_client_t *c = b->priv;
	cvmm_status_t st;
	char what[32];

	st = boot_sock_send(c->fd, type, b->seq, p, (uint32_t)len, deadline);
	if (st == CVMM_OK)
		return CVMM_OK;
	boot_client_what(b, type == BOOT_MSG_HELLO ? BOOT_MSG_WELCOME :
			 type == BOOT_MSG_GATHER ? BOOT_MSG_TABLE :
						   BOOT_MSG_RELEASE,
			 what, sizeof(what));
	return boot_client_lost(b, st, what);
}

static cvmm_status_t boot_client_hello_once(boot_t *b)
{
	boot_wire_hello_t h = { .cookie = b->cookie,
				.rank = (uint32_t)b->rank,
				.size = (uint32_t)b->size };
	uint8_t raw[BOOT_WIRE_HELLO_LEN], *body;
	uint32_t len;
	cvmm_status_t st;

	boot_wire_hello_pack(raw, &h);
	st = boot_client_send(b, BOOT_MSG_HELLO, raw, sizeof(raw));
	if (st == CVMM_OK)
		st = boot_client_recv(b, BOOT_MSG_WELCOME, 0, &body, &len);
	if (st == CVMM_OK)
		free(body);
	return st;
}

/* Joins: HELLO, then WELCOME. A coordinator that closes the connection
 * before welcoming this rank refused the cookie, or dropped the connection
 * to make room (it keeps few connections that have not said hello, so
 * strangers cannot crowd the ranks out): connect again until the
 * bootstrap timeout, then say so once. */
static cvmm_status_t boot_client_hello(boot_t *b)
{
	uint64_t deadline = cvmm_now_ms() + (uint64_t)b->timeout_ms;
	boot_client_t *c = b->priv;
	cvmm_status_t st;
	int tries = 1;

	c->joining = true;
	while ((st = boot_client_hello_once(b)) == CVMM_ERR_PEER &&
	       c->closed && cvmm_now_ms() + BOOT_JOIN_RETRY_MS < deadline) {
		close(c->fd);
		c->fd = -1;
		usleep(BOOT_JOIN_RETRY_MS * 1000);
		st = boot_sock_connect(c->addr, boot_left_ms(deadline), &c->fd);
		if (st != CVMM_OK)
			break;
		tries++;
	}
	c->joining = false;
	if (st == CVMM_ERR_PEER && c->closed)
		log_error("rank %d: the bootstrap coordinator at %s closed the "
			  "connection before welcoming this rank, %d times in "
			  "%d ms: a wrong job cookie, or more strangers "
			  "connecting than it keeps",
			  b->rank, c->addr, tries, b->timeout_ms);
	return st;
}

/* Splits a TABLE payload into the caller's arrays. */
static cvmm_status_t boot_client_table(const boot_t *b, const uint8_t *p,
				       uint32_t len, size_t mine, void ***all,
				       size_t **lens)
{
	wire_r_t rd = wire_r_init(p, len);
	const uint8_t *blob;
	uint32_t n;
	void **a;
	size_t *l;

	if (boot_table_alloc(b->size, &a, &l) != CVMM_OK)
		return CVMM_ERR_NOMEM;
	for (int r = 0; r < b->size; r++) {
		if (!boot_wire_entry_get(&rd, &blob, &n))
			goto err_bad;
		if (!boot_table_set(a, l, r, blob, n)) {
			boot_table_free(b->size, a, l);
			return CVMM_ERR_NOMEM;
		}
	}
	if (!wire_r_done(&rd) || l[b->rank] != mine)
		goto err_bad;
	*all = a;
	*lens = l;
	return CVMM_OK;
err_bad:
	log_error("rank %d: malformed table from the bootstrap coordinator "
		  "for allgather %u",
		  b->rank, b->seq);
	boot_table_free(b->size, a, l);
	return CVMM_ERR_PEER;
}

static cvmm_status_t boot_client_allgather(boot_t *b, const void *mine,
					   size_t len, void ***all,
					   size_t **lens)
{
	uint8_t *body;
	uint32_t blen;
	cvmm_status_t st;

	st = boot_client_send(b, BOOT_MSG_GATHER, mine, len);
	if (st == CVMM_OK)
		st = boot_client_recv(b, BOOT_MSG_TABLE, BOOT_WIRE_TABLE_MAX,
				      &body, &blen);
	if (st != CVMM_OK)
		return st;
	st = boot_client_table(b, body, blen, len, all, lens);
	free(body);
	return st;
}

static cvmm_status_t boot_client_barrier(boot_t *b)
{
	uint8_t *body;
	uint32_t len;
	cvmm_status_t st;

	st = boot_client_send(b, BOOT_MSG_BARRIER, NULL, 0);
	if (st == CVMM_OK)
		st = boot_client_recv(b, BOOT_MSG_RELEASE, 0, &body, &len);
	if (st == CVMM_OK)
		free(body);
	return st;
}

static void boot_client_fini(boot_t *b)
{
	boot_client_t *c = b->priv;

	boot_srv_stop(c->srv);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static const boot_ops_t boot_launcher_ops = {
	.name = "launcher",
	.allgather = boot_client_allgather,
	.barrier = boot_client_barrier,
	.fini = boot_client_fini,
};

static const boot_ops_t boot_coord_ops = {
	.name = "coordinator",
	.allgather = boot_client_allgather,
	.barrier = boot_client_barrier,
	.fini = boot_client_fini,
};

/* Joins through the launcher's socket or the coordinator at addr; rank 0
 * serves the coordinator itself (never the launcher's). */
static cvmm_status_t boot_client_open(boot_t *b, const boot_ops_t *ops,
				      const char *addr, bool have_cookie)
{
	boot_client_t *c;
	cvmm_status_t st;

	if (b->size < 0) {
		boot_ident_fail("CVMM_BOOT_ADDR without CVMM_BOOT_SIZE");
		return CVMM_ERR_INVALID;
	}
	if (!have_cookie) {
		log_error("no job cookie: set CVMM_JOB_COOKIE");
		return CVMM_ERR_INVALID;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return CVMM_ERR_NOMEM;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	b->priv = c;
	if (ops == &boot_coord_ops && b->rank == 0)
		st = boot_srv_start(addr, b->size, b->cookie, b->timeout_ms,
				    &c->fd, &c->srv);
	else
		st = boot_sock_connect(addr, b->timeout_ms, &c->fd);
	if (st != CVMM_OK) {
		free(c);
		b->priv = NULL;
		return st;
	}
	b->ops = ops;
	st = c->srv ? CVMM_OK : boot_client_hello(b);
	if (st != CVMM_OK) {
		boot_client_fini(b);
		b->ops = NULL;
		b->priv = NULL;
	}
	return st;
}

/* ---- a job of one ------------------------------------------------------- */

static cvmm_status_t boot_self_allgather(boot_t *b, const void *mine,
					 size_t len, void ***all,
					 size_t **lens)
{
	if (boot_table_alloc(1, all, lens) != CVMM_OK)
		return CVMM_ERR_NOMEM;
	if (boot_table_set(*all, *lens, 0, mine, len))
		return CVMM_OK;
	boot_table_free(1, *all, *lens);
	return CVMM_ERR_NOMEM;
}

static cvmm_status_t boot_self_barrier(boot_t *b)
{
	return CVMM_OK;
}

static void boot_self_fini(boot_t *b)
{
}

static const boot_ops_t boot_self_ops = {
	.name = "self",
	.allgather = boot_self_allgather,
	.barrier = boot_self_barrier,
	.fini = boot_self_fini,
};

/* ---- the API ------------------------------------------------------------ */

/* Launcher, then a job of one, then PMIx, then the coordinator. A job of
 * one (--size 1, mpirun -np 1, srun -n 1: the size is in the environment)
 * without a coordinator has nobody to exchange with: no PMIx_Init, which
 * took 29 ms under mpirun on the 2-core VM. */
static cvmm_status_t boot_method_open(boot_t *b, const boot_opts_t *o,
				      bool have_cookie)
{
	const char *addr = getenv("CVMM_BOOT_ADDR");
	bool coordinator = o->coordinator && *o->coordinator;
	cvmm_status_t st;

	if (addr && *addr)
		return boot_client_open(b, &boot_launcher_ops, addr,
					have_cookie);
	if (b->size == 1 && !coordinator) {
		b->ops = &boot_self_ops;
		return have_cookie ? CVMM_OK : boot_cookie_random(&b->cookie);
	}
	if (boot_pmix_present()) {
		st = boot_pmix_open(b, have_cookie);
		if (st != CVMM_ERR_UNSUPPORTED)
			return st;
	}
	if (b->size < 0) {
		boot_ident_fail("PMIX_RANK without a pmix server");
		return CVMM_ERR_INVALID;
	}
	if (coordinator)
		return boot_client_open(b, &boot_coord_ops, o->coordinator,
					have_cookie);
	log_error("rank %d of %d has no way to reach the others: use "
		  "--coordinator HOST:PORT, or start the agents with mpirun, "
		  "srun or cvmm run -n",
		  b->rank, b->size);
	return CVMM_ERR_INVALID;
}

cvmm_status_t boot_init(const boot_opts_t *o, boot_t **out)
{
	static const boot_opts_t none = { .rank = -1, .size = -1 };
	bool have_cookie;
	cvmm_status_t st;
	boot_t *b;

	if (!o)
		o = &none;
	b = calloc(1, sizeof(*b));
	if (!b)
		return CVMM_ERR_NOMEM;
	b->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms :
					    BOOT_TIMEOUT_DEFAULT_MS;
	st = boot_ident_detect(o, &b->rank, &b->size);
	if (st == CVMM_OK)
		st = boot_cookie_get(o, &b->cookie, &have_cookie);
	if (st == CVMM_OK)
		st = boot_method_open(b, o, have_cookie);
	if (st != CVMM_OK) {
		free(b);
		return st;
	}
	log_info("bootstrap: rank %d of %d via %s", b->rank, b->size,
		 b->ops->name);
	*out = b;
	return CVMM_OK;
}

int boot_rank(const boot_t *b)
{
	return b->rank;
}

int boot_size(const boot_t *b)
{
	return b->size;
}

uint64_t boot_cookie(const boot_t *b)
{
	return b->cookie;
}

const char *boot_method(const boot_t *b)
{
	return b->ops->name;
}

cvmm_status_t boot_allgather(boot_t *b, const void *mine, size_t len,
			     void ***all, size_t **lens)
{
	cvmm_status_t st;

	if (len > BOOT_WIRE_BLOB_MAX || (len && !mine)) {
		log_error("rank %d: bad allgather blob of %zu bytes (at most "
			  "%u)",
			  b->rank, len, BOOT_WIRE_BLOB_MAX);
		return CVMM_ERR_INVALID;
	}
	st = b->ops->allgather(b, mine, len, all, lens);
	b->seq++;
	return st;
}

void boot_free_all(boot_t *b, void **all, size_t *lens)
{
	boot_table_free(b->size, all, lens);
}

cvmm_status_t boot_barrier(boot_t *b)
{
	cvmm_status_t st = b->ops->barrier(b);

	b->seq++;
	return st;
}

void boot_fini(boot_t *b)
{
	if (!b)
		return;
	b->ops->fini(b);
	free(b);
}
