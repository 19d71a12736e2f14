/* PMIx (libpmix.so.2, with libevent and munge), loaded on first use
 * (rdma/dl.h): only the bootstrap under mpirun or srun needs it. Call
 * sites go through the table: pmix.PMIx_Fence(...). */
#ifndef CVMM_RDMA_DL_PMIX_H
#define CVMM_RDMA_DL_PMIX_H

#include <pmix.h>

#include "rdma/dl.h"

#define DL_PMIX_SONAME "libpmix.so.2"

#define DL_PMIX_FUNCS(X)                                                       \
	X(PMIx_Commit)                                                         \
	X(PMIx_Error_string)                                                   \
	X(PMIx_Fence)                                                          \
	X(PMIx_Finalize)                                                       \
	X(PMIx_Get)                                                            \
	X(PMIx_Info_load)                                                      \
	X(PMIx_Init)                                                           \
	X(PMIx_Put)                                                            \
	X(PMIx_Value_destruct)

struct pmix_api {
	DL_PMIX_FUNCS(DL_FIELD)
};

/* Filled by pmix_load; empty before. */
extern struct pmix_api pmix;

/* pmix_common.h's PMIX_INFO_LOAD and PMIX_VALUE_DESTRUCT (and with it
 * PMIX_INFO_DESTRUCT and PMIX_VALUE_RELEASE) call PMIx functions: the same,
 * through the table. */
#undef PMIX_INFO_LOAD
#define PMIX_INFO_LOAD(i, k, d, t) (void)pmix.PMIx_Info_load(i, k, d, t)
#undef PMIX_VALUE_DESTRUCT
#define PMIX_VALUE_DESTRUCT(m) pmix.PMIx_Value_destruct(m)

/* Loads PMIx once (dl_load): CVMM_OK, or CVMM_ERR_UNSUPPORTED after the
 * line "cannot load libpmix.so.2: WHY; ..." at level. */
cvmm_status_t pmix_load(log_level_t level);

#endif
