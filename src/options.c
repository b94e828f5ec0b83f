/* SPDX-License-Identifier: MIT */
/* Options: one table row each.  The same rows are read from
 * TIDEMALLOC_OPTIONS, from glibc's environment variables and tunables (so a
 * user's existing tuning carries over), from mallopt, and by
 * tide_option_get/set.  Start-up parsing never allocates. */
#define _GNU_SOURCE
#include "internal/internal.h"
#include "tidemalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

tide_options tide_opt = {
    .mmap_threshold = 128 * 1024,
    .trim_threshold = 128 * 1024,
    .top_pad = 128 * 1024,
    .mmap_max = 65536,
    .purge_delay_ms = 50,
    .use_brk = 1,
    .secure = TIDE_SECURE_DEFAULT,
};

typedef enum option_kind {
  OPT_SIZE,
  OPT_LONG,
  OPT_BOOL,
  OPT_STATS,
  OPT_FAULT_KIND,
  OPT_PATH
} option_kind;

typedef struct option_def {
  const char *name;
  option_kind kind;
  size_t offset;     /* of the field in tide_opt */
  long long min, max;
  bool fixes_threshold; /* setting it stops the dynamic mmap threshold */
  const char *glibc_env;  /* MALLOC_..._ variable, or NULL */
  const char *tunable;    /* glibc.malloc.* name, or NULL */
  int mallopt_param;      /* M_* constant, or 0 */
} option_def;

#define FIELD(f) offsetof(tide_options, f)
static const option_def option_table[] = {
    {"mmap_threshold", OPT_SIZE, FIELD(mmap_threshold), 0, TIDE_MMAP_THRESHOLD_MAX,
     true, "MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold", M_MMAP_THRESHOLD},
    {"trim_threshold", OPT_SIZE, FIELD(trim_threshold), 0, LLONG_MAX, true,
     "MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold", M_TRIM_THRESHOLD},
    {"top_pad", OPT_SIZE, FIELD(top_pad), 0, 1LL << 30, true, "MALLOC_TOP_PAD_",
     "glibc.malloc.top_pad", M_TOP_PAD},
    {"mmap_max", OPT_LONG, FIELD(mmap_max), 0, 1LL << 31, true, "MALLOC_MMAP_MAX_",
     "glibc.malloc.mmap_max", M_MMAP_MAX},
    {"purge_delay_ms", OPT_LONG, FIELD(purge_delay_ms), -1, 1000000, false, NULL,
     NULL, 0},
    {"stats", OPT_STATS, FIELD(stats), 0, 2, false, NULL, NULL, 0},
    {"stats_file", OPT_PATH, FIELD(stats_file), 0, 0, false, NULL, NULL, 0},
    {"trace", OPT_PATH, FIELD(trace), 0, 0, false, NULL, NULL, 0},
    {"verbose", OPT_BOOL, FIELD(verbose), 0, 1, false, NULL, NULL, 0},
    {"use_brk", OPT_BOOL, FIELD(use_brk), 0, 1, false, NULL, NULL, 0},
    {"secure", OPT_BOOL, FIELD(secure), 0, 1, false, NULL, NULL, 0},
    {"background_purge", OPT_BOOL, FIELD(background_purge), 0, 1, false, NULL, NULL, 0},
    {"fault_brk", OPT_LONG, FIELD(fault_brk), 0, LLONG_MAX, false, NULL, NULL, 0},
    {"fault_at", OPT_LONG, FIELD(fault_at), 0, LLONG_MAX, false, NULL, NULL, 0},
    {"fault_kind", OPT_FAULT_KIND, FIELD(fault_kind), 0, 4, false, NULL, NULL, 0},
};
#define OPTION_COUNT (sizeof(option_table) / sizeof(option_table[0]))

/* ---- Values --------------------------------------------------------------- */
static void *option_field(const option_def *def) {
  return (char *)&tide_opt + def->offset;
}

static long long option_value(const option_def *def) {
  void *f = option_field(def);
  switch (def->kind) {
  case OPT_SIZE: return (long long)*(size_t *)f;
  case OPT_LONG: return *(long *)f;
  case OPT_BOOL:
  case OPT_STATS:
  case OPT_FAULT_KIND: return *(int *)f;
  case OPT_PATH: return ((char *)f)[0] != '\0';
  }
  return 0;
}

static bool option_assign(const option_def *def, long long v) {
  if (def->kind == OPT_PATH || v < def->min || v > def->max) return false;
  void *f = option_field(def);
  switch (def->kind) {
  case OPT_SIZE: __atomic_store_n((size_t *)f, (size_t)v, __ATOMIC_RELAXED); break;
  case OPT_LONG: __atomic_store_n((long *)f, (long)v, __ATOMIC_RELAXED); break;
  case OPT_BOOL:
  case OPT_STATS:
  case OPT_FAULT_KIND: *(int *)f = (int)v; break;
  case OPT_PATH: break;
  }
  if (def->fixes_threshold) tide_opt_write(mmap_threshold_fixed, true);
  return true;
}

/* "131072", "128K", "1M", "1G" (also lower case, with an optional B/iB). */
static bool parse_number(const char *s, size_t len, bool sizes, long long *out) {
  bool neg = false;
  size_t i = 0;
  if (i < len && s[i] == '-') {
    neg = true;
    i++;
  }
  if (i == len || s[i] < '0' || s[i] > '9') return false;
  unsigned long long v = 0;
  if (i + 1 < len && s[i] == '0' && (s[i + 1] | 0x20) == 'x') {
    /* 0x... as glibc's own parsing of MALLOC_*_ and tunables takes it */
    size_t start = i += 2;
    for (; i < len; i++) {
      char c = (char)(s[i] | 0x20);
      unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
      if (d == 16) break;
      if (v > (ULLONG_MAX >> 4)) return false;
      v = v * 16 + d;
    }
    if (i == start) return false;
  }
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    if (v > (ULLONG_MAX - 9) / 10) return false;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  unsigned shift = 0;
  if (sizes && i < len) {
    switch (s[i] | 0x20) {
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    default: return false;
    }
    i++;
    if (i < len && s[i] == 'i') i++;
    if (i < len && (s[i] | 0x20) == 'b') i++;
  }
  if (i != len || v > (unsigned long long)(LLONG_MAX >> shift)) return false;
  *out = neg ? -(long long)(v << shift) : (long long)(v << shift);
  return true;
}

static bool word_is(const char *s, size_t len, const char *word) {
  return strlen(word) == len && strncmp(s, word, len) == 0;
}

static bool parse_value(const option_def *def, const char *s, size_t len,
                        long long *out) {
  if (def->kind == OPT_BOOL) {
    if (word_is(s, len, "true") || word_is(s, len, "yes") || word_is(s, len, "on"))
      return (*out = 1), true;
    if (word_is(s, len, "false") || word_is(s, len, "no") || word_is(s, len, "off"))
      return (*out = 0), true;
  }
  if (def->kind == OPT_STATS) {
    if (word_is(s, len, "json")) return (*out = 2), true;
    if (word_is(s, len, "text")) return (*out = 1), true;
    /* 2 is how json is stored, not a spelling of it: "stats=2" is a typo
     * as likely as a wish for JSON, and the documented values are words. */
    return parse_number(s, len, false, out) && *out >= 0 && *out <= 1;
  }
  if (def->kind == OPT_FAULT_KIND) {
    static const char *const kinds[] = {"any", "brk", "mmap", "mremap", "madvise"};
    for (long long k = 0; k < 5; k++)
      if (word_is(s, len, kinds[k])) return (*out = k), true;
  }
  return parse_number(s, len, def->kind == OPT_SIZE, out);
}

static const option_def *option_find(const char *name, size_t len) {
  for (size_t i = 0; i < OPTION_COUNT; i++)
    if (word_is(name, len, option_table[i].name)) return &option_table[i];
  return NULL;
}

/* ---- Warnings --------------------------------------------------------------- */
static void fmt_quoted(tide_buf *b, const char *s, size_t len, size_t most) {
  fmt_str(b, "'");
  for (size_t i = 0; i < len && i < most; i++) {
    char c[2] = {s[i], 0};
    fmt_str(b, c);
  }
  fmt_str(b, "'");
}

/* A size the way a user writes it: "32M", "1G", else bytes. */
static void fmt_size_value(tide_buf *b, long long v) {
  static const struct {
    unsigned shift;
    const char *suffix;
  } units[] = {{30, "G"}, {20, "M"}, {10, "K"}};
  for (size_t i = 0; i < 3; i++) {
    long long unit = 1LL << units[i].shift;
    if (v >= unit && v % unit == 0) {
      fmt_i64(b, v / unit);
      fmt_str(b, units[i].suffix);
      return;
    }
  }
  fmt_i64(b, v);
}

/* What the option takes, from its table row, so the message and the row
 * cannot disagree. */
static void fmt_allowed(tide_buf *b, const option_def *def) {
  switch (def->kind) {
  case OPT_SIZE:
  case OPT_LONG:
    fmt_str(b, def->kind == OPT_SIZE ? "a size (bytes, or with K, M, G)" : "a number");
    if (def->max == LLONG_MAX) {
      fmt_str(b, ", ");
      fmt_i64(b, def->min);
      fmt_str(b, " or more");
      return;
    }
    fmt_str(b, " from ");
    if (def->kind == OPT_SIZE) fmt_size_value(b, def->min); else fmt_i64(b, def->min);
    fmt_str(b, " to ");
    if (def->kind == OPT_SIZE) fmt_size_value(b, def->max); else fmt_i64(b, def->max);
    return;
  case OPT_BOOL: fmt_str(b, "0, 1, yes, no, on, off, true, false"); return;
  case OPT_STATS: fmt_str(b, "0, 1, text, json"); return;
  case OPT_FAULT_KIND: fmt_str(b, "any, brk, mmap, mremap, madvise"); return;
  case OPT_PATH:
    fmt_str(b, "a path of 1 to ");
    fmt_u64(b, sizeof(tide_opt.trace) - 1);
    fmt_str(b, " bytes, without a comma");
    return;
  }
}

static void warn_bad_value(const option_def *def, const char *val, size_t len) {
  char line[512];
  tide_buf b = {line, 0, sizeof(line), 2, NULL};
  fmt_str(&b, "tidemalloc: warning: bad value ");
  fmt_quoted(&b, val, len, 64);
  fmt_str(&b, " for option '");
  fmt_str(&b, def->name);
  fmt_str(&b, "' (allowed: ");
  fmt_allowed(&b, def);
  fmt_str(&b, "); the default is kept\n");
  fmt_flush(&b);
}

static void warn_unknown(const char *key, size_t len) {
  char line[512];
  tide_buf b = {line, 0, sizeof(line), 2, NULL};
  fmt_str(&b, "tidemalloc: warning: unknown option ");
  fmt_quoted(&b, key, len, 64);
  fmt_str(&b, " (valid:");
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    fmt_str(&b, i ? ", " : " ");
    fmt_str(&b, option_table[i].name);
  }
  fmt_str(&b, ")\n");
  fmt_flush(&b);
}

/* ---- Sources ------------------------------------------------------------------ */
static void apply_pair(const char *key, size_t key_len, const char *val,
                       size_t val_len) {
  const option_def *def = option_find(key, key_len);
  if (def == NULL) {
    warn_unknown(key, key_len);
    return;
  }
  if (def->kind == OPT_PATH) {
    char *dst = option_field(def);
    size_t cap = sizeof(tide_opt.trace);
    if (val_len == 0 || val_len >= cap) {
      warn_bad_value(def, val, val_len);
      return;
    }
    memcpy(dst, val, val_len);
    dst[val_len] = '\0';
    return;
  }
  long long v;
  if (!parse_value(def, val, val_len, &v) || !option_assign(def, v))
    warn_bad_value(def, val, val_len);
}

/* "key=value,key=value" */
static void apply_options_string(const char *s) {
  while (*s) {
    const char *end = strchr(s, ',');
    if (end == NULL) end = s + strlen(s);
    const char *eq = memchr(s, '=', (size_t)(end - s));
    if (end > s) {
      if (eq == NULL)
        apply_pair(s, (size_t)(end - s), "1", 1); /* a bare key means 1 */
      else
        apply_pair(s, (size_t)(eq - s), eq + 1, (size_t)(end - eq - 1));
    }
    s = *end ? end + 1 : end;
  }
}

/* GLIBC_TUNABLES="ns.name=value:ns.name=value"; ours are glibc.malloc.* */
static void apply_tunables(const char *s) {
  while (*s) {
    const char *end = strchr(s, ':');
    if (end == NULL) end = s + strlen(s);
    const char *eq = memchr(s, '=', (size_t)(end - s));
    for (size_t i = 0; eq && i < OPTION_COUNT; i++) {
      const option_def *def = &option_table[i];
      long long v;
      if (def->tunable && word_is(s, (size_t)(eq - s), def->tunable) &&
          parse_number(eq + 1, (size_t)(end - eq - 1), true, &v))
        option_assign(def, v);
    }
    s = *end ? end + 1 : end;
  }
}

static void print_options(void) {
  char line[1024];
  tide_buf b = {line, 0, sizeof(line), 2, NULL};
  fmt_str(&b, "tidemalloc: options:");
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    const option_def *def = &option_table[i];
    fmt_str(&b, " ");
    fmt_str(&b, def->name);
    fmt_str(&b, "=");
    if (def->kind == OPT_PATH)
      fmt_str(&b, (const char *)option_field(def));
    else
      fmt_i64(&b, option_value(def));
  }
  fmt_str(&b, "\n");
  fmt_flush(&b);
}

void options_init(void) {
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    const option_def *def = &option_table[i];
    const char *v = def->glibc_env ? getenv(def->glibc_env) : NULL;
    long long n;
    if (v && parse_number(v, strlen(v), true, &n)) option_assign(def, n);
  }
  const char *t = getenv("GLIBC_TUNABLES");
  if (t) apply_tunables(t);
  const char *o = getenv("TIDEMALLOC_OPTIONS");
  if (o) apply_options_string(o);
  if (tide_opt.verbose) print_options();
}

/* ---- C interfaces ---------------------------------------------------------------- */
int options_mallopt(int param, int value) {
  /* glibc: a negative trim threshold turns trimming off. */
  if (param == M_TRIM_THRESHOLD && value < 0) {
    tide_opt_write(trim_threshold, SIZE_MAX);
    tide_opt_write(mmap_threshold_fixed, true);
    return 1;
  }
  for (size_t i = 0; i < OPTION_COUNT; i++)
    if (option_table[i].mallopt_param == param && param != 0)
      return option_assign(&option_table[i], value) ? 1 : 0;
  return 0;
}

int tide_option_get(const char *name, long long *value) {
  if (tide_init_state != 2) init_process();
  const option_def *def = name ? option_find(name, strlen(name)) : NULL;
  if (def == NULL || value == NULL) {
    errno = EINVAL;
    return -1;
  }
  *value = option_value(def);
  return 0;
}

int tide_option_set(const char *name, long long value) {
  if (tide_init_state != 2) init_process();
  const option_def *def = name ? option_find(name, strlen(name)) : NULL;
  /* Secure mode shapes every segment and block: only at start-up. */
  if (def == NULL || def->offset == FIELD(secure) || !option_assign(def, value)) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}
