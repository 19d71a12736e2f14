/* The loader behind dl_ucx.c, dl_pmix.c and dl_verbs.c: dlopen by SONAME,
 * dlsym of every function of the table, the signal handlers the library's
 * constructors took put back, one error line. */
#include "rdma/dl.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DL_NSIG 64

/* The kernel's struct sigaction: entry.c installs its handlers with its own
 * restorer, which libc's sigaction() would replace with glibc's. */
typedef struct dl_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
} dl_ksigaction_t;

static void dl_signals_save(dl_ksigaction_t *sa)
{
	for (int sig = 1; sig <= DL_NSIG; sig++)
		if (syscall(SYS_rt_sigaction, sig, NULL, &sa[sig - 1], 8) != 0)
			memset(&sa[sig - 1], 0, sizeof(sa[sig - 1]));
}

/* Puts back every handler cvmm had set (not SIG_DFL) that loading changed;
 * a library's handler for a signal cvmm leaves alone stays, as when the
 * library was loaded before main. */
static void dl_signals_restore(const dl_lib_t *lib,
			       const dl_ksigaction_t *before)
{
	dl_ksigaction_t now;

	for (int sig = 1; sig <= DL_NSIG; sig++) {
		const dl_ksigaction_t *b = &before[sig - 1];

		if (b->handler == (void *)SIG_DFL ||
		    syscall(SYS_rt_sigaction, sig, NULL, &now, 8) != 0 ||
		    memcmp(&now, b, sizeof(now)) == 0)
			continue;
		if (syscall(SYS_rt_sigaction, sig, b, NULL, 8) != 0)
			log_warn("%s took the handler of signal %d and it "
				 "cannot be put back: %m",
				 lib->soname, sig);
		else
			log_debug("%s took the handler of signal %d: put back",
				  lib->soname, sig);
	}
}

/* dlerror() names the object first ("/lib/.../libucp.so.0: undefined
 * symbol: x"); the line names it already unless it is another one (a
 * missing dependency). */
static const char *dl_why(const char *soname, const char *e)
{
	const char *colon = e ? strstr(e, ": ") : NULL;
	size_t n = strlen(soname);

	if (!e)
		return "unknown error";
	if (colon && (size_t)(colon - e) >= n &&
	    strncmp(colon - n, soname, n) == 0 &&
	    (colon - e == (ptrdiff_t)n || colon[-(ptrdiff_t)n - 1] == '/'))
		return colon + 2;
	return e;
}

static int dl_open(dl_lib_t *lib)
{
	dl_ksigaction_t before[DL_NSIG];
	void *h, *p;

	dl_signals_save(before);
	h = dlopen(lib->soname, RTLD_NOW | RTLD_GLOBAL);
	dl_signals_restore(lib, before);
	if (!h) {
		snprintf(lib->err, sizeof(lib->err), "cannot load %s: %s",
			 lib->soname, dl_why(lib->soname, dlerror()));
		return DL_FAILED;
	}
	for (size_t i = 0; i < lib->nsyms; i++) {
		dlerror();
		p = dlsym(h, lib->syms[i].name);
		if (!p) {
			snprintf(lib->err, sizeof(lib->err),
				 "cannot load %s: %s", lib->soname,
				 dl_why(lib->soname, dlerror()));
			memset(lib->table, 0, lib->table_size);
			dlclose(h);
			return DL_FAILED;
		}
		memcpy((char *)lib->table + lib->syms[i].off, &p, sizeof(p));
	}
	log_debug("loaded %s (%zu functions)", lib->soname, lib->nsyms);
	return DL_LOADED;
}

cvmm_status_t dl_load(dl_lib_t *lib, log_level_t level)
{
	int st = atomic_load_explicit(&lib->state, memory_order_acquire);

	if (st == DL_UNTRIED) {
		pthread_mutex_lock(&lib->lock);
		st = atomic_load_explicit(&lib->state, memory_order_relaxed);
		if (st == DL_UNTRIED) {
			st = dl_open(lib);
			atomic_store_explicit(&lib->state, st,
					      memory_order_release);
		}
		pthread_mutex_unlock(&lib->lock);
	}
	if (st == DL_LOADED)
		return CVMM_OK;
	log_at(level, "%s; %s", lib->err, lib->need);
	return CVMM_ERR_UNSUPPORTED;
}

const char *dl_error(dl_lib_t *lib)
{
	if (atomic_load_explicit(&lib->state, memory_order_acquire) !=
	    DL_FAILED)
		return "";
	return lib->err;
}
