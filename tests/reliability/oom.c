/* SPDX-License-Identifier: MIT */
/* Out of memory for real: under RLIMIT_AS or RLIMIT_DATA (tests/reliability:
 * oom/rlimit-as, oom/rlimit-data).
 *
 *   oom as|data
 *
 * A second thread is started first (its stack counts against both limits),
 * then the limit is set to what the process uses now plus 96 MiB, and the
 * main thread allocates blocks of every kind (small, medium, above the mmap
 * threshold, bigger than a segment; malloc, calloc, realloc growth,
 * posix_memalign), freeing one in four, until 400 requests have failed.
 * Then small blocks only, until 50 of those fail as well.
 * Every failure must be NULL with errno ENOMEM (posix_memalign: ENOMEM
 * returned), and a failed realloc must leave its block intact.  Then:
 *   - half the blocks are freed, and the same thread must get its small
 *     sizes again;
 *   - most of the rest is freed and trimmed, and the other thread allocates
 *     and frees a few thousand blocks: it would hang on a lock left held
 *     (alarm: 60 s).  (Before the trim it may fail: a thread's freed
 *     memory serves only that thread until it goes back to the OS, and a
 *     new thread needs a fresh segment);
 *   - every live block is checked, then freed: allocated bytes return to
 *     what they were before (nothing leaked);
 *   - malloc_trim(0) gives the memory back, and 64 MiB in 1 MiB blocks can
 *     be allocated again under the same limit.
 * Linked with -ltidemalloc (tide_stats). */
#include "common.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tidemalloc.h"

#define MAX_LIVE 200000
#define LIMIT_ROOM ((rlim_t)96 << 20)

typedef struct blk {
  unsigned char *p;
  size_t size;
} blk;

static blk live[MAX_LIVE];
static size_t nlive;
static t_rng rng = {0x2545f4914f6cdd1dULL};
static long nulls, ops;

static pthread_mutex_t go_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static int go;
static long worker_ok;

static struct tide_stats stats_now(void) {
  struct tide_stats s = {.version = TIDE_STATS_VERSION, .size = sizeof(struct tide_stats)};
  REQUIRE(tide_stats(&s) == 0, "tide_stats failed");
  return s;
}

/* VmSize or VmData of this process, in bytes. */
static rlim_t vm_field(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  REQUIRE(f != NULL, "cannot open /proc/self/status");
  char line[256];
  unsigned long kib = 0;
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') kib = strtoul(line + n + 1, NULL, 10);
  fclose(f);
  REQUIRE(kib > 0, "no %s in /proc/self/status", field);
  return (rlim_t)kib << 10;
}

static size_t pick_size(void) {
  unsigned k = (unsigned)(t_rand(&rng) % 100);
  if (k < 55) return 1 + t_rand(&rng) % 1024;
  if (k < 80) return 1024 + t_rand(&rng) % (64 << 10);
  if (k < 93) return (64 << 10) + t_rand(&rng) % (960 << 10); /* the threshold */
  return (1 << 20) + t_rand(&rng) % (7 << 20);                /* past a segment */
}

static void check_block(const blk *b, const char *when) {
  size_t bad = t_check_tag(b->p, b->size, b->size, (uint64_t)(uintptr_t)b->p);
  REQUIRE(bad == (size_t)-1, "%s: block %p (%zu bytes): byte %zu changed", when, (void *)b->p, b->size, bad);
}

static void failed(const char *what, size_t size, int err) {
  nulls++;
  REQUIRE(err == ENOMEM, "%s(%zu) failed with errno %d (%s), want ENOMEM", what, size, err, strerror(err));
}

static void keep(unsigned char *p, size_t size) {
  t_fill_tag(p, size, (uint64_t)(uintptr_t)p);
  if (nlive == MAX_LIVE) {
    size_t i = t_rand(&rng) % nlive;
    check_block(&live[i], "evicted");
    free(live[i].p);
    live[i] = live[--nlive];
  }
  live[nlive++] = (blk){p, size};
}

static void drop_random(void) {
  if (nlive == 0) return;
  size_t i = t_rand(&rng) % nlive;
  check_block(&live[i], "before free");
  free(live[i].p);
  live[i] = live[--nlive];
}

/* One request of a random kind near the limit. */
static void one_op(void) {
  size_t size = pick_size();
  unsigned kind = (unsigned)(t_rand(&rng) % 8);
  ops++;
  errno = 0;
  if (kind == 0) {
    unsigned char *p = calloc(1, size);
    if (!p) {
      failed("calloc", size, errno);
      return;
    }
    for (size_t i = 0; i < size; i += 509) REQUIRE(p[i] == 0, "calloc(%zu): byte %zu not zero", size, i);
    keep(p, size);
  } else if (kind == 1 && nlive > 0) {
    /* Grow a block: on failure it must be untouched and still ours. */
    size_t i = t_rand(&rng) % nlive;
    size_t want = live[i].size + size;
    unsigned char *q = realloc(live[i].p, want);
    if (!q) {
      failed("realloc", want, errno);
      check_block(&live[i], "after a failed realloc");
      return;
    }
    size_t bad = t_check_tag(q, live[i].size, live[i].size, (uint64_t)(uintptr_t)live[i].p);
    REQUIRE(bad == (size_t)-1, "realloc(%zu -> %zu): byte %zu of the old contents changed", live[i].size, want,
            bad);
    live[i] = live[--nlive];
    keep(q, want);
  } else if (kind == 2) {
    void *p = NULL;
    size_t align = (size_t)64 << (t_rand(&rng) % 12);
    int rc = posix_memalign(&p, align, size);
    if (rc != 0) {
      REQUIRE(p == NULL || rc == ENOMEM, "posix_memalign failed with %d", rc);
      {
      failed("posix_memalign", size, rc);
      return;
    }
    }
    REQUIRE((uintptr_t)p % align == 0, "posix_memalign(%zu): %p misaligned", align, p);
    keep(p, size);
  } else {
    unsigned char *p = malloc(size);
    if (!p) {
      failed("malloc", size, errno);
      return;
    }
    keep(p, size);
  }
  if (t_rand(&rng) % 4 == 0) drop_random();
}

/* Waits for the main thread, then allocates and frees: a lock left held by
 * a failed call would stop it here. */
static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&go_lock);
  while (!go) pthread_cond_wait(&go_cond, &go_lock);
  pthread_mutex_unlock(&go_lock);
  void *held[64];
  for (int round = 0; round < 50; round++) {
    for (int i = 0; i < 64; i++) {
      size_t size = i % 16 == 0 ? (size_t)(200 << 10) : (size_t)(16 + 8 * i);
      held[i] = malloc(size);
      if (held[i]) memset(held[i], i, size);
    }
    for (int i = 0; i < 64; i++) {
      if (!held[i]) continue;
      worker_ok++;
      free(held[i]);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  REQUIRE(argc == 2 && (!strcmp(argv[1], "as") || !strcmp(argv[1], "data")), "usage: oom as|data");
  int resource = !strcmp(argv[1], "as") ? RLIMIT_AS : RLIMIT_DATA;
  setvbuf(stdout, NULL, _IONBF, 0); /* stdio must not need malloc at the limit */
  alarm(60);
  pthread_t th;
  REQUIRE(pthread_create(&th, NULL, worker, NULL) == 0, "pthread_create failed");

  struct tide_stats before = stats_now();
  rlim_t base = vm_field(resource == RLIMIT_AS ? "VmSize" : "VmData");
  struct rlimit lim = {base + LIMIT_ROOM, RLIM_INFINITY};
  REQUIRE(setrlimit(resource, &lim) == 0, "setrlimit: %s", strerror(errno));
  printf("limit %s: %lu MiB (in use %lu MiB)\n", argv[1], (unsigned long)(lim.rlim_cur >> 20),
         (unsigned long)(base >> 20));

  while (nulls < 400) {
    one_op();
    REQUIRE(ops < 2000000, "2,000,000 requests and only %ld failed: is the limit working?", nulls);
  }
  /* Then small blocks only, until they fail too: the page and segment
   * paths must fail as cleanly as the mapping ones. */
  long small_nulls = 0;
  while (small_nulls < 50) {
    size_t size = 16 + t_rand(&rng) % 1024;
    errno = 0;
    unsigned char *p = malloc(size);
    ops++;
    if (p) {
      keep(p, size);
    } else {
      failed("malloc", size, errno);
      small_nulls++;
    }
    REQUIRE(ops < 4000000, "small blocks never ran out under the limit");
  }
  struct tide_stats at_limit = stats_now();
  printf("at the limit: %ld requests, %ld failed, %zu blocks live, %lu MiB allocated, %lu OS calls failed\n", ops,
         nulls, nlive, (unsigned long)(at_limit.allocated_bytes >> 20), (unsigned long)at_limit.os_failures);
  CHECK(at_limit.os_failures > 0, "no OS call failed, yet %ld requests did", nulls);

  /* Half of it back: the same thread gets its small sizes again, from the
   * pages it freed them to. */
  static size_t again_sizes[4096];
  size_t nagain = 0;
  for (size_t n = nlive / 2; n > 0; n--) {
    size_t i = t_rand(&rng) % nlive;
    if (live[i].size <= 1024 && nagain < 4096) again_sizes[nagain++] = live[i].size;
    check_block(&live[i], "before free");
    free(live[i].p);
    live[i] = live[--nlive];
  }
  for (size_t k = 0; k < nagain; k++) {
    unsigned char *p = malloc(again_sizes[k]);
    REQUIRE(p != NULL, "malloc(%zu) failed after a block of that size was freed (%zu of %zu)", again_sizes[k], k,
            nagain);
    keep(p, again_sizes[k]);
  }
  /* A thread's free memory serves that thread only until it goes back to
   * the OS: free most of the rest and trim, then the other thread must get
   * memory. */
  for (size_t n = nlive - nlive / 8; n > 0; n--) drop_random();
  malloc_trim(0);
  pthread_mutex_lock(&go_lock);
  go = 1;
  pthread_cond_broadcast(&go_cond);
  pthread_mutex_unlock(&go_lock);
  REQUIRE(pthread_join(th, NULL) == 0, "pthread_join failed");
  CHECK(worker_ok == 50 * 64, "the other thread got %ld of %d blocks after memory was freed and trimmed", worker_ok,
        50 * 64);
  printf("after: %zu small blocks allocated again, the other thread got %ld blocks\n", nagain, worker_ok);

  for (size_t i = 0; i < nlive; i++) check_block(&live[i], "at the end");
  while (nlive > 0) drop_random();
  /* After the trim: the hardened mode's quarantine holds freed blocks,
   * counted as allocated, until then. */
  malloc_trim(0);
  struct tide_stats after = stats_now();
  CHECK(after.allocated_bytes == before.allocated_bytes,
        "allocated bytes %lu after freeing everything, %lu before: %ld bytes leaked",
        (unsigned long)after.allocated_bytes, (unsigned long)before.allocated_bytes,
        (long)(after.allocated_bytes - before.allocated_bytes));
  printf("after trim: committed %lu MiB (before the run %lu MiB)\n", (unsigned long)(after.committed_bytes >> 20),
         (unsigned long)(before.committed_bytes >> 20));
  CHECK(after.committed_bytes <= before.committed_bytes + ((uint64_t)8 << 20),
        "after malloc_trim %lu bytes are still committed, %lu before the run",
        (unsigned long)after.committed_bytes, (unsigned long)before.committed_bytes);
  /* The limit still holds, and the memory is usable again. */
  void *again[64];
  for (int i = 0; i < 64; i++) {
    again[i] = malloc((size_t)1 << 20);
    REQUIRE(again[i] != NULL, "malloc(1 MiB) #%d failed after everything was freed and trimmed", i);
    memset(again[i], 0x5a, (size_t)1 << 20);
  }
  for (int i = 0; i < 64; i++) free(again[i]);
  return t_finish("oom");
}
