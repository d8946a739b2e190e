"""Frozen-backbone probes (detection, ...), their run records and the leaderboard.

Public API: `get_probe(name)` / `register_probe`, `RunRecord`, `probes.records.RunDir`,
`probes.leaderboard.build_leaderboard`; the `rice-probe` console script is `probes.cli:main`.
"""

from typing import Any

__all__ = ["ProbeSpec", "RunRecord", "get_probe", "list_probes", "register_probe"]


def __getattr__(name: str) -> Any:
    # lazy (PEP 562): `rice-probe --help` imports probes.commands.* without pulling in torch via probes.base
    if name in __all__:
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module 'probes' has no attribute {name!r}")
