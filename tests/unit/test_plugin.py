"""The pytest plugin's promises, checked by running pytest on small test files (pytester)."""

import socket

import pytest

pytestmark = pytest.mark.unit

LAB_TESTS = """
import pytest

@pytest.mark.prometheus
def test_needs_prometheus(prometheus):
    assert prometheus.ready()

@pytest.mark.delta
def test_feature_off():
    pytest.skip("Delta Lake on Spark unavailable: set lab_maven_repo or lab_jars_dir")

@pytest.mark.unit
def test_unit():
    assert 1 + 1 == 2
"""


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab_down(monkeypatch, closed_port):
    monkeypatch.setenv("CDC_LAB_PROMETHEUS_URL", f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("CDC_LAB_STRICT", raising=False)
    return closed_port


def test_unavailable_service_skips_with_its_name_and_the_fix(pytester, lab_down):
    pytester.makepyfile(LAB_TESTS)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines([f"*Prometheus is not available at http://127.0.0.1:{lab_down}*make lab*"])


@pytest.mark.parametrize("how", ["flag", "env"])
def test_strict_mode_fails_every_skip_of_a_lab_test_with_its_reason(pytester, lab_down, monkeypatch, how):
    pytester.makepyfile(LAB_TESTS)
    args = ["-rfs"]
    if how == "flag":
        args.append("--lab-strict")
    else:
        monkeypatch.setenv("CDC_LAB_STRICT", "1")
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*strict mode*lab test skipped*Prometheus is not available*"])
    result.stdout.fnmatch_lines(["*strict mode*lab test skipped: Delta Lake on Spark unavailable: set lab_maven_repo*"])


def test_service_markers_imply_lab(pytester):
    pytester.makepyfile(LAB_TESTS)
    result = pytester.runpytest("-m", "lab", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_needs_prometheus*", "*test_feature_off*"])
    assert "test_unit" not in result.stdout.str()
