/* SPDX-License-Identifier: MIT */
/* The program's own errors in tidemalloc's blocks, as memcheck must see
 * them through tidemalloc's client requests (tests/reliability:
 * valgrind/sees-*).  Mode 0 is clean; 1 reads a freed block; 2 branches on
 * bytes malloc returned and nobody wrote. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  int mode = argc > 1 ? atoi(argv[1]) : 0;
  if (mode == 0) { /* clean workload */
    void *v[1000]; for (int r=0;r<5;r++){ for(int i=0;i<1000;i++){ v[i]=malloc(i*7+1); memset(v[i],1,i*7+1);} for(int i=0;i<1000;i++){ v[i]=realloc(v[i], i*13+1); } for(int i=0;i<1000;i++) free(v[i]); }
    char *c = calloc(100, 10); int s=0; for(int i=0;i<1000;i++) s+=c[i]; free(c); printf("ok %d\n", s); }
  if (mode == 1) { /* read after free, through a pointer the compiler cannot follow */
    char *volatile p = malloc(32); strcpy(p, "hello"); char *volatile keep = p; free(p);
    printf("%c\n", keep[20]); }
  if (mode == 2) { char *volatile p = malloc(32); int x = p[5]; if (x == 3) puts("three"); free(p); } /* uninitialised */
  return 0; }
