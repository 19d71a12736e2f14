#include "common/status.h"

const char *cvmm_status_str(cvmm_status_t st)
{
	switch (st) {
	case CVMM_OK: return "success";
	case CVMM_ERR_INVALID: return "invalid argument";
	case CVMM_ERR_NOMEM: return "out of memory";
	case CVMM_ERR_IO: return "input/output error";
	case CVMM_ERR_UNSUPPORTED: return "not supported";
	case CVMM_ERR_NOT_FOUND: return "not found";
	case CVMM_ERR_EXISTS: return "already exists";
	case CVMM_ERR_TIMEOUT: return "timed out";
	case CVMM_ERR_RANGE: return "out of range";
	case CVMM_ERR_PEER: return "peer error";
	default: return "unknown status";
	}
}
