/* SPDX-License-Identifier: MIT */
/* mixed: many threads, mixed lifetimes (the pattern of mstress and rptest in
 * mimalloc-bench).  Each of 8 threads runs a random mix of
 *   50%  short-lived: replace the oldest block of a small ring (lives ~64 ops)
 *   30%  long-lived: replace a random block of a large working set
 *   12%  grow: realloc a random long-lived block by 1.25-2x (up to 64 KiB)
 *    8%  exchange: swap a long-lived block with one in a global array, so
 *        blocks move between threads and are freed by a thread that did not
 *        allocate them
 * Sizes follow a power law (Pareto, alpha = 1) from 16 B to 64 KiB: half the
 * blocks are 16-32 B, one in 64 is over 1 KiB.  Every block is written in
 * full; its header (size, tag) and its tail are checked before it is freed and
 * after every realloc (the old contents must survive). */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#define NTHREADS 8
#define RINGSZ 64
#define XCHG 256
#define MAXSZ 65536

struct hdr { /* 8 bytes, so a 16 B block has room for the tail byte */
	uint32_t n;
	uint32_t tag;
};

static size_t nlong, nops;
static void *_Atomic exchange[XCHG];

static size_t powerlaw_size(uint64_t *rng)
{
	uint64_t u = (rng_next(rng) >> 32) + 1; /* 1 .. 2^32 */
	uint64_t n = (16ULL << 32) / u;
	return n > MAXSZ ? MAXSZ : (size_t)n;
}

static unsigned char fill_byte(uint32_t tag)
{
	return (unsigned char)(tag >> 16);
}

static void *new_block(size_t n, uint64_t *rng)
{
	struct hdr *h = xmalloc(n);
	uint32_t tag = (uint32_t)rng_next(rng);
	memset(h, fill_byte(tag), n);
	h->n = (uint32_t)n;
	h->tag = tag;
	((unsigned char *)h)[n - 1] = (unsigned char)tag ^ 0x5A;
	return h;
}

static void check_block(const void *p)
{
	const struct hdr *h = p;
	CHECK(h->n >= 16 && h->n <= MAXSZ, "block %p header overwritten", p);
	const unsigned char *b = p;
	CHECK(b[h->n - 1] == ((unsigned char)h->tag ^ 0x5A), "block %p (%u B) tail overwritten", p,
	      h->n);
	CHECK(b[8 + (h->n - 9) / 2] == fill_byte(h->tag), "block %p middle overwritten", p);
}

static void *grow_block(void *p, uint64_t *rng)
{
	struct hdr *h = p;
	size_t old = h->n;
	size_t n = old + old * rng_range(rng, 1, 4) / 4;
	if (n > MAXSZ)
		n = MAXSZ;
	if (n == old)
		return p;
	check_block(p);
	uint32_t tag = h->tag;
	unsigned char *b = xrealloc(p, n);
	h = (struct hdr *)b;
	CHECK(h->n == old && h->tag == tag && b[old - 1] == ((unsigned char)tag ^ 0x5A),
	      "realloc %zu -> %zu lost the contents", old, n);
	memset(b + old - 1, fill_byte(tag), n - old + 1);
	h->n = (uint32_t)n;
	b[n - 1] = (unsigned char)tag ^ 0x5A;
	return b;
}

static void *worker_main(void *arg)
{
	uint64_t rng = rng_seed((uint64_t)(uintptr_t)arg);
	void **live = xmalloc(nlong * sizeof *live);
	void *ring[RINGSZ];
	for (size_t i = 0; i < nlong; i++)
		live[i] = new_block(powerlaw_size(&rng), &rng);
	for (size_t i = 0; i < RINGSZ; i++)
		ring[i] = new_block(powerlaw_size(&rng), &rng);

	for (size_t op = 0; op < nops; op++) {
		uint64_t r = rng_range(&rng, 0, 99);
		if (r < 50) {
			void **s = &ring[op % RINGSZ];
			check_block(*s);
			free(*s);
			*s = new_block(powerlaw_size(&rng), &rng);
		} else if (r < 80) {
			void **s = &live[rng_range(&rng, 0, nlong - 1)];
			check_block(*s);
			free(*s);
			*s = new_block(powerlaw_size(&rng), &rng);
		} else if (r < 92) {
			void **s = &live[rng_range(&rng, 0, nlong - 1)];
			*s = grow_block(*s, &rng);
		} else {
			void **s = &live[rng_range(&rng, 0, nlong - 1)];
			void *got = atomic_exchange(&exchange[rng_range(&rng, 0, XCHG - 1)], *s);
			if (got)
				check_block(got);
			else
				got = new_block(powerlaw_size(&rng), &rng);
			*s = got;
		}
	}

	for (size_t i = 0; i < nlong; i++) {
		check_block(live[i]);
		free(live[i]);
	}
	for (size_t i = 0; i < RINGSZ; i++) {
		check_block(ring[i]);
		free(ring[i]);
	}
	free(live);
	return NULL;
}

int main(int argc, char **argv)
{
	bench_mode m = bench_init("mixed", argc, argv);
	nlong = SCALE(m, 500, 4000, 4000);
	nops = SCALE(m, 20000, 300000, 3000000);
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker_main, (void *)(uintptr_t)(i + 1)) == 0,
		      "pthread_create");
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < XCHG; i++) {
		void *p = atomic_load(&exchange[i]);
		if (p) {
			check_block(p);
			free(p);
		}
	}
	printf("mixed ok: %d threads x %zu ops, %zu long-lived blocks each\n", NTHREADS, nops,
	       nlong);
	return 0;
}
