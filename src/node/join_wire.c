/* The join conversation's blobs (join_wire.h). */
#include "node/join_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"
#include "node/node_wire.h"

static cvmm_status_t refuse(char *why, size_t whylen, const char *s)
{
	if (whylen > 0)
		snprintf(why, whylen, "%s", s);
	return CVMM_ERR_PEER;
}

/* ---- SLOT ------------------------------------------------------------------ */

size_t join_wire_slot_encode(const join_slot_t *s, uint8_t *b)
{
	wire_w_t w = wire_w_init(b, JOIN_SLOT_LEN);

	wire_w_u32(&w, JOIN_VERSION);
	wire_w_u32(&w, (uint32_t)s->node);
	wire_w_u32(&w, (uint32_t)s->size);
	wire_w_u32(&w, (uint32_t)s->nvcpus);
	wire_w_u64(&w, s->epoch);
	wire_w_i32(&w, s->pid0);
	wire_w_u32(&w, s->push);
	wire_w_u32(&w, s->same_host);
	wire_w_u32(&w, s->release);
	wire_w_u32(&w, s->race_warn);
	wire_w_i32(&w, s->staleness_ms);
	return wire_w_done(&w) ? w.len : 0;
}

cvmm_status_t join_wire_slot_decode(const void *b, size_t len, join_slot_t *s,
				    char *why, size_t whylen)
{
	wire_r_t r = wire_r_init(b, len);
	uint32_t node, size, nvcpus, push, same, rel, warn;
	join_slot_t t;

	memset(s, 0, sizeof(*s));
	if (len != JOIN_SLOT_LEN)
		return refuse(why, whylen, "a slot of another length");
	if (wire_r_u32(&r) != JOIN_VERSION)
		return refuse(why, whylen, "a slot of another version");
	node = wire_r_u32(&r);
	size = wire_r_u32(&r);
	nvcpus = wire_r_u32(&r);
	t.epoch = wire_r_u64(&r);
	t.pid0 = wire_r_i32(&r);
	push = wire_r_u32(&r);
	same = wire_r_u32(&r);
	rel = wire_r_u32(&r);
	warn = wire_r_u32(&r);
	t.staleness_ms = wire_r_i32(&r);
	if (!wire_r_done(&r))
		return refuse(why, whylen, "a truncated slot");
	if (size < 2 || size > JOIN_SLOTS_MAX || node < 1 || node >= size)
		return refuse(why, whylen, "a node number outside the slots");
	if (nvcpus < size || nvcpus > (1u << 16) || t.pid0 <= 0 ||
	    push > 1 || same > 1 || t.epoch == 0 || rel > 1 || warn > 1 ||
	    t.staleness_ms < 0 || t.staleness_ms > 60000)
		return refuse(why, whylen, "a slot with impossible values");
	t.node = (int)node;
	t.size = (int)size;
	t.nvcpus = (int)nvcpus;
	t.push = push;
	t.same_host = same;
	t.release = rel;
	t.race_warn = warn;
	*s = t;
	return CVMM_OK;
}

/* ---- ADDR ------------------------------------------------------------------ */

size_t join_wire_addr_encode(const void *addr, size_t alen, const void *rkey,
			     size_t rlen, uint8_t *b, size_t cap)
{
	wire_w_t w = wire_w_init(b, cap);

	wire_w_u32(&w, (uint32_t)alen);
	wire_w_u32(&w, (uint32_t)rlen);
	wire_w_bytes(&w, addr, alen);
	wire_w_bytes(&w, rkey, rlen);
	return w.bad ? 0 : w.len;
}

/* An address and key as ADDR and WELCOME carry them, read from r. */
static bool blobs_get(wire_r_t *r, const void **addr, size_t *alen,
		      const void **rkey, size_t *rlen)
{
	uint32_t al = wire_r_u32(r), rl = wire_r_u32(r);

	if (r->bad || al == 0 || al > NODE_WIRE_JOIN_BLOB_MAX ||
	    rl > NODE_WIRE_JOIN_BLOB_MAX || wire_r_left(r) < (size_t)al + rl)
		return false;
	*addr = wire_r_take(r, al);
	*rkey = wire_r_take(r, rl);
	*alen = al;
	*rlen = rl;
	return !r->bad;
}

cvmm_status_t join_wire_addr_decode(const void *b, size_t len,
				    const void **addr, size_t *alen,
				    const void **rkey, size_t *rlen,
				    char *why, size_t whylen)
{
	wire_r_t r = wire_r_init(b, len);
	const void *a, *k;
	size_t al, kl;

	*addr = *rkey = NULL;
	*alen = *rlen = 0;
	if (!blobs_get(&r, &a, &al, &k, &kl) || !wire_r_done(&r))
		return refuse(why, whylen, "malformed address");
	*addr = a;
	*alen = al;
	*rkey = k;
	*rlen = kl;
	return CVMM_OK;
}

/* ---- WELCOME --------------------------------------------------------------- */

size_t join_wire_welcome_len(const join_welcome_t *w, int size)
{
	size_t n = 16 + (size_t)size + 4 +
		   (size_t)w->nlayout * NODE_WIRE_CHANGE_LEN;

	for (int j = 0; j < size && j < JOIN_SLOTS_MAX; j++)
		if (w->live >> j & 1)
			n += 8 + w->addr_len[j] + w->rkey_len[j];
	return n;
}

size_t join_wire_welcome_encode(const join_welcome_t *w, int size,
				uint8_t *b, size_t cap)
{
	wire_w_t o = wire_w_init(b, cap);

	if (size < 1 || size > JOIN_SLOTS_MAX)
		return 0;
	wire_w_u64(&o, w->live);
	wire_w_u64(&o, w->drained);
	wire_w_bytes(&o, w->roles, (size_t)size);
	for (int j = 0; j < size; j++) {
		if (!(w->live >> j & 1))
			continue;
		wire_w_u32(&o, (uint32_t)w->addr_len[j]);
		wire_w_u32(&o, (uint32_t)w->rkey_len[j]);
		wire_w_bytes(&o, w->addr[j], w->addr_len[j]);
		wire_w_bytes(&o, w->rkey[j], w->rkey_len[j]);
	}
	wire_w_u32(&o, w->nlayout);
	for (unsigned i = 0; i < w->nlayout; i++)
		node_wire_change_put(&o, &w->layout[i]);
	return o.bad ? 0 : o.len;
}

static cvmm_status_t welcome_bad(join_welcome_t *w, char *why, size_t whylen,
				 const char *s)
{
	free(w->layout);
	memset(w, 0, sizeof(*w));
	return refuse(why, whylen, s);
}

cvmm_status_t join_wire_welcome_decode(const void *b, size_t len,
				       const join_slot_t *s,
				       join_welcome_t *w, char *why,
				       size_t whylen)
{
	wire_r_t r = wire_r_init(b, len);
	uint64_t beyond;
	uint32_t n;

	memset(w, 0, sizeof(*w));
	if (s->size < 2 || s->size > JOIN_SLOTS_MAX || s->node < 1 ||
	    s->node >= s->size)
		return refuse(why, whylen, "no slot to welcome into");
	w->live = wire_r_u64(&r);
	w->drained = wire_r_u64(&r);
	wire_r_bytes(&r, w->roles, (size_t)s->size);
	if (r.bad)
		return welcome_bad(w, why, whylen, "a truncated welcome");
	beyond = s->size == 64 ? 0 : w->live >> s->size;
	if (!(w->live & 1) || (w->live >> s->node & 1) || beyond)
		return welcome_bad(w, why, whylen,
				   "a welcome whose members cannot be");
	for (int j = 0; j < s->size; j++)
		if (w->roles[j] >= s->size || !(w->live >> w->roles[j] & 1))
			return welcome_bad(w, why, whylen,
					   "a role played by no node in the VM");
	for (int j = 0; j < s->size; j++)
		if ((w->live >> j & 1) &&
		    !blobs_get(&r, &w->addr[j], &w->addr_len[j], &w->rkey[j],
			       &w->rkey_len[j]))
			return welcome_bad(w, why, whylen,
					   "a malformed address in the welcome");
	n = wire_r_u32(&r);
	if (r.bad || n > JOIN_LAYOUT_MAX ||
	    wire_r_left(&r) != (size_t)n * NODE_WIRE_CHANGE_LEN)
		return welcome_bad(w, why, whylen,
				   "a welcome whose layout has another length");
	w->layout = calloc(n ? n : 1, sizeof(*w->layout));
	if (!w->layout)
		return welcome_bad(w, why, whylen,
				   "out of memory for the welcome's layout");
	for (unsigned i = 0; i < n; i++)
		if (!node_wire_change_get(&r, &w->layout[i]))
			return welcome_bad(w, why, whylen,
					   "a malformed layout change");
	w->nlayout = n;
	if (!wire_r_done(&r))
		return welcome_bad(w, why, whylen, "a malformed welcome");
	return CVMM_OK;
}
