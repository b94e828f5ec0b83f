# SPDX-License-Identifier: MIT
"""Generate the SQL script of the sqlite workload.

    /usr/bin/python3.11 gen_sql.py [smoke|quick|full] > script.sql
    /usr/bin/sqlite3 -bail :memory: < script.sql

An in-memory database (so the page cache, and everything else, lives in
malloc'ed memory): literal multi-row INSERTs of users (parsing and binding),
bulk INSERT of events from a recursive CTE, secondary indexes, aggregate,
join and sort queries, updates that grow rows, deletes, CREATE TABLE AS,
DROP INDEX and VACUUM.  Assertions inside the script (a failed one divides
abs() of the smallest integer, an error that stops sqlite3 -bail with a
non-zero status) check row counts and PRAGMA integrity_check; the query
output is deterministic and the runner compares it with glibc's.
"""

import random
import sys

SIZES = {  # users (literal rows), events (generated rows)
    "smoke": (500, 5000),
    "quick": (3000, 30000),
    "full": (20000, 200000),
}

CITIES = 50


def check(cond_sql, label):
    """A statement that prints 'ok <label>' or stops the script."""
    return (
        "SELECT CASE WHEN %s THEN 'ok %s' ELSE abs(-9223372036854775808) END;"
        % (cond_sql, label)
    )


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "full"
    if mode not in SIZES:
        print("usage: gen_sql.py [smoke|quick|full]", file=sys.stderr)
        sys.exit(64)
    nusers, nevents = SIZES[mode]
    rng = random.Random(7)
    out = sys.stdout
    w = out.write

    w("PRAGMA cache_size = -262144;\n")
    w(
        "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT,"
        " age INT, city TEXT, bio TEXT);\n"
    )
    w("BEGIN;\n")
    batch = []
    for i in range(1, nusers + 1):
        name = "user%d_%s" % (i, "".join(rng.choice("abcdefghij") for _ in range(6)))
        bio = ("lorem ipsum dolor sit amet %d " % i) * rng.randint(1, 10)
        batch.append(
            "(%d,'%s','%s@example.org',%d,'city%d','%s')"
            % (i, name, name, 18 + rng.randrange(60), rng.randrange(CITIES), bio)
        )
        if len(batch) == 100 or i == nusers:
            w("INSERT INTO users VALUES %s;\n" % ",".join(batch))
            batch = []
    w("COMMIT;\n")
    w(check("(SELECT count(*) FROM users) = %d" % nusers, "users inserted") + "\n")

    w(
        "CREATE TABLE events(id INTEGER PRIMARY KEY, user_id INT NOT NULL, kind TEXT,"
        " amount REAL, payload TEXT);\n"
    )
    w(
        "INSERT INTO events(user_id, kind, amount, payload)\n"
        "  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)\n"
        "  SELECT (x * 7919) %% %d + 1, 'kind' || (x %% 17), ((x * 104729) %% 100000) / 100.0,\n"
        "         printf('%%0*d', 16 + (x * 31) %% 400, x) FROM c;\n" % (nevents, nusers)
    )
    w(check("(SELECT count(*) FROM events) = %d" % nevents, "events inserted") + "\n")
    w("CREATE INDEX events_user ON events(user_id);\n")
    w("CREATE INDEX events_kind_amount ON events(kind, amount);\n")
    w("CREATE INDEX users_city_age ON users(city, age);\n")

    w("SELECT kind, count(*), round(sum(amount), 2) FROM events GROUP BY kind ORDER BY kind;\n")
    w(
        "SELECT u.city, count(*), round(avg(e.amount), 3) FROM users u"
        " JOIN events e ON e.user_id = u.id GROUP BY u.city ORDER BY u.city;\n"
    )
    w(
        "SELECT name, email FROM users WHERE city = 'city7' AND age BETWEEN 30 AND 40"
        " ORDER BY name LIMIT 5;\n"
    )
    w(
        "SELECT user_id, round(sum(amount), 2) AS s FROM events GROUP BY user_id"
        " ORDER BY s DESC, user_id LIMIT 10;\n"
    )
    w("SELECT length(group_concat(name, ',')) FROM users WHERE age < 30;\n")
    w(
        "SELECT count(*) FROM events WHERE kind = 'kind3' AND amount BETWEEN 100 AND 200;\n"
    )

    w("UPDATE users SET bio = bio || printf('%.*c', 200 + id % 300, 'u') WHERE id % 3 = 0;\n")
    w("UPDATE events SET payload = payload || payload WHERE id % 7 = 0;\n")
    w("DELETE FROM events WHERE amount < 300;\n")
    w("DELETE FROM users WHERE id % 5 = 0;\n")
    w(check("(SELECT count(*) FROM users) = %d" % (nusers - nusers // 5), "users deleted") + "\n")
    w("SELECT count(*), sum(length(bio)) FROM users;\n")
    w("SELECT count(*), round(sum(amount), 2), sum(length(payload)) FROM events;\n")
    w("SELECT count(*) FROM (SELECT DISTINCT kind, user_id FROM events);\n")
    w(
        "CREATE TABLE summary AS SELECT user_id, kind, count(*) AS c, sum(amount) AS s"
        " FROM events GROUP BY user_id, kind;\n"
    )
    w(check("(SELECT sum(c) FROM summary) = (SELECT count(*) FROM events)", "summary") + "\n")
    w(
        "SELECT kind, count(*), sum(c) FROM summary GROUP BY kind ORDER BY sum(c) DESC, kind"
        " LIMIT 5;\n"
    )
    w("DROP INDEX events_kind_amount;\n")
    w("DROP TABLE summary;\n")
    w("VACUUM;\n")
    w(check("(SELECT integrity_check FROM pragma_integrity_check) = 'ok'", "integrity") + "\n")
    w("SELECT count(*), max(id) FROM events;\n")


if __name__ == "__main__":
    main()
