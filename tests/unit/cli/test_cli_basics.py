"""``streamdrift --version`` / ``--help`` through click and through the installed console script, and the
broker command's paths that need no JVM."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from click.testing import CliRunner

from streamdrift import __version__
from streamdrift.cli import main

SCRIPT = Path(sys.executable).parent / "streamdrift"


def test_version_is_the_installed_distribution_version() -> None:
    assert __version__ == version("streamdrift")
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"streamdrift, version {__version__}"


def test_help_lists_the_broker_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ")
    commands = result.output.split("Commands:", 1)[1]
    assert "broker" in commands.split()
    for short in ("-h", "--help"):
        assert CliRunner().invoke(main, [short]).output == result.output


def test_unknown_command_fails() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_console_script_version_and_help() -> None:
    assert SCRIPT.is_file(), f"console script not installed at {SCRIPT}"
    done = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"streamdrift, version {__version__}"
    done = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage: streamdrift" in done.stdout
    assert "broker" in done.stdout.split("Commands:", 1)[1].split()


def test_module_entry_point_matches_console_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamdrift", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(__version__)


def test_broker_help_lists_subcommands() -> None:
    result = CliRunner().invoke(main, ["broker", "--help"])
    assert result.exit_code == 0
    assert {"start", "stop", "status"} <= set(result.output.split("Commands:", 1)[1].split())


def test_broker_status_and_stop_without_a_broker(tmp_path: Path) -> None:
    status = CliRunner().invoke(main, ["broker", "status", "--data-dir", str(tmp_path)])
    assert status.exit_code == 3
    assert status.output.startswith("stopped")
    stop = CliRunner().invoke(main, ["broker", "stop", "--data-dir", str(tmp_path)])
    assert stop.exit_code == 0
    assert stop.output.strip() == "not running"


def test_broker_status_ignores_a_stale_pid_file(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "kafka.pid").write_text(f"{dead.pid}\n", encoding="utf-8")
    status = CliRunner().invoke(main, ["broker", "status", "--data-dir", str(tmp_path)])
    assert status.exit_code == 3
    assert status.output.startswith("stopped")


def test_broker_start_reports_a_missing_kafka_home(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["broker", "start", "--data-dir", str(tmp_path / "data"), "--kafka-home", str(tmp_path / "nowhere")],
    )
    assert result.exit_code == 1
    assert "Error:" in result.output and "pom.xml" in result.output
