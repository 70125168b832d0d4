"""What the running lab promises about itself: loopback-only ports (SEC-003), no secret in sight (SEC-005),
memory limits within the budget (SC-008). Read-only, so `make verify` runs them beside the service tests."""

import ipaddress
import socket
from pathlib import Path

import pytest
import yaml

from cdc_lab.core.containers import inspect, lab_container_names, memory_in_use

pytestmark = pytest.mark.lab

MEMORY_BUDGET_BYTES = 4 * 2**30  # SC-008: the whole lab within 4 GiB


@pytest.fixture(scope="module")
def containers():
    names = lab_container_names(running_only=True)
    if not names:
        pytest.skip("no lab container is running; start the lab with `make lab`")
    return inspect(*names)


def listening_sockets() -> dict[int, set[str]]:
    """Local addresses listening on each TCP port, from the kernel's tables (IPv4 and IPv6)."""
    listening: dict[int, set[str]] = {}
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            address_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(address_hex)
            # /proc prints the address as 32-bit words in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            listening.setdefault(int(port_hex, 16), set()).add(socket.inet_ntop(family, words))
    return listening


def test_every_published_port_is_bound_to_loopback_in_docker_and_on_the_host(containers):
    published: dict[int, str] = {}
    for container in containers:
        for container_port, bindings in (container["HostConfig"]["PortBindings"] or {}).items():
            for binding in bindings:
                assert binding["HostIp"] == "127.0.0.1", f"{container['Name']} publishes {container_port} on {binding}"
                published[int(binding["HostPort"])] = container["Name"].lstrip("/")
        for container_port, bindings in (container["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", f"{container['Name']}: {container_port} on {binding}"
    assert published, "the lab publishes no port at all"

    listening = listening_sockets()
    for port, name in sorted(published.items()):
        addresses = listening.get(port, set())
        assert addresses, f"nothing listens on port {port} ({name})"
        exposed = {a for a in addresses if not ipaddress.ip_address(a).is_loopback}
        assert not exposed, f"port {port} ({name}) listens on {exposed}, beyond loopback"


def test_generated_credentials_stay_in_their_files(project_dir, containers):
    directory = project_dir / ".lab" / "credentials"
    assert directory.stat().st_mode & 0o777 == 0o700, directory
    for path in directory.rglob("*"):
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path
    passwords = {path.name: path.read_text().split()[0] for path in directory.iterdir() if path.is_file()}
    assert set(passwords) == {"mysql-root-password", "mysql-app-password", "mysql-cdc-password"}
    # The Connect worker's secret file holds the CDC user's password, and nothing else.
    (connect_secret,) = [path for path in directory.rglob("*") if path.is_file() and path.parent != directory]
    assert connect_secret.read_text().splitlines() == [f"password={passwords['mysql-cdc-password']}"]

    for container in containers:
        name = container["Name"].lstrip("/")
        shown = yaml.safe_dump({"labels": container["Config"]["Labels"], "env": container["Config"]["Env"]})
        for secret, password in passwords.items():
            assert password not in shown, f"{secret} appears in the labels or environment of {name}"


def test_memory_limits_fit_the_budget_and_usage_is_recorded(containers, record_property):
    limits = {container["Name"].lstrip("/"): container["HostConfig"]["Memory"] for container in containers}
    unlimited = sorted(name for name, limit in limits.items() if not limit)
    assert not unlimited, f"containers without a memory limit: {unlimited}"
    for container in containers:
        # no swap beyond the limit: the limit is what the container gets
        assert container["HostConfig"]["MemorySwap"] == container["HostConfig"]["Memory"], container["Name"]
    total = sum(limits.values())
    assert total <= MEMORY_BUDGET_BYTES, f"memory limits add up to {total / 2**20:.0f} MiB, over 4 GiB: {limits}"

    in_use = memory_in_use()
    assert set(in_use) == set(limits)
    for name, used in in_use.items():
        assert 0 < used <= limits[name], f"{name} uses {used / 2**20:.0f} MiB of its {limits[name] / 2**20:.0f} MiB"
    record_property("memory_limits_mib", round(total / 2**20))
    record_property("memory_in_use_mib", round(sum(in_use.values()) / 2**20))
    for name, used in sorted(in_use.items()):
        record_property(f"memory_in_use_mib.{name}", round(used / 2**20, 1))
