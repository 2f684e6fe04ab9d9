"""The site's secret key, when none is configured, is made once and shared by every worker."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

import pytest

from lms_core.config import load_config
from lms_core.web import _secret_key


def _config(tmp_path: Path) -> Any:
    return load_config(env={}, overrides={"instance_path": str(tmp_path / "instance")})


def test_a_worker_starting_while_another_writes_the_key_never_reads_it_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first worker is held while it makes its key; a second worker starts meanwhile.
    first_is_writing = threading.Event()
    let_first_finish = threading.Event()
    real_token = secrets.token_urlsafe

    def slow_token(n: int) -> str:
        if threading.current_thread() is writer:
            first_is_writing.set()
            assert let_first_finish.wait(10)
        return real_token(n)

    config = _config(tmp_path)
    keys: dict[str, str] = {}
    monkeypatch.setattr(secrets, "token_urlsafe", slow_token)
    writer = threading.Thread(target=lambda: keys.update(first=_secret_key(config)))
    writer.start()
    assert first_is_writing.wait(10)
    keys["second"] = _secret_key(config)
    let_first_finish.set()
    writer.join(10)

    assert len(keys["second"]) >= 32
    assert keys["first"] == keys["second"]
    instance = tmp_path / "instance"
    assert (instance / "secret_key").read_text().strip() == keys["second"]
    assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no temporary files left


def test_the_key_file_is_readable_only_by_its_owner(tmp_path: Path) -> None:
    key = _secret_key(_config(tmp_path))
    path = tmp_path / "instance" / "secret_key"
    assert path.stat().st_mode & 0o077 == 0
    assert _secret_key(_config(tmp_path)) == key


def test_an_empty_key_file_stops_start_up_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "instance" / "secret_key"
    path.parent.mkdir()
    path.write_text("")
    with pytest.raises(RuntimeError, match="secret key file .* is empty"):
        _secret_key(_config(tmp_path))
