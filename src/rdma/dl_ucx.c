/* UCX's table (dl_ucx.h). */
#include "rdma/dl_ucx.h"

struct ucx_api ucx;

#define DL_UCX_SYM(f) DL_SYM(struct ucx_api, f)
static const dl_sym_t ucx_syms[] = { DL_UCX_FUNCS(DL_UCX_SYM) };

static dl_lib_t ucx_lib = DL_LIB_INIT(DL_UCX_SONAME, "multi-node runs need UCX",
				      ucx_syms, ucx);

cvmm_status_t ucx_load(log_level_t level)
{
	return dl_load(&ucx_lib, level);
}

const char *ucx_load_error(void)
{
	return dl_error(&ucx_lib);
}
