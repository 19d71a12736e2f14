/* Libraries loaded on first use: UCX, PMIx and libibverbs are not linked
 * into cvmm (no DT_NEEDED); a job of one never maps them (mapping and
 * initialising them at exec took ~3.7 ms of a one-node start). Each family
 * has a table of the functions cvmm calls, filled with dlsym when the code
 * that needs it first asks: dl_ucx.h (ucx.ucp_...), dl_pmix.h
 * (pmix.PMIx_...), dl_verbs.h (verbs.ibv_...). This file is the loader
 * they share. */
#ifndef CVMM_RDMA_DL_H
#define CVMM_RDMA_DL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "common/log.h"
#include "common/status.h"

/* One function of a table: its name and where its pointer goes. */
typedef struct dl_sym {
	const char *name;
	size_t off;
} dl_sym_t;

/* The X-macro lists of dl_ucx.h etc. make both the table's fields ... */
#define DL_FIELD(f) __typeof__(f) *f;
/* ... and its dl_sym_t entries. */
#define DL_SYM(type, f) { #f, offsetof(type, f) },

typedef struct dl_lib {
	const char *soname;      /* e.g. "libucp.so.0" */
	const char *need;        /* who needs it, ends the error line */
	const dl_sym_t *syms;
	size_t nsyms;
	void *table;             /* the pointers, at syms[i].off */
	size_t table_size;
	/* set by dl_load */
	pthread_mutex_t lock;
	atomic_int state;        /* DL_UNTRIED, DL_LOADED, DL_FAILED */
	char err[256];           /* "cannot load SONAME: WHY" */
} dl_lib_t;

enum { DL_UNTRIED = 0, DL_LOADED, DL_FAILED };

#define DL_LIB_INIT(so, why, list, tab)                                        \
	{                                                                      \
		.soname = (so), .need = (why), .syms = (list),                 \
		.nsyms = sizeof(list) / sizeof((list)[0]), .table = &(tab),    \
		.table_size = sizeof(tab), .lock = PTHREAD_MUTEX_INITIALIZER   \
	}

/* Opens lib (RTLD_NOW | RTLD_GLOBAL, as if linked) and fills its table,
 * once per process; thread-safe, and the library stays loaded. A signal
 * handler cvmm had installed that the library's constructors replaced
 * (UCX's libucs takes SIGSEGV, SIGBUS, SIGILL and SIGFPE) is put back, as
 * it was when the library loaded before main. On failure the table stays
 * empty, the one line "cannot load SONAME: WHY; NEED" is logged at level
 * (on every call) and CVMM_ERR_UNSUPPORTED returned; a failed load is not
 * retried. */
cvmm_status_t dl_load(dl_lib_t *lib, log_level_t level);

/* Why lib could not be loaded: "cannot load SONAME: WHY"; "" unless a
 * dl_load failed. */
const char *dl_error(dl_lib_t *lib);

#endif
