/* SPDX-License-Identifier: MIT */
/* Formatting without allocation (fmt.c): text into a caller's fixed
 * buffer, flushed with write(2), for every report and printer. */
#ifndef TIDE_FMT_H
#define TIDE_FMT_H

#include "base.h"

typedef struct tide_buf {
  char *p;
  size_t len, cap;
  int fd;     /* flushed with write(2) when full, if >= 0 */
  FILE *file; /* or with fwrite, if set (malloc_info: we hold no lock) */
} tide_buf;
tide_hidden void fmt_str(tide_buf *b, const char *s);
tide_hidden void fmt_u64(tide_buf *b, uint64_t v);
tide_hidden void fmt_i64(tide_buf *b, int64_t v);
tide_hidden void fmt_hex(tide_buf *b, uint64_t v);
tide_hidden void fmt_size(tide_buf *b, uint64_t bytes); /* "12.5 MiB" */
tide_hidden void fmt_flush(tide_buf *b);
tide_hidden void fmt_write_all(int fd, const char *p, size_t len);
/* "No such file or directory (ENOENT)": strerror's text for the errors a
 * path can give, from a table (strerror may allocate for its locale). */
tide_hidden void fmt_errno(tide_buf *b, int err);

#endif /* TIDE_FMT_H */
