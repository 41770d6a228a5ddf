"""Runs SQL statements with real DuckDB and prints the last statement's rows as JSON.

Usage: python duckdb_query.py SQL [SQL ...]  (each argument one statement)
"""
import datetime
import decimal
import json
import sys

import duckdb


def plain(v):
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
rows = []
for sql in sys.argv[1:]:
    rel = con.execute(sql)
    try:
        rows = rel.fetchall()
    except duckdb.InvalidInputException:
        rows = []
print(json.dumps([plain(list(r)) for r in rows]))
