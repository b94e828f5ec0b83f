/* SPDX-License-Identifier: MIT */
/* Prints the options tidemalloc ended up with, one "name=value" a line, after
 * doing some allocation (so that stats at exit have something to say).
 * usage: options NAME...   (run with TIDEMALLOC_OPTIONS set) */
#include "common.h"

int main(int argc, char **argv) {
  t_expect_tide();
  int (*get)(const char *, long long *) = (int (*)(const char *, long long *))t_sym("tide_option_get");
  REQUIRE(get, "tide_option_get is not exported");
  void *v[1000];
  for (int i = 0; i < 1000; i++) {
    v[i] = malloc((size_t)(i * 37 % 5000) + 1);
    memset(v[i], 1, 1);
  }
  void *big = malloc(3 << 20);
  memset(big, 1, 1);
  free(big);
  for (int i = 0; i < 1000; i += 2) free(v[i]); /* leave some in use */
  for (int i = 1; i < argc; i++) {
    long long val = 0;
    if (get(argv[i], &val) == 0)
      printf("%s=%lld\n", argv[i], val);
    else
      printf("%s=?\n", argv[i]);
  }
  fflush(stdout);
  return 0;
}
