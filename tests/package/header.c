/* SPDX-License-Identifier: MIT */
/* The installed header stands alone: this file includes <tidemalloc.h>
 * first and nothing else, is compiled as C11, C17, C++11 and C++17 by gcc,
 * clang, g++ and clang++ with -Wall -Wextra -Werror -pedantic
 * (tests/package/tests.sh), then linked with the library and run: it uses
 * the types the header declares (mallinfo, mallinfo2, FILE, the stats) and
 * checks the version the library reports against the header's macros. */
#include <tidemalloc.h>

static int same(const char *a, const char *b) {
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

int main(void) {
  int bad = 0;
  void *p = tide_malloc(100);
  struct mallinfo2 m2 = tide_mallinfo2();
  struct mallinfo m = tide_mallinfo();
  if (p == NULL || m2.uordblks < 100 || m.uordblks < 100) {
    fputs("header: mallinfo does not see a live block\n", stderr);
    bad = 1;
  }
  tide_free(p);
  struct tide_stats st;
  st.version = TIDE_STATS_VERSION;
  st.size = sizeof st;
  if (tide_stats(&st) != 0 || st.malloc_calls == 0) {
    fputs("header: tide_stats failed\n", stderr);
    bad = 1;
  }
  const char *v = tide_version();
  if (v == NULL || !same(v, TIDEMALLOC_VERSION_STRING)) {
    fprintf(stderr, "header: tide_version() is %s, the header says %s\n", v ? v : "NULL",
            TIDEMALLOC_VERSION_STRING);
    bad = 1;
  }
  printf("%s %d.%d.%d\n", v ? v : "NULL", TIDEMALLOC_VERSION_MAJOR, TIDEMALLOC_VERSION_MINOR,
         TIDEMALLOC_VERSION_PATCH);
  return bad;
}
