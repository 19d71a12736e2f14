/* libibverbs (libibverbs.so.1, with libnl), loaded on first use
 * (rdma/dl.h): cvmm only lists RDMA devices with it (cvmm info, and an
 * agent's choice of interfaces); UCX's own ib transports load it
 * themselves. Call sites go through the table: verbs.ibv_get_device_list(&n),
 * and verbs_query_port for verbs.h's ibv_query_port macro. */
#ifndef CVMM_RDMA_DL_VERBS_H
#define CVMM_RDMA_DL_VERBS_H

#include <infiniband/verbs.h>
#include <string.h>

#include "rdma/dl.h"

#define DL_VERBS_SONAME "libibverbs.so.1"

/* ibv_query_port is also a function-like macro in verbs.h: not followed by
 * "(" it names the exported function (the old port attribute layout). */
#define DL_VERBS_FUNCS(X)                                                      \
	X(ibv_close_device)                                                    \
	X(ibv_free_device_list)                                                \
	X(ibv_get_device_guid)                                                 \
	X(ibv_get_device_list)                                                 \
	X(ibv_get_device_name)                                                 \
	X(ibv_open_device)                                                     \
	X(ibv_query_device)                                                    \
	X(ibv_query_gid)                                                       \
	X(ibv_query_port)

struct verbs_api {
	DL_VERBS_FUNCS(DL_FIELD)
};

/* Filled by verbs_load; empty before. */
extern struct verbs_api verbs;

/* Loads libibverbs once (dl_load): CVMM_OK, or CVMM_ERR_UNSUPPORTED after
 * the line "cannot load libibverbs.so.1: WHY; ..." at level. */
cvmm_status_t verbs_load(log_level_t level);
/* "cannot load libibverbs.so.1: WHY" after a failed verbs_load, else "". */
const char *verbs_load_error(void);

/* verbs.h's ibv_query_port (an inline function behind a macro): the
 * provider's query_port, else the exported one through the table. */
static inline int verbs_query_port(struct ibv_context *ctx, uint8_t port,
				   struct ibv_port_attr *attr)
{
	struct verbs_context *vctx = verbs_get_ctx_op(ctx, query_port);

	if (!vctx) {
		memset(attr, 0, sizeof(*attr));
		return (verbs.ibv_query_port)(
			ctx, port, (struct _compat_ibv_port_attr *)attr);
	}
	return vctx->query_port(ctx, port, attr, sizeof(*attr));
}

#endif
