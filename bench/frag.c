/* SPDX-License-Identifier: MIT */
/* frag: fragmentation and giving memory back (the pattern of Wilson &
 * Johnstone's fragmentation studies and of the "memory after free" checks
 * in rpmalloc/mimalloc benchmarks).
 *   1. fill: allocate small objects (16-256 B) until they total 1 GiB
 *      (quick: 128 MiB), writing each in full;
 *   2. free 90% of them, picked at random: the survivors are scattered, so
 *      nearly every page keeps a live object;
 *   3. allocate larger objects (512 B - 4 KiB) totalling 40% of the fill: an
 *      allocator that can reuse the holes grows little;
 *   4. free the larger objects;
 *   5. free the survivors;
 *   6. settle: pause 0.2 s and make a few small malloc/free calls, so that
 *      an allocator that gives memory back after a short delay (on its next
 *      call) has had the chance to.
 * Prints the resident set after each phase.  The last lines,
 * final_rss_kb=N, read from /proc/self/statm after the settle phase, and
 * settle_s=S, the time the settle phase took, are what the runner reports
 * as final RSS and subtracts from the wall time: memory given back to the
 * kernel matters here, but the pause is not the allocator's time.  The bookkeeping arrays are mmap'ed directly so that they
 * do not depend on the allocator under test and are unmapped before the end. */
#include "common.h"

#include <sys/mman.h>

struct hdr {
	uint32_t n;
	uint32_t tag;
};

static void *map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap %zu", bytes);
	return p;
}

static void *fill(size_t n, uint64_t *rng)
{
	struct hdr *h = xmalloc(n);
	uint32_t tag = (uint32_t)rng_next(rng);
	memset(h, (int)(tag & 0xff), n);
	h->n = (uint32_t)n;
	h->tag = tag;
	return h;
}

static void check_free(void *p)
{
	struct hdr *h = p;
	unsigned char *b = p;
	unsigned char c = (unsigned char)(h->tag & 0xff);
	CHECK(h->n >= 16 && b[h->n - 1] == c && b[8 + (h->n - 9) / 2] == c,
	      "object %p overwritten", p);
	free(p);
}

int main(int argc, char **argv)
{
	bench_mode m = bench_init("frag", argc, argv);
	const size_t target = SCALE(m, (size_t)16 << 20, (size_t)128 << 20, (size_t)1 << 30);
	const size_t maxobjs = target / 16 + 1;
	uint64_t rng = rng_seed(7);
	long rss0 = rss_kb();

	void **small = map(maxobjs * sizeof(void *));
	size_t nsmall = 0, bytes = 0;
	while (bytes < target) {
		size_t n = rng_range(&rng, 16, 256);
		small[nsmall++] = fill(n, &rng);
		bytes += n;
	}
	long rss_fill = rss_kb();

	size_t kept = 0;
	for (size_t i = 0; i < nsmall; i++) {
		if (rng_range(&rng, 0, 9) == 0)
			small[kept++] = small[i];
		else
			check_free(small[i]);
	}
	long rss_freed = rss_kb();

	const size_t large_target = target / 10 * 4;
	void **large = map((large_target / 512 + 1) * sizeof(void *));
	size_t nlarge = 0;
	bytes = 0;
	while (bytes < large_target) {
		size_t n = rng_range(&rng, 512, 4096);
		large[nlarge++] = fill(n, &rng);
		bytes += n;
	}
	long rss_large = rss_kb();

	for (size_t i = 0; i < nlarge; i++)
		check_free(large[i]);
	long rss_large_freed = rss_kb();
	for (size_t i = 0; i < kept; i++)
		check_free(small[i]);
	munmap(small, maxobjs * sizeof(void *));
	munmap(large, (large_target / 512 + 1) * sizeof(void *));
	long rss_end = rss_kb();

	double t0 = now_s();
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	for (int i = 0; i < 100; i++) {
		void *a = xmalloc(64), *b = xmalloc(4000), *c = xmalloc(100000);
		free(c);
		free(b);
		free(a);
	}
	long rss_settled = rss_kb();
	double settle = now_s() - t0;

	printf("frag ok: %zu small objects (%zu MiB), %zu kept, %zu larger\n", nsmall, target >> 20,
	       kept, nlarge);
	printf("rss_kb: start=%ld filled=%ld after_free90=%ld with_larger=%ld larger_freed=%ld "
	       "all_freed=%ld\n",
	       rss0, rss_fill, rss_freed, rss_large, rss_large_freed, rss_end);
	printf("final_rss_kb=%ld\nsettle_s=%.6f\n", rss_settled, settle);
	return 0;
}
