/* SPDX-License-Identifier: MIT */
/* Wrong uses of the allocator; each must be reported on one stderr line
 * starting "tidemalloc: " and end in abort() (SIGABRT).
 * usage: bad MODE   (prints the pointer it is about to misuse on stdout) */
#include "common.h"

#include <pthread.h>
#include <sys/mman.h>

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

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *m = argv[1];
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
  } else {
    return 2;
  }
  for (int i = 0; i < 100; i++) free(keep[i]);
  printf("survived\n");
  return 0;
}
