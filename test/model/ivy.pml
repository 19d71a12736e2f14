/* Promela model of the cvmm coherence protocol (src/coherence/proto.c):
 * Ivy multiple-reader/single-writer with fixed distributed managers
 * (here manager(p) = p mod N; cvmm deals runs of pages round-robin: for
 * the protocol any fixed function is the same), owner + copyset per page
 * at its manager, requests serialized per page at the manager (busy
 * state + FIFO), confirmations to
 * the manager. Node 0 owns every page at first. A grant does not copy the
 * page: the requester enters READ_FETCH or WRITE_FETCH, and later, as
 * steps of their own, the one-sided get reads the owner's version (GET)
 * and the page is installed and confirmed (GET_DONE, coh_fetch_done).
 * A WRITE_GRANT to UPGRADE_WAIT, or naming the requester itself as owner,
 * needs no get.
 *
 * Same states, events and transitions as proto.c's tables:
 *   node:    INVALID SHARED EXCLUSIVE READ_WAIT WRITE_WAIT UPGRADE_WAIT
 *            READ_FETCH WRITE_FETCH
 *   manager: IDLE BUSY_READ BUSY_INV BUSY_WRITE
 * Each page holds a version; a write makes it version+1. Every message that
 * reaches a node in a FETCH state fails an assertion (illegal there).
 *
 * Properties (assertions, checked after every atomic step):
 *   - at most one node EXCLUSIVE per page;
 *   - every node with a valid copy (SHARED, EXCLUSIVE, UPGRADE_WAIT) holds
 *     the latest committed version, so every completed read returns it;
 *   - every request completes: a node with a request outstanding is not at
 *     an end label, so a stuck request is an invalid end state.
 * First touch (proto.c "First touch"): page 0 starts at node 0 (the
 * loader's image), page 1 at its manager.
 * Write-ahead (coh_fault_ahead on a write): node AHEAD_NODE may ask for an INVALID
 * page it does not manage for writing with nobody waiting (WRITE_AHEAD,
 * AHEAD_WAIT); the manager may serve it as a WRITE_REQ when idle, or
 * refuse it (NACK, back to INVALID) at any time: cvmm refuses all but
 * fresh pages, a subset of what is allowed here. The grant completes in
 * its handler with the pushed bytes (there is no thread to get them);
 * faults on a page in AHEAD_WAIT coalesce with it, so a local operation
 * on it waits until it is answered.
 * Upgrade-ahead (coh_fault_upgrade): the same node may instead ask for a
 * page it holds SHARED for writing with nobody waiting (UPGRADE_AHEAD,
 * UPGRADE_WAIT); the manager serves it as a WRITE_REQ only when idle and
 * the asker is the page's owner, and else refuses it (NACK: back to
 * SHARED, or to INVALID when another writer took the copy meanwhile).
 * Its grant makes the copy here EXCLUSIVE with no bytes (the owner's copy
 * is current); a grant reaching it without its copy fails an assertion.
 * Mutants: -DUPGRADE_ANY (the manager grants a non-owner too) and
 * -DUPGRADE_KEEP (a refused upgrade-ahead that lost its copy keeps it)
 * must fail.
 * Deferred forwards (pins, holds: proto.c "Holds"): an EXCLUSIVE owner may
 * put a FWD_READ or FWD_WRITE aside (one slot per node) and run it later,
 * as a step of its own, meanwhile writing the page and taking the messages
 * queued behind the forward (for other pages) from the same channel. No
 * new state or message: the forward is simply served late.
 * Promotion (-DPROMOTION; proto.c "Promotion", the release model's
 * sequential first): when a write of page 1 completes (CONFIRM_WRITE;
 * page 0 is the image's, which cvmm never promotes) the manager may hand
 * the page to the release model at its owner (M_PROMOTE,
 * PROMOTE); the owner, which must be EXCLUSIVE with no copy anywhere
 * else, takes it over (a deferred forward's slot may hold the PROMOTE
 * too) and answers PROMOTED; from then on (M_DATA) the manager refuses
 * every request, those queued meanwhile too (NACKD, naming the home), and
 * a refused node must have been waiting with no copy: it leaves the page
 * to the release model (dat), as do the home and its local accesses
 * (proto.c's state PROMOTED at the home: a fault there maps nothing).
 * -DPROMOTION_ON_READ (a mutant, with PROMOTION): the manager may also
 * promote after a read, when the owner has shared the page: the checks
 * at PROMOTE must fail.
 * -DBUG: the manager forwards a write without waiting for INV_ACKs; the
 * check must then fail (test/model/run.sh), as must a write-ahead grant
 * that installs the page without its pushed bytes.
 *
 * Membership (docs/coherence.md "A node leaving", "A node joining";
 * src/node/svc_leave.c, svc_join.c): a table host[] says which node plays
 * each manager role (page pg's role is (pg + 1) mod N here, so that page 1
 * is role 2's), and a control process changes membership once, at a
 * quiet point: it closes every node's gate (paused: no node starts an
 * operation) and waits until nothing is in flight (no message in any
 * channel or manager queue, no request waiting or fetching, no forward
 * put aside: coh_node_busy false everywhere), then, atomically:
 *   -DLEAVE: node 2 leaves, its heir 0 takes its roles (host), the pages
 *     it holds with their bytes (coh_node_take_page: EXCLUSIVE stays
 *     EXCLUSIVE, SHARED is a copy unless the heir has one), and owner 2
 *     and 2's copies become 0's in the records (coh_node_depart); node 2
 *     is departed: any message reaching it fails, and it stops;
 *   -DJOIN: node 2 is a free slot from the start (departed, role 2 played
 *     by node 0, page 1 starting there) and joins: it becomes a member,
 *     nothing else changes, and it then makes its operations;
 *   -DLEAVE -DREJOIN: node 2 leaves as above, then at a second quiet
 *     point a new agent joins into its slot (fresh: every page INVALID,
 *     no role) and makes one more operation;
 * and reopens the gates. Every property above must still hold, and the
 * control process must get its quiet point (else an invalid end state).
 * Mutants that must fail: -DNOQUIET (the leave without waiting for quiet)
 * and -DLOSE_BYTES (the heir takes an EXCLUSIVE page's state but not its
 * bytes). Not modelled: futex homes (their waiters move the same way,
 * unit-tested in test_dfutex), the transport's connections. */

#define N 3
#define P 2
#ifndef MAXOPS
#define MAXOPS 2
#endif
/* Write-aheads and upgrade-aheads of node AHEAD_NODE, which manages no
 * page, so it can ask for both. test/model/run.sh checks MAXOPS 2
 * without them and MAXOPS 1 with 2 of them: both together take ~20 M
 * states, past the check's memory. */
#ifndef MAXAHEAD
#define MAXAHEAD 0
#endif
#define AHEAD_NODE 2

/* node page states */
#define INVALID 0
#define SHARED 1
#define EXCLUSIVE 2
#define READ_WAIT 3
#define WRITE_WAIT 4
#define UPGRADE_WAIT 5
#define READ_FETCH 6
#define WRITE_FETCH 7
#define AHEAD_WAIT 8
/* manager page states */
#define M_IDLE 0
#define M_BUSY_READ 1
#define M_BUSY_INV 2
#define M_BUSY_WRITE 3
#define M_PROMOTE 4
#define M_DATA 5

#if defined(LEAVE) || defined(JOIN)
#define MEMBER 1
#endif
#ifdef MEMBER
#define MGR(pg) (host[((pg) + 1) % N])
#else
#define MGR(pg) ((pg) % N)
#endif
#define IDX(n, pg) ((n) * P + (pg))
#define VALID(s) ((s) == SHARED || (s) == EXCLUSIVE || (s) == UPGRADE_WAIT)

mtype = { READ_REQ, WRITE_REQ, FWD_READ, FWD_WRITE, INVALIDATE, INV_ACK,
	  READ_GRANT, WRITE_GRANT, CONFIRM_READ, CONFIRM_WRITE, WRITE_AHEAD,
	  NACK, PROMOTE, PROMOTED, NACKD, UPGRADE_AHEAD };

/* ch[src*N+dst]: FIFO per (src, dst) pair, as the transport guarantees.
 * Fields: type, page, arg (requester for requests/forwards, owner for
 * grants, sender for acks/confirms). */
chan ch[N * N] = [4] of { mtype, byte, byte };

/* per node, per page */
byte st[N * P];
byte val[N * P];
bit dat[N * P]; /* handed to the release model here (promotion) */
/* latest committed version per page */
byte latest[P];
/* manager side, per page (lives at node MGR(p)) */
byte mst[P];
byte owner[P];
byte copyset[P];
byte mreq[P];
byte pend[P];
chan q[P] = [N] of { mtype, byte };

#ifdef MEMBER
byte host[N];     /* the node playing each manager role */
bit departed[N];  /* left (LEAVE), or a free slot not joined yet (JOIN) */
bit paused;       /* every node's gate closed */
#endif

/* A deferred forward per node: its page + 1 (0: none), type (0 read, 1
 * write, 2 PROMOTE), requester. */
byte dpg[N];
byte dar[N];
byte dwr[N];

/* Scratch variables, used only inside atomic steps: hidden from the state
 * vector so that stale values do not multiply states. */
hidden byte ci, cp, ce, kk, pg, ar, mqr;
hidden mtype mt, mqt;

inline check()
{
	for (cp : 0 .. P - 1) {
		ce = 0;
		for (ci : 0 .. N - 1) {
			if
			:: st[IDX(ci, cp)] == EXCLUSIVE -> ce++
			:: else
			fi;
			assert(!VALID(st[IDX(ci, cp)]) ||
			       val[IDX(ci, cp)] == latest[cp]);
		}
		assert(ce <= 1);
	}
}

inline inv_done(pg)
{
	mst[pg] = M_BUSY_WRITE;
	if
	:: owner[pg] == mreq[pg] -> ch[me * N + mreq[pg]]!WRITE_GRANT, pg, owner[pg]
	:: else -> ch[me * N + owner[pg]]!FWD_WRITE, pg, mreq[pg]
	fi
}

inline mgr_start(mt, pg, r)
{
	mreq[pg] = r;
	if
	:: mt == READ_REQ ->
		mst[pg] = M_BUSY_READ;
		ch[me * N + owner[pg]]!FWD_READ, pg, r
	:: else ->
		mst[pg] = M_BUSY_INV;
		pend[pg] = 0;
		for (kk : 0 .. N - 1) {
			if
			:: kk != r && kk != owner[pg] && (copyset[pg] & (1 << kk)) ->
				ch[me * N + kk]!INVALIDATE, pg, r;
				pend[pg]++
			:: else
			fi
		}
#ifdef BUG
		inv_done(pg)
#else
		if
		:: pend[pg] == 0 -> inv_done(pg)
		:: else
		fi
#endif
	fi
}

inline mgr_release(pg)
{
	mst[pg] = M_IDLE;
	if
	:: nempty(q[pg]) -> q[pg]?mqt, mqr; mgr_start(mqt, pg, mqr)
	:: empty(q[pg])
	fi
}

inline write_done(pg)
{
	st[IDX(me, pg)] = EXCLUSIVE;
	assert(val[IDX(me, pg)] == latest[pg]);
	val[IDX(me, pg)]++;			/* the write completes */
	latest[pg] = val[IDX(me, pg)];
	waiting = 0;
	ch[me * N + MGR(pg)]!CONFIRM_WRITE, pg, me
}

inline fwd_read(pg, ar)
{
	assert(VALID(st[IDX(me, pg)]));
	if
	:: st[IDX(me, pg)] == EXCLUSIVE -> st[IDX(me, pg)] = SHARED
	:: else
	fi;
	ch[me * N + ar]!READ_GRANT, pg, me
}

/* The manager hands the page over at its owner (PROMOTE). */
inline promote(pg)
{
	mst[pg] = M_PROMOTE;
	ch[me * N + owner[pg]]!PROMOTE, pg, 0
}

/* The owner takes the page over: the only copy, and current. */
inline promoted(pg)
{
	assert(st[IDX(me, pg)] == EXCLUSIVE);
	for (ci : 0 .. N - 1) {
		assert(ci == me || (!VALID(st[IDX(ci, pg)]) &&
				    st[IDX(ci, pg)] != READ_FETCH &&
				    st[IDX(ci, pg)] != WRITE_FETCH))
	}
	assert(val[IDX(me, pg)] == latest[pg]);
	dat[IDX(me, pg)] = 1;
	ch[me * N + MGR(pg)]!PROMOTED, pg, me
}

inline fwd_write(pg, ar)
{
	assert(VALID(st[IDX(me, pg)]));
	if
	:: st[IDX(me, pg)] == UPGRADE_WAIT -> st[IDX(me, pg)] = WRITE_WAIT
	:: else -> st[IDX(me, pg)] = INVALID
	fi;
	ch[me * N + ar]!WRITE_GRANT, pg, me
}

/* A forward for an EXCLUSIVE page: served now, or put aside (a pin or a
 * hold) when the slot is free. */
inline fwd(pg, ar, wr)
{
	if
	:: st[IDX(me, pg)] == EXCLUSIVE && dpg[me] == 0 ->
		dpg[me] = pg + 1;
		dar[me] = ar;
		dwr[me] = wr
	:: true ->
		if
		:: wr == 2 -> promoted(pg)
		:: wr == 1 -> fwd_write(pg, ar)
		:: else -> fwd_read(pg, ar)
		fi
	fi
}

/* The pin is released or the hold ends: the forward runs. The page stayed
 * EXCLUSIVE (only a forward takes it away). */
inline run_deferred()
{
	pg = dpg[me] - 1;
	assert(st[IDX(me, pg)] == EXCLUSIVE);
	if
	:: dwr[me] == 2 -> promoted(pg)
	:: dwr[me] == 1 -> fwd_write(pg, dar[me])
	:: else -> fwd_read(pg, dar[me])
	fi;
	dpg[me] = 0;
	dar[me] = 0;
	dwr[me] = 0;
	check()
}

inline handle()
{
#ifdef MEMBER
	assert(!departed[me]); /* nothing reaches a node out of the VM */
#endif
	if
	/* ---- manager side ---- */
	:: mt == READ_REQ || mt == WRITE_REQ ->
		assert(MGR(pg) == me);
		if
		:: mst[pg] == M_IDLE -> mgr_start(mt, pg, ar)
		:: mst[pg] == M_DATA -> ch[me * N + ar]!NACKD, pg, owner[pg]
		:: else -> q[pg]!mt, ar
		fi
	:: mt == WRITE_AHEAD ->
		assert(MGR(pg) == me);
		if
		:: mst[pg] == M_IDLE -> mgr_start(WRITE_REQ, pg, ar)
		:: true -> ch[me * N + ar]!NACK, pg, 0
		fi
	:: mt == UPGRADE_AHEAD ->
		assert(MGR(pg) == me);
		if
#ifdef UPGRADE_ANY
		:: mst[pg] == M_IDLE -> mgr_start(WRITE_REQ, pg, ar)
#else
		:: mst[pg] == M_IDLE && owner[pg] == ar ->
			mgr_start(WRITE_REQ, pg, ar)
#endif
		:: true -> ch[me * N + ar]!NACK, pg, 0
		fi
	:: mt == NACK && up == pg + 1 ->
		if
		:: st[IDX(me, pg)] == UPGRADE_WAIT -> st[IDX(me, pg)] = SHARED
		:: else ->
			assert(st[IDX(me, pg)] == WRITE_WAIT);
#ifdef UPGRADE_KEEP
			st[IDX(me, pg)] = SHARED
#else
			st[IDX(me, pg)] = INVALID
#endif
		fi;
		up = 0;
		aw = 0
	:: mt == NACK && up != pg + 1 ->
		assert(st[IDX(me, pg)] == AHEAD_WAIT);
		st[IDX(me, pg)] = INVALID;
		aw = 0
	:: mt == INV_ACK ->
#ifdef BUG
		skip
#else
		assert(mst[pg] == M_BUSY_INV && pend[pg] > 0);
		pend[pg]--;
		if
		:: pend[pg] == 0 -> inv_done(pg)
		:: else
		fi
#endif
	:: mt == CONFIRM_READ ->
		assert(mst[pg] == M_BUSY_READ && mreq[pg] == ar);
		copyset[pg] = copyset[pg] | (1 << ar);
#ifdef PROMOTION_ON_READ
		if
		:: pg == 1 -> promote(pg)
		:: mgr_release(pg)
		fi
#else
		mgr_release(pg)
#endif
	:: mt == CONFIRM_WRITE ->
		assert(mst[pg] == M_BUSY_WRITE && mreq[pg] == ar);
		owner[pg] = ar;
		copyset[pg] = 0;
#ifdef PROMOTION
		if
		:: pg == 1 -> promote(pg)	/* page 0 is the image's */
		:: mgr_release(pg)
		fi
#else
		mgr_release(pg)
#endif
	:: mt == PROMOTED ->
		assert(mst[pg] == M_PROMOTE && ar == owner[pg]);
		mst[pg] = M_DATA;
		do
		:: nempty(q[pg]) -> q[pg]?mqt, mqr; ch[me * N + mqr]!NACKD, pg, owner[pg]
		:: empty(q[pg]) -> break
		od
	:: mt == NACKD ->
		assert(st[IDX(me, pg)] == READ_WAIT ||
		       st[IDX(me, pg)] == WRITE_WAIT ||
		       st[IDX(me, pg)] == AHEAD_WAIT);
		if
		:: st[IDX(me, pg)] == AHEAD_WAIT -> aw = 0
		:: else -> waiting = 0	/* the release model serves it */
		fi;
		st[IDX(me, pg)] = INVALID;
		dat[IDX(me, pg)] = 1
	/* ---- node side ---- */
	:: mt == FWD_READ -> fwd(pg, ar, 0)
	:: mt == FWD_WRITE -> fwd(pg, ar, 1)
	:: mt == PROMOTE -> fwd(pg, ar, 2)
	:: mt == INVALIDATE ->
		assert(st[IDX(me, pg)] == SHARED ||
		       st[IDX(me, pg)] == UPGRADE_WAIT);
		if
		:: st[IDX(me, pg)] == UPGRADE_WAIT -> st[IDX(me, pg)] = WRITE_WAIT
		:: else -> st[IDX(me, pg)] = INVALID
		fi;
		ch[me * N + MGR(pg)]!INV_ACK, pg, me
	:: mt == READ_GRANT ->
		assert(st[IDX(me, pg)] == READ_WAIT);
		st[IDX(me, pg)] = READ_FETCH;	/* a thread will get the page */
		fpg = pg;
		fown = ar
	:: mt == WRITE_GRANT && st[IDX(me, pg)] == AHEAD_WAIT ->
		assert(ar != me);
		val[IDX(me, pg)] = val[IDX(ar, pg)];	/* pushed with the grant */
		st[IDX(me, pg)] = EXCLUSIVE;
		assert(val[IDX(me, pg)] == latest[pg]);
		aw = 0;
		ch[me * N + MGR(pg)]!CONFIRM_WRITE, pg, me
	:: mt == WRITE_GRANT && up == pg + 1 ->
		/* the owner's own copy, current: no bytes come */
		assert(st[IDX(me, pg)] == UPGRADE_WAIT);
		st[IDX(me, pg)] = EXCLUSIVE;
		assert(val[IDX(me, pg)] == latest[pg]);
		up = 0;
		aw = 0;
		ch[me * N + MGR(pg)]!CONFIRM_WRITE, pg, me
	:: mt == WRITE_GRANT && st[IDX(me, pg)] != AHEAD_WAIT && up != pg + 1 ->
		assert(st[IDX(me, pg)] == WRITE_WAIT ||
		       st[IDX(me, pg)] == UPGRADE_WAIT);
		if
		:: st[IDX(me, pg)] == WRITE_WAIT && ar != me ->
			st[IDX(me, pg)] = WRITE_FETCH;
			fpg = pg;
			fown = ar
		:: else ->			/* the copy here is current */
			write_done(pg)
		fi
	fi;
	check()
}

/* The one-sided get: reads the owner's bytes, whenever the fetching thread
 * runs; the owner's CPU takes no part. */
inline get()
{
	val[IDX(me, fpg)] = val[IDX(fown, fpg)];
	got = 1;
	fown = 0
}

/* GET_DONE (coh_fetch_done): install, complete the access, confirm. */
inline get_done()
{
	got = 0;
	if
	:: st[IDX(me, fpg)] == READ_FETCH ->
		st[IDX(me, fpg)] = SHARED;
		assert(val[IDX(me, fpg)] == latest[fpg]); /* the read completes */
		waiting = 0;
		ch[me * N + MGR(fpg)]!CONFIRM_READ, fpg, me
	:: else ->
		write_done(fpg)
	fi;
	fpg = 0;
	check()
}

/* A write-ahead of an INVALID page managed elsewhere, or an
 * upgrade-ahead of a SHARED one. */
inline write_ahead()
{
	select (pg : 0 .. P - 1);
	if
	:: st[IDX(me, pg)] == INVALID && MGR(pg) != me && !dat[IDX(me, pg)] ->
		st[IDX(me, pg)] = AHEAD_WAIT;
		aw = 1;
		wa++;
		ch[me * N + MGR(pg)]!WRITE_AHEAD, pg, me
	:: st[IDX(me, pg)] == SHARED ->
		st[IDX(me, pg)] = UPGRADE_WAIT;
		aw = 1;
		up = pg + 1;
		wa++;
		ch[me * N + MGR(pg)]!UPGRADE_AHEAD, pg, me
	:: else
	fi
}

inline local_access()
{
	ops++;
	if
	:: true -> /* read */
		if
		:: VALID(st[IDX(me, pg)]) -> assert(val[IDX(me, pg)] == latest[pg])
		:: else ->
			st[IDX(me, pg)] = READ_WAIT;
			waiting = 1;
			ch[me * N + MGR(pg)]!READ_REQ, pg, me
		fi
	:: true -> /* write */
		if
		:: st[IDX(me, pg)] == EXCLUSIVE ->
			assert(val[IDX(me, pg)] == latest[pg]);
			val[IDX(me, pg)]++;
			latest[pg] = val[IDX(me, pg)]
		:: st[IDX(me, pg)] == SHARED ->
			st[IDX(me, pg)] = UPGRADE_WAIT;
			waiting = 1;
			ch[me * N + MGR(pg)]!WRITE_REQ, pg, me
		:: else ->
			st[IDX(me, pg)] = WRITE_WAIT;
			waiting = 1;
			ch[me * N + MGR(pg)]!WRITE_REQ, pg, me
		fi
	fi
}

inline local_op()
{
	select (pg : 0 .. P - 1);
	if
	:: st[IDX(me, pg)] == AHEAD_WAIT -> skip /* coalesces: waits */
	:: up == pg + 1 -> skip /* coalesces with the upgrade-ahead */
	:: dat[IDX(me, pg)] -> ops++	/* the release model's now */
	:: else -> local_access()
	fi;
	check()
}

#define RECV(s) atomic { ch[(s) * N + me]?mt, pg, ar -> handle() }

#ifdef MEMBER
#define MAY_START (!paused && !departed[me])
#else
#define MAY_START 1
#endif

proctype node(byte me)
{
	byte ops, fpg, fown, wa, up;
	bit waiting, got, aw;

	do
	:: atomic { !waiting && ops < MAXOPS && MAY_START -> local_op() }
	:: atomic { me == AHEAD_NODE && !aw && wa < MAXAHEAD -> write_ahead() }
	:: atomic { (st[IDX(me, fpg)] == READ_FETCH ||
		     st[IDX(me, fpg)] == WRITE_FETCH) && !got -> get() }
	:: atomic { got -> get_done() }
	:: atomic { dpg[me] != 0 -> run_deferred() }
	:: RECV(0)
	:: RECV(1)
	:: RECV(2)
	:: !waiting && !aw && ops == MAXOPS -> break
#if defined(LEAVE) && !defined(REJOIN)
	:: departed[me] -> break /* left: its other operations run elsewhere */
#endif
#ifdef REJOIN
	/* left: its other operations run elsewhere; a new agent of the slot
	 * makes one more once it is in (MAY_START waits for that) */
	:: atomic { departed[me] && ops < MAXOPS - 1 -> ops = MAXOPS - 1 }
#endif
	od;
	/* done with its own operations: keep serving as manager and owner */
end:	do
	:: atomic { dpg[me] != 0 -> run_deferred() }
	:: RECV(0)
	:: RECV(1)
	:: RECV(2)
	od
}

#ifdef MEMBER
#define CHQ(i) (len(ch[i]) == 0)
#define NQ(n) (st[IDX(n, 0)] <= EXCLUSIVE && st[IDX(n, 1)] <= EXCLUSIVE && \
	       dpg[n] == 0)
/* nothing in flight anywhere (N 3, P 2) */
#define QUIET (CHQ(0) && CHQ(1) && CHQ(2) && CHQ(3) && CHQ(4) && CHQ(5) && \
	       CHQ(6) && CHQ(7) && CHQ(8) && len(q[0]) == 0 && \
	       len(q[1]) == 0 && mst[0] == M_IDLE && mst[1] == M_IDLE && \
	       NQ(0) && NQ(1) && NQ(2))

#define K 2 /* the node that leaves or joins */
#define H 0 /* the leaver's heir */

/* node K leaves at a quiet point: its heir takes roles, pages, records */
inline leave()
{
	for (ci : 0 .. N - 1) {
		if
		:: host[ci] == K -> host[ci] = H
		:: else
		fi
	}
	for (cp : 0 .. P - 1) {
		if
		:: st[IDX(K, cp)] == EXCLUSIVE ->
			assert(!VALID(st[IDX(H, cp)]));
			st[IDX(H, cp)] = EXCLUSIVE;
#ifndef LOSE_BYTES
			val[IDX(H, cp)] = val[IDX(K, cp)]
#endif
		:: st[IDX(K, cp)] == SHARED && !VALID(st[IDX(H, cp)]) ->
			st[IDX(H, cp)] = SHARED;
			val[IDX(H, cp)] = val[IDX(K, cp)]
		:: else
		fi;
		st[IDX(K, cp)] = INVALID;
		if
		:: owner[cp] == K -> owner[cp] = H
		:: else
		fi;
		if
		:: copyset[cp] & (1 << K) ->
			copyset[cp] = (copyset[cp] & ~(1 << K)) | (1 << H)
		:: else
		fi
	}
	departed[K] = 1
}

proctype control()
{
	atomic { paused = 1 }
#ifdef NOQUIET
	atomic {
#else
	atomic { QUIET ->
#endif
#ifdef LEAVE
		leave();
#else
		departed[K] = 0; /* joins: it plays no role, holds no page */
#endif
		check();
		paused = 0
	}
#ifdef REJOIN
	/* a new agent joins into the slot K left, at a later quiet point:
	 * no role, no page (leave() made K's pages INVALID and no record
	 * names it), nothing in flight from the old one */
	atomic { paused = 1 }
	atomic { QUIET ->
		departed[K] = 0;
		check();
		paused = 0
	}
#endif
}
#endif

init
{
	byte i;
	atomic {
#ifdef MEMBER
		for (i : 0 .. N - 1) {
			host[i] = i
		}
#ifdef JOIN
		departed[K] = 1; /* a free slot: its role played by H */
		host[K] = H;
#endif
#endif
		/* page 0: node 0's image; page 1 starts at its manager */
		owner[0] = 0;
		st[IDX(0, 0)] = EXCLUSIVE;
		owner[1] = MGR(1);
		st[IDX(MGR(1), 1)] = EXCLUSIVE;
		for (i : 0 .. N - 1) {
			run node(i)
		}
#ifdef MEMBER
		run control();
#endif
	}
}
