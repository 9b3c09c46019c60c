"""Which real cluster a connection points at, whatever the spelling of its address.

A cluster (plus its partition) belongs to one provider: the platform refuses a second claim on
it, so nobody sells cards they do not run. Two spellings of one cluster must give one key:
`http://localhost:8265/` and `http://127.0.0.1:8265` are the same Ray head, and a copy of
another provider's slurm.conf still names the same controller. Numeric hosts are read the
way the system resolver reads them (`127.1`, `0x7f000001`, `2130706433` and `[::ffff:127.0.0.1]`
all reach 127.0.0.1; `0` reaches this host), and `check_ray_address` refuses such spellings
of a new address outright, naming the plain one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from suanli.errors import InvalidInput
from suanli.i18n import msg

DEFAULT_SLURM_CONF = Path("/etc/slurm/slurm.conf")
SLURMCTLD_PORT_DEFAULT = "6817"
SLURM_CONF_BYTES_MAX = 1024 * 1024
LOOPBACK_NAMES = {"localhost": "127.0.0.1", "::1": "127.0.0.1", "ip6-localhost": "127.0.0.1"}
# Connecting to the unspecified address reaches this host, as 127.0.0.1 does.
THIS_HOST = {"0.0.0.0": "127.0.0.1", "::": "127.0.0.1"}
PORT_MAX = 65_535
SHOWN_CHARS_MAX = 80  # of an address echoed in a message
# inet_aton's parts: hexadecimal (0x1f), octal (017, and 0 itself) or decimal (17).
_HEX_PART = re.compile(r"0[xX][0-9a-fA-F]+")
_OCTAL_PART = re.compile(r"0[0-7]*")
_DECIMAL_PART = re.compile(r"[1-9][0-9]*")
# A host whose last label is a number is an IPv4 address or nothing (as in the WHATWG URL rules).
_NUMERIC_LABEL = re.compile(r"(0[xX][0-9a-fA-F]*|[0-9]+)")
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")


def cluster_key(kind: str, address: str, options: Mapping[str, Any]) -> str:
    """A canonical key for the cluster a connection points at (at most 300 characters)."""
    if kind == "ray":
        return f"ray:{_http_endpoint(address)}"[:300]
    if kind == "slurm":
        partition = str(options.get("partition") or "").strip().lower()
        return f"slurm:{_slurm_controller(address)}/{partition}"[:300]
    return f"{kind}:{address.strip().lower()}"[:300]


def _http_endpoint(address: str) -> str:
    """`host:port[path]` with the host canonical; never raises (stored addresses of any age,
    and the migration that keys them, come here)."""
    url = split_url(address.strip())
    _, host, port = split_netloc(url.netloc)
    default_port = 443 if url.scheme.lower() == "https" else 80
    return f"{canonical_host(host)}:{_port_number(port) or default_port}{url.path.rstrip('/')}"


def _port_number(port: str | None) -> str | None:
    """`08265` is 8265; a port that is no number is kept as written."""
    if port and port.isascii() and port.isdigit() and len(port) <= 9:
        return str(int(port))
    return port


@dataclass(frozen=True)
class UrlParts:
    scheme: str
    netloc: str
    path: str
    query: str | None  # None: no `?` at all
    fragment: str | None


# RFC 3986, appendix B: splits any string, valid or not, into the five parts.
_URL = re.compile(r"(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.DOTALL)


def split_url(address: str) -> UrlParts:
    match = _URL.fullmatch(address)
    assert match is not None  # every group is optional: the pattern matches any string
    scheme, netloc, path, query, fragment = match.groups()
    return UrlParts(scheme or "", netloc or "", path, query, fragment)


def split_netloc(netloc: str) -> tuple[str | None, str, str | None]:
    """(userinfo, host, port) of `[userinfo@]host[:port]`, None for a part not there; an IPv6
    host keeps its brackets, and whatever follows them but a `:port` counts as the port."""
    userinfo, at, host_port = netloc.rpartition("@")
    if host_port.startswith("["):
        end = host_port.find("]") + 1 or len(host_port)
        host, rest = host_port[:end], host_port[end:]
        port = rest[1:] if rest.startswith(":") else rest or None
    else:
        host, colon, port_text = host_port.partition(":")
        port = port_text if colon else None
    return (userinfo if at else None), host, port


def canonical_host(host: str) -> str:
    """The one spelling of a host: numeric IPv4 forms as a dotted quad, IPv6 compressed and an
    IPv4-mapped one as its IPv4 address, loopback names and the unspecified address (which
    reaches this host) as 127.0.0.1. A host that does not parse is kept as written."""
    host = host.lower()
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return host
        mapped = address.ipv4_mapped
        host = str(mapped) if mapped is not None else address.compressed
    else:
        host = host.removesuffix(".")  # the root of DNS: `localhost.` is localhost
        host = ipv4_number(host) or host
    host = THIS_HOST.get(host, host)
    return LOOPBACK_NAMES.get(host, host)


def ipv4_number(host: str) -> str | None:
    """The dotted quad the system resolver (inet_aton) reads `host` as, or None when it is not
    a numeric IPv4 address: 1 to 4 parts, each hexadecimal, octal or decimal, the last part
    filling the bytes left (`127.1` is 127.0.0.1, `2130706433` too)."""
    values = [_ipv4_part(part) for part in host.split(".")]
    if not 1 <= len(values) <= 4 or any(value is None for value in values):
        return None
    *head, last = [value for value in values if value is not None]
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    number = sum(value << 8 * (3 - index) for index, value in enumerate(head)) + last
    return str(ipaddress.IPv4Address(number))


def _ipv4_part(part: str) -> int | None:
    if _HEX_PART.fullmatch(part):
        return int(part, 16)
    if _OCTAL_PART.fullmatch(part):
        return int(part, 8)
    if _DECIMAL_PART.fullmatch(part) and len(part) <= 10:  # more digits: over 32 bits anyway
        return int(part)
    return None


def check_ray_address(address: str) -> None:
    """Refuses, before anything is sent, a Ray address that is not plainly
    `http(s)://host[:port][/]`: suanli appends the API's paths to it, so a query or fragment
    would swallow them; a password there would be stored and shown in clear; and a host or port
    the resolver reads some other way would dodge the one-provider-per-cluster rule."""
    url = split_url(address)
    if url.scheme.lower() not in ("http", "https"):
        _refuse(
            "Ray 地址须为其仪表盘的 URL，如 http://10.0.0.5:8265",
            "a Ray address is the dashboard URL, e.g. http://10.0.0.5:8265",
        )
    if url.query is not None or url.fragment is not None:
        _refuse(
            "地址不能带查询串（?）或片段（#）：suanli 在地址后接上 API 的路径",
            "the address takes no query (?) or fragment (#): suanli appends the API's paths to it",
        )
    if url.path not in ("", "/"):
        _refuse(
            f"地址写到端口为止，不能带路径 {shown(url.path)}",
            f"the address ends at the port: no path ({shown(url.path)})",
        )
    userinfo, host, port = split_netloc(url.netloc)
    if userinfo is not None:
        _refuse(
            "地址里不能写用户名或密码（会以明文保存并显示）；令牌请放在 `credentials` 中，"
            '如 {"token": "..."}',
            "no user name or password in the address (it would be stored and shown in "
            'clear); put the token in credentials, e.g. {"token": "..."}',
        )
    _check_port(port)
    _check_host(host)


def _check_port(port: str | None) -> None:
    digits = port is not None and port.isascii() and port.isdigit() and len(port) <= 9
    if port is not None and not (digits and 1 <= int(port) <= PORT_MAX):
        _refuse(
            f"端口须为 1 至 {PORT_MAX} 之间的整数，收到 {shown(port)!r}",
            f"the port must be an integer in 1..{PORT_MAX}, not {shown(port)!r}",
        )


def _check_host(host: str) -> None:
    if host.startswith("["):
        _check_ipv6_host(host)
        return
    if not host:
        _refuse("地址缺少主机名", "the address names no host")
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        _refuse(
            f"主机名 {shown(host)!r} 无效：只能含字母、数字、`-`、`_` 与 `.`",
            f"host {shown(host)!r} is not valid: letters, digits, -, _ and . only",
        )
    last_label = host.removesuffix(".").rpartition(".")[2]
    if not _NUMERIC_LABEL.fullmatch(last_label):
        return
    number = ipv4_number(host.removesuffix("."))
    if number is None:
        _refuse(f"{shown(host)!r} 不是有效的 IPv4 地址", f"{shown(host)!r} is not an IPv4 address")
    if number != host:
        _plain_spelling(host, number)


def _check_ipv6_host(host: str) -> None:
    try:
        address = ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else host)
    except ValueError:
        _refuse(f"{shown(host)!r} 不是有效的 IPv6 地址", f"{shown(host)!r} is not an IPv6 address")
    if address.ipv4_mapped is not None:
        _plain_spelling(host, str(address.ipv4_mapped))


def _plain_spelling(host: str, plain: str) -> NoReturn:
    _refuse(
        f"请把主机写作 {plain}（{shown(host)} 是它的另一种写法）",
        f"write the host as {plain} ({shown(host)} is another spelling of it)",
    )


def _refuse(zh: str, en: str) -> NoReturn:
    raise InvalidInput(msg(zh, en), field="address")


def shown(text: str) -> str:
    """Input echoed in a message, cut short: a message never repeats a huge value."""
    return text if len(text) <= SHOWN_CHARS_MAX else text[:SHOWN_CHARS_MAX] + "…"


def _slurm_controller(address: str) -> str:
    """`cluster@host:port` of the first SlurmctldHost in the slurm.conf the address names; the
    file's resolved path when it cannot be read."""
    path = Path(address) if address.strip() else DEFAULT_SLURM_CONF
    settings = _read_conf(path)
    if settings is None:
        return f"file:{path.resolve()}"
    cluster = settings.get("clustername", "").lower()
    host_spec = settings.get("slurmctldhost") or settings.get("controlmachine", "")
    host = _controller_host(host_spec)
    port = settings.get("slurmctldport", SLURMCTLD_PORT_DEFAULT).split("-")[0]
    return f"{cluster}@{host}:{port}"


def _controller_host(spec: str) -> str:
    """`localhost(127.0.0.1)` → 127.0.0.1: the address in brackets is where it listens."""
    name, _, address = spec.partition("(")
    host = (address.rstrip(")") or name).strip().lower()
    return LOOPBACK_NAMES.get(host, host)


def _read_conf(path: Path) -> dict[str, str] | None:
    try:
        if not path.is_file() or path.stat().st_size > SLURM_CONF_BYTES_MAX:
            return None
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    settings: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, separator, value = line.partition("=")
        key = key.strip().lower()
        if separator and key and " " not in key and key not in settings:
            settings[key] = value.strip().split()[0] if value.strip() else ""
    return settings
