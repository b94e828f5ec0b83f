/* SPDX-License-Identifier: MIT */
/* Wrong uses of the allocator; each must be reported on one stderr line
 * starting "tidemalloc: " and end in abort() (SIGABRT).
 * usage: bad MODE   (prints the pointer it is about to misuse on stdout) */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../../src/internal/types.h" /* where a big block's header lies */

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#endif
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

static char global_buf[256];

static void say(void *p) {
  printf("ptr=%p\n", p);
  fflush(stdout);
}

/* Keep the compiler from seeing through the misuse. */
static void *launder(void *p) {
  void *volatile v = p;
  return v;
}

/* Frees its argument, after making a heap of its own (so that the free is
 * a remote one, batched), then lingers with nothing else to do. */
static void *free_in_thread(void *p) {
  void *own = malloc(32);
  free(launder(p));
  free(own);
  return NULL;
}

/* ---- Big blocks whose header the program overwrites ------------------------
 * A mapped block's header is the first page of its mapping, just below the
 * block.  Whatever is written there, free() must neither follow it (a
 * crash), nor unmap or hand out memory that is not the block's: the
 * neighbours, live blocks made after it, must keep their bytes. */
#define MIB ((size_t)1 << 20)
#define NEIGHBOURS 3
static unsigned char *victim, *neighbour[NEIGHBOURS];

static void big_setup(void) {
  victim = malloc(MIB);
  for (int i = 0; i < NEIGHBOURS; i++) neighbour[i] = malloc(MIB);
  if (victim == NULL) exit(2);
  memset(victim, 0x11, MIB);
  for (int i = 0; i < NEIGHBOURS; i++) {
    if (neighbour[i] == NULL) exit(2);
    memset(neighbour[i], 0x5a + i, MIB);
  }
}

static tide_segment *big_header(const void *p) {
  return (tide_segment *)((uintptr_t)p & ~(uintptr_t)TIDE_SEGMENT_MASK);
}

/* 1 if every neighbour still holds its bytes (a read of an unmapped one
 * faults) and blocks made now lie apart from them. */
static int big_neighbours_intact(void) {
  for (int k = 0; k < 4; k++) {
    unsigned char *c = malloc(MIB);
    if (c == NULL) return 0;
    for (int i = 0; i < NEIGHBOURS; i++)
      if (c < neighbour[i] + MIB && c + MIB > neighbour[i]) return 0;
    memset(c, 0x33, MIB); /* kept: live till the end */
  }
  for (int i = 0; i < NEIGHBOURS; i++)
    for (size_t j = 0; j < MIB; j++)
      if (neighbour[i][j] != (unsigned char)(0x5a + i)) return 0;
  return 1;
}

static int big_done(void) {
  int ok = big_neighbours_intact();
  printf("%s\n", ok ? "intact" : "neighbour lost");
  return ok ? 0 : 1;
}

/* Every word of the header page, overwritten with each of a few values, in
 * a child each: the child frees the block and checks the neighbours.  Each
 * must end well (exit 0), or by abort() after one line (SIGABRT). */
static int big_header_words(void) {
  uint64_t *hdr = (uint64_t *)big_header(victim);
  size_t words = 4096 / sizeof(uint64_t);
  int bad = 0, aborted = 0;
  for (size_t w = 0; w < words; w++) {
    for (int v = 0; v < 3; v++) {
      fflush(stdout);
      pid_t pid = fork();
      if (pid < 0) return 2;
      if (pid == 0) {
        uint64_t old = hdr[w];
        hdr[w] = v == 0 ? 0 : v == 1 ? ~old : old ^ ((uint64_t)1 << 25);
        free(victim);
        _exit(big_neighbours_intact() ? 0 : 3);
      }
      int st;
      if (waitpid(pid, &st, 0) != pid) return 2;
      if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) {
        aborted++;
      } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (bad++ < 10)
          printf("word %zu (offset %zu) value %d: %s %d\n", w, w * 8, v,
                 WIFSIGNALED(st) ? "killed by signal" : "exit status",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
      }
    }
  }
  printf("%zu words x 3 values: %d children failed, %d aborted\n", words, bad, aborted);
  if (bad == 0) printf("intact\n");
  return bad == 0 ? 0 : 1;
}

/* The modes that overwrite a big block's header; -1 if m is none. */
static int big_mode(const char *m) {
  if (strncmp(m, "big-", 4) != 0) return -1;
  big_setup();
  tide_segment *hdr = big_header(victim);
  if (!strcmp(m, "big-underflow")) {
    /* the whole page below the block, as a loop running backwards would */
    say(victim);
    memset(victim - 4096, 'A', 4096);
    free(launder(victim));
    return big_done();
  }
  if (!strcmp(m, "big-size-word")) {
    say(victim);
    hdr->size = 34 * MIB; /* one word: the mapping's size */
    free(launder(victim));
    return big_done();
  }
  if (!strcmp(m, "big-header-words")) return big_header_words();
  if (!strcmp(m, "big-interior")) {
    /* inside the block, and in a unit past its first */
    unsigned char *big = malloc(10 * MIB);
    if (big == NULL) return 2;
    say(big + 5 * MIB);
    free(launder(big + 5 * MIB));
    printf("survived\n");
    return 0;
  }
  if (!strcmp(m, "big-forged-offset")) {
    /* the header made to say the block starts where the program frees */
    unsigned char *mid = victim + 64 * 1024;
    hdr->huge_offset = (size_t)(mid - (unsigned char *)hdr);
    say(mid);
    free(launder(mid));
    printf("survived\n");
    return 0;
  }
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *m = argv[1];
  int big = big_mode(m);
  if (big >= 0) return big;
  /* a populated heap, so that the bad pointer is among real blocks */
  void *keep[100];
  for (int i = 0; i < 100; i++) keep[i] = malloc(64);
  if (!strcmp(m, "stack")) {
    char buf[128];
    memset(buf, 1, sizeof buf);
    say(buf);
    free(launder(buf));
  } else if (!strcmp(m, "interior")) {
    char *p = malloc(64);
    memset(p, 0, 64);
    say(p + 16);
    free(launder(p + 16));
  } else if (!strcmp(m, "double")) {
    void *p = malloc(64);
    free(p);
    say(p);
    free(launder(p));
  } else if (!strcmp(m, "double-erased")) {
    /* the only block of its class's page, its freed key wiped by a
     * use-after-free write: the page's count catches the second free */
    char *p = malloc(3000);
    free(p);
    memset(launder(p), 0, 16);
    say(p);
    free(launder(p));
  } else if (!strcmp(m, "realloc-freed")) {
    void *p = malloc(64);
    free(p);
    say(p);
    void *q = realloc(launder(p), 200);
    printf("realloc returned %p\n", q);
  } else if (!strcmp(m, "global")) {
    say(global_buf);
    free(launder(global_buf));
  } else if (!strcmp(m, "free-sized-wrong")) {
    /* free_sized with a size the block cannot have been asked for */
    void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    if (fs == NULL) return 2;
    char *p = malloc(100);
    say(p);
    fs(launder(p), 5000);
  } else if (!strcmp(m, "free-sized-small")) {
    /* a size whose malloc a smaller class would have served */
    void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    if (fs == NULL) return 2;
    char *p = malloc(1000);
    say(p);
    fs(launder(p), 100);
  } else if (!strcmp(m, "free-sized-big-small") || !strcmp(m, "free-sized-big-large")) {
    /* a mapped block: the size must need the pages the block has */
    void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    if (fs == NULL) return 2;
    char *p = malloc(MIB);
    say(p);
    fs(launder(p), !strcmp(m, "free-sized-big-small") ? MIB / 2 : MIB + 8192);
  } else if (!strcmp(m, "free-aligned-sized-align")) {
    /* a mapped block asked for with 4096, freed as if with 64 */
    void (*fas)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (fas == NULL) return 2;
    char *p = aligned_alloc(4096, MIB);
    say(p);
    fas(launder(p), 64, MIB);
  } else if (!strcmp(m, "free-aligned-sized-class")) {
    /* a block of malloc(40) (class 48) that happens to lie on 32 bytes:
     * aligned_alloc(32, 40) would have been served from class 64 */
    void (*fas)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (fas == NULL) return 2;
    char *p = NULL;
    for (int i = 0; i < 64 && (p == NULL || (uintptr_t)p % 32 != 0); i++) p = malloc(40);
    if ((uintptr_t)p % 32 != 0) return 2;
    say(p);
    fas(launder(p), 32, 40);
  } else if (!strcmp(m, "free-aligned-sized-small")) {
    void (*fas)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (fas == NULL) return 2;
    char *p = aligned_alloc(64, 1000);
    say(p);
    fas(launder(p), 64, 100);
  } else if (!strcmp(m, "mmap-region")) {
    /* memory that came from somewhere else entirely (another allocator's) */
    char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 2;
    say(p + 4096);
    free(launder(p + 4096));
  } else if (!strcmp(m, "uaf-link")) {
    /* A write after free over the free-list link (here: an attempt to make
     * a later malloc return a global) must be caught when the link is
     * used, not followed. */
    uintptr_t *p = malloc(64);
    free(p);
    say(p);
    *(uintptr_t *volatile)launder(p) = (uintptr_t)global_buf;
    for (int i = 0; i < 100000; i++) {
      void *q = launder(malloc(64)); /* launder: gcc drops a malloc only compared */
      if (q == launder(global_buf)) printf("malloc returned the global %p\n", q);
    }
  } else if (!strcmp(m, "double-cross-thread") || !strcmp(m, "double-remote-twice")) {
    /* another thread frees the block (its free waits in that thread's batch
     * of remote frees), then the owner, or that thread again, frees it */
    void *p = malloc(48);
    pthread_t t;
    pthread_create(&t, NULL, free_in_thread, p);
    pthread_join(t, NULL);
    say(p);
    if (!strcmp(m, "double-cross-thread")) {
      free(launder(p));
    } else {
      pthread_create(&t, NULL, free_in_thread, p);
      pthread_join(t, NULL);
    }
  } else if (!strcmp(m, "double-medium")) {
    void *p = malloc(20000);
    free(p);
    say(p);
    free(launder(p));
  } else if (!strcmp(m, "double-multi-slice") || !strcmp(m, "interior-later-slice")) {
    /* A block of 100,000 bytes has a page of two slices to itself; free's
     * fast path reads the descriptor of the pointer's own slice, which is
     * blank for the second: a pointer into it, or a second free of the
     * block, must still be reported. */
    char *p = malloc(100000);
    if (p == NULL || ((uintptr_t)(p + 70000) >> 16) == ((uintptr_t)p >> 16)) return 3;
    memset(p, 7, 100000);
    if (m[0] == 'd') {
      free(p);
      say(p);
      free(launder(p));
    } else {
      say(p + 70000);
      free(launder(p + 70000));
    }
  } else {
    return 2;
  }
  for (int i = 0; i < 100; i++) free(keep[i]);
  printf("survived\n");
  return 0;
}
