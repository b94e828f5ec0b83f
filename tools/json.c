/* SPDX-License-Identifier: MIT */
/* json.c — a small JSON reader for tidemalloc's statistics (one object a line).
 *
 * Values form a tree of struct json; members of objects keep their order.
 * Unsigned integers are kept exactly (u) as well as as doubles (num).
 */
#include "tide.h"

#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

struct parser {
  const char *p, *end;
  char *err;
  size_t errlen;
  int depth;
};

static struct json *fail(struct parser *ps, const char *what) {
  if (ps->err && !ps->err[0])
    snprintf(ps->err, ps->errlen, "%s", what);
  return NULL;
}

static void skip_ws(struct parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static struct json *new_value(enum json_type t) {
  struct json *v = util_xmalloc(sizeof *v);
  memset(v, 0, sizeof *v);
  v->type = t;
  return v;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void put_utf8(struct strbuf *sb, unsigned cp) {
  char b[5] = {0};
  if (cp < 0x80) {
    b[0] = (char)cp;
  } else if (cp < 0x800) {
    b[0] = (char)(0xc0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    b[0] = (char)(0xe0 | (cp >> 12));
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[2] = (char)(0x80 | (cp & 0x3f));
  } else {
    b[0] = (char)(0xf0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (char)(0x80 | (cp & 0x3f));
  }
  sb_puts(sb, b);
}

/* Parses a string at ps->p (which is at the opening quote). */
static char *parse_string(struct parser *ps) {
  struct strbuf sb = {0};
  sb_puts(&sb, "");
  ps->p++;
  while (ps->p < ps->end && *ps->p != '"') {
    char c = *ps->p++;
    if ((unsigned char)c < 0x20)
      goto bad;
    if (c != '\\') {
      char one[2] = {c, 0};
      sb_puts(&sb, one);
      continue;
    }
    if (ps->p >= ps->end)
      goto bad;
    c = *ps->p++;
    switch (c) {
    case '"':
      sb_puts(&sb, "\"");
      break;
    case '\\':
      sb_puts(&sb, "\\");
      break;
    case '/':
      sb_puts(&sb, "/");
      break;
    case 'b':
      sb_puts(&sb, "\b");
      break;
    case 'f':
      sb_puts(&sb, "\f");
      break;
    case 'n':
      sb_puts(&sb, "\n");
      break;
    case 'r':
      sb_puts(&sb, "\r");
      break;
    case 't':
      sb_puts(&sb, "\t");
      break;
    case 'u': {
      if (ps->end - ps->p < 4)
        goto bad;
      unsigned cp = 0;
      for (int i = 0; i < 4; i++) {
        int h = hexval(ps->p[i]);
        if (h < 0)
          goto bad;
        cp = cp * 16 + (unsigned)h;
      }
      ps->p += 4;
      if (cp == 0)
        cp = '?'; /* no NULs inside C strings */
      put_utf8(&sb, cp);
      break;
    }
    default:
      goto bad;
    }
  }
  if (ps->p >= ps->end)
    goto bad;
  ps->p++;
  return sb.buf;
bad:
  sb_free(&sb);
  fail(ps, "bad string");
  return NULL;
}

static struct json *parse_value(struct parser *ps);

static struct json *parse_container(struct parser *ps, int is_obj) {
  struct json *v = new_value(is_obj ? JSON_OBJ : JSON_ARR), **tail = &v->child;
  char close = is_obj ? '}' : ']';
  if (++ps->depth > JSON_MAX_DEPTH)
    goto bad;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    ps->depth--;
    return v;
  }
  for (;;) {
    char *key = NULL;
    skip_ws(ps);
    if (is_obj) {
      if (ps->p >= ps->end || *ps->p != '"')
        goto bad;
      key = parse_string(ps);
      if (!key)
        goto bad;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        free(key);
        goto bad;
      }
      ps->p++;
    }
    struct json *m = parse_value(ps);
    if (!m) {
      free(key);
      goto bad;
    }
    m->key = key;
    *tail = m;
    tail = &m->next;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      ps->depth--;
      return v;
    }
    goto bad;
  }
bad:
  json_free(v);
  return fail(ps, is_obj ? "bad object" : "bad array");
}

static struct json *parse_number(struct parser *ps) {
  const char *s = ps->p;
  size_t n = 0;
  while (s + n < ps->end && strchr("+-0123456789.eE", s[n]))
    n++;
  if (n == 0 || n > 64)
    return fail(ps, "bad value");
  char tmp[72];
  memcpy(tmp, s, n);
  tmp[n] = 0;
  char *endp;
  double d = strtod(tmp, &endp);
  if (*endp)
    return fail(ps, "bad number");
  struct json *v = new_value(JSON_NUM);
  v->num = d;
  if (strspn(tmp, "0123456789") == n) {
    v->u = strtoull(tmp, NULL, 10);
    v->is_uint = 1;
  }
  ps->p += n;
  return v;
}

static struct json *parse_value(struct parser *ps) {
  skip_ws(ps);
  if (ps->p >= ps->end)
    return fail(ps, "unexpected end");
  char c = *ps->p;
  if (c == '{' || c == '[')
    return parse_container(ps, c == '{');
  if (c == '"') {
    char *s = parse_string(ps);
    if (!s)
      return NULL;
    struct json *v = new_value(JSON_STR);
    v->str = s;
    return v;
  }
  static const struct {
    const char *word;
    enum json_type t;
    int val;
  } words[] = {{"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0}};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    size_t n = strlen(words[i].word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, words[i].word, n) == 0) {
      ps->p += n;
      struct json *v = new_value(words[i].t);
      v->num = words[i].val;
      return v;
    }
  }
  return parse_number(ps);
}

struct json *json_parse(const char **p, const char *end, char *err, size_t errlen) {
  struct parser ps = {*p, end, err, errlen, 0};
  if (err && errlen)
    err[0] = 0;
  struct json *v = parse_value(&ps);
  if (v)
    *p = ps.p;
  return v;
}

void json_free(struct json *v) {
  while (v) {
    struct json *next = v->next;
    json_free(v->child);
    free(v->key);
    free(v->str);
    free(v);
    v = next;
  }
}

const struct json *json_get(const struct json *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJ)
    return NULL;
  for (const struct json *m = obj->child; m; m = m->next)
    if (m->key && strcmp(m->key, key) == 0)
      return m;
  return NULL;
}

uint64_t json_u64(const struct json *obj, const char *key, const char *sub) {
  const struct json *v = json_get(obj, key);
  if (sub)
    v = json_get(v, sub);
  if (!v || v->type != JSON_NUM)
    return 0;
  if (v->is_uint)
    return v->u;
  return v->num > 0 ? (uint64_t)v->num : 0;
}

const char *json_str(const struct json *obj, const char *key) {
  const struct json *v = json_get(obj, key);
  return v && v->type == JSON_STR ? v->str : NULL;
}
