/* cvmm info, network half: RDMA devices as libibverbs and sysfs describe
 * them, and the transports UCX finds on this host (every UCT component,
 * memory domain and transport resource, which is what UCP chooses from when
 * UCX_TLS is unset). */
#include "cli/info.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "rdma/dl_ucx.h"
#include "rdma/dl_verbs.h"

#define NET_MAX_PORTS 8

typedef struct net_port {
	unsigned num;
	enum ibv_port_state state;
	int link;                /* IBV_LINK_LAYER_* */
	unsigned mtu;            /* active MTU in bytes, 0: unknown */
	char rate[48];           /* sysfs, e.g. "100 Gb/sec (4X EDR)" */
	char gid0[40];           /* "" when it could not be read */
} net_port_t;

typedef struct net_dev {
	char name[IBV_SYSFS_NAME_MAX];
	char guid[24];
	char driver[32];         /* "rxe", "siw", else the kernel driver, "" */
	char parent[64];         /* netdev under a software device, "" */
	bool iwarp;
	char err[96];            /* why it could not be queried, "" if fine */
	unsigned nports;
	net_port_t ports[NET_MAX_PORTS];
} net_dev_t;

typedef enum net_tl_kind {
	TL_RDMA,
	TL_TCP,
	TL_SHM,
	TL_SELF,
	TL_OTHER,
} net_tl_kind_t;

typedef struct net_tl {
	char tl[UCT_TL_NAME_MAX];
	char dev[UCT_DEVICE_NAME_MAX];
	net_tl_kind_t kind;
} net_tl_t;

struct info_net {
	int list_err;            /* errno of a failed ibv_get_device_list */
	const char *verbs_err;   /* why libibverbs could not be loaded */
	int ndevs;
	net_dev_t *devs;
	int ntls;
	net_tl_t *tls;
	const char *ucx_err;     /* why UCT could not be listed, or NULL */
	const char *ucx_version; /* NULL when UCX could not be loaded */
};

static const char *const tl_kind_name[] = {
	[TL_RDMA] = "rdma", [TL_TCP] = "tcp", [TL_SHM] = "shm",
	[TL_SELF] = "self", [TL_OTHER] = "other",
};

/* UCX's preference among RDMA transports for a peer on another host. */
static const char *const rdma_tl_pref[] = {
	"rc_mlx5", "dc_mlx5", "rc_verbs", "ud_mlx5", "ud_verbs", NULL,
};

static void *net_xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		die("out of memory");
	return p;
}

/* Reads the first line of a sysfs file without its newline. */
static bool net_sysfs_read(const char *dir, const char *name, char *buf,
			   size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* The software drivers (rxe, siw) have a "parent" attribute naming their
 * netdev; the name alone can be anything `rdma link add` was given. */
static void net_dev_driver(struct ibv_device *d, net_dev_t *nd)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	nd->iwarp = d->transport_type == IBV_TRANSPORT_IWARP;
	if (net_sysfs_read(d->ibdev_path, "parent", nd->parent,
			   sizeof(nd->parent)) ||
	    strncmp(nd->name, "rxe", 3) == 0 ||
	    strncmp(nd->name, "siw", 3) == 0) {
		snprintf(nd->driver, sizeof(nd->driver), "%s",
			 nd->iwarp ? "siw" : "rxe");
		return;
	}
	snprintf(path, sizeof(path), "%s/device/driver", d->ibdev_path);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	snprintf(nd->driver, sizeof(nd->driver), "%s", basename(target));
}

static void net_gid_format(const union ibv_gid *gid, char *buf, size_t len)
{
	const uint8_t *r = gid->raw;
	size_t off = 0;

	for (int i = 0; i < 16 && off < len; i += 2)
		off += (size_t)snprintf(buf + off, len - off, "%s%02x%02x",
					i ? ":" : "", r[i], r[i + 1]);
}

static void net_port_query(struct ibv_context *ctx, const char *ibdev_path,
			   net_port_t *p)
{
	struct ibv_port_attr attr;
	union ibv_gid gid;
	char dir[IBV_SYSFS_PATH_MAX + 32];

	if (verbs_query_port(ctx, (uint8_t)p->num, &attr) != 0) {
		p->state = IBV_PORT_NOP;
		return;
	}
	p->state = attr.state;
	p->link = attr.link_layer;
	p->mtu = attr.active_mtu >= IBV_MTU_256 &&
				 attr.active_mtu <= IBV_MTU_4096
			 ? 128u << attr.active_mtu
			 : 0;
	if (verbs.ibv_query_gid(ctx, (uint8_t)p->num, 0, &gid) == 0)
		net_gid_format(&gid, p->gid0, sizeof(p->gid0));
	snprintf(dir, sizeof(dir), "%s/ports/%u", ibdev_path, p->num);
	net_sysfs_read(dir, "rate", p->rate, sizeof(p->rate));
}

static void net_dev_query(struct ibv_device *d, net_dev_t *nd)
{
	struct ibv_device_attr attr;
	struct ibv_context *ctx;
	uint64_t guid = be64toh(verbs.ibv_get_device_guid(d));

	snprintf(nd->name, sizeof(nd->name), "%s",
		 verbs.ibv_get_device_name(d));
	snprintf(nd->guid, sizeof(nd->guid), "%04x:%04x:%04x:%04x",
		 (unsigned)(guid >> 48) & 0xffff,
		 (unsigned)(guid >> 32) & 0xffff,
		 (unsigned)(guid >> 16) & 0xffff, (unsigned)guid & 0xffff);
	net_dev_driver(d, nd);
	ctx = verbs.ibv_open_device(d);
	if (!ctx) {
		snprintf(nd->err, sizeof(nd->err), "cannot open: %m");
		return;
	}
	if (verbs.ibv_query_device(ctx, &attr) != 0) {
		snprintf(nd->err, sizeof(nd->err), "cannot query: %m");
		goto out_close;
	}
	nd->nports = attr.phys_port_cnt < NET_MAX_PORTS ? attr.phys_port_cnt
							: NET_MAX_PORTS;
	for (unsigned p = 0; p < nd->nports; p++) {
		nd->ports[p].num = p + 1;
		net_port_query(ctx, d->ibdev_path, &nd->ports[p]);
	}
out_close:
	verbs.ibv_close_device(ctx);
}

static void net_probe_verbs(info_net_t *n)
{
	struct ibv_device **list;
	int count = 0;

	if (verbs_load(LOG_LVL_DEBUG) != CVMM_OK) {
		n->verbs_err = verbs_load_error();
		return;
	}
	errno = 0;
	list = verbs.ibv_get_device_list(&count);
	if (!list) {
		n->list_err = errno ? errno : ENODEV;
		return;
	}
	n->ndevs = count;
	n->devs = calloc((size_t)count + 1, sizeof(*n->devs));
	if (!n->devs)
		die("out of memory");
	for (int i = 0; i < count; i++)
		net_dev_query(list[i], &n->devs[i]);
	verbs.ibv_free_device_list(list);
}

static net_tl_kind_t net_tl_kind(const char *component,
				 uct_device_type_t type)
{
	switch (type) {
	case UCT_DEVICE_TYPE_NET:
		return strcmp(component, "tcp") == 0 ? TL_TCP : TL_RDMA;
	case UCT_DEVICE_TYPE_SHM:
		return TL_SHM;
	case UCT_DEVICE_TYPE_SELF:
		return TL_SELF;
	default:
		return TL_OTHER;
	}
}

static void net_tl_add(info_net_t *n, const char *component,
		       const uct_tl_resource_desc_t *r)
{
	net_tl_t *t;

	n->tls = net_xrealloc(n->tls, ((size_t)n->ntls + 1) * sizeof(*t));
	t = &n->tls[n->ntls++];
	snprintf(t->tl, sizeof(t->tl), "%s", r->tl_name);
	snprintf(t->dev, sizeof(t->dev), "%s", r->dev_name);
	t->kind = net_tl_kind(component, r->dev_type);
}

static void net_probe_md(info_net_t *n, uct_component_h comp,
			 const char *comp_name, const char *md_name)
{
	uct_tl_resource_desc_t *res;
	uct_md_config_t *cfg;
	unsigned nres;
	ucs_status_t st;
	uct_md_h md;

	if (ucx.uct_md_config_read(comp, NULL, NULL, &cfg) != UCS_OK)
		return;
	st = ucx.uct_md_open(comp, md_name, cfg, &md);
	ucx.uct_config_release(cfg);
	if (st != UCS_OK) {
		log_debug("ucx memory domain %s: %s", md_name,
			  ucx.ucs_status_string(st));
		return;
	}
	if (ucx.uct_md_query_tl_resources(md, &res, &nres) == UCS_OK) {
		for (unsigned i = 0; i < nres; i++)
			net_tl_add(n, comp_name, &res[i]);
		ucx.uct_release_tl_resource_list(res);
	}
	ucx.uct_md_close(md);
}

static void net_probe_component(info_net_t *n, uct_component_h comp)
{
	uct_component_attr_t attr = {
		.field_mask = UCT_COMPONENT_ATTR_FIELD_NAME |
			      UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT,
	};

	if (ucx.uct_component_query(comp, &attr) != UCS_OK ||
	    attr.md_resource_count == 0)
		return;
	attr.md_resources = calloc(attr.md_resource_count,
				   sizeof(*attr.md_resources));
	if (!attr.md_resources)
		die("out of memory");
	attr.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
	if (ucx.uct_component_query(comp, &attr) == UCS_OK)
		for (unsigned i = 0; i < attr.md_resource_count; i++)
			net_probe_md(n, comp, attr.name,
				     attr.md_resources[i].md_name);
	free(attr.md_resources);
}

static void net_probe_ucx(info_net_t *n)
{
	uct_component_h *comps;
	unsigned ncomps;

	if (ucx_load(LOG_LVL_DEBUG) != CVMM_OK) {
		n->ucx_err = ucx_load_error();
		return;
	}
	n->ucx_version = ucx.ucp_get_version_string();
	if (ucx.uct_query_components(&comps, &ncomps) != UCS_OK) {
		n->ucx_err = "uct_query_components failed";
		return;
	}
	for (unsigned i = 0; i < ncomps; i++)
		net_probe_component(n, comps[i]);
	ucx.uct_release_component_list(comps);
}

info_net_t *info_net_probe(void)
{
	info_net_t *n = calloc(1, sizeof(*n));

	if (!n)
		die("out of memory");
	net_probe_verbs(n);
	net_probe_ucx(n);
	return n;
}

void info_net_free(info_net_t *n)
{
	if (!n)
		return;
	free(n->devs);
	free(n->tls);
	free(n);
}

/* ---- the choice ------------------------------------------------------- */

static const char *net_port_state(enum ibv_port_state s)
{
	switch (s) {
	case IBV_PORT_DOWN:
		return "DOWN";
	case IBV_PORT_INIT:
		return "INIT";
	case IBV_PORT_ARMED:
		return "ARMED";
	case IBV_PORT_ACTIVE:
		return "ACTIVE";
	case IBV_PORT_ACTIVE_DEFER:
		return "ACTIVE_DEFER";
	default:
		return "UNKNOWN";
	}
}

static const char *net_link_name(int link)
{
	return link == IBV_LINK_LAYER_ETHERNET ? "Ethernet" : "InfiniBand";
}

static bool net_softroce(const net_dev_t *d)
{
	return strcmp(d->driver, "rxe") == 0;
}

/* The UCX transport UCP would use on dev:port towards another host. */
static const char *net_tl_on(const info_net_t *n, const char *dev,
			     unsigned port)
{
	char want[IBV_SYSFS_NAME_MAX + 16];
	const char *first = NULL;

	snprintf(want, sizeof(want), "%s:%u", dev, port);
	for (int p = 0; rdma_tl_pref[p]; p++)
		for (int i = 0; i < n->ntls; i++)
			if (strcmp(n->tls[i].dev, want) == 0 &&
			    strcmp(n->tls[i].tl, rdma_tl_pref[p]) == 0)
				return n->tls[i].tl;
	for (int i = 0; i < n->ntls && !first; i++)
		if (n->tls[i].kind == TL_RDMA &&
		    strcmp(n->tls[i].dev, want) == 0)
			first = n->tls[i].tl;
	return first;
}

/* First ACTIVE port, hardware before SoftRoCE; iWARP is not used by UCX. */
static bool net_pick(const info_net_t *n, const net_dev_t **dev,
		     const net_port_t **port)
{
	for (int soft = 0; soft < 2; soft++)
		for (int i = 0; i < n->ndevs; i++) {
			const net_dev_t *d = &n->devs[i];

			if (d->iwarp || net_softroce(d) != soft)
				continue;
			for (unsigned p = 0; p < d->nports; p++)
				if (d->ports[p].state == IBV_PORT_ACTIVE) {
					*dev = d;
					*port = &d->ports[p];
					return true;
				}
		}
	return false;
}

static const char *net_verdict_tcp(const info_net_t *n, char *why, size_t len)
{
	const char *shm = "shared memory between agents on one host with "
			  "--transport=shm";

	if (n->ndevs == 0)
		snprintf(why, len, "(no RDMA device; %s)", shm);
	else
		snprintf(why, len, "(no RDMA port is ACTIVE; %s)", shm);
	return "tcp";
}

const char *info_net_verdict(const info_net_t *n, char *why, size_t len)
{
	const net_dev_t *d;
	const net_port_t *p;
	const char *tl;
	char on[160];

	if (!net_pick(n, &d, &p))
		return net_verdict_tcp(n, why, len);
	tl = net_tl_on(n, d->name, p->num);
	if (tl)
		snprintf(on, sizeof(on), "%s on %s:%u, port ACTIVE", tl,
			 d->name, p->num);
	else
		snprintf(on, sizeof(on), "%s:%u port ACTIVE, but ucx lists no "
			 "transport on it: check UCX_TLS and UCX_NET_DEVICES",
			 d->name, p->num);
	if (net_softroce(d))
		snprintf(why, len, "over SoftRoCE %s on %s (%s; expect a few "
			 "Gb/s, CPU bound)", d->name,
			 d->parent[0] ? d->parent : "?", on);
	else
		snprintf(why, len, "(%s)", on);
	return "rdma";
}

/* ---- text ------------------------------------------------------------- */

static void net_print_port(const net_dev_t *d, const net_port_t *p, FILE *f)
{
	fprintf(f, "    port %u  %s, %s", p->num, net_port_state(p->state),
		net_link_name(p->link));
	if (p->link == IBV_LINK_LAYER_ETHERNET && !d->iwarp)
		fputs(" (RoCE)", f);
	if (p->mtu)
		fprintf(f, ", mtu %u", p->mtu);
	if (p->rate[0])
		fprintf(f, ", %s", p->rate);
	fputc('\n', f);
	if (p->gid0[0])
		fprintf(f, "            gid[0] %s\n", p->gid0);
}

static void net_print_dev(const net_dev_t *d, FILE *f)
{
	fprintf(f, "  %-10s node guid %s", d->name, d->guid);
	if (net_softroce(d))
		fprintf(f, ", SoftRoCE (rxe) over %s",
			d->parent[0] ? d->parent : "?");
	else if (strcmp(d->driver, "siw") == 0)
		fprintf(f, ", soft iWARP (siw) over %s: not used by ucx",
			d->parent[0] ? d->parent : "?");
	else if (d->driver[0])
		fprintf(f, ", driver %s", d->driver);
	fputc('\n', f);
	if (d->err[0])
		fprintf(f, "    %s\n", d->err);
	for (unsigned p = 0; p < d->nports; p++)
		net_print_port(d, &d->ports[p], f);
}

static void net_print_rdma(const info_net_t *n, FILE *f)
{
	fputs("rdma devices (libibverbs)\n", f);
	if (n->verbs_err)
		fprintf(f, "  %s\n", n->verbs_err);
	else if (n->list_err && n->list_err != ENOSYS)
		fprintf(f, "  cannot list RDMA devices: %s\n",
			strerror(n->list_err));
	else if (n->ndevs == 0)
		fputs("  no RDMA device on this host\n", f);
	for (int i = 0; i < n->ndevs; i++)
		net_print_dev(&n->devs[i], f);
	if (n->ndevs == 0)
		fputs("  cvmm uses TCP or shared memory instead; to try RDMA "
		      "over plain Ethernet,\n  set up SoftRoCE: see "
		      "docs/softroce.md\n", f);
}

static bool net_tl_seen(const info_net_t *n, int upto, const net_tl_t *t)
{
	for (int i = 0; i < upto; i++)
		if (n->tls[i].kind == t->kind &&
		    strcmp(n->tls[i].tl, t->tl) == 0)
			return true;
	return false;
}

/* "tcp on eth0, lo" (devs) or "sysv, posix, cma"; returns how many. */
static int net_print_kind(const info_net_t *n, net_tl_kind_t kind, bool devs,
			  FILE *f)
{
	int groups = 0;

	for (int i = 0; i < n->ntls; i++) {
		const net_tl_t *t = &n->tls[i];

		if (t->kind != kind || net_tl_seen(n, i, t))
			continue;
		fprintf(f, "%s%s", groups++ ? (devs ? "; " : ", ") : "", t->tl);
		for (int k = i, nd = 0; devs && k < n->ntls; k++)
			if (n->tls[k].kind == kind &&
			    strcmp(n->tls[k].tl, t->tl) == 0)
				fprintf(f, "%s%s", nd++ ? ", " : " on ",
					n->tls[k].dev);
	}
	return groups;
}

static void net_print_line(const info_net_t *n, const char *label,
			   net_tl_kind_t kind, bool devs, const char *none,
			   FILE *f)
{
	fprintf(f, "  %-14s", label);
	if (net_print_kind(n, kind, devs, f) == 0)
		fputs(none, f);
	fputc('\n', f);
}

static void net_print_env(const char *name, FILE *f)
{
	const char *v = getenv(name);

	if (v)
		fprintf(f, "  %-14s%s (ucp uses only these)\n", name, v);
}

static void net_print_ucx(const info_net_t *n, FILE *f)
{
	fprintf(f, "ucx transports (ucx %s)\n",
		n->ucx_version ? n->ucx_version : "?");
	if (n->ucx_err) {
		fprintf(f, "  %s\n", n->ucx_err);
		return;
	}
	net_print_line(n, "rdma", TL_RDMA, true, "none", f);
	net_print_line(n, "network", TL_TCP, true, "none", f);
	net_print_line(n, "shared memory", TL_SHM, false, "none", f);
	net_print_line(n, "loopback", TL_SELF, false, "none", f);
	fputs("  agents on one host: tcp over lo, or shared memory with "
	      "--transport=shm;\n  agents on different hosts: rdma when a "
	      "port is ACTIVE, else tcp\n", f);
	net_print_env("UCX_TLS", f);
	net_print_env("UCX_NET_DEVICES", f);
}

void info_net_print_text(const info_net_t *n, FILE *f)
{
	net_print_rdma(n, f);
	fputc('\n', f);
	net_print_ucx(n, f);
}

/* ---- json ------------------------------------------------------------- */

static json_t *net_json_port(const net_port_t *p)
{
	return json_pack("{s:I, s:s, s:b, s:s, s:I, s:o, s:o}",
			 "port", (json_int_t)p->num,
			 "state", net_port_state(p->state),
			 "active", p->state == IBV_PORT_ACTIVE,
			 "link_layer", net_link_name(p->link),
			 "mtu", (json_int_t)p->mtu,
			 "rate", jdoc_str(p->rate[0] ? p->rate : NULL),
			 "gid0", jdoc_str(p->gid0[0] ? p->gid0 : NULL));
}

static json_t *net_json_dev(const net_dev_t *d)
{
	json_t *ports = json_array();

	for (unsigned p = 0; p < d->nports; p++)
		ports = jdoc_push(ports, net_json_port(&d->ports[p]));
	return json_pack("{s:o, s:o, s:o, s:b, s:o, s:s, s:o, s:o}",
			 "name", jdoc_str(d->name),
			 "node_guid", jdoc_str(d->guid),
			 "driver", jdoc_str(d->driver[0] ? d->driver : NULL),
			 "softroce", net_softroce(d),
			 "netdev", jdoc_str(d->parent[0] ? d->parent : NULL),
			 "transport", d->iwarp ? "iwarp" : "ib",
			 "error", jdoc_str(d->err[0] ? d->err : NULL),
			 "ports", ports);
}

static json_t *net_json_rdma(const info_net_t *n)
{
	json_t *devs = json_array();

	for (int i = 0; i < n->ndevs; i++)
		devs = jdoc_push(devs, net_json_dev(&n->devs[i]));
	return json_pack("{s:o, s:o}", "list_error",
			 jdoc_str(n->verbs_err  ? n->verbs_err
				  : n->list_err ? strerror(n->list_err)
						: NULL),
			 "devices", devs);
}

static json_t *net_json_ucx(const info_net_t *n)
{
	json_t *tls = json_array();

	for (int i = 0; i < n->ntls; i++)
		tls = jdoc_push(tls, json_pack(
			"{s:o, s:o, s:s}", "tl", jdoc_str(n->tls[i].tl),
			"device", jdoc_str(n->tls[i].dev),
			"kind", tl_kind_name[n->tls[i].kind]));
	return json_pack("{s:o, s:o, s:o, s:o, s:o}",
			 "version", jdoc_str(n->ucx_version),
			 "error", jdoc_str(n->ucx_err),
			 "UCX_TLS", jdoc_str(getenv("UCX_TLS")),
			 "UCX_NET_DEVICES", jdoc_str(getenv("UCX_NET_DEVICES")),
			 "transports", tls);
}

json_t *info_net_json(const info_net_t *n, json_t *root)
{
	root = jdoc_set(root, "rdma", net_json_rdma(n));
	return jdoc_set(root, "ucx", net_json_ucx(n));
}
