/* Promela model of the release memory model planned for data pages
 * (issue 14, --memory-model=release; written before the code, as the
 * proof the code will follow). Home-based lazy release consistency for
 * one data page, with synchronisation kept sequentially consistent:
 *
 *   - node 0 is the data page's home and keeps its master copy H; it reads
 *     and writes H directly;
 *   - another node fetches a copy from the home on its first access after
 *     an acquire (INV -> RO), takes a twin before its first write of an
 *     interval (RO -> RW), and at a release sends the home a diff: exactly
 *     the words that differ from the twin (src/coherence/diff.c: byte-exact
 *     runs), applied there atomically, and waits for the home's ack
 *     before the release completes (RW -> RO);
 *   - an acquire self-invalidates the copy (RO -> INV), so the next read
 *     fetches what every release before it sent home;
 *   - a lock, and a barrier, are synchronisation the VM sees (an atomic on
 *     a sequentially consistent sync page, a futex call): handing the lock
 *     on is a release on the giver, which completes before the taker gets
 *     it, and an acquire on the taker.
 *
 * The program each node runs is data-race-free: word i of the page is node
 * i's; it writes it inside the lock (phase A, the others read it inside
 * the lock too), then all nodes write their words at once, outside any
 * lock (phase B: several writers of one page), meet at a barrier and read
 * each other's. Property (assertions): every read returns the value last
 * written to that word before it in happens-before order, which in this
 * program is the writer's latest write.
 *
 * Mutants (test/model/run.sh) that must fail: -DNO_ACK (a release
 * completes before the home applied its diff), -DNO_INVALIDATE (an acquire
 * keeps a stale copy), -DWHOLE_PAGE (a diff carries every word, so a
 * node's release overwrites words other nodes wrote meanwhile). */

#define N 3 /* nodes; node 0 is the home */
#define W N /* words: word i is node i's */
#ifndef ROUNDS
#define ROUNDS 2
#endif

#define INV 0
#define RO 1
#define RW 2
#define FREE 255

byte H[W];         /* the home's master copy */
byte C[N * W];     /* node i's copy, words i*W .. i*W+W-1 (nodes 1..N-1) */
byte T[N * W];     /* node i's twin */
byte st[N];        /* node i's copy: INV, RO, RW */
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
		st[n] = RO
	}
}

inline rd(n, w, v) {
	if
	:: n == 0 -> v = H[w]
	:: else ->
		if
		:: st[n] == INV -> fetch(n)
		:: else -> skip
		fi;
		v = C[n * W + w]
	fi
}

inline wr(n, w, v) {
	if
	:: n == 0 -> atomic { H[w] = v; latest[w] = v }
	:: else ->
		if
		:: st[n] == INV -> fetch(n)
		:: else -> skip
		fi;
		if
		:: st[n] == RO ->
			atomic {
				T[n * W + 0] = C[n * W + 0];
				T[n * W + 1] = C[n * W + 1];
				T[n * W + 2] = C[n * W + 2];
				st[n] = RW
			}
		:: else -> skip
		fi;
		atomic { C[n * W + w] = v; latest[w] = v }
	fi
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

inline release(n) {
	if
	:: n != 0 && st[n] == RW ->
		diff_mask(n, m);
		diffs ! n, m, C[n * W + 0], C[n * W + 1], C[n * W + 2];
#ifndef NO_ACK
		acks[n] ? _;
#endif
		st[n] = RO
	:: else -> skip
	fi
}

inline acquire(n) {
	release(n); /* a copy still dirty is sent first */
#ifndef NO_INVALIDATE
	if :: n != 0 -> st[n] = INV :: else -> skip fi
#endif
}

/* The home applies each diff atomically and acks it. */
active proctype home() {
	byte src, m, v0, v1, v2;
end:
	do
	:: diffs ? src, m, v0, v1, v2 ->
		atomic {
			if :: m & 1 -> H[0] = v0 :: else -> skip fi;
			if :: m & 2 -> H[1] = v1 :: else -> skip fi;
			if :: m & 4 -> H[2] = v2 :: else -> skip fi
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
	byte r, j, v, m, b;

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
