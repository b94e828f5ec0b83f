/* SPDX-License-Identifier: MIT */
/* A run of known processes for `tide report`: this program, CHILDREN children
 * that fork and then exec this program again (each writes two trace headers
 * with one pid), and one child that forks and does not exec.  Every process
 * maps and frees a large block, so each has OS calls of its own.  Prints the
 * pid of every process it made, and its own, one per line. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CHILDREN = 3 };

static void use_memory(size_t size) {
  char *p = malloc(size);
  if (!p)
    exit(3);
  memset(p, 1, size);
  free(p);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    use_memory(2 << 20);
    return 0;
  }
  use_memory(1 << 20);
  printf("%d\n", (int)getpid());
  fflush(stdout);
  pid_t pids[CHILDREN + 1];
  for (int i = 0; i <= CHILDREN; i++) {
    pids[i] = fork();
    if (pids[i] < 0)
      return 4;
    if (pids[i] == 0) {
      use_memory(3 << 20); /* before exec: on the clock of the parent */
      if (i < CHILDREN) {
        execl("/proc/self/exe", argv[0], "child", (char *)NULL);
        _exit(5);
      }
      _exit(0);
    }
    printf("%d\n", (int)pids[i]);
  }
  int bad = 0;
  for (int i = 0; i <= CHILDREN; i++) {
    int st;
    if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad = 1;
  }
  return bad ? 6 : 0;
}
