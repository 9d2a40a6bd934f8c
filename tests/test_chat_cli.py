"""`crmbot chat` scripted through a pipe answers from the sample KB in en, sv and lv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _chat(tmp_path: Path, lines: str, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "CRMBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db"}
    proc = subprocess.run(
        [sys.executable, "bot.py", "chat", *args], input=lines, capture_output=True, text=True,
        cwd=ROOT, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_where_is_my_order_in_three_languages(tmp_path: Path) -> None:
    out = _chat(tmp_path, "where is my order?\nvar är min beställning?\nkur ir mans pasūtījums?\n")
    assert "You can follow your order" in out
    assert "Du kan följa din beställning" in out
    assert "Savu pasūtījumu varat izsekot" in out
    assert out.count("bot>") == 3  # three answers, each asking "did this help?"


def test_buttons_by_number_and_locale_flag(tmp_path: Path) -> None:
    out = _chat(tmp_path, "/start\nvar är mitt paket?\n1\n", "--locale", "sv", "--name", "Ana")
    assert "Hej, Ana!" in out
    assert "Vad bra att jag kunde hjälpa!" in out  # button 1 = "Ja"


def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "bot.py", "chat"], input="", capture_output=True, text=True, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CRMBOT_SLACK_BOT_TOKEN": "xoxb-x"}, timeout=60,
    )
    assert proc.returncode == 2
    assert "CRMBOT_SLACK_SIGNING_SECRET" in proc.stderr


def _read_until(
    fd: int, marker: bytes, seen: bytearray, count: int = 1, timeout: float = 60
) -> None:
    import select

    while seen.count(marker) < count:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"waited for {marker!r}; got {bytes(seen[-300:])!r}"
        seen += os.read(fd, 4096)


def test_on_a_terminal_the_prompt_comes_first_and_the_first_line_is_answered(
    tmp_path: Path,
) -> None:
    """The prompt is shown before the core has loaded; what is typed then is not lost."""
    import pty

    env = {"PATH": "/usr/bin:/bin", "CRMBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db",
           "CRMBOT_CACHE_DIR": str(tmp_path / "cache")}
    pid, fd = pty.fork()
    if pid == 0:  # the child becomes crmbot chat on the pseudo-terminal
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "bot.py", "chat"], env)
    seen = bytearray()
    try:
        _read_until(fd, b"you> ", seen)
        assert b"Type your message" in seen and b"bot>" not in seen
        os.write(fd, b"where is my order?\n")  # typed while the core is still loading
        _read_until(fd, b"You can follow your order", seen)
        _read_until(fd, b"you> ", seen, count=2)  # the next prompt, after the answer
        assert seen.index(b"You can follow") < seen.rindex(b"you> ")
        os.write(fd, b"\x04")  # Ctrl-D ends the chat
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)


def test_a_hand_over_in_the_terminal_says_no_desk_is_connected(tmp_path: Path) -> None:
    out = _chat(tmp_path, "/human\nare you there?\nhello?\n")
    assert "case #1" in out
    assert out.count("no staff desk is connected to the terminal") == 1
