/* SPDX-License-Identifier: MIT */
/* large: the mmap / mremap path.  One thread keeps 8 slots of large blocks,
 * 64 KiB - 8 MiB (log-uniform).  Each step picks a slot and either allocates
 * into it (if empty), grows its block with realloc by 1.25-2x (up to
 * 16 MiB), shrinks it to a half, or frees it.  Every page of every block is
 * written (so the cost of fresh pages from the kernel shows, and an
 * allocator that keeps them mapped and reuses them wins), and every page is
 * checked before free and after realloc.  Models the large-object tests of
 * mimalloc-bench ("malloc-large") and realloc-heavy programs (buffers that
 * grow). */
#include "common.h"

#define SLOTS 8
#define PAGE 4096
#define MAXSZ (16u << 20)

struct slot {
	unsigned char *p;
	size_t n;
	uint64_t tag;
};

static uint64_t page_word(uint64_t tag, size_t off)
{
	return tag ^ (off * 0x9E3779B97F4A7C15ULL);
}

/* A block has a check word at each page boundary `off` with off + 16 <= n,
 * and one in its last 8 bytes (so check words never overlap). */

/* Write the check words at page boundaries >= from, and the tail word. */
static void touch(struct slot *s, size_t from)
{
	for (size_t off = (from + PAGE - 1) & ~(size_t)(PAGE - 1); off + 16 <= s->n; off += PAGE)
		memcpy(s->p + off, &(uint64_t){ page_word(s->tag, off) }, 8);
	memcpy(s->p + s->n - 8, &(uint64_t){ page_word(s->tag, s->n) }, 8);
}

/* Check the page words a block of `limit` bytes has (limit <= s->n), and
 * the tail word if asked. */
static void verify(const struct slot *s, size_t limit, int tail)
{
	for (size_t off = 0; off + 16 <= limit; off += PAGE) {
		uint64_t v;
		memcpy(&v, s->p + off, 8);
		CHECK(v == page_word(s->tag, off), "block %p (%zu B): page at +%zu overwritten",
		      (void *)s->p, s->n, off);
	}
	if (tail) {
		uint64_t v;
		memcpy(&v, s->p + s->n - 8, 8);
		CHECK(v == page_word(s->tag, s->n), "block %p (%zu B): tail overwritten",
		      (void *)s->p, s->n);
	}
}

static size_t pick_size(uint64_t *rng)
{
	size_t base = (size_t)65536 << rng_range(rng, 0, 6); /* 64 KiB .. 4 MiB */
	return base + rng_range(rng, 0, base - 1);            /* .. 8 MiB */
}

int main(int argc, char **argv)
{
	bench_mode m = bench_init("large", argc, argv);
	const size_t steps = SCALE(m, 200, 2000, 12000);
	uint64_t rng = rng_seed(6);
	struct slot slots[SLOTS] = { { 0 } };
	size_t allocs = 0, grows = 0, shrinks = 0;

	for (size_t i = 0; i < steps; i++) {
		struct slot *s = &slots[rng_range(&rng, 0, SLOTS - 1)];
		uint64_t r = rng_range(&rng, 0, 99);
		if (!s->p) {
			s->n = pick_size(&rng);
			s->p = xmalloc(s->n);
			s->tag = rng_next(&rng);
			touch(s, 0);
			allocs++;
		} else if (r < 45 && s->n < MAXSZ) {
			verify(s, s->n, 1);
			size_t old = s->n;
			size_t n = old + old * rng_range(&rng, 1, 4) / 4;
			s->n = n > MAXSZ ? MAXSZ : n;
			s->p = xrealloc(s->p, s->n);
			verify(s, old, 0);
			touch(s, old - 15);
			grows++;
		} else if (r < 60 && s->n >= 2 * 65536) {
			s->n /= 2;
			s->p = xrealloc(s->p, s->n);
			verify(s, s->n, 0);
			touch(s, s->n);
			shrinks++;
		} else {
			verify(s, s->n, 1);
			free(s->p);
			s->p = NULL;
		}
	}
	for (int k = 0; k < SLOTS; k++)
		if (slots[k].p) {
			verify(&slots[k], slots[k].n, 1);
			free(slots[k].p);
		}
	printf("large ok: %zu steps: %zu mallocs, %zu grows, %zu shrinks\n", steps, allocs, grows,
	       shrinks);
	return 0;
}
