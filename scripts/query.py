"""Shows what is in a trailpipe lake with DuckDB: rows per partition and a few sample queries.

Usage: python scripts/query.py LAKE_DIR
"""
import sys

import duckdb

lake = sys.argv[1] if len(sys.argv) > 1 else "lake"
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"""
CREATE VIEW cloudtrail AS SELECT * FROM read_parquet('{lake}/cloudtrail/account=*/region=*/date=*/*.parquet',
  hive_partitioning = true, hive_types_autocast = false, union_by_name = true,
  hive_types = {{'account': VARCHAR, 'region': VARCHAR, 'date': DATE}})""")
for title, sql in [
    ("rows per partition", "SELECT account, region, \"date\", count(*) AS rows FROM cloudtrail GROUP BY ALL ORDER BY ALL LIMIT 12"),
    ("top API calls", "SELECT eventSource, eventName, count(*) AS n FROM cloudtrail GROUP BY ALL ORDER BY n DESC LIMIT 8"),
    ("errors by code", "SELECT errorCode, count(*) AS n FROM cloudtrail WHERE errorCode IS NOT NULL GROUP BY ALL ORDER BY n DESC LIMIT 5"),
    ("S3 GetObject by bucket", "SELECT json_extract_string(requestParameters, '$.bucketName') AS bucket, count(*) AS n FROM cloudtrail WHERE eventName = 'GetObject' GROUP BY ALL ORDER BY n DESC LIMIT 5"),
]:
    print(f"\n-- {title}\n{sql}")
    con.sql(sql).show()
