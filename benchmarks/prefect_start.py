"""What Prefect's local server spends before it answers, on a fresh ``PREFECT_HOME`` and again
on the same one: the server's imports, its database migrations and its block-type
registration (the three steps of its start-up that a first run waits for), each in a fresh
process, timed on their own.

    python benchmarks/prefect_start.py [--repeats 3]

Writes benchmarks/results/prefect_start.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

# run in a child: the three steps of the server's start-up (prefect.server.api.server's lifespan)
CHILD = """
import asyncio, json, time
start = time.perf_counter()
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration
imported = time.perf_counter()

async def main():
    db = provide_database_interface()
    t0 = time.perf_counter()
    await db.create_db()
    t1 = time.perf_counter()
    async with await db.session() as session:
        await run_block_auto_registration(session=session)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1

migrations, blocks = asyncio.run(main())
print(json.dumps({"imports": imported - start, "migrations": migrations, "blocks": blocks}))
"""
STEPS = ("imports", "migrations", "blocks")


def one_start(home: str) -> dict[str, float]:
    env = {**os.environ, "PREFECT_HOME": home}
    env.pop("PREFECT_API_URL", None)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh homes, each started twice (3)")
    args = parser.parse_args(argv)
    import prefect
    import provenance

    first, again = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="prefect-home-") as home:
            first.append(one_start(home))
            again.append(one_start(home))
    lines = ["# Prefect's local server: what its start-up spends", "",
             f"`python benchmarks/prefect_start.py --repeats {args.repeats}` on {platform.machine()}, "
             f"{os.cpu_count()} cores, Prefect {prefect.__version__}, Python {platform.python_version()}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Each start in a fresh process; "
             "medians over the homes. The steps are those the server runs before it answers "
             "(`create_db`, the block-type registration); a first run of `vaec-select run` on a new "
             "`PREFECT_HOME` waits for all of them, later runs find the database migrated.", "",
             "| seconds | imports | migrations | block types | total |", "|---|---:|---:|---:|---:|"]
    for label, runs in (("fresh PREFECT_HOME", first), ("the same home again", again)):
        medians = [statistics.median(run[step] for run in runs) for step in STEPS]
        lines.append(f"| {label} | " + " | ".join(f"{m:.2f}" for m in medians) + f" | {sum(medians):.2f} |")
    return provenance.publish(RESULTS / "prefect_start.md", lines)


if __name__ == "__main__":
    sys.exit(main())
