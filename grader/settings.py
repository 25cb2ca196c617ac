"""The settings a grading runs under, resolved once into one frozen object.

The staff set them as environment variables (`GRADER_TRAIN_TIMEOUT_S=300`, `GRADER_MEMORY_LIMIT_MB`,
`GRADER_MODELS`, `GRADER_SANDBOX`...) or on the command line (`--sandbox`, `--models`); this module is
the one place that reads them. A grader run resolves them once (`grader.cli`), and every child gets
the whole object as one variable, GRADER_SETTINGS (JSON), which then wins over the single ones: the
pytest child of each grading, a class run's workers and Ray tasks. Each result stores it, and the
class cache key holds it (less the threads, which must never change a verdict): a class resumed
under other limits, models or sandbox mode regrades its students.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field

ENV = "GRADER_SETTINGS"
TIMEOUT = re.compile(r"GRADER_(\w+)_TIMEOUT_S$")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    sandbox: str | None = None            # the sandbox mode (grader/isolation.py); None: probe it
    models: str | None = None             # the gpu profile's modelscope cache
    timeouts: dict[str, float] = field(default_factory=dict)   # limit name -> seconds, overriding the declaration's
    memory_limit_mb: float | None = None  # one sandboxed run's memory
    disk_limit_mb: float | None = None
    file_limit: int | None = None         # files and folders one run may make (the tmpfs's inodes)
    process_limit: int | None = None
    cpu_threads: int | None = None        # OpenMP threads of each sandbox (a class run shares the cores)
    sweep_overrides: dict | None = None   # benchmarks/floor_sweep.py only

    def verdict_key(self) -> dict:
        """What a verdict may depend on: everything but the threads."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "cpu_threads"}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def env(self) -> dict[str, str]:
        """The whole object for a child process."""
        return {ENV: self.to_json()}

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        try:
            data = json.loads(text)
            return cls(**{f.name: data.get(f.name, f.default if f.default is not dataclasses.MISSING else {})
                          for f in dataclasses.fields(cls)})
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{ENV} is not the grader's settings ({exc}): unset it") from None


def _number(environ, name: str, kind=float):
    raw = environ.get(name)
    if not raw:
        return None
    try:
        return kind(float(raw))
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number; unset it or give one (e.g. {name}=300)") from None


def from_environment(environ=None) -> Settings:
    """The settings the single variables give (what the staff set)."""
    environ = os.environ if environ is None else environ
    timeouts = {}
    for key in environ:
        match = TIMEOUT.match(key)
        if match and environ[key]:
            timeouts[match.group(1).lower()] = _number(environ, key)
    sweep = environ.get("GRADER_SWEEP_OVERRIDES")
    try:
        sweep = json.loads(sweep) if sweep else None
    except ValueError:
        raise SettingsError("GRADER_SWEEP_OVERRIDES is not JSON") from None
    return Settings(sandbox=environ.get("GRADER_SANDBOX") or None, models=environ.get("GRADER_MODELS") or None,
                    timeouts=dict(sorted(timeouts.items())), memory_limit_mb=_number(environ, "GRADER_MEMORY_LIMIT_MB"),
                    disk_limit_mb=_number(environ, "GRADER_DISK_LIMIT_MB"),
                    file_limit=_number(environ, "GRADER_FILE_LIMIT", int),
                    process_limit=_number(environ, "GRADER_PROCESS_LIMIT", int),
                    cpu_threads=_number(environ, "GRADER_CPU_THREADS", int), sweep_overrides=sweep)


def current() -> Settings:
    """This process's settings: the resolved object its run handed down, else the single variables."""
    text = os.environ.get(ENV)
    return Settings.from_json(text) if text else from_environment()


def resolve(**changes) -> Settings:
    """For the top of a run: the settings as given, with what the command line resolved, handed to
    every child from now on (os.environ[GRADER_SETTINGS])."""
    settings = current().replace(**changes)
    os.environ[ENV] = settings.to_json()
    return settings
