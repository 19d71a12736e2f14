/* Bootstrap through the PMIx server of mpirun / srun: an allgather is a
 * PMIx_Put of "cvmm.blob.<round>" by every rank, PMIx_Commit, a fence that
 * collects the data, and a PMIx_Get per rank; a barrier is a fence without
 * data. Rank 0 shares the job cookie ("cvmm.cookie") the same way when the
 * job is set up. Every fence carries PMIX_TIMEOUT (whole seconds). */
#include "rdma/boot_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "rdma/dl_pmix.h"

#define BOOT_PMIX_COOKIE_KEY "cvmm.cookie"

typedef struct boot_pmix {
	pmix_proc_t me;
} boot_pmix_t;

extern char **environ;

bool boot_pmix_present(void)
{
	const char *ns = getenv("PMIX_NAMESPACE");

	if (ns && *ns)
		return true;
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, "PMIX_SERVER_URI", 15) == 0)
			return true;
	}
	return false;
}

static cvmm_status_t boot_pmix_status(pmix_status_t rc)
{
	return rc == PMIX_ERR_TIMEOUT ? CVMM_ERR_TIMEOUT : CVMM_ERR_PEER;
}

/* A fence over every rank of our namespace; collect: with the put data. */
static cvmm_status_t boot_pmix_fence(boot_t *b, bool collect,
				     const char *what)
{
	boot_pmix_t *p = b->priv;
	int secs = (b->timeout_ms + 999) / 1000;
	bool yes = true;
	pmix_info_t info[2];
	pmix_proc_t all;
	pmix_status_t rc;
	size_t n = 1;

	PMIX_LOAD_PROCID(&all, p->me.nspace, PMIX_RANK_WILDCARD);
	PMIX_INFO_LOAD(&info[0], PMIX_TIMEOUT, &secs, PMIX_INT);
	if (collect) {
		PMIX_INFO_LOAD(&info[1], PMIX_COLLECT_DATA, &yes, PMIX_BOOL);
		n = 2;
	}
	rc = pmix.PMIx_Fence(&all, 1, info, n);
	for (size_t i = 0; i < n; i++)
		PMIX_INFO_DESTRUCT(&info[i]);
	if (rc == PMIX_SUCCESS)
		return CVMM_OK;
	log_error("rank %d: pmix fence for %s failed: %s", b->rank, what,
		  pmix.PMIx_Error_string(rc));
	return boot_pmix_status(rc);
}

/* PMIx_Get of key from rank r (PMIX_RANK_WILDCARD: job info), of type. */
static pmix_value_t *boot_pmix_get(boot_t *b, pmix_rank_t r, const char *key,
				   pmix_data_type_t type)
{
	boot_pmix_t *p = b->priv;
	pmix_value_t *v = NULL;
	pmix_proc_t proc;
	pmix_status_t rc;

	PMIX_LOAD_PROCID(&proc, p->me.nspace, r);
	rc = pmix.PMIx_Get(&proc, key, NULL, 0, &v);
	if (rc == PMIX_SUCCESS && v && v->type == type)
		return v;
	if (v)
		PMIX_VALUE_RELEASE(v);
	return NULL;
}

static cvmm_status_t boot_pmix_put(boot_t *b, const char *key,
				   pmix_value_t *v)
{
	pmix_status_t rc = pmix.PMIx_Put(PMIX_GLOBAL, key, v);

	if (rc == PMIX_SUCCESS)
		rc = pmix.PMIx_Commit();
	if (rc == PMIX_SUCCESS)
		return CVMM_OK;
	log_error("rank %d: pmix put of %s failed: %s", b->rank, key,
		  pmix.PMIx_Error_string(rc));
	return boot_pmix_status(rc);
}

/* Copies rank r's blob of round seq out of PMIx. */
static cvmm_status_t boot_pmix_fetch(boot_t *b, int r, const char *key,
				     void **all, size_t *lens)
{
	pmix_value_t *v = boot_pmix_get(b, (pmix_rank_t)r, key,
					PMIX_BYTE_OBJECT);
	bool ok;

	if (!v || v->data.bo.size > BOOT_WIRE_BLOB_MAX) {
		log_error("rank %d: pmix has no valid blob from rank %d for "
			  "allgather %u",
			  b->rank, r, b->seq);
		if (v)
			PMIX_VALUE_RELEASE(v);
		return CVMM_ERR_PEER;
	}
	ok = boot_table_set(all, lens, r, v->data.bo.bytes, v->data.bo.size);
	PMIX_VALUE_RELEASE(v);
	return ok ? CVMM_OK : CVMM_ERR_NOMEM;
}

static cvmm_status_t boot_pmix_allgather(boot_t *b, const void *mine,
					 size_t len, void ***all,
					 size_t **lens)
{
	pmix_value_t v = { .type = PMIX_BYTE_OBJECT };
	char key[32], what[32];
	cvmm_status_t st;
	void **a;
	size_t *l;

	snprintf(key, sizeof(key), "cvmm.blob.%u", b->seq);
	snprintf(what, sizeof(what), "allgather %u", b->seq);
	v.data.bo.bytes = (char *)mine;
	v.data.bo.size = len;
	st = boot_pmix_put(b, key, &v);
	if (st == CVMM_OK)
		st = boot_pmix_fence(b, true, what);
	if (st == CVMM_OK)
		st = boot_table_alloc(b->size, &a, &l);
	for (int r = 0; st == CVMM_OK && r < b->size; r++) {
		st = boot_pmix_fetch(b, r, key, a, l);
		if (st != CVMM_OK)
			boot_table_free(b->size, a, l);
	}
	if (st != CVMM_OK)
		return st;
	*all = a;
	*lens = l;
	return CVMM_OK;
}

static cvmm_status_t boot_pmix_barrier(boot_t *b)
{
	char what[32];

	snprintf(what, sizeof(what), "barrier %u", b->seq);
	return boot_pmix_fence(b, false, what);
}

static void boot_pmix_fini(boot_t *b)
{
	pmix.PMIx_Finalize(NULL, 0);
	free(b->priv);
	b->priv = NULL;
}

static const boot_ops_t boot_pmix_ops = {
	.name = "pmix",
	.allgather = boot_pmix_allgather,
	.barrier = boot_pmix_barrier,
	.fini = boot_pmix_fini,
};

/* Rank and size as PMIx sees them must match what we were told. */
static cvmm_status_t boot_pmix_ident(boot_t *b)
{
	boot_pmix_t *p = b->priv;
	pmix_value_t *v = boot_pmix_get(b, PMIX_RANK_WILDCARD, PMIX_JOB_SIZE,
					PMIX_UINT32);
	uint32_t size;

	if (!v)
		v = boot_pmix_get(b, PMIX_RANK_WILDCARD, PMIX_UNIV_SIZE,
				  PMIX_UINT32);
	if (!v) {
		log_error("pmix does not tell the job size: cannot tell this "
			  "agent's rank: use --rank/--size and --coordinator");
		return CVMM_ERR_INVALID;
	}
	size = v->data.uint32;
	PMIX_VALUE_RELEASE(v);
	if (b->size < 0)
		b->size = (int)size;
	if (p->me.rank == (pmix_rank_t)b->rank && size == (uint32_t)b->size &&
	    size >= 1 && size <= BOOT_WIRE_SIZE_MAX)
		return CVMM_OK;
	log_error("rank %d of %d from the options or environment, but pmix "
		  "says rank %u of %u: cannot tell this agent's rank",
		  b->rank, b->size, p->me.rank, size);
	return CVMM_ERR_INVALID;
}

/* Rank 0's cookie (made here when nobody gave one) for everyone. */
static cvmm_status_t boot_pmix_cookie(boot_t *b, bool have_cookie)
{
	pmix_value_t mine = { .type = PMIX_UINT64 }, *v;
	cvmm_status_t st = CVMM_OK;

	if (b->rank == 0 && !have_cookie)
		st = boot_cookie_random(&b->cookie);
	mine.data.uint64 = b->cookie;
	if (st == CVMM_OK && b->rank == 0)
		st = boot_pmix_put(b, BOOT_PMIX_COOKIE_KEY, &mine);
	if (st == CVMM_OK)
		st = boot_pmix_fence(b, true, "the job cookie");
	if (st != CVMM_OK || b->rank == 0)
		return st;
	v = boot_pmix_get(b, 0, BOOT_PMIX_COOKIE_KEY, PMIX_UINT64);
	if (!v) {
		log_error("rank %d: pmix has no job cookie from rank 0",
			  b->rank);
		return CVMM_ERR_PEER;
	}
	if (have_cookie && v->data.uint64 != b->cookie) {
		log_error("rank %d: job cookie differs from rank 0's", b->rank);
		st = CVMM_ERR_INVALID;
	}
	b->cookie = v->data.uint64;
	PMIX_VALUE_RELEASE(v);
	return st;
}

cvmm_status_t boot_pmix_open(boot_t *b, bool have_cookie)
{
	boot_pmix_t *p = calloc(1, sizeof(*p));
	pmix_status_t rc;
	cvmm_status_t st;

	if (!p)
		return CVMM_ERR_NOMEM;
	if (pmix_load(LOG_LVL_WARN) != CVMM_OK) {
		free(p);
		return CVMM_ERR_UNSUPPORTED;
	}
	rc = pmix.PMIx_Init(&p->me, NULL, 0);
	if (rc != PMIX_SUCCESS) {
		log_warn("pmix server unreachable (%s): trying the coordinator",
			 pmix.PMIx_Error_string(rc));
		free(p);
		return CVMM_ERR_UNSUPPORTED;
	}
	b->priv = p;
	st = boot_pmix_ident(b);
	if (st == CVMM_OK)
		st = boot_pmix_cookie(b, have_cookie);
	if (st != CVMM_OK) {
		boot_pmix_fini(b);
		return st;
	}
	b->ops = &boot_pmix_ops;
	return CVMM_OK;
}
