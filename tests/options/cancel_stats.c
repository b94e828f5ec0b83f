/* SPDX-License-Identifier: MIT */
/* malloc_stats, malloc_info and the report at exit are not cancellation
 * points (tests/options: options/stats-not-cancellable).
 *
 *   cancel_stats stats|info|exit
 *
 * A thread is released from a barrier with a cancellation request already
 * pending (pthread_barrier_wait is not a cancellation point), then calls
 * malloc_stats() (stats), malloc_info(0, f) on a file (info), or exit(0)
 * with TIDEMALLOC_OPTIONS=stats=1 (exit).  The output must be written in
 * full; the request must then act at the next cancellation point (an
 * fputs to stderr, for stats and info).  glibc's malloc_stats behaves so;
 * its malloc_info is cancelled at its first write (checked on tidemalloc
 * only).  An alarm bounds the run. */
#include "common.h"

#include <pthread.h>
#include <signal.h>

static pthread_barrier_t gate;
static const char *mode;
static FILE *info_file;

static void *victim(void *arg) {
  (void)arg;
  pthread_barrier_wait(&gate);
  if (strcmp(mode, "stats") == 0) {
    malloc_stats();
  } else if (strcmp(mode, "info") == 0) {
    malloc_info(0, info_file);
  } else {
    exit(0); /* the report at exit runs here, on a cancelled thread */
  }
  /* A cancellation point: the pending request ends the thread here. */
  fputs("cancel_stats: not cancelled after the call\n", stderr);
  fflush(stderr);
  return NULL;
}

int main(int argc, char **argv) {
  REQUIRE(argc > 1, "usage: cancel_stats stats|info|exit");
  mode = argv[1];
  int tide = t_expect_tide();
  alarm(20);
  if (strcmp(mode, "info") == 0) {
    info_file = tmpfile();
    REQUIRE(info_file != NULL, "tmpfile failed");
    /* Unbuffered: every piece of the report is a write(2) in the call. */
    setvbuf(info_file, NULL, _IONBF, 0);
  }
  free(malloc(100)); /* something to report */
  /* stats: malloc_stats writes on stderr; catch it in a file. */
  int saved_err = -1;
  FILE *err_file = NULL;
  if (strcmp(mode, "stats") == 0) {
    err_file = tmpfile();
    REQUIRE(err_file != NULL, "tmpfile failed");
    fflush(stderr);
    saved_err = dup(2);
    REQUIRE(saved_err >= 0 && dup2(fileno(err_file), 2) == 2, "dup2 failed");
  }
  REQUIRE(pthread_barrier_init(&gate, NULL, 2) == 0, "pthread_barrier_init");
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, victim, NULL) == 0, "pthread_create");
  REQUIRE(pthread_cancel(t) == 0, "pthread_cancel");
  pthread_barrier_wait(&gate);
  void *ret = NULL;
  REQUIRE(pthread_join(t, &ret) == 0, "pthread_join");
  CHECK(ret == PTHREAD_CANCELED, "the thread was not cancelled at all");
  if (err_file != NULL) {
    /* The same report from a thread nobody cancels, for its length. */
    malloc_stats();
    fflush(stderr);
    dup2(saved_err, 2);
    close(saved_err);
    static char text[65536];
    rewind(err_file);
    size_t n = fread(text, 1, sizeof(text) - 1, err_file);
    text[n] = '\0';
    char *second = strstr(text + 1, "Arena 0:");
    CHECK(strncmp(text, "Arena 0:", 8) == 0 && second != NULL,
          "the cancelled malloc_stats printed nothing: '%.60s'", text);
    if (second != NULL) {
      size_t first_len = (size_t)(second - text), second_len = n - first_len;
      CHECK(strstr(text, "not cancelled") == NULL, "the thread went on past a cancellation point");
      /* Counts may differ by a digit or two; a cut report is far shorter. */
      CHECK(first_len + 16 >= second_len, "the cancelled malloc_stats printed %zu bytes, an uncancelled one %zu",
            first_len, second_len);
      printf("malloc_stats on a cancelled thread: %zu bytes (uncancelled: %zu)\n", first_len, second_len);
    }
  }
  /* glibc's malloc_info writes with fprintf and is cancelled at its first
   * write; tidemalloc's is not cancellable, like its malloc_stats. */
  if (info_file != NULL && tide) {
    char text[8192];
    rewind(info_file);
    size_t n = fread(text, 1, sizeof(text) - 1, info_file);
    text[n] = '\0';
    CHECK(strstr(text, "<malloc version=") == text, "malloc_info wrote nothing: '%.60s'", text);
    CHECK(strstr(text, "</malloc>\n") != NULL, "malloc_info stopped short: %zu bytes", n);
  }
  fprintf(stderr, "cancel_stats: main done\n");
  return t_finish("cancel_stats");
}
