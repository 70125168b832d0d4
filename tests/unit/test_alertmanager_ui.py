"""The extractor of Alertmanager's compiled UI (cdc_lab.images.alertmanager_ui), on vfsgen-format files made here."""

import gzip

import pytest

from cdc_lab.images.alertmanager_ui import AssetError, extract, main, parse_assets, unquote_go_bytes

pytestmark = pytest.mark.unit

FILES = {
    "/static/index.html": b'<!DOCTYPE html>\n<html><script src="script.js"></script>\xe2\x9c\x93</html>\n',
    "/static/script.js": bytes(range(256)) * 3,
    "/static/lib/font/x.woff2": b"\x77\x4f\x46\x32raw, uncompressed",
    "/templates/default.tmpl": b"{{ define }}",
}


def go_bytes(data: bytes) -> str:
    return "".join(f"\\x{byte:02x}" for byte in data)


def vfsgen(
    files: dict[str, bytes],
    *,
    compress: set[str] | None = None,
    sizes: dict[str, int] | None = None,
    corrupt: set[str] = frozenset(),
) -> str:
    """A file in the shape vfsgen generates (the shape of Alertmanager's asset/assets_vfsdata.go); the compressed
    content of a ``corrupt`` file starts with zeros where its gzip header should be."""
    compress = set(files) - {"/static/lib/font/x.woff2"} if compress is None else compress
    entries = ['\t\t"/static": &vfsgen\u06f0DirInfo{\n\t\t\tname:    "static",\n\t\t},']
    for path, content in files.items():
        name = path.rsplit("/", 1)[1]
        if path in compress:
            size = (sizes or {}).get(path, len(content))
            packed = gzip.compress(content)
            packed = bytes(10) + packed[10:] if path in corrupt else packed
            entries.append(
                f'\t\t"{path}": &vfsgen\u06f0CompressedFileInfo{{\n\t\t\tname:             "{name}",\n'
                f"\t\t\tuncompressedSize: {size},\n\n"
                f'\t\t\tcompressedContent: []byte("{go_bytes(packed)}"),\n\t\t}},'
            )
        else:
            entries.append(
                f'\t\t"{path}": &vfsgen\u06f0FileInfo{{\n\t\t\tname:    "{name}",\n'
                f'\t\t\tcontent: []byte("{go_bytes(content)}"),\n\t\t}},'
            )
    return (
        "package asset\n\nvar Assets = func() http.FileSystem {\n\tfs := vfsgen\u06f0FS{\n"
        + "\n".join(entries)
        + "\n\t}\n}()\n"
    )


def test_a_generated_file_round_trips(tmp_path):
    source = tmp_path / "assets_vfsdata.go"
    source.write_text(vfsgen(FILES), encoding="utf-8")
    assert main([str(source), str(tmp_path / "ui"), "--source", "test 1.0"]) == 0
    written = {str(path.relative_to(tmp_path / "ui")): path.read_bytes() for path in (tmp_path / "ui").rglob("*.*")}
    assert written == {
        "index.html": FILES["/static/index.html"],
        "script.js": FILES["/static/script.js"],
        "lib/font/x.woff2": FILES["/static/lib/font/x.woff2"],
    }


def test_go_string_escapes_are_unquoted():
    assert unquote_go_bytes(r"a\x00\n\t\\\"\101\u00e9") == b'a\x00\n\t\\"A\xc3\xa9'
    with pytest.raises(AssetError, match="unknown escape"):
        unquote_go_bytes(r"\q")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("package asset\n", "no index.html or script.js among 0 UI files"),
        (
            vfsgen(FILES, sizes={"/static/script.js": 5}),
            "/static/script.js: 768 bytes once decompressed, but the file records 5",
        ),
        (vfsgen(FILES, corrupt={"/static/index.html"}), "/static/index.html: its compressed content is not gzip"),
        (vfsgen({"/static/index.html": b"x"}), "no script.js among 1 UI files"),
    ],
    ids=["no entries", "wrong size", "not gzip", "not the UI"],
)
def test_a_malformed_file_is_refused_with_a_clear_error_and_nothing_is_written(tmp_path, capsys, text, error):
    source = tmp_path / "assets_vfsdata.go"
    source.write_text(text, encoding="utf-8")
    with pytest.raises(AssetError, match=error.replace("(", r"\(")):
        parse_assets(text)
    assert main([str(source), str(tmp_path / "ui"), "--source", "golang-github-prometheus-alertmanager-dev 9.9"]) == 1
    assert "cannot unpack the Alertmanager UI from" in capsys.readouterr().err
    assert not (tmp_path / "ui").exists()


def test_extract_refuses_paths_outside_the_ui(tmp_path):
    text = vfsgen({**FILES, "/static/../../etc/evil": b"x"})
    with pytest.raises(AssetError, match="not a path inside the UI"):
        extract_text(tmp_path, text)


def extract_text(tmp_path, text):
    source = tmp_path / "assets_vfsdata.go"
    source.write_text(text, encoding="utf-8")
    return extract(source, tmp_path / "ui")
