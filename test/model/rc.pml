/* Promela model of the release memory model's data pages (issue 14,
 * --memory-model=release; src/coherence/rc.c). Home-based release
 * consistency for one data page, several writers, write notices at
 * release, with synchronisation kept sequentially consistent:
 *
 *   - node 0 is the data page's home and keeps its master copy H; it reads
 *     and writes H directly, and at its release (when it wrote) the other
 *     copies get write notices, as for a diff; while no other node holds
 *     a copy it writes with no twin (EXCL: nothing to notice, its release
 *     skips the page); the first fetch write-protects it (RO), so its next
 *     write takes the twin (TWIN: what it writes from there on is noticed
 *     at its release);
 *   - another node fetches a copy from the home on its first access (INV ->
 *     RO), takes a twin before its first write of an interval (RO -> RW),
 *     and at a release sends the home a diff: exactly the words that
 *     differ from the twin (src/coherence/diff.c: byte-exact runs); the home
 *     applies it and, before acknowledging it, notices every other copy
 *     with the diff: a copy takes the diff's words in place (into its
 *     twin too, so that its own diff stays its own) or is dropped (the
 *     model chooses either, as rc.c drops when a version is missing): a
 *     clean one goes (RO -> INV), a dirty one keeps its twin and is
 *     unmapped (RW -> STALE: its diff goes home before it is fetched
 *     again), and a dirty one whose own words the diff touches is always
 *     dropped; the release completes with the ack (RW -> RO);
 *   - an acquire drops nothing: the notices did, before the releases it
 *     follows completed;
 *   - a lock, and a barrier, are synchronisation the VM sees (an atomic on
 *     a sequentially consistent sync page, a futex call): handing the lock
 *     on is a release on the giver, which completes before the taker gets
 *     it (the lock is freed in the step that completes the release).
 *
 * The program each node runs is data-race-free: word i of the page is node
 * i's; it writes it inside the lock (phase A, the others read it inside
 * the lock too), then all nodes write their words at once, outside any
 * lock (phase B: several writers of one page), meet at a barrier and read
 * each other's. Property (assertions): every read returns the value last
 * written to that word before it in happens-before order, which in this
 * program is the writer's latest write.
 *
 * The home's notices are modelled as done in the step that applies the
 * diff, and acks it (in rc.c they are messages, but the diff's ack waits
 * for all their acks, so nothing the releaser does next can see the
 * difference); the fetch in flight that a notice overtakes is rc.c's
 * refetch flag, tested by test_rc.c's random delivery.
 *
 * Mutants (test/model/run.sh) that must fail: -DUPDATE_WHOLE (a notice
 * updates a copy with every word of the master, not the diff's only: a
 * dirty copy loses its own unreleased writes), -DNO_ACK (a release
 * completes before the home applied its diff), -DNO_NOTICE (the home does
 * not drop the other copies), -DWHOLE_PAGE (a diff carries every word, so
 * a node's release overwrites words other nodes wrote meanwhile),
 * -DNO_EXCL_TWIN (a fetch leaves the home writing without a twin and
 * unprotected, so its later writes are never noticed).
 *
 * -DLEAVE: the home leaves the VM (membership, rc.h: rc_home_records,
 * rc_take_home, rc_depart), at most once, at a nondeterministic quiet
 * point (cvmm ctl pause: no diff in flight or unacknowledged, hence no
 * release half-done and no lock hand-over under way; fetches are single
 * steps), in one step of a process of its own: node 0 first does its own
 * complete release (its writes since its twin noticed to every copy),
 * then its master copy H goes to the heir, node 1, which is the home from
 * then on (H is its copy; the diffs go to it). A heir with a dirty copy
 * (a twin: RW, or STALE) keeps its own unreleased words on top of H and
 * goes on as the home with an open interval (its twin := H, so its next
 * release notices the other copies of those words); a clean copy, or
 * none, is just H. Node 2 keeps its copy (it stays current) and its twin.
 * The program: node 0 stops where it left (its lock, if it held it, is
 * handed on with that release), and the others wait for it no more at
 * barriers; node 0's words stay readable (from H) and are checked as any
 * other. The real leaving node is any node but node 0; the model's label
 * does not matter, the home leaving is the case where the master copy
 * moves. Mutants that must fail: -DLEAVE -DTAKE_NO_MERGE (the heir takes
 * H over its dirty copy and drops its twin: its unreleased writes are
 * lost), -DLEAVE -DLEAVE_NO_RELEASE (the home hands H over without its
 * own release first: copies elsewhere never learn of its last writes).
 *
 * Homes where the sequential protocol hands a page over (sequential
 * first) change who the home is, not what it does: test_rc.c's random
 * delivery checks the hand-over.
 *
 * -DDEMOTE: the home gives the page back to the sequential protocol
 * (rc.h, "Back to sequential first") once, at any point, with a flush
 * of every other node's copy, and that protocol promotes it again at
 * another node (proctype demote below). Diffs are counted per node
 * (out[]) rather than acked one by one, as a flush sends a node's diff
 * for it; a release waits until all its node's diffs are in. */

#define N 3 /* nodes; node 0 is the home (node 1 once node 0 has left) */
#define W N /* words: word i is node i's */
#ifndef ROUNDS
#define ROUNDS 2
#endif

#define INV 0
#define RO 1
#define RW 2
#define STALE 3 /* dirty, unmapped by a notice: diff first, then fetch */
#define EXCL 4  /* the home, writing with no copy elsewhere */
#define TWIN 5  /* the home, writing with a twin */
#define FREE 255

byte H[W];         /* the home's master copy */
byte HT[W];        /* the home's twin (TWIN) */
byte C[N * W];     /* node i's copy, words i*W .. i*W+W-1 (not the home) */
byte T[N * W];     /* node i's twin */
byte st[N];        /* node i's copy: INV, RO, RW, STALE */
bit home_dirty;    /* the home wrote H since its twin was taken */
byte hst = RO;     /* the home's mapping: RO, EXCL (writable, no twin),
		      TWIN (writable, twin taken) */
byte latest[W];    /* the value last written to each word */
byte lock = FREE;  /* the lock's holder */
#if defined(LEAVE) || defined(DEMOTE)
byte hn;           /* the home: node 0, node 1 once node 0 has left, or
		      where the page is promoted again (DEMOTE) */
#else
#define hn 0
#endif
#ifdef LEAVE
byte bar[N];       /* node i's barrier arrivals, over all generations */
#else
byte arrived;      /* barrier arrivals, over all generations */
#endif
#ifdef DEMOTE
#define DATA 0
#define FLUSHING 1 /* the home gives the page back: its flush under way */
#define SCP 2      /* sequential first: one store S, no copies */
byte cls = DATA;
bit fl[N];         /* node i's copy was flushed (it waits for SCP) */
byte S[W];         /* the sequential protocol's page */
#define DAT(n) (cls == DATA || (cls == FLUSHING && !fl[n]))
#else
#define DAT(n) true
#endif

/* a diff: source node, word mask, the words' values; out[n]: node n's
 * diffs not yet applied and acknowledged (a release waits for none) */
chan diffs = [N] of { byte, byte, byte, byte, byte };
byte out[N];

/* the home serves fetches atomically (its page lock): a copy of H, for
 * a node with none (the check is in the same step: a leave does not fall
 * between them) */
inline fetch(n) {
	atomic {
		n != hn && st[n] == INV && DAT(hn) && DAT(n) ->
		C[n * W + 0] = H[0]; C[n * W + 1] = H[1]; C[n * W + 2] = H[2];
		st[n] = RO;
#ifndef NO_EXCL_TWIN
		/* write-protected: the home's next write takes the twin */
		if :: hst == EXCL -> hst = RO :: else -> skip fi
#endif
	}
}

/* Another node holds a copy (is in the home's copyset; the home, and a
 * node that left, hold none: INV). */
#define COPIES (st[0] == RO || st[0] == RW || st[1] == RO || st[1] == RW || \
		st[2] == RO || st[2] == RW)

/* Copy k takes the words of mask um from the master (its twin too, for
 * a dirty one). */
inline update(k, um) {
	if :: um & 1 -> C[k * W + 0] = H[0]; T[k * W + 0] = H[0] :: else -> skip fi;
	if :: um & 2 -> C[k * W + 1] = H[1]; T[k * W + 1] = H[1] :: else -> skip fi;
	if :: um & 4 -> C[k * W + 2] = H[2]; T[k * W + 2] = H[2] :: else -> skip fi
}

/* Copy k's own unreleased words (dirty: differing from its twin) that
 * the mask dm touches. */
#define OWN(k, dm) (((dm & 1) && C[k * W + 0] != T[k * W + 0]) || \
		    ((dm & 2) && C[k * W + 1] != T[k * W + 1]) || \
		    ((dm & 4) && C[k * W + 2] != T[k * W + 2]))

/* The home notices every copy but src's (src == hn: its own writes), with
 * the diff's word mask dm: each copy is updated in place or dropped. */
inline notice(src, dm) {
#ifdef NO_NOTICE
	skip
#else
#ifdef UPDATE_WHOLE
	um = 7;
#else
	um = dm;
#endif
	k = 0;
	do
	:: k < N ->
		if
		:: k != src && st[k] == RO -> st[k] = INV
		:: k != src && st[k] == RO -> update(k, um)
		:: k != src && st[k] == RW -> st[k] = STALE
		:: k != src && st[k] == RW && !OWN(k, dm) -> update(k, um)
		:: else -> skip
		fi;
		k++
	:: else -> break
	od
#endif
}

/* The words of node n's copy that differ from its twin. */
inline diff_mask(n, m) {
	m = 0;
#ifdef WHOLE_PAGE
	m = 7;
#else
	if :: C[n * W + 0] != T[n * W + 0] -> m = m | 1 :: else -> skip fi;
	if :: C[n * W + 1] != T[n * W + 1] -> m = m | 2 :: else -> skip fi;
	if :: C[n * W + 2] != T[n * W + 2] -> m = m | 4 :: else -> skip fi;
#endif
}

/* Node n's STALE copy goes home before it is fetched again: the check,
 * the diff made and the state set (INV) in one step, as rc.c does them
 * under its lock (a notice coming meanwhile finds the new state), then
 * the ack (the release's end). */
inline flush(n) {
	atomic {
		n != hn && st[n] == STALE && DAT(n) ->
		diff_mask(n, m);
		st[n] = INV;
		out[n]++;
		diffs ! n, m, C[n * W + 0], C[n * W + 1], C[n * W + 2]
	};
#ifndef NO_ACK
	out[n] == 0;
#endif
}

/* The home reads and writes H; another node's access retries until its
 * copy allows it, as a faulting access does (each check and its effect
 * are one step, as under rc.c's lock and the page's mapping: neither a
 * notice nor a leave falls between them). */
inline rd(n, w, v) {
	do
	:: atomic { n == hn && DAT(n) -> v = H[w] }; break
	:: atomic { n != hn && (st[n] == RO || st[n] == RW) ->
		v = C[n * W + w] }; break
#ifdef DEMOTE
	:: atomic { cls == SCP -> v = S[w] }; break
#endif
	:: flush(n)
	:: fetch(n)
	od
}

inline wr(n, w, v) {
	do
	:: atomic {
		n == hn && DAT(n) ->
		if
		:: hst == RO && !COPIES -> hst = EXCL
		:: hst == RO && COPIES -> hst = TWIN;
			HT[0] = H[0]; HT[1] = H[1]; HT[2] = H[2]
		:: else -> skip
		fi;
		H[w] = v; latest[w] = v;
		if :: hst == TWIN -> home_dirty = 1 :: else -> skip fi
	   }; break
	:: atomic { n != hn && st[n] == RW -> C[n * W + w] = v; latest[w] = v };
		break
#ifdef DEMOTE
	:: atomic { cls == SCP -> S[w] = v; latest[w] = v }; break
#endif
	:: atomic {
		n != hn && st[n] == RO && DAT(n) ->
		T[n * W + 0] = C[n * W + 0];
		T[n * W + 1] = C[n * W + 1];
		T[n * W + 2] = C[n * W + 2];
		st[n] = RW
	   }
	:: flush(n)
	:: fetch(n)
	od
}

/* The home's release (in one step): its writes since its twin noticed
 * to every copy; writable again with no twin (no copy left), else
 * write-protected (EXCL stays as it is). */
inline home_release(n) {
	if
	:: home_dirty ->
		m = 0;
		if :: H[0] != HT[0] -> m = m | 1 :: else -> skip fi;
		if :: H[1] != HT[1] -> m = m | 2 :: else -> skip fi;
		if :: H[2] != HT[2] -> m = m | 4 :: else -> skip fi;
		notice(n, m); home_dirty = 0;
		/* a copy updated in place stays: write-protected */
		if :: COPIES -> hst = RO :: else -> hst = EXCL fi
	:: !home_dirty && hst == TWIN -> hst = RO
	:: else -> skip
	fi
}

/* The check and the flush in one step (rc.c's lock), then the ack. */
inline release(n) {
	atomic {
		if
		:: n != hn ->
			if
			:: st[n] == RW || st[n] == STALE ->
				diff_mask(n, m);
				if
				:: st[n] == RW -> st[n] = RO
				:: else -> st[n] = INV
				fi;
				out[n]++;
				diffs ! n, m, C[n * W + 0], C[n * W + 1],
					C[n * W + 2]
			:: else -> skip
			fi
		:: else -> home_release(n)
		fi
	};
#ifndef NO_ACK
	out[n] == 0
#endif
}

inline acquire(n) {
	skip /* the notices dropped every stale copy already */
}

/* The home applies each diff atomically, notices the other copies and
 * acks it, all in the step that takes it (under LEAVE this process is
 * whichever node is the home: node 1's once node 0 has left). */
active proctype home() {
	byte src, m, v0, v1, v2, k, um;
end:
	do
	:: atomic {
		diffs ? src, m, v0, v1, v2 ->
		/* into the home's twin too (rc.c on_diff): its own diff
		 * stays its own */
		if :: m & 1 -> H[0] = v0; HT[0] = v0 :: else -> skip fi;
		if :: m & 2 -> H[1] = v1; HT[1] = v1 :: else -> skip fi;
		if :: m & 4 -> H[2] = v2; HT[2] = v2 :: else -> skip fi;
		notice(src, m);
		out[src]--;
		/* (its locals cleared: states differing only there are
		 * one) */
		src = 0; m = 0; v0 = 0; v1 = 0; v2 = 0; k = 0; um = 0
	   }
	od
}

#ifdef DEMOTE
/* The home gives the page back to the sequential protocol (rc.h, "Back
 * to sequential first"), once, at any point (rc.c does so after a run
 * of one other node's diffs with no other copy: any point is the
 * stronger check), and that protocol promotes it again elsewhere:
 *   - the home's own interval ends (noticed) and it accesses the page no
 *     more (rc.c unmaps it there: its threads wait);
 *   - every other node's flush (SYNC_FLUSH), one at a time, interleaved
 *     with everything else: a dirty copy's diff goes home, the copy is
 *     dropped, and the node waits for the page to come back (a node
 *     not yet flushed reads, writes and twins its copy as before);
 *   - once every diff is applied and acknowledged (a node's SYNC_ACK
 *     follows its acks; the home's notices are done with the diff, and
 *     rc.c's home waits for their acks too), the page is sequentially
 *     consistent: one store S, which is the home's master;
 *   - promoted again at a node other than the old home, which holds the
 *     only copy (S is its master H, written with no twin), every other
 *     node without one.
 * Mutant that must fail: -DDEMOTE -DFLUSH_NO_WAIT (the page turns
 * sequential before the flushed diffs are in the home's copy). */
active proctype demote() {
	byte m, k, um, j, w;
end:
	atomic {
		cls == DATA ->
		home_release(hn);
		cls = FLUSHING;
		fl[hn] = 1
	};
	j = 0;
	do
	:: j < N && j == hn -> j++
	:: j < N && j != hn ->
		atomic {
			if
			:: st[j] == RW || st[j] == STALE ->
				diff_mask(j, m);
				out[j]++;
				diffs ! j, m, C[j * W + 0], C[j * W + 1],
					C[j * W + 2]
			:: else -> skip
			fi;
			st[j] = INV;
			/* (a dropped copy's words are never read: cleared,
			 * so that states differing only there are one) */
			C[j * W + 0] = 0; C[j * W + 1] = 0; C[j * W + 2] = 0;
			T[j * W + 0] = 0; T[j * W + 1] = 0; T[j * W + 2] = 0;
			fl[j] = 1;
			m = 0; k = 0; um = 0
		};
		j++
	:: j == N -> break
	od;
	atomic {
#ifndef FLUSH_NO_WAIT
		out[0] == 0 && out[1] == 0 && out[2] == 0 ->
#endif
		S[0] = H[0]; S[1] = H[1]; S[2] = H[2];
		HT[0] = 0; HT[1] = 0; HT[2] = 0;
		cls = SCP;
		j = 0
	};
	atomic {
		if
		:: hn != 0 -> w = 0
		:: hn != 1 -> w = 1
		:: hn != 2 -> w = 2
		fi;
		H[0] = S[0]; H[1] = S[1]; H[2] = S[2];
		S[0] = 0; S[1] = 0; S[2] = 0;
		hn = w; hst = EXCL; home_dirty = 0;
		st[0] = INV; st[1] = INV; st[2] = INV;
		fl[0] = 0; fl[1] = 0; fl[2] = 0;
		cls = DATA;
		w = 0
	}
}
#endif

#ifdef LEAVE
/* Quiet (cvmm ctl pause, rc_busy false everywhere): no diff in flight or
 * unacknowledged (the home takes, applies and acks a diff in one step),
 * so no release half-done and no lock hand-over under way (the lock is
 * freed in the step that completes the giver's release); fetches are
 * single steps. */
#define QUIET (len(diffs) == 0 && out[1] == 0 && out[2] == 0)

/* The heir h takes the master copy (rc_take_home): a dirty copy (a twin:
 * RW, or STALE) keeps its own unreleased words (its copy vs its twin) on
 * top of H, as the home's open interval (its twin := H, so its release
 * notices the other copies of them); a clean copy, or none, is just H.
 * Either way h is the home from now on: its copy is the master. */
inline take(h) {
	if
	:: st[h] == RW || st[h] == STALE ->
#ifdef TAKE_NO_MERGE
		hst = RO; home_dirty = 0
#else
		HT[0] = H[0]; HT[1] = H[1]; HT[2] = H[2];
		if :: C[h * W + 0] != T[h * W + 0] -> H[0] = C[h * W + 0]
		   :: else -> skip fi;
		if :: C[h * W + 1] != T[h * W + 1] -> H[1] = C[h * W + 1]
		   :: else -> skip fi;
		if :: C[h * W + 2] != T[h * W + 2] -> H[2] = C[h * W + 2]
		   :: else -> skip fi;
		hst = TWIN;
		home_dirty = (H[0] != HT[0] || H[1] != HT[1] || H[2] != HT[2])
#endif
	:: else -> hst = RO; home_dirty = 0 /* mapped at its next access */
	fi;
	st[h] = INV;
	C[h * W + 0] = 0; C[h * W + 1] = 0; C[h * W + 2] = 0;
	T[h * W + 0] = 0; T[h * W + 1] = 0; T[h * W + 2] = 0
}

/* Node 0 (the home) leaves for heir node 1 at a quiet point, at most
 * once, in one step: its own complete release (rc_release, before
 * rc_home_records), the master copy to the heir (rc_take_home), then
 * every other node's diffs go to node 1 and node 0 is in no copyset
 * (rc_depart: node 0 never held a copy here). Node 0's program stops
 * there; the lock, if it held it, is handed on with that release. */
active proctype leave() {
	byte m, k, um;
end:
	atomic {
		QUIET ->
#ifndef LEAVE_NO_RELEASE
		home_release(0);
#endif
		take(1);
		hn = 1;
		if :: lock == 0 -> lock = FREE :: else -> skip fi
	}
}
#endif

/* A barrier: a release, an arrival, everyone's arrival (a node that left
 * arrives no more, and is waited for no more), an acquire. */
inline barrier(i) {
	release(i);
	b++;
#ifdef LEAVE
	bar[i] = b;
	(hn != 0 || bar[0] >= b) && bar[1] >= b && bar[2] >= b;
#else
	atomic { arrived++ };
	arrived >= b * N;
#endif
	acquire(i)
}

proctype node(byte i) {
	byte r, j, v, m, b, k, um;

#ifdef LEAVE
	{ /* node 0 stops when it has left */
#endif
	r = 0;
	do
	:: r < ROUNDS ->
		/* phase A: under the lock, read the others' words, write ours */
		atomic { lock == FREE -> lock = i };
		acquire(i);
		j = 0;
		do
		:: j < W ->
			rd(i, j, v);
			assert(v == latest[j]);
			j++
		:: else -> break
		od;
		v = r * 2 * N + i + 1;
		wr(i, i, v);
		/* the lock freed in the step that completes the release (the
		 * wait for its ack breaks the atomic sequence, which resumes
		 * with the ack): the hand-over is the release */
		atomic { release(i); lock = FREE };
		barrier(i);
		/* phase B: every node writes its word at once, then reads the
		 * others' after a barrier */
		v = r * 2 * N + N + i + 1;
		wr(i, i, v);
		barrier(i);
		j = 0;
		do
		:: j < W ->
			rd(i, j, v);
			assert(v == latest[j]);
			j++
		:: else -> break
		od;
		barrier(i); /* nobody writes again before everyone has read */
		r++
	:: else -> break
	od
#ifdef LEAVE
	} unless { i == 0 && hn != 0 }
#endif
}

init {
	atomic {
		run node(0);
		run node(1);
		run node(2)
	}
}
