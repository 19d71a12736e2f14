/* Bootstrap: who am I (rank, size), the job cookie, and an all-gather of
 * small blobs (worker addresses, rkeys) before the transport is connected.
 * Three ways in, one code path after:
 *   1. cvmm run -n N: the launcher starts N agents and serves the exchange on
 *      a private UNIX socket (CVMM_BOOT_ADDR=unix:/path, rank and size in
 *      CVMM_BOOT_RANK / CVMM_BOOT_SIZE).
 *   2. mpirun / srun: rank and size from the launcher's environment
 *      (OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/PMI_SIZE, PMIX_RANK,
 *      SLURM_PROCID/SLURM_NTASKS); the exchange through PMIx when the
 *      launcher provides it, else through rank 0 at --coordinator HOST:PORT.
 *   3. by hand: --rank --size --coordinator.
 * The coordinator (rank 0 or the launcher) checks the job cookie first on
 * every connection: a connection without it is dropped and logged. */
#ifndef CVMM_RDMA_BOOT_H
#define CVMM_RDMA_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* A boot_t is used by one thread at a time. */
typedef struct boot boot_t;

typedef struct boot_opts {
	int rank;                /* -1: from the environment */
	int size;                /* -1: from the environment */
	const char *coordinator; /* "HOST:PORT", "unix:/path" or NULL */
	const char *cookie;      /* hex; NULL: CVMM_JOB_COOKIE */
	int timeout_ms;          /* for every bootstrap step; 0: 30000 */
} boot_opts_t;

/* Finds rank, size, cookie and the exchange method, and joins the job (rank
 * 0 starts listening when it is the coordinator). One clear logged line and
 * an error when something is missing or inconsistent.
 * Methods, first that applies: CVMM_BOOT_ADDR set -> "launcher"; a job
 * whose size 1 is known (options or a launcher's environment) and no
 * o->coordinator -> "self" (nothing to exchange; no PMIx_Init); a PMIx
 * server in the environment that answers PMIx_Init -> "pmix" (its rank and
 * size must agree with the others found); o->coordinator -> "coordinator";
 * a job of size 1 with none of these -> "self".
 * The launcher and coordinator methods need a cookie; under PMIx rank 0
 * makes one when none is given and shares it. o may be NULL (all from the
 * environment). */
cvmm_status_t boot_init(const boot_opts_t *o, boot_t **out);

/* Rank and size as boot_init finds them, without joining anything: each of
 * o->rank / o->size that is >= 0, else the first environment form present:
 * CVMM_BOOT_RANK/_SIZE, OMPI_COMM_WORLD_RANK/_SIZE, PMIX_RANK (*size is
 * then -1: only the PMIx job info tells it), PMI_RANK/PMI_SIZE,
 * SLURM_PROCID/SLURM_NTASKS. Logs one line and returns CVMM_ERR_INVALID
 * when the rank is missing, a value is malformed, or rank >= size. */
cvmm_status_t boot_ident_detect(const boot_opts_t *o, int *rank, int *size);

/* Parses a job cookie: exactly 16 hex digits (either case). Returns
 * CVMM_ERR_INVALID otherwise; does not log (the value is a secret). */
cvmm_status_t boot_cookie_parse(const char *hex, uint64_t *out);

int boot_rank(const boot_t *b);
int boot_size(const boot_t *b);
uint64_t boot_cookie(const boot_t *b);
/* "launcher", "pmix", "coordinator" or "self" (a job of one) */
const char *boot_method(const boot_t *b);

/* All-gather: every rank contributes len bytes (lengths may differ); on
 * success all[r], lens[r] hold rank r's blob for every r (malloc'ed;
 * free with boot_free_all). Blocks until every rank has contributed or the
 * timeout passes. len is at most 1 MiB (BOOT_WIRE_BLOB_MAX); all[r] is
 * never NULL, even for a zero-length blob. Every rank must make the same
 * sequence of boot_allgather / boot_barrier calls. After an error the job's
 * bootstrap is unusable (the other ranks fail too): call boot_fini. */
cvmm_status_t boot_allgather(boot_t *b, const void *mine, size_t len,
			     void ***all, size_t **lens);
void boot_free_all(boot_t *b, void **all, size_t *lens);

/* Waits until every rank reached the barrier. */
cvmm_status_t boot_barrier(boot_t *b);

void boot_fini(boot_t *b);

/* The local launcher side (cvmm run -n N): a UNIX socket in a private
 * directory, a fresh cookie, and the exchange served from a thread.
 * boot_launcher_env fills the variables an agent needs
 * (CVMM_BOOT_ADDR, CVMM_BOOT_RANK, CVMM_BOOT_SIZE, CVMM_JOB_COOKIE). */
typedef struct boot_launcher boot_launcher_t;
cvmm_status_t boot_launcher_start(int size, int timeout_ms,
				  boot_launcher_t **out);
/* Writes "NAME=value" strings for rank into env[0..3] (malloc'ed; an
 * entry is NULL when out of memory). The launcher's timeout_ms (0: 30000)
 * bounds each round from its first message; it serves any number of rounds
 * until boot_launcher_stop, which removes the socket and its directory. */
void boot_launcher_env(const boot_launcher_t *l, int rank, char *env[4]);
void boot_launcher_stop(boot_launcher_t *l);

/* ---- joining a running VM (node/join.c) ---------------------------------
 * Node 0 of a VM with free slots listens at HOST:PORT (port 0: a free
 * one; bound gets "HOST:PORT" to give joiners). A joining agent dials it
 * with the job cookie and the membership epoch it expects (0: any);
 * boot_join_accept takes one connection and reads its HELLO within
 * timeout_ms: a wrong cookie is refused (the joiner is told, node 0 logs
 * a line) and so is a connection that says nothing or something else
 * (CVMM_ERR_PEER: accept the next one). Then both sides exchange blobs
 * (at most BOOT_JOIN_BLOB_MAX bytes) or a refusal line: boot_join_recv of
 * a refusal is CVMM_ERR_PEER with the line in why; why also says what
 * else went wrong. Sockets are non-blocking and close-on-exec; every call
 * is bounded by its timeout. */
#define BOOT_JOIN_BLOB_MAX (64u << 20)
cvmm_status_t boot_join_listen(const char *addr, char *bound, size_t cap,
			       int *fd);
cvmm_status_t boot_join_accept(int lfd, uint64_t cookie, int timeout_ms,
			       int *fd, uint64_t *epoch, char *peer,
			       size_t peer_cap);
cvmm_status_t boot_join_dial(const char *addr, uint64_t cookie,
			     uint64_t epoch, int timeout_ms, int *fd);
cvmm_status_t boot_join_send(int fd, const void *blob, size_t len,
			     int timeout_ms);
cvmm_status_t boot_join_refuse(int fd, const char *why, int timeout_ms);
/* *blob malloc'ed (free it) */
cvmm_status_t boot_join_recv(int fd, void **blob, size_t *len,
			     int timeout_ms, char *why, size_t why_cap);

#endif
