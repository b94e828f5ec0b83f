/* SPDX-License-Identifier: MIT */
/* The trace (trace.c): one line per OS call, naming the request that made
 * it.  The OS layer calls trace_os; every layer names its request with
 * trace_request. */
#ifndef TIDE_TRACE_H
#define TIDE_TRACE_H

#include "os.h"

extern __thread int tide_tls_request
    __attribute__((tls_model("initial-exec"))) tide_hidden;
extern __thread size_t tide_tls_request_size
    __attribute__((tls_model("initial-exec"))) tide_hidden;
static inline void trace_request(tide_request req, size_t size) {
  tide_tls_request = (int)req;
  tide_tls_request_size = size;
}
tide_hidden void trace_open(void);
tide_hidden void trace_os(tide_os_op op, uintptr_t addr, size_t len,
                          uintptr_t ret, int err, uintptr_t aux);
tide_hidden void trace_fork_child(void);

#endif /* TIDE_TRACE_H */
