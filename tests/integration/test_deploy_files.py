"""docs/deploy's unit files and nginx example, checked by the tools that run them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_component

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
SHIPPED_SUANLI = "/opt/suanli/.venv/bin/suanli"


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    require_component(analyze is not None, "systemd-analyze (apt-get install systemd)")
    assert analyze is not None
    suanli = Path(sys.executable).parent / "suanli"
    env_file = tmp_path / "suanli.env"
    shutil.copy(DEPLOY / "suanli.env", env_file)
    units = {"suanli-api@8711.service": "suanli-api@.service", "suanli-scheduler.service": None}
    for name, source in units.items():
        text = (DEPLOY / (source or name)).read_text()
        assert SHIPPED_SUANLI in text
        # The shipped paths and user, made this machine's: verify checks that they exist.
        text = text.replace(SHIPPED_SUANLI, str(suanli))
        text = text.replace("/etc/suanli/suanli.env", str(env_file))
        text = text.replace("User=suanli", "User=root").replace("Group=suanli", "Group=root")
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / name) for name in units)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if str(tmp_path) in line  # only what concerns our units, not the host's own
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_the_nginx_example_passes_nginx_t(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    require_component(nginx is not None, "nginx (scripts/install-system-deps.sh installs it)")
    assert nginx is not None
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{\n  access_log off;\n  include {DEPLOY / 'nginx-suanli.conf'};\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
