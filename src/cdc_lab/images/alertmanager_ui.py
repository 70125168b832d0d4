"""Unpack Alertmanager's official web UI from the generated Go file that embeds it (standard library only).

Upstream Alertmanager (up to v0.31) commits ``asset/assets_vfsdata.go``, made by vfsgen: each file of the compiled
UI (``/static/index.html``, ``/static/script.js``, ``/static/lib/...``) is an entry of a Go map holding the file's
bytes in a Go string literal, gzip-compressed (``compressedContent`` with its ``uncompressedSize``) or as they are
(``content``). Debian's ``golang-github-prometheus-alertmanager-dev`` ships that file byte for byte, from the same
source package as its ``prometheus-alertmanager`` binary, which serves a UI directory (``--web.ui-path``).

The Alertmanager image runs this while it is built::

    python3 alertmanager_ui.py assets_vfsdata.go /usr/share/prometheus/alertmanager/ui --source "<package> <version>"

Anything it does not understand is refused with an error naming the source, never half-written silently.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# One map entry: "<path>": &vfsgen<U+06F0><kind>{ <fields> }, (vfsgen's names carry that Arabic-Indic zero)
ENTRY = re.compile(
    r'^\t\t"(?P<path>/[^"\n]*)": &vfsgen\u06f0(?P<kind>CompressedFileInfo|FileInfo|DirInfo)\{\n(?P<body>.*?)^\t\t\},$',
    re.MULTILINE | re.DOTALL,
)
DATA = re.compile(r'^\t\t\t(?P<field>compressedContent|content): \[\]byte\("(?P<literal>(?:[^"\\\n]|\\.)*)"\),$', re.M)
SIZE = re.compile(r"^\t\t\tuncompressedSize: (?P<size>\d+),$", re.MULTILINE)
# The UI's own files; the rest of the file system (/templates) is not the UI.
UI_PREFIX = "/static/"
SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}


class AssetError(ValueError):
    """The file is not a vfsgen asset file this module understands; the message says where and why."""


@dataclass(frozen=True)
class Asset:
    path: str
    content: bytes


def unquote_go_bytes(literal: str) -> bytes:
    """The bytes of a Go interpreted string literal's body (without its quotes)."""
    out = bytearray()
    index = 0
    while index < len(literal):
        char = literal[index]
        if char != "\\":
            out += char.encode("utf-8")
            index += 1
            continue
        kind = literal[index + 1 : index + 2]
        if kind in SIMPLE_ESCAPES:
            out.append(SIMPLE_ESCAPES[kind])
            index += 2
        elif kind == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", literal[index + 2 : index + 4]):
            out.append(int(literal[index + 2 : index + 4], 16))
            index += 4
        elif re.fullmatch(r"[0-7]{3}", literal[index + 1 : index + 4]):
            out.append(int(literal[index + 1 : index + 4], 8) & 0xFF)
            index += 4
        elif kind in ("u", "U"):
            width = 4 if kind == "u" else 8
            digits = literal[index + 2 : index + 2 + width]
            if not re.fullmatch(rf"[0-9a-fA-F]{{{width}}}", digits):
                raise AssetError(f"bad \\{kind} escape at offset {index}")
            out += chr(int(digits, 16)).encode("utf-8")
            index += 2 + width
        else:
            raise AssetError(f"unknown escape {literal[index : index + 4]!r} at offset {index}")
    return bytes(out)


def parse_assets(text: str) -> list[Asset]:
    """Every file of the UI (under /static/), decompressed and checked against its recorded size."""
    assets: list[Asset] = []
    for entry in ENTRY.finditer(text):
        path, kind, body = entry["path"], entry["kind"], entry["body"]
        if kind == "DirInfo" or not path.startswith(UI_PREFIX):
            continue
        data = DATA.search(body)
        if data is None:
            raise AssetError(f"{path}: no content")
        raw = unquote_go_bytes(data["literal"])
        if data["field"] == "compressedContent":
            size = SIZE.search(body)
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as error:
                raise AssetError(f"{path}: its compressed content is not gzip ({error})") from error
            if size is None or int(size["size"]) != len(raw):
                recorded = size["size"] if size else "none"
                raise AssetError(f"{path}: {len(raw)} bytes once decompressed, but the file records {recorded}")
        relative = PurePosixPath(path.removeprefix(UI_PREFIX))
        if relative.is_absolute() or ".." in relative.parts:
            raise AssetError(f"{path}: not a path inside the UI")
        assets.append(Asset(str(relative), raw))
    names = {asset.path for asset in assets}
    missing = {"index.html", "script.js"} - names
    if missing:
        raise AssetError(f"no {' or '.join(sorted(missing))} among {len(assets)} UI files: not Alertmanager's UI")
    return assets


def extract(source: Path, target: Path) -> list[Asset]:
    """Write the UI's files under target; nothing is written unless the whole file parses."""
    assets = parse_assets(source.read_text(encoding="utf-8"))
    for asset in assets:
        destination = target / asset.path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(asset.content)
    return assets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assets_file", type=Path, help="asset/assets_vfsdata.go")
    parser.add_argument("target", type=Path, help="the UI directory to write")
    parser.add_argument("--source", default="", help="where the file came from (package and version), for errors")
    args = parser.parse_args(argv)
    origin = f"{args.assets_file} ({args.source})" if args.source else str(args.assets_file)
    try:
        assets = extract(args.assets_file, args.target)
    except (OSError, UnicodeDecodeError, AssetError) as error:
        print(f"alertmanager_ui: cannot unpack the Alertmanager UI from {origin}: {error}", file=sys.stderr)
        return 1
    total = sum(len(asset.content) for asset in assets)
    print(f"alertmanager_ui: {len(assets)} files ({total} bytes) from {origin} into {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
