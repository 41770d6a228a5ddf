"""Times five typical CloudTrail questions with DuckDB over two lakes of the same rows.

Usage: python queries.py RUNS LAKE_A LAKE_B   (each lake has cloudtrail/account=*/region=*/date=*/)
Prints JSON: {"queries": [{"name", "sql", "a_ms", "b_ms", "a_rows", "b_rows", "a_read",
"b_read"}]} (times: median of RUNS; read: the bytes the query read from the lake's files, on a
connection of its own), and "layout": {"a"|"b": {"files", "row_groups", "footer_bytes"}}.
"""
import json
import re
import statistics
import sys
import time

import duckdb

runs, lakes = int(sys.argv[1]), sys.argv[2:4]


def connect(lake):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""CREATE VIEW cloudtrail AS SELECT * FROM read_parquet('{lake}/cloudtrail/account=*/region=*/date=*/*.parquet',
        hive_partitioning = true, hive_types_autocast = false, union_by_name = true,
        hive_types = {{'account': VARCHAR, 'region': VARCHAR, 'date': DATE}})""")
    return con


probe = connect(lakes[0])
day = probe.execute("SELECT max(\"date\") FROM cloudtrail").fetchone()[0]
arn = probe.execute("SELECT userIdentity.arn FROM cloudtrail WHERE userIdentity.type = 'AssumedRole' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
# the role deleted most often (ties by name): not the first row's, which moves with row order
role = probe.execute("SELECT json_extract_string(requestParameters, '$.roleName') FROM cloudtrail WHERE eventName = 'DeleteRole' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
role = role[0] if role else "none"
first_day = probe.execute("SELECT min(\"date\") FROM cloudtrail").fetchone()[0]
queries = [
    ("errors by eventName, one day",
     f"SELECT eventName, errorCode, count(*) FROM cloudtrail WHERE \"date\" = DATE '{day}' AND errorCode IS NOT NULL GROUP BY ALL ORDER BY 3 DESC"),
    ("one principal's week",
     f"SELECT eventTime, eventSource, eventName FROM cloudtrail WHERE userIdentity.arn = '{arn}' AND \"date\" BETWEEN DATE '{first_day}' AND DATE '{first_day}' + INTERVAL 6 DAY ORDER BY eventTime"),
    ("who deleted a role",
     f"SELECT eventTime, userIdentity.arn, sourceIPAddress FROM cloudtrail WHERE eventName = 'DeleteRole' AND json_extract_string(requestParameters, '$.roleName') = '{role}'"),
    ("AccessDenied by source IP",
     "SELECT sourceIPAddress, count(*) FROM cloudtrail WHERE errorCode = 'AccessDenied' GROUP BY 1 ORDER BY 2 DESC"),
    ("S3 GetObject by bucket",
     "SELECT json_extract_string(requestParameters, '$.bucketName') AS bucket, count(*) FROM cloudtrail WHERE eventSource = 's3.amazonaws.com' AND eventName = 'GetObject' GROUP BY 1 ORDER BY 2 DESC"),
]


def bytes_read():
    """What this process has read with read(2) and pread(2) so far, as DuckDB reads local
    files (Linux only). Measured around a query on a database of its own, so nothing it reads
    is cached from before."""
    with open("/proc/self/io") as f:
        return int(re.search(r"rchar: (\d+)", f.read()).group(1))


cons = [connect(l) for l in lakes]
out = []
for name, sql in queries:
    row = {"name": name, "sql": sql}
    for tag, con, lake in zip("ab", cons, lakes):
        con.execute(sql).fetchall()  # warm
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            rows = con.execute(sql).fetchall()
            times.append((time.perf_counter() - t) * 1000)
        row[f"{tag}_ms"] = statistics.median(times)
        row[f"{tag}_rows"] = len(rows)
        fresh = connect(lake)
        before = bytes_read()
        fresh.execute(sql).fetchall()
        row[f"{tag}_read"] = bytes_read() - before
        fresh.close()
    out.append(row)
# the layout DuckDB reads: a query pays per file footer and per row group it scans
layout = {}
for tag, lake in zip("ab", lakes):
    glob = f"{lake}/cloudtrail/account=*/region=*/date=*/*.parquet"
    files, footers = duckdb.sql(f"SELECT count(*), sum(footer_size) FROM parquet_file_metadata('{glob}')").fetchall()[0]
    groups = duckdb.sql(f"SELECT count(*) FROM (SELECT DISTINCT file_name, row_group_id FROM parquet_metadata('{glob}'))").fetchall()[0][0]
    layout[tag] = {"files": files, "row_groups": groups, "footer_bytes": int(footers or 0)}
print(json.dumps({"queries": out, "layout": layout}))
