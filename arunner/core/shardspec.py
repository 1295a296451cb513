"""What ``--shard`` takes: ``K/N`` (the K-th of N parts, counted from 1) or ``auto``.

Here, below the option table that checks every source's value with it, because
``arunner.runsetup.shard`` checks the K and N that ``auto`` reads from CI variables the same way.
"""

from __future__ import annotations

import re

AUTO = "auto"
_SHARD = re.compile(r"(\d+)/(\d+)")


def shard_numbers(text: str) -> tuple[int, int]:
    """K and N of ``K/N``; ``ValueError`` unless 1 <= K <= N."""
    match = _SHARD.fullmatch(text.strip())
    if match is None:
        raise ValueError("not K/N")
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise ValueError("N must be 1 or more")
    if not 1 <= index <= count:
        raise ValueError(f"K must be 1 to {count}")
    return index, count


def shard_text(value: str) -> str:
    """An option value: ``auto`` or a valid ``K/N``, as given."""
    text = str(value).strip()
    if text != AUTO:
        shard_numbers(text)
    return text
