/* SPDX-License-Identifier: MIT */
/* prodcons: remote frees at full speed.  One thread allocates blocks of
 * random size 25-512 B, writes a sequence number and a tag into each, and
 * pushes them through a lock-free single-producer/single-consumer ring; a
 * second thread pops, checks and frees them.  Every free is a free of a
 * block another (live) thread allocated: the pattern of mimalloc-bench's
 * "xmalloc-test" and of message-passing servers. */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define RING 4096 /* power of two */

struct msg {
	uint64_t seq;
	uint32_t n;
	uint32_t pad;
	uint64_t tag;
};

static void *_Atomic ring[RING];
static _Alignas(64) _Atomic size_t head; /* next slot the consumer reads */
static _Alignas(64) _Atomic size_t tail; /* next slot the producer writes */
static _Alignas(64) size_t total;

static void backoff(unsigned *spins)
{
	if (++*spins < 64)
		__asm__ volatile("pause");
	else {
		*spins = 0;
		sched_yield();
	}
}

static void *producer(void *arg)
{
	(void)arg;
	uint64_t rng = rng_seed(4);
	size_t cached_head = 0;
	for (size_t i = 0; i < total; i++) {
		size_t n = rng_range(&rng, sizeof(struct msg) + 1, 512);
		struct msg *m = xmalloc(n);
		m->seq = i;
		m->n = (uint32_t)n;
		m->tag = mix64(i, n);
		((unsigned char *)m)[n - 1] = (unsigned char)m->tag;
		size_t t = atomic_load_explicit(&tail, memory_order_relaxed);
		unsigned spins = 0;
		while (t - cached_head >= RING) {
			cached_head = atomic_load_explicit(&head, memory_order_acquire);
			if (t - cached_head >= RING)
				backoff(&spins);
		}
		atomic_store_explicit(&ring[t & (RING - 1)], m, memory_order_relaxed);
		atomic_store_explicit(&tail, t + 1, memory_order_release);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	size_t cached_tail = 0;
	for (size_t i = 0; i < total; i++) {
		size_t h = atomic_load_explicit(&head, memory_order_relaxed);
		unsigned spins = 0;
		while (h == cached_tail) {
			cached_tail = atomic_load_explicit(&tail, memory_order_acquire);
			if (h == cached_tail)
				backoff(&spins);
		}
		struct msg *m = atomic_load_explicit(&ring[h & (RING - 1)], memory_order_relaxed);
		atomic_store_explicit(&head, h + 1, memory_order_release);
		CHECK(m->seq == i, "message %zu arrived as %llu", i, (unsigned long long)m->seq);
		CHECK(m->tag == mix64(i, m->n) &&
			      ((unsigned char *)m)[m->n - 1] == (unsigned char)m->tag,
		      "message %zu (%p) overwritten", i, (void *)m);
		free(m);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	bench_mode m = bench_init("prodcons", argc, argv);
	total = SCALE(m, 50000, 300000, 2000000);
	pthread_t p, c;
	CHECK(pthread_create(&c, NULL, consumer, NULL) == 0, "pthread_create");
	CHECK(pthread_create(&p, NULL, producer, NULL) == 0, "pthread_create");
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	printf("prodcons ok: %zu blocks passed from producer to consumer\n", total);
	return 0;
}
