"""Which SQL statements change data or schema: what leak detection refuses outside a test.

Reading through another connection is harmless; writing through one commits behind the
test's back. The check runs only for statements on connections other than the test's own,
so it favours a short, readable rule over a parser: the statement's first keyword, and for a
``WITH`` query whether a data-changing keyword follows.
"""

from __future__ import annotations

import re

_WRITES = frozenset(
    {
        "ALTER", "COMMENT", "CREATE", "DELETE", "DROP", "GRANT", "INSERT", "LOAD", "MERGE",
        "RENAME", "REPLACE", "REVOKE", "TRUNCATE", "UPDATE", "UPSERT",
    }
)  # fmt: skip

_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]+)", re.S)
_WRITE_IN_WITH = re.compile(
    r"\b(?:INSERT\s+INTO|DELETE\s+FROM|MERGE\s+INTO"
    r"|UPDATE\s+\S+(?:\s+(?:AS\s+)?\w+)?\s+SET)\b",
    re.I,
)


def writes(sql: str) -> bool:
    """True when ``sql`` inserts, updates or deletes rows, or changes the schema."""
    match = _FIRST_WORD.match(sql)
    if match is None:
        return False
    keyword = match.group(1).upper()
    if keyword == "WITH":
        return _WRITE_IN_WITH.search(sql, match.end()) is not None
    return keyword in _WRITES
