"""PostgreSQL memory and parallelism settings derived from the machine, in the spirit of
timescaledb-tune, with the origin stack's TS_TUNE_* overrides (STOCKULA_TUNE_*)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import StackError

KB = 1024
MB = 1024 * KB
GB = 1024 * MB
# A derived (not explicitly set) budget keeps shared_buffers modest: the test suite and the
# other services share this machine with the database.
DERIVED_SHARED_BUFFERS_CAP = 1 * GB
MAINTENANCE_WORK_MEM_CAP = 512 * MB
WORK_MEM_FLOOR = 4 * MB
WORK_MEM_CAP = 64 * MB
TIMESCALEDB_BACKGROUND_WORKERS = 8

_UNITS = {"": 1, "B": 1, "KB": KB, "K": KB, "MB": MB, "M": MB, "GB": GB, "G": GB, "TB": 1024 * GB, "T": 1024 * GB}


def parse_memory(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", text.upper())
    if not match:
        raise StackError(f"STOCKULA_TUNE_MEMORY={text!r} is not a memory size such as 4GB or 512MB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def total_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) or 1


def _pg_size(n_bytes: int) -> str:
    # PostgreSQL units: whole MB reads better than kB for the large values.
    if n_bytes >= MB and n_bytes % MB == 0:
        return f"{n_bytes // MB}MB"
    return f"{max(64, n_bytes // KB)}kB"


@dataclass(frozen=True)
class Tuning:
    shared_buffers: int
    effective_cache_size: int
    maintenance_work_mem: int
    work_mem: int
    max_worker_processes: int
    max_parallel_workers: int
    max_parallel_workers_per_gather: int
    max_parallel_maintenance_workers: int
    timescaledb_max_background_workers: int
    max_connections: int

    def as_conf(self) -> dict[str, str]:
        return {
            "shared_buffers": _pg_size(self.shared_buffers),
            "effective_cache_size": _pg_size(self.effective_cache_size),
            "maintenance_work_mem": _pg_size(self.maintenance_work_mem),
            "work_mem": _pg_size(self.work_mem),
            "max_worker_processes": str(self.max_worker_processes),
            "max_parallel_workers": str(self.max_parallel_workers),
            "max_parallel_workers_per_gather": str(self.max_parallel_workers_per_gather),
            "max_parallel_maintenance_workers": str(self.max_parallel_maintenance_workers),
            "timescaledb.max_background_workers": str(self.timescaledb_max_background_workers),
        }

    def conf_lines(self) -> str:
        return "\n".join(f"{key} = {value}" for key, value in self.as_conf().items())


def _round_mb(n_bytes: int) -> int:
    return max(MB, n_bytes // MB * MB)


def tune(memory: str | None, num_cpus: int | None, max_conns: int, *,
         machine_memory: int | None = None, machine_cpus: int | None = None) -> Tuning:
    """25% of memory for shared_buffers, 75% as cache estimate, the rest split for sorts and
    maintenance. An explicit ``memory`` is taken as the database's budget and is not capped."""
    if max_conns < 10:
        raise StackError(f"STOCKULA_TUNE_MAX_CONNS={max_conns} is too low: use at least 10")
    budget = parse_memory(memory) if memory else (machine_memory or total_memory())
    cpus = num_cpus or machine_cpus or available_cpus()
    if cpus < 1:
        raise StackError(f"STOCKULA_TUNE_NUM_CPUS={cpus} must be at least 1")
    shared = budget // 4
    if not memory:
        shared = min(shared, DERIVED_SHARED_BUFFERS_CAP)
    shared = _round_mb(shared)
    per_gather = max(1, cpus // 2)
    work_mem = (budget - shared) // (max_conns * 3) // per_gather
    return Tuning(
        shared_buffers=shared,
        effective_cache_size=_round_mb(budget * 3 // 4),
        maintenance_work_mem=_round_mb(min(budget // 20, MAINTENANCE_WORK_MEM_CAP)),
        work_mem=min(max(work_mem // KB * KB, WORK_MEM_FLOOR), WORK_MEM_CAP),
        max_worker_processes=TIMESCALEDB_BACKGROUND_WORKERS + cpus + 3,
        max_parallel_workers=cpus,
        max_parallel_workers_per_gather=per_gather,
        max_parallel_maintenance_workers=per_gather,
        timescaledb_max_background_workers=TIMESCALEDB_BACKGROUND_WORKERS,
        max_connections=max_conns,
    )
