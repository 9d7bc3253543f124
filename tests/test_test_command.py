"""README's test command (tools/test.sh) on a machine without LibreOffice.

Each test runs the real script with a PATH that holds only a few tools (so the machine's
own soffice is hidden), stubs for apt-get/sudo/id that record their calls in a log, and
a stub test command (STRESSMODEL_PYTEST) that records that it ran: the install step runs
before pytest, through sudo when not root, and a machine where nothing can be installed
gets a clear message and a non-zero exit without running pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "test.sh"
BASH = shutil.which("bash")
CHMOD = shutil.which("chmod")
assert BASH is not None and CHMOD is not None


def _stub(path: Path, body: str) -> None:
    path.write_text(f"#!{BASH}\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


def _machine(
    tmp_path: Path, *, uid: int = 0, apt: str | None = "ok", sudo: bool = True, pytest_rc: int = 0
) -> dict[str, str]:
    """A bin folder standing in for a fresh machine; returns the environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("bash", "env"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    _stub(bin_dir / "id", f'[ "$1" = "-u" ] && echo {uid}')
    if apt is not None:
        install = (
            f'printf "#!{BASH}\\necho fake soffice\\n" > "{bin_dir}/soffice"; {CHMOD} +x "{bin_dir}/soffice"'
            if apt == "ok"
            else "exit 100"
        )
        _stub(
            bin_dir / "apt-get",
            f'echo "apt-get $* (DEBIAN_FRONTEND=$DEBIAN_FRONTEND)" >> "{log}"\n'
            f'if [ "$1" = "install" ]; then {install}; fi',
        )
    if sudo:
        _stub(bin_dir / "sudo", f'echo "sudo $*" >> "{log}"\nexec "$@"')
    _stub(tmp_path / "fake-pytest", f'echo "pytest $*" >> "{log}"\nexit {pytest_rc}')
    return {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "STRESSMODEL_PYTEST": str(tmp_path / "fake-pytest"),
        "STRESSMODEL_SOFFICE_CANDIDATES": str(tmp_path / "nowhere" / "soffice"),
    }


def _run(
    tmp_path: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    proc = subprocess.run(
        [BASH, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    log = tmp_path / "calls.log"
    return proc, [
        c.rstrip() for c in log.read_text(encoding="utf-8").splitlines()
    ] if log.exists() else []


def test_soffice_hidden_as_root_installs_then_runs_pytest(tmp_path: Path) -> None:
    env = _machine(tmp_path, uid=0)
    proc, calls = _run(tmp_path, env, "-q", "tests/test_cli.py")
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "apt-get update (DEBIAN_FRONTEND=noninteractive)",
        "apt-get install -y libreoffice-calc-nogui (DEBIAN_FRONTEND=noninteractive)",
        "pytest -q tests/test_cli.py",
    ]
    assert "installing libreoffice-calc-nogui with apt-get" in proc.stderr


def test_not_root_installs_through_sudo(tmp_path: Path) -> None:
    env = _machine(tmp_path, uid=1000)
    proc, calls = _run(tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get update",
        "apt-get update (DEBIAN_FRONTEND=noninteractive)",
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y libreoffice-calc-nogui",
        "apt-get install -y libreoffice-calc-nogui (DEBIAN_FRONTEND=noninteractive)",
        "pytest",
    ]


def test_no_apt_get_stops_with_what_to_install(tmp_path: Path) -> None:
    env = _machine(tmp_path, apt=None)
    proc, calls = _run(tmp_path, env)
    assert proc.returncode == 3
    assert calls == []  # pytest never ran
    assert "LibreOffice (soffice) is needed by the workbook tests" in proc.stderr
    assert "no apt-get" in proc.stderr
    assert "sudo apt-get install -y libreoffice-calc-nogui" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_not_root_without_sudo_stops(tmp_path: Path) -> None:
    env = _machine(tmp_path, uid=1000, sudo=False)
    proc, calls = _run(tmp_path, env)
    assert proc.returncode == 3
    assert calls == []
    assert "needs root, and sudo is not available" in proc.stderr


def test_failed_install_stops_before_pytest(tmp_path: Path) -> None:
    env = _machine(tmp_path, apt="fail")
    proc, calls = _run(tmp_path, env)
    assert proc.returncode == 3
    assert calls[-1].startswith("apt-get install -y libreoffice-calc-nogui")
    assert not any(c.startswith("pytest") for c in calls)
    assert "apt-get install -y libreoffice-calc-nogui' failed" in proc.stderr


def test_soffice_present_runs_pytest_only_and_passes_its_exit_code(tmp_path: Path) -> None:
    env = _machine(tmp_path, apt="ok", pytest_rc=1)
    _stub(Path(env["PATH"]) / "soffice", "echo fake")
    proc, calls = _run(tmp_path, env, "-x")
    assert proc.returncode == 1
    assert calls == ["pytest -x"]


def test_no_tests_ran_is_a_failure_with_a_message(tmp_path: Path) -> None:
    env = _machine(tmp_path, pytest_rc=5)
    _stub(Path(env["PATH"]) / "soffice", "echo fake")
    proc, _calls = _run(tmp_path, env)
    assert proc.returncode == 5
    assert "pytest collected no tests" in proc.stderr


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, flags=re.S)
    test_command = next(b for b in blocks if "tools/test.sh" in b)
    assert test_command == ". .venv/bin/activate && tools/test.sh"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == test_command
    assert "pip install -e '.[test]'" in ci
    assert os.access(SCRIPT, os.X_OK)
