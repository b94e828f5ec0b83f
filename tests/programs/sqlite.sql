-- SPDX-License-Identifier: MIT
.bail on
PRAGMA temp_store = memory;
PRAGMA cache_size = -32000;
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, (x * 7919) % 1000, printf('%d-', x) || hex(zeroblob(x % 300)) FROM c;
CREATE INDEX t_a ON t(a);
UPDATE t SET b = b || b WHERE id % 7 = 0;
DELETE FROM t WHERE a % 3 = 0;
VACUUM;
SELECT 'rows', count(*) FROM t;
SELECT 'sum_a', sum(a) FROM t;
SELECT 'sum_len', sum(length(b)) FROM t;
SELECT 'distinct_a', count(DISTINCT a) FROM t;
SELECT 'sum_id', sum(id) FROM t;
SELECT 'a_100_199', count(*) FROM t WHERE a BETWEEN 100 AND 199;
SELECT 'group_max', max(n) FROM (SELECT a, count(*) AS n FROM t GROUP BY a);
SELECT 'sorted_first', id FROM t ORDER BY b DESC, id LIMIT 1;
SELECT 'integrity', integrity_check FROM pragma_integrity_check;
