"""Which sandbox mode grades on this machine: probed, never assumed.

A grader run starts a trivial run in each candidate mode, strongest first, and uses the first that
really works; its children are handed the answer in the run's settings (grader/settings.py), so a
class run uses one mode throughout. A mode asked for by name (GRADER_SANDBOX, `--sandbox`) must work, or the run stops with
the fix. `grader doctor` prints what each mode said and the fix for each that failed.

Strength: bubblewrap (root) > bubblewrap-userns (a user) > container (root where namespaces are
refused) > process. The process mode is for a student's self-check; `grader run` uses it only when
asked for by name (it says so on the console).
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import MODES, Limits, Sandbox, SandboxFailure, fix_for, release_workdir
from grader.settings import Settings, current, resolve


class SandboxUnavailable(RuntimeError):
    """No mode this run may use works here; the message names the fix."""


@dataclass(frozen=True)
class ModeCheck:
    mode: str
    works: bool
    said: str      # why it does not work (its own error), or "" where it works
    fix: str       # what to do about it


def candidates() -> tuple[str, ...]:
    """The modes this user can have, strongest first."""
    return ("bubblewrap", "container", "process") if os.geteuid() == 0 else ("bubblewrap-userns", "process")


def check_mode(mode: str) -> ModeCheck:
    """Start a trivial run in ``mode``: does it really run here?"""
    missing = _missing_tools(mode)
    if missing:
        return ModeCheck(mode, False, missing, fix_for(mode, missing))
    work = Path(tempfile.mkdtemp(prefix="grader-probe-"))
    try:
        ok, output = Sandbox(ro_paths=[], env={}, mode=mode, limits=Limits(wall_s=60)).try_run(work)
    except (OSError, SandboxFailure) as exc:
        ok, output = False, str(exc)
    finally:
        release_workdir(work)
    said = "" if ok else (" ".join(output.strip().splitlines()[-3:])[:400] or "it printed nothing")
    return ModeCheck(mode, ok, said, "" if ok else fix_for(mode, output))


def _missing_tools(mode: str) -> str:
    if mode in ("bubblewrap", "bubblewrap-userns") and shutil.which("bwrap") is None:
        return "bwrap is not installed"
    if mode in ("bubblewrap", "container") and os.geteuid() != 0:
        return "needs the grader to run as root"
    if mode in ("bubblewrap", "container") and shutil.which("setpriv") is None:
        return "setpriv is not installed"
    if mode == "container":
        try:
            import py_landlock  # noqa: F401
            import pyseccomp  # noqa: F401
        except (ImportError, OSError) as exc:
            return f"the Landlock/seccomp bindings do not load ({exc})"
    return ""


def detect_mode() -> str:
    """The sandbox mode of this grading: GRADER_SANDBOX where the run resolved it (or the user asked
    for one by name), else the strongest that works here, probed once."""
    return resolve_mode()


def private_mounts_possible() -> bool:
    """Can the runner give its pytest child a private mount namespace (so disk_capped() holds)?
    Only where the probed mode is bubblewrap as root: namespaces then work on this machine."""
    return os.geteuid() == 0 and detect_mode() == "bubblewrap" and shutil.which("unshare") is not None


def resolve_mode() -> str:
    """The settings' mode where set (by the user by name, or by the run that resolved it for its
    children, which then trust it), else the strongest mode that works here (probed once)."""
    asked = current().sandbox
    if asked:
        if asked not in MODES:
            raise SandboxUnavailable(f"GRADER_SANDBOX={asked!r} is not a sandbox mode; choose one of "
                                     f"{', '.join(MODES)} / 未知的沙箱模式")
        return asked
    return strongest()


@functools.cache
def strongest() -> str:
    return next((mode for mode in candidates() if check_mode(mode).works), "process")


def require_mode(asked: str | None) -> str:
    """For the top of a grader run: the mode asked for by name, checked, or the strongest that
    works; put in the run's settings so every child of the run uses it without probing again."""
    if asked:
        check = check_mode(asked)
        if not check.works:
            raise SandboxUnavailable(f"the {asked} sandbox does not work here: {check.said}. Fix: {check.fix} "
                                     f"(`grader doctor` checks every mode) / 沙箱模式不可用")
        mode = asked
    else:
        mode = resolve_mode()
    resolve(sandbox=mode)
    return mode


def resolved_settings() -> Settings:
    """This run's settings with the sandbox mode it grades in filled in (results store them, the
    class cache key holds them)."""
    return current().replace(sandbox=resolve_mode())


def doctor() -> list[ModeCheck]:
    """Every mode this user can have, each tried."""
    return [check_mode(mode) for mode in candidates()]
