/* SPDX-License-Identifier: MIT */
/* A program with known allocations, for `tide run`'s tests: 3 large blocks
 * (at or above the 128 KiB mmap threshold: each gets a mapping of its own),
 * 10000 small ones (from the brk heap), everything freed; exit status 7. */
#include <stdlib.h>
#include <string.h>

int main(void) {
  static void *small[10000];
  void *large[3];
  for (int i = 0; i < 3; i++) {
    large[i] = malloc(1024 * 1024 + (size_t)i * 4096);
    if (!large[i])
      return 1;
    memset(large[i], 1, 4096);
  }
  for (int i = 0; i < 10000; i++) {
    small[i] = malloc(16 + (size_t)(i % 64) * 8);
    if (!small[i])
      return 1;
    memset(small[i], 2, 16);
  }
  for (int i = 0; i < 10000; i++)
    free(small[i]);
  for (int i = 0; i < 3; i++)
    free(large[i]);
  return 7;
}
