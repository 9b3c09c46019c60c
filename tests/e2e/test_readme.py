"""README.md, executed: every ```bash and ```sh block runs as written, section by section, in a
fresh folder (with the repository's .venv, src and docs linked in) against a real
`suanli serve`, so the text a newcomer follows cannot drift from what works.

Two substitutions only: the API port 8710 becomes a free port (several test runs share a
machine), and the Ray and Slurm clusters a provider would name come from the test's own real
clusters through the variables the README itself reads (`RAY_DASHBOARD`, `SLURM_CONF`, ...).
A block may carry one directive in an HTML comment just above it:
`<!-- readme-test: skip: <why> -->` (only the suite's own `make test` is skipped) or
`<!-- readme-test: env NAME=value ... -->` (extra environment, e.g. a shorter hunt).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.clusters import free_port

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(.+?)\s*-->\s*$")
SECTION_TIMEOUT_S = 600
NEEDS_CLUSTERS = "Connect your cluster"
SCENES = "Scenario exchange"


@dataclass
class Block:
    section: str
    line: int
    language: str
    text: str
    directive: str = ""


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.language in ("bash", "sh")]


def parse(path: Path = README) -> list[Section]:
    """Sections (## headings) with their fenced blocks and each block's directive."""
    sections: list[Section] = [Section("(top)")]
    lines = path.read_text(encoding="utf-8").splitlines()
    index, directive = 0, ""
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            sections.append(Section(line[3:].strip()))
        found = DIRECTIVE.match(line)
        if found:
            directive = found.group(1)
        fence = FENCE.match(line)
        if fence:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            body = "\n".join(lines[index + 1 : end])
            sections[-1].blocks.append(
                Block(sections[-1].title, index + 1, fence.group(1), body, directive)
            )
            index, directive = end, ""
        elif line.strip() and not found:
            directive = ""
        index += 1
    return sections


def runnable_sections() -> list[Section]:
    """Sections with at least one block to run (not skipped)."""
    return [
        section
        for section in parse()
        if any(not block.directive.startswith("skip") for block in section.runnable)
    ]


def test_every_shell_block_is_run_or_skipped_for_a_stated_reason() -> None:
    blocks = [block for section in parse() for block in section.runnable]
    assert len(blocks) >= 6
    skipped = [block for block in blocks if block.directive.startswith("skip")]
    assert all(len(block.directive) > len("skip: ") + 10 for block in skipped), skipped
    assert len(skipped) <= 1, [block.line for block in skipped]  # `make test` runs the suite
    for block in blocks:
        code = re.sub(r"(^|\s)#.*$", "", block.text, flags=re.M)  # comments may say <model>
        assert not re.search(r"<[a-z][a-z _-]*>", code) or block.directive.startswith("skip"), (
            f"README line {block.line}: a <placeholder> cannot run; use a shell variable"
        )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh folder that looks like a clone: .venv, src and docs linked from the repo."""
    for name in (".venv", "src", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def environment(port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SUANLI_") and key not in ("VIRTUAL_ENV",)
    }
    env.update({"SUANLI_API_PORT": str(port), "LANG": "C.UTF-8", **extra})
    return env


def script_of(section: Section, port: int) -> tuple[str, dict[str, str]]:
    parts, extra = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"], {}
    for block in section.runnable:
        if block.directive.startswith("skip"):
            continue
        if block.directive.startswith("env "):
            for pair in shlex.split(block.directive[4:]):
                name, _, value = pair.partition("=")
                extra[name] = value
        parts.append(f"# README.md line {block.line}")
        parts.append(block.text.replace("8710", str(port)))
    return "\n".join(parts) + "\n", extra


def run_section(section: Section, cwd: Path, extra: dict[str, str] | None = None) -> str:
    port = free_port()
    script, directives = script_of(section, port)
    env = environment(port, {**directives, **(extra or {})})
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SECTION_TIMEOUT_S,
        start_new_session=True,
    )
    tail = f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    assert done.returncode == 0, f"README section {section.title!r} failed:\n{tail}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "section",
    [s for s in runnable_sections() if s.title != NEEDS_CLUSTERS],
    ids=lambda section: section.title,
)
def test_a_readme_section_runs_as_written(
    section: Section, workspace: Path, request: pytest.FixtureRequest
) -> None:
    if section.title == SCENES:  # a warm vector cache, as a user's second run finds it
        cache = workspace / ".suanli" / "cache" / "scene-vectors.npz"
        cache.parent.mkdir(parents=True)
        shutil.copyfile(request.getfixturevalue("scene_lists_vector_cache"), cache)
    output = run_section(section, workspace)
    checks = SECTION_CHECKS.get(section.title)
    if checks is not None:
        checks(output, workspace)


def _first_job(output: str, _cwd: Path) -> None:
    assert "hello" in output and "bye" in output, output
    assert '"state": "succeeded"' in output, output  # the curl job's final state


def _vouchers(output: str, cwd: Path) -> None:
    statement = next(line for line in output.splitlines() if ",train," in line)
    columns = statement.split(",")
    amount, subsidy = int(columns[8]), int(columns[9])
    assert subsidy == amount // 2 > 0, statement
    assert (cwd / "report.xlsx").stat().st_size > 0


SECTION_CHECKS = {
    "Your first job, by CLI and by curl": _first_job,
    "Vouchers (算力券)": _vouchers,
}


def test_the_sections_are_found() -> None:
    titles = {section.title for section in runnable_sections()}
    assert {"Your first job, by CLI and by curl", NEEDS_CLUSTERS, "Vouchers (算力券)"} <= titles


def test_blocks_are_parsed_with_their_directives(tmp_path: Path) -> None:
    sample = tmp_path / "R.md"
    sample.write_text(
        "## A\n<!-- readme-test: env X=1 -->\n```bash\necho a\n```\n\n```json\n{}\n```\n"
        "## B\n<!-- readme-test: skip: the suite's own entry point -->\n```sh\nmake test\n```\n"
    )
    sections = parse(sample)
    assert [s.title for s in sections] == ["(top)", "A", "B"]
    assert sections[1].runnable[0].directive == "env X=1"
    assert len(sections[1].blocks) == 2 and len(sections[1].runnable) == 1
    assert sections[2].runnable[0].directive.startswith("skip")


def iter_blocks() -> Iterator[Block]:
    for section in parse():
        yield from section.blocks
