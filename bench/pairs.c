/* SPDX-License-Identifier: MIT */
/* pairs: the fast path.  One thread; malloc and free of
 *   1. the same small size (48 B) in a tight loop,
 *   2. random sizes 8 B - 1 KiB, each freed at once,
 *   3. random sizes 8 B - 1 KiB kept in a ring of 16 live blocks (each block
 *      lives for 16 iterations, so the caches see a little reuse distance).
 * Models the malloc/free micro-benchmarks of the allocator papers
 * (mimalloc-bench "glibc-simple", "glibc-thread" with one thread). */
#include "common.h"

int main(int argc, char **argv)
{
	bench_mode m = bench_init("pairs", argc, argv);
	const size_t n1 = SCALE(m, 200000, 8000000, 60000000);
	const size_t n2 = SCALE(m, 100000, 4000000, 30000000);
	const size_t n3 = SCALE(m, 100000, 4000000, 30000000);
	uint64_t rng = rng_seed(1);
	uint64_t sum = 0;

	/* 1. same size */
	for (size_t i = 0; i < n1; i++) {
		uint64_t *p = xmalloc(48);
		p[0] = i;
		p[5] = ~i;
		escape(p);
		CHECK(p[0] == i && p[5] == ~i, "block %p changed under us", (void *)p);
		sum += p[0];
		free(p);
	}
	CHECK(sum == (uint64_t)n1 * (n1 - 1) / 2, "checksum mismatch");

	/* 2. random sizes, freed at once */
	for (size_t i = 0; i < n2; i++) {
		size_t n = rng_range(&rng, 8, 1024);
		void *p = xmalloc(n);
		uint64_t tag = mix64(i, n);
		mark(p, n, tag);
		escape(p);
		CHECK(marked(p, n, tag), "block %p (%zu B) changed under us", p, n);
		free(p);
	}

	/* 3. random sizes, ring of 16 live blocks */
	struct {
		void *p;
		size_t n;
		uint64_t tag;
	} ring[16] = { { 0 } };
	for (size_t i = 0; i < n3; i++) {
		size_t k = i & 15;
		if (ring[k].p) {
			CHECK(marked(ring[k].p, ring[k].n, ring[k].tag),
			      "live block %p (%zu B) overwritten", ring[k].p, ring[k].n);
			free(ring[k].p);
		}
		size_t n = rng_range(&rng, 8, 1024);
		ring[k].p = xmalloc(n);
		ring[k].n = n;
		ring[k].tag = mix64(i, n);
		mark(ring[k].p, n, ring[k].tag);
	}
	for (size_t k = 0; k < 16; k++) {
		CHECK(marked(ring[k].p, ring[k].n, ring[k].tag), "live block overwritten");
		free(ring[k].p);
	}
	printf("pairs ok: %zu same-size pairs, %zu random pairs, %zu ring ops\n", n1, n2, n3);
	return 0;
}
