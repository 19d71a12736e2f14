/* Promela model of the cvmm coherence protocol (src/coherence/proto.c):
 * Ivy multiple-reader/single-writer with fixed distributed managers
 * (manager(p) = p mod N), owner + copyset per page at its manager, requests
 * serialized per page at the manager (busy state + FIFO), page bytes fetched
 * by a one-sided get from the owner's copy (modelled as reading the owner's
 * version atomically when the get executes), confirmations to the manager.
 *
 * Same states, events and transitions as proto.c's tables:
 *   node:    INVALID SHARED EXCLUSIVE READ_WAIT WRITE_WAIT UPGRADE_WAIT
 *   manager: IDLE BUSY_READ BUSY_INV BUSY_WRITE
 * Each page holds a version; a write makes it version+1.
 *
 * Properties (assertions, checked after every atomic step):
 *   - at most one node EXCLUSIVE per page;
 *   - every node with a valid copy (SHARED, EXCLUSIVE, UPGRADE_WAIT) holds
 *     the latest committed version, so every completed read returns it;
 *   - every request completes: a node with a request outstanding is not at
 *     an end label, so a stuck request is an invalid end state.
 * -DBUG: the manager forwards a write without waiting for INV_ACKs; the
 * check must then fail (test/model/run.sh). */

#define N 3
#define P 2
#ifndef MAXOPS
#define MAXOPS 2
#endif

/* node page states */
#define INVALID 0
#define SHARED 1
#define EXCLUSIVE 2
#define READ_WAIT 3
#define WRITE_WAIT 4
#define UPGRADE_WAIT 5
/* manager page states */
#define M_IDLE 0
#define M_BUSY_READ 1
#define M_BUSY_INV 2
#define M_BUSY_WRITE 3

#define MGR(pg) ((pg) % N)
#define IDX(n, pg) ((n) * P + (pg))
#define VALID(s) ((s) == SHARED || (s) == EXCLUSIVE || (s) == UPGRADE_WAIT)

mtype = { READ_REQ, WRITE_REQ, FWD_READ, FWD_WRITE, INVALIDATE, INV_ACK,
	  READ_GRANT, WRITE_GRANT, CONFIRM_READ, CONFIRM_WRITE };

/* ch[src*N+dst]: FIFO per (src, dst) pair, as the transport guarantees.
 * Fields: type, page, arg (requester for requests/forwards, owner for
 * grants, sender for acks/confirms). */
chan ch[N * N] = [4] of { mtype, byte, byte };

/* per node, per page */
byte st[N * P];
byte val[N * P];
/* latest committed version per page */
byte latest[P];
/* manager side, per page (lives at node MGR(p)) */
byte mst[P];
byte owner[P];
byte copyset[P];
byte mreq[P];
byte pend[P];
chan q[P] = [N] of { mtype, byte };

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

inline handle()
{
	if
	/* ---- manager side ---- */
	:: mt == READ_REQ || mt == WRITE_REQ ->
		assert(MGR(pg) == me);
		if
		:: mst[pg] == M_IDLE -> mgr_start(mt, pg, ar)
		:: else -> q[pg]!mt, ar
		fi
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
		mgr_release(pg)
	:: mt == CONFIRM_WRITE ->
		assert(mst[pg] == M_BUSY_WRITE && mreq[pg] == ar);
		owner[pg] = ar;
		copyset[pg] = 0;
		mgr_release(pg)
	/* ---- node side ---- */
	:: mt == FWD_READ ->
		assert(VALID(st[IDX(me, pg)]));
		if
		:: st[IDX(me, pg)] == EXCLUSIVE -> st[IDX(me, pg)] = SHARED
		:: else
		fi;
		ch[me * N + ar]!READ_GRANT, pg, me
	:: mt == FWD_WRITE ->
		assert(VALID(st[IDX(me, pg)]));
		if
		:: st[IDX(me, pg)] == UPGRADE_WAIT -> st[IDX(me, pg)] = WRITE_WAIT
		:: else -> st[IDX(me, pg)] = INVALID
		fi;
		ch[me * N + ar]!WRITE_GRANT, pg, me
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
		val[IDX(me, pg)] = val[IDX(ar, pg)];	/* one-sided get */
		st[IDX(me, pg)] = SHARED;
		assert(val[IDX(me, pg)] == latest[pg]);	/* the read completes */
		waiting = 0;
		ch[me * N + MGR(pg)]!CONFIRM_READ, pg, me
	:: mt == WRITE_GRANT ->
		assert(st[IDX(me, pg)] == WRITE_WAIT ||
		       st[IDX(me, pg)] == UPGRADE_WAIT);
		if
		:: st[IDX(me, pg)] == WRITE_WAIT && ar != me ->
			val[IDX(me, pg)] = val[IDX(ar, pg)]	/* one-sided get */
		:: else
		fi;
		st[IDX(me, pg)] = EXCLUSIVE;
		assert(val[IDX(me, pg)] == latest[pg]);
		val[IDX(me, pg)]++;			/* the write completes */
		latest[pg] = val[IDX(me, pg)];
		waiting = 0;
		ch[me * N + MGR(pg)]!CONFIRM_WRITE, pg, me
	fi;
	check()
}

inline local_op()
{
	select (pg : 0 .. P - 1);
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
	fi;
	check()
}

#define RECV(s) atomic { ch[(s) * N + me]?mt, pg, ar -> handle() }

proctype node(byte me)
{
	byte ops;
	bit waiting;

	do
	:: atomic { !waiting && ops < MAXOPS -> local_op() }
	:: RECV(0)
	:: RECV(1)
	:: RECV(2)
	:: !waiting && ops == MAXOPS -> break
	od;
	/* done with its own operations: keep serving as manager and owner */
end:	do
	:: RECV(0)
	:: RECV(1)
	:: RECV(2)
	od
}

init
{
	byte i;
	atomic {
		for (i : 0 .. P - 1) {
			owner[i] = MGR(i);
			st[IDX(MGR(i), i)] = EXCLUSIVE;
		}
		for (i : 0 .. N - 1) {
			run node(i)
		}
	}
}
