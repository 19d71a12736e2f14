/* PMIx's table (dl_pmix.h). */
#include "rdma/dl_pmix.h"

struct pmix_api pmix;

#define DL_PMIX_SYM(f) DL_SYM(struct pmix_api, f)
static const dl_sym_t pmix_syms[] = { DL_PMIX_FUNCS(DL_PMIX_SYM) };

static dl_lib_t pmix_lib = DL_LIB_INIT(
	DL_PMIX_SONAME, "the bootstrap through mpirun or srun needs PMIx",
	pmix_syms, pmix);

cvmm_status_t pmix_load(log_level_t level)
{
	return dl_load(&pmix_lib, level);
}
