"""Rebuild pyspark.zip (what Spark puts first on its Python workers' PYTHONPATH) with each module's bytecode beside
its source, compiled by the image's own Python.

Spark's Python workers import pyspark from $SPARK_HOME/python/lib/pyspark.zip. Python's zipimport reads bytecode
from a zip but cannot write it there, so a zip of sources alone is compiled on every import: a streaming query's
foreachBatch worker spent about 1 s of CPU on it at each start, and Spark gives that worker 10 s to connect back
(PythonWorkerFactory, not configurable), which a loaded 2-core machine ran out of. The bytecode is unchecked-hash
(PEP 552): the image never changes the sources beside it.

Usage (at image build, by the image's python3): python3 pyspark_zip.py /opt/spark/python/lib/pyspark.zip
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys
import tempfile
import zipfile


def pyc(source: bytes, name: str) -> bytes:
    """An unchecked-hash .pyc of ``source`` (PEP 552: flags 0b01, then the source hash)."""
    code = compile(source, name, "exec", dont_inherit=True, optimize=0)
    source_hash = importlib.util.source_hash(source)
    return importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + source_hash + marshal.dumps(code)


def rebuild(path: str) -> int:
    """Write the zip again with foo.pyc beside each foo.py (zipimport's place for it); return how many."""
    compiled = 0
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".zip", delete=False) as handle:
        temporary = handle.name
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
            names = set(source.namelist())
            for info in source.infolist():
                data = source.read(info)
                target.writestr(info, data)
                if info.filename.endswith(".py") and info.filename + "c" not in names:
                    target.writestr(info.filename + "c", pyc(data, info.filename))
                    compiled += 1
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return compiled


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"pyspark_zip: {rebuild(argv[0])} modules compiled into {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
