/* Per-page state storage of the coherence protocol (proto.c): the sparse
 * tables of node states and manager records, the hash of pages with a
 * fetch or pins, the node's lock, and creating and destroying a node. */
#include "coherence/proto_int.h"

#include <assert.h>
#include <stdlib.h>

/* ---- sparse tables -------------------------------------------------------- */

#define COH_ST_SHIFT 16 /* 64 KiB chunks of one-byte node states */
#define COH_MP_SHIFT 12 /* 4096 manager records per chunk */
#define COH_HP_SHIFT 12 /* 4096 hold records per chunk */

static cvmm_status_t sparse_init(coh_sparse_t *s, uint64_t n, unsigned shift,
				 size_t esz)
{
	s->shift = shift;
	s->esz = esz;
	s->ndir = (n + (1ull << shift) - 1) >> shift;
	s->dir = calloc(s->ndir, sizeof(*s->dir));
	return s->dir ? CVMM_OK : CVMM_ERR_NOMEM;
}

/* Entry i, or NULL when its chunk is missing and alloc is false (or the
 * allocation failed). */
void *coh_sparse_at(coh_sparse_t *s, uint64_t i, bool alloc)
{
	uint64_t d = i >> s->shift;

	assert(d < s->ndir);
	if (!s->dir[d] && alloc)
		s->dir[d] = calloc((size_t)1 << s->shift, s->esz);
	if (!s->dir[d])
		return NULL;
	return s->dir[d] + (i & ((1ull << s->shift) - 1)) * s->esz;
}

static void sparse_fini(coh_sparse_t *s)
{
	for (uint64_t d = 0; s->dir && d < s->ndir; d++)
		free(s->dir[d]);
	free(s->dir);
	s->dir = NULL;
}

/* ---- locking and accessors ---------------------------------------------- */

/* ob collects the messages the steps under this hold produce (NULL for
 * read-only snapshots). */
void coh_node_lock(coh_node_t *n, coh_outbox_t *ob)
{
	pthread_mutex_lock(&n->lock);
	n->holder = pthread_self();
	n->held = true;
	n->ob = ob;
	if (ob)
		ob->len = ob->ntodata = 0;
}

void coh_node_unlock(coh_node_t *n)
{
	n->ob = NULL;
	n->held = false;
	pthread_mutex_unlock(&n->lock);
}

void coh_assert_locked(const coh_node_t *n)
{
	assert(n->held && pthread_equal(n->holder, pthread_self()));
	(void)n;
}

coh_state_t coh_page_st(coh_node_t *n, uint64_t page)
{
	uint8_t *v;

	coh_assert_locked(n);
	v = coh_sparse_at(&n->st, page, false);
	if (v && *v)
		return (coh_state_t)(*v - 1);
	return coh_init_owner(n, page) == n->cfg.self ? COH_EXCLUSIVE
						      : COH_INVALID;
}

bool coh_page_initial(coh_node_t *n, uint64_t page)
{
	uint8_t *v;

	coh_assert_locked(n);
	v = coh_sparse_at(&n->st, page, false);
	return !v || !*v;
}

/* The page's chunk must exist (node_step allocates it before acting). */
void coh_page_set_st(coh_node_t *n, uint64_t page, coh_state_t st)
{
	uint8_t *v;

	coh_assert_locked(n);
	v = coh_sparse_at(&n->st, page, false);
	assert(v);
	*v = (uint8_t)(st + 1);
}

coh_mpage_t *coh_mpage(coh_node_t *n, uint64_t page)
{
	coh_mpage_t *mp;

	coh_assert_locked(n);
	assert(mgr_of(n, page) == n->cfg.self);
	mp = coh_sparse_at(mp_table(n, page), coh_mgr_index(page, n->cfg.nnodes),
			   false);
	assert(mp); /* coh_recv allocated it */
	if (!mp->used)
		mp->owner = (uint8_t)coh_init_owner(n, page);
	return mp;
}

bool coh_page_image(const coh_node_t *n, uint64_t page)
{
	unsigned lo = 0, hi = n->nimage;

	while (lo < hi) { /* the first range ending after page */
		unsigned mid = (lo + hi) / 2;

		if (n->image[mid].end <= page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n->nimage && n->image[lo].first <= page;
}

uint32_t coh_init_owner(const coh_node_t *n, uint64_t page)
{
	if (!n->first_touch || coh_page_image(n, page))
		return 0;
	return mgr_of(n, page);
}

uint32_t coh_page_home(const coh_node_t *n, uint64_t page)
{
	return coh_init_owner(n, page);
}

/* A page promoted to the release model (proto.c "Promotion") comes back
 * as a synchronization page held by its home, the owner it was promoted
 * at: that node is PROMOTED here and becomes EXCLUSIVE again, the
 * others are INVALID, and the manager, refusing every request meanwhile
 * (COH_M_DATA), serves them again from owner, for good (sticky), or
 * with writer < nnodes as a page not promoted yet whose first writer is
 * writer (coh_node_demote); one still waiting for PROMOTED (the home
 * went on at once) does so when it comes. True when the page was
 * promoted (*st says how the seeding went). */
static bool seed_promoted(coh_node_t *n, uint64_t page, uint32_t owner,
			  uint32_t writer, cvmm_status_t *st)
{
	coh_state_t cur = coh_page_st(n, page);
	coh_mpage_t *mp = NULL;

	if (mgr_of(n, page) == n->cfg.self &&
	    coh_sparse_at(mp_table(n, page),
			  coh_mgr_index(page, n->cfg.nnodes), false))
		mp = coh_mpage(n, page);
	if (mp ? mp->st != COH_M_DATA && mp->st != COH_M_PROMOTE
	       : cur != COH_PROMOTED)
		return false;
	*st = CVMM_OK;
	if ((owner == n->cfg.self) != (cur == COH_PROMOTED) ||
	    (mp && mp->owner != owner)) {
		*st = CVMM_ERR_INVALID;
		return true;
	}
	if (cur == COH_PROMOTED)
		coh_page_set_st(n, page, COH_EXCLUSIVE);
	if (mp) {
		/* promoting still (PROMOTED in flight): its arrival finds
		 * the page seeded and serves the queue again (proto.c) */
		if (mp->st == COH_M_DATA) {
			mp->st = COH_M_IDLE;
			mp->copyset = 0;
		} else {
			mp->seeded = 1;
		}
		/* back to "sequential first" (coh_node_demote): promoted
		 * again only after plain moves, at writer */
		mp->sticky = writer >= n->cfg.nnodes;
		if (!mp->sticky) {
			mp->plains = 0;
			mp->first = (uint8_t)(writer + 1);
		}
	}
	return true;
}

cvmm_status_t coh_node_demote(coh_node_t *n, uint64_t page, uint32_t owner,
			      uint32_t writer)
{
	cvmm_status_t st = CVMM_ERR_INVALID;

	if (page >= n->cfg.npages || owner >= n->cfg.nnodes ||
	    writer >= n->cfg.nnodes)
		return CVMM_ERR_INVALID;
	coh_node_lock(n, NULL);
	seed_promoted(n, page, owner, writer, &st);
	coh_node_unlock(n);
	return st;
}

cvmm_status_t coh_node_seed(coh_node_t *n, uint64_t page, uint32_t owner)
{
	cvmm_status_t st = CVMM_OK;

	if (page >= n->cfg.npages || owner >= n->cfg.nnodes)
		return CVMM_ERR_INVALID;
	coh_node_lock(n, NULL);
	if (seed_promoted(n, page, owner, UINT32_MAX, &st))
		goto out;
	if (!coh_page_initial(n, page) || coh_xpage_find(n, page)) {
		st = CVMM_ERR_INVALID; /* the sequential protocol began */
		goto out;
	}
	if (owner == coh_init_owner(n, page))
		goto out;
	if (!coh_sparse_at(&n->st, page, true)) {
		st = CVMM_ERR_NOMEM;
		goto out;
	}
	coh_page_set_st(n, page, owner == n->cfg.self ? COH_EXCLUSIVE
						       : COH_INVALID);
	if (mgr_of(n, page) == n->cfg.self) {
		coh_mpage_t *mp;

		if (!coh_sparse_at(mp_table(n, page),
				   coh_mgr_index(page, n->cfg.nnodes),
				   true)) {
			st = CVMM_ERR_NOMEM;
			goto out;
		}
		mp = coh_mpage(n, page);
		if (mp->used) {
			st = CVMM_ERR_INVALID;
			goto out;
		}
		mp->owner = (uint8_t)owner;
		mp->used = 1; /* no write-ahead takes it as a fresh page */
	}
out:
	coh_node_unlock(n);
	return st;
}

static bool sparse_empty(const coh_sparse_t *s)
{
	for (uint64_t d = 0; s->dir && d < s->ndir; d++)
		if (s->dir[d])
			return false;
	return true;
}

cvmm_status_t coh_node_add_image(coh_node_t *n, uint64_t first, uint64_t end)
{
	cvmm_status_t st = CVMM_ERR_INVALID;
	coh_image_t *last;
	bool fresh = true;

	if (first >= end || end > n->cfg.npages)
		return CVMM_ERR_INVALID;
	coh_node_lock(n, NULL);
	for (unsigned b = 0; b < COH_XHASH && fresh; b++)
		fresh = !n->xhash[b];
	for (unsigned v = 0; v < n->cfg.nnodes && fresh; v++)
		fresh = sparse_empty(&n->mp[v]);
	if (!fresh || !sparse_empty(&n->st))
		goto out;
	last = n->nimage ? &n->image[n->nimage - 1] : NULL;
	if (last && first < last->end)
		goto out; /* not ascending */
	if (last && (first == last->end || n->nimage == COH_IMAGE_MAX))
		last->end = end; /* adjacent, or no room: the last grows */
	else
		n->image[n->nimage++] = (coh_image_t){ first, end };
	n->first_touch = true;
	st = CVMM_OK;
out:
	coh_node_unlock(n);
	return st;
}

unsigned coh_node_images(coh_node_t *n, uint64_t (*r)[2], unsigned cap)
{
	unsigned k = 0;

	coh_node_lock(n, NULL);
	for (unsigned i = 0; i < n->nimage && k < cap; i++, k++) {
		r[k][0] = n->image[i].first << CVMM_PAGE_SHIFT;
		r[k][1] = n->image[i].end << CVMM_PAGE_SHIFT;
	}
	coh_node_unlock(n);
	return k;
}

static coh_xpage_t **xslot(coh_node_t *n, uint64_t page)
{
	return &n->xhash[page & (COH_XHASH - 1)];
}

coh_xpage_t *coh_xpage_find(coh_node_t *n, uint64_t page)
{
	coh_xpage_t *x;

	coh_assert_locked(n);
	for (x = *xslot(n, page); x && x->page != page; x = x->next)
		;
	return x;
}

/* Finds or adds the page's record; NULL when out of memory. */
coh_xpage_t *coh_xpage_get(coh_node_t *n, uint64_t page)
{
	coh_xpage_t *x = coh_xpage_find(n, page), **head = xslot(n, page);

	if (x)
		return x;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->page = page;
	x->next = *head;
	*head = x;
	return x;
}

/* Frees x once it holds nothing. */
void coh_xpage_put(coh_node_t *n, coh_xpage_t *x)
{
	coh_xpage_t **pp = xslot(n, x->page);

	if (x->fetching || x->pins || x->defer || x->hold_until)
		return;
	while (*pp != x)
		pp = &(*pp)->next;
	*pp = x->next;
	free(x);
}

/* ---- snapshots, create, destroy -------------------------------------------- */

coh_state_t coh_page_state(coh_node_t *n, uint64_t page)
{
	coh_state_t st = COH_INVALID;

	coh_node_lock(n, NULL);
	if (page < n->cfg.npages)
		st = coh_page_st(n, page);
	coh_node_unlock(n);
	return st;
}

cvmm_status_t coh_mpage_info(coh_node_t *n, uint64_t page, coh_mstate_t *st,
			     uint32_t *owner, uint64_t *copyset)
{
	coh_mpage_t initial = { 0 };
	const coh_mpage_t *mp;

	if (page >= n->cfg.npages || mgr_of(n, page) != n->cfg.self)
		return CVMM_ERR_INVALID;
	coh_node_lock(n, NULL);
	mp = coh_sparse_at(mp_table(n, page), coh_mgr_index(page, n->cfg.nnodes),
			   false);
	if (!mp)
		mp = &initial;
	*st = (coh_mstate_t)mp->st;
	*owner = mp->used ? mp->owner : coh_init_owner(n, page);
	*copyset = mp->copyset;
	coh_node_unlock(n);
	return CVMM_OK;
}

cvmm_status_t coh_node_create(const coh_cfg_t *cfg, coh_node_t **out)
{
	coh_node_t *n;
	uint64_t nm;

	if (!cfg || !cfg->ops || !cfg->ops->send || !cfg->ops->notify ||
	    cfg->nnodes == 0 || cfg->nnodes > COH_MAX_NODES ||
	    cfg->self >= cfg->nnodes || cfg->npages == 0 ||
	    (cfg->hold_max_us && !cfg->now_ns) ||
	    cfg->hold_max_us > COH_HOLD_MAX_US)
		return CVMM_ERR_INVALID;
	for (uint32_t v = 0; cfg->host && v < cfg->nnodes; v++)
		if (cfg->host[v] >= cfg->nnodes)
			return CVMM_ERR_INVALID;
	n = calloc(1, sizeof(*n));
	if (!n)
		return CVMM_ERR_NOMEM;
	n->cfg = *cfg;
	n->cfg.host = NULL; /* n->host is the node's own copy */
	pthread_mutex_init(&n->lock, NULL);
	nm = ((cfg->npages - 1) / ((uint64_t)COH_MGR_RUN * cfg->nnodes) + 1) *
	     COH_MGR_RUN;
	n->nm = nm;
	for (uint32_t v = 0; v < cfg->nnodes; v++) {
		n->host[v] = (uint8_t)(cfg->host ? cfg->host[v] : v);
		if (n->host[v] == cfg->self &&
		    sparse_init(&n->mp[v], nm, COH_MP_SHIFT,
				sizeof(coh_mpage_t))) {
			coh_node_destroy(n);
			return CVMM_ERR_NOMEM;
		}
	}
	if (sparse_init(&n->st, cfg->npages, COH_ST_SHIFT, 1) ||
	    (cfg->hold_max_us && sparse_init(&n->hold, cfg->npages,
					     COH_HP_SHIFT,
					     sizeof(coh_hpage_t)))) {
		coh_node_destroy(n);
		return CVMM_ERR_NOMEM;
	}
	*out = n;
	return CVMM_OK;
}

static void free_queues(coh_sparse_t *s)
{
	for (uint64_t d = 0; s->dir && d < s->ndir; d++) {
		coh_mpage_t *mp = (coh_mpage_t *)s->dir[d];

		for (size_t i = 0; mp && i < (size_t)1 << s->shift; i++)
			while (mp[i].q) {
				coh_qent_t *e = mp[i].q;

				mp[i].q = e->next;
				free(e);
			}
	}
}

static void free_xpages(coh_node_t *n)
{
	for (unsigned b = 0; b < COH_XHASH; b++)
		while (n->xhash[b]) {
			coh_xpage_t *x = n->xhash[b];

			n->xhash[b] = x->next;
			while (x->defer) {
				coh_defer_t *d = x->defer;

				x->defer = d->next;
				free(d);
			}
			free(x);
		}
}

void coh_node_destroy(coh_node_t *n)
{
	if (!n)
		return;
	for (unsigned v = 0; v < COH_MAX_NODES; v++) {
		free_queues(&n->mp[v]);
		sparse_fini(&n->mp[v]);
	}
	sparse_fini(&n->st);
	sparse_fini(&n->hold);
	free_xpages(n);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

/* ---- a node leaving ---------------------------------------------------- */

/* The page of role v's record i (coh_mgr_index's inverse). */
static uint64_t mgr_page(uint64_t i, uint32_t v, uint32_t nnodes)
{
	return i / COH_MGR_RUN * COH_MGR_RUN * nnodes +
	       (uint64_t)v * COH_MGR_RUN + i % COH_MGR_RUN;
}

cvmm_status_t coh_node_role_records(coh_node_t *n, uint32_t v,
				    void (*fn)(void *ctx, uint64_t page,
					       const coh_record_t *r),
				    void *ctx)
{
	const coh_sparse_t *s;
	cvmm_status_t st = CVMM_OK;

	if (v >= n->cfg.nnodes)
		return CVMM_ERR_INVALID;
	coh_node_lock(n, NULL);
	s = &n->mp[v];
	if (n->host[v] != n->cfg.self)
		st = CVMM_ERR_INVALID;
	for (uint64_t d = 0; st == CVMM_OK && d < s->ndir; d++)
		for (uint64_t i = 0; s->dir[d] && i < (1ull << s->shift); i++) {
			const coh_mpage_t *mp = (const coh_mpage_t *)(
				s->dir[d] + i * s->esz);
			uint64_t page = mgr_page((d << s->shift) | i, v,
						 n->cfg.nnodes);
			coh_record_t r = { .copyset = mp->copyset,
					   .st = mp->st, .owner = mp->owner,
					   .used = mp->used,
					   .plains = mp->plains,
					   .sticky = mp->sticky,
					   .seeded = mp->seeded,
					   .first = mp->first };

			if (mp->q || (mp->st != COH_M_IDLE &&
				      mp->st != COH_M_DATA)) {
				st = CVMM_ERR_INVALID; /* not quiet */
				break;
			}
			if (mp->used && page < n->cfg.npages)
				fn(ctx, page, &r);
		}
	coh_node_unlock(n);
	return st;
}

cvmm_status_t coh_node_take_record(coh_node_t *n, uint32_t v, uint64_t page,
				   const coh_record_t *r)
{
	cvmm_status_t st = CVMM_OK;
	coh_mpage_t *mp;

	if (v >= n->cfg.nnodes || page >= n->cfg.npages ||
	    coh_manager(page, n->cfg.nnodes) != v ||
	    r->owner >= n->cfg.nnodes || r->st >= COH_M_NSTATES ||
	    (n->cfg.nnodes < 64 && r->copyset >> n->cfg.nnodes))
		return CVMM_ERR_INVALID;
	coh_node_lock(n, NULL);
	if (!n->mp[v].dir &&
	    sparse_init(&n->mp[v], n->nm, COH_MP_SHIFT, sizeof(coh_mpage_t)))
		st = CVMM_ERR_NOMEM;
	mp = st == CVMM_OK ? coh_sparse_at(&n->mp[v],
					   coh_mgr_index(page, n->cfg.nnodes),
					   true)
			   : NULL;
	if (st == CVMM_OK && !mp)
		st = CVMM_ERR_NOMEM;
	if (mp)
		*mp = (coh_mpage_t){ .copyset = r->copyset, .st = r->st,
				     .owner = r->owner, .used = r->used,
				     .plains = r->plains, .sticky = r->sticky,
				     .seeded = r->seeded, .first = r->first };
	coh_node_unlock(n);
	return st;
}

cvmm_status_t coh_node_take_page(coh_node_t *n, uint64_t page,
				 coh_state_t st)
{
	cvmm_status_t ret = CVMM_OK;
	coh_state_t cur;

	if (page >= n->cfg.npages ||
	    (st != COH_SHARED && st != COH_EXCLUSIVE && st != COH_PROMOTED))
		return CVMM_ERR_INVALID;
	coh_node_lock(n, NULL);
	cur = coh_page_st(n, page);
	if (cur == COH_INVALID) {
		if (coh_sparse_at(&n->st, page, true))
			coh_page_set_st(n, page, st);
		else
			ret = CVMM_ERR_NOMEM;
	} else if (cur != COH_SHARED || st != COH_SHARED) {
		ret = CVMM_ERR_INVALID; /* two owners: it was not quiet */
	}
	coh_node_unlock(n);
	return ret;
}

/* One record after k left for h. */
static void depart_record(coh_mpage_t *mp, uint32_t k, uint32_t h)
{
	if (!mp->used)
		return; /* its owner is the initial one: the role's node */
	if (mp->owner == k)
		mp->owner = (uint8_t)h;
	if (mp->first == k + 1)
		mp->first = (uint8_t)(h + 1);
	if (mp->copyset >> k & 1) {
		mp->copyset &= ~(1ull << k);
		if (mp->owner != h)
			mp->copyset |= 1ull << h;
	}
}

cvmm_status_t coh_node_depart(coh_node_t *n, uint32_t k, uint32_t h)
{
	cvmm_status_t st = CVMM_OK;

	if (k >= n->cfg.nnodes || h >= n->cfg.nnodes || k == h ||
	    n->cfg.self == k)
		return CVMM_ERR_INVALID;
	coh_node_lock(n, NULL);
	/* the heir, about to play k's roles, becomes the initial owner of
	 * their pages: of those nobody asked for (and k's it sent with
	 * coh_node_take_page). One that was asked for has an owner in its
	 * record: this node's copy of it, never made, is invalid, not
	 * initially its own. */
	for (uint32_t v = 0; v < n->cfg.nnodes && h == n->cfg.self; v++) {
		coh_sparse_t *s = &n->mp[v];

		if (n->host[v] != k)
			continue;
		for (uint64_t d = 0; d < s->ndir; d++)
			for (uint64_t i = 0;
			     s->dir[d] && i < (1ull << s->shift); i++) {
				const coh_mpage_t *mp = (const coh_mpage_t *)(
					s->dir[d] + i * s->esz);
				uint64_t page = mgr_page((d << s->shift) | i,
							 v, n->cfg.nnodes);

				if (!mp->used || page >= n->cfg.npages ||
				    !coh_page_initial(n, page))
					continue;
				if (!coh_sparse_at(&n->st, page, true))
					st = CVMM_ERR_NOMEM;
				else
					coh_page_set_st(n, page, COH_INVALID);
			}
	}
	for (uint32_t v = 0; v < n->cfg.nnodes; v++) {
		if (n->host[v] == k)
			n->host[v] = (uint8_t)h;
		if (n->host[v] == n->cfg.self && !n->mp[v].dir &&
		    sparse_init(&n->mp[v], n->nm, COH_MP_SHIFT,
				sizeof(coh_mpage_t)))
			st = CVMM_ERR_NOMEM;
	}
	for (uint32_t v = 0; v < n->cfg.nnodes; v++) {
		coh_sparse_t *s = &n->mp[v];

		for (uint64_t d = 0; d < s->ndir; d++)
			for (uint64_t i = 0;
			     s->dir[d] && i < (1ull << s->shift); i++)
				depart_record((coh_mpage_t *)(s->dir[d] +
							      i * s->esz),
					      k, h);
	}
	coh_node_unlock(n);
	return st;
}
