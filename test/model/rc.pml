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
 *     it.
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
 * diff (in rc.c they are messages, but the diff's ack waits for all their
 * acks, so nothing the releaser does next can see the difference); the
 * fetch in flight that a notice overtakes is rc.c's refetch flag, tested
 * by test_rc.c's random delivery.
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
 * Homes where the sequential protocol hands a page over (sequential
 * first) change who the home is, not what it does: test_rc.c's random
 * delivery checks the hand-over. */

#define N 3 /* nodes; node 0 is the home */
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
byte C[N * W];     /* node i's copy, words i*W .. i*W+W-1 (nodes 1..N-1) */
byte T[N * W];     /* node i's twin */
byte st[N];        /* node i's copy: INV, RO, RW, STALE */
bit home_dirty;    /* node 0 wrote H since its twin was taken */
byte hst = RO;     /* node 0's mapping: RO, EXCL (writable, no twin),
		      TWIN (writable, twin taken) */
byte latest[W];    /* the value last written to each word */
byte lock = FREE;  /* the lock's holder */
byte arrived;      /* barrier arrivals, over all generations */

/* a diff: source node, word mask, the words' values */
chan diffs = [N] of { byte, byte, byte, byte, byte };
chan acks[N] = [1] of { bit };

/* the home serves fetches atomically (its page lock): a copy of H */
inline fetch(n) {
	atomic {
		C[n * W + 0] = H[0]; C[n * W + 1] = H[1]; C[n * W + 2] = H[2];
		st[n] = RO;
#ifndef NO_EXCL_TWIN
		/* write-protected: the home's next write takes the twin */
		if :: hst == EXCL -> hst = RO :: else -> skip fi
#endif
	}
}

/* Another node holds a copy (is in the home's copyset). */
#define COPIES (st[1] == RO || st[1] == RW || st[2] == RO || st[2] == RW)

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

/* The home notices every copy but src's (src == 0: its own writes), with
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
	k = 1;
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

/* Node n's dirty copy goes home as state s (RO, or INV for a STALE one):
 * the diff made and the state set in one step, as rc.c does both under
 * its lock (a notice coming meanwhile finds the new state), then the ack
 * (the release's end). */
inline flush(n, s) {
	atomic {
		diff_mask(n, m);
		st[n] = s;
		diffs ! n, m, C[n * W + 0], C[n * W + 1], C[n * W + 2]
	};
#ifndef NO_ACK
	acks[n] ? _;
#endif
}

/* An access retries until the copy allows it, as a faulting access does
 * (each check and its effect are one step, as under rc.c's lock and the
 * page's mapping: a notice never falls between them). */
inline rd(n, w, v) {
	if
	:: n == 0 -> v = H[w]
	:: else ->
		do
		:: atomic { (st[n] == RO || st[n] == RW) -> v = C[n * W + w] };
			break
		:: st[n] == STALE -> flush(n, INV)
		:: st[n] == INV -> fetch(n)
		od
	fi
}

inline wr(n, w, v) {
	if
	:: n == 0 ->
		atomic {
			if
			:: hst == RO && !COPIES -> hst = EXCL
			:: hst == RO && COPIES -> hst = TWIN;
				HT[0] = H[0]; HT[1] = H[1]; HT[2] = H[2]
			:: else -> skip
			fi;
			H[w] = v; latest[w] = v;
			if :: hst == TWIN -> home_dirty = 1 :: else -> skip fi
		}
	:: else ->
		do
		:: atomic { st[n] == RW -> C[n * W + w] = v; latest[w] = v };
			break
		:: atomic {
			st[n] == RO ->
			T[n * W + 0] = C[n * W + 0];
			T[n * W + 1] = C[n * W + 1];
			T[n * W + 2] = C[n * W + 2];
			st[n] = RW
		   }
		:: st[n] == STALE -> flush(n, INV)
		:: st[n] == INV -> fetch(n)
		od
	fi
}

inline release(n) {
	if
	:: n != 0 ->
		atomic { /* the check and the flush in one step (rc.c's lock) */
			if
			:: st[n] == RW || st[n] == STALE ->
				diff_mask(n, m);
				if
				:: st[n] == RW -> st[n] = RO
				:: else -> st[n] = INV
				fi;
				diffs ! n, m, C[n * W + 0], C[n * W + 1],
					C[n * W + 2];
				sent = 1
			:: else -> sent = 0
			fi
		};
#ifndef NO_ACK
		if :: sent -> acks[n] ? _ :: else -> skip fi
#endif
	:: n == 0 ->
		atomic {
			/* every copy noticed: writable again with no twin;
			 * else write-protected (EXCL stays as it is) */
			if
			:: home_dirty ->
				m = 0;
				if :: H[0] != HT[0] -> m = m | 1 :: else -> skip fi;
				if :: H[1] != HT[1] -> m = m | 2 :: else -> skip fi;
				if :: H[2] != HT[2] -> m = m | 4 :: else -> skip fi;
				notice(0, m); home_dirty = 0;
				/* a copy updated in place stays: write-protected */
				if :: COPIES -> hst = RO :: else -> hst = EXCL fi
			:: !home_dirty && hst == TWIN -> hst = RO
			:: else -> skip
			fi
		}
	:: else -> skip
	fi
}

inline acquire(n) {
	skip /* the notices dropped every stale copy already */
}

/* The home applies each diff atomically, notices the other copies and
 * acks it. */
active proctype home() {
	byte src, m, v0, v1, v2, k, um;
end:
	do
	:: diffs ? src, m, v0, v1, v2 ->
		atomic {
			/* into the home's twin too (rc.c on_diff): its own
			 * diff stays its own */
			if :: m & 1 -> H[0] = v0; HT[0] = v0 :: else -> skip fi;
			if :: m & 2 -> H[1] = v1; HT[1] = v1 :: else -> skip fi;
			if :: m & 4 -> H[2] = v2; HT[2] = v2 :: else -> skip fi;
			notice(src, m)
		};
#ifdef NO_ACK
		skip
#else
		acks[src] ! 1
#endif
	od
}

/* A barrier: a release, an arrival, everyone's arrival, an acquire. */
inline barrier(i) {
	release(i);
	b++;
	atomic { arrived++ };
	arrived >= b * N;
	acquire(i)
}

proctype node(byte i) {
	byte r, j, v, m, b, k, um;
	bit sent;

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
		release(i);
		lock = FREE;
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
}

init {
	atomic {
		run node(0);
		run node(1);
		run node(2)
	}
}
