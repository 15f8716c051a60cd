"""Commands run beside a ``runlite.simvue.Run`` (Simvue's ``add_process``): the command line
as Simvue's executor builds it, and one process with its output files and a waiting thread."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from . import models


def build_command(cmd_args: tuple, executable: Any, script: Any, input_file: Any, cmd_kwargs: dict,
                  env: dict | None) -> list[str]:
    """``[executable, script, input_file, options..., positional...]`` as Simvue builds it:
    ``flag=True`` gives ``-f``/``--flag``, ``option=value`` gives ``-o value``/``--option value``
    (underscores as dashes)."""
    pos_args = [str(a) for a in cmd_args]
    path = (dict(os.environ) | (env or {})).get("PATH")
    if executable is not None:
        executable = os.fspath(executable)
        if not os.path.exists(executable) and not shutil.which(executable, path=path):
            raise FileNotFoundError(f"Executable '{executable}' does not exist, please check the path/environment.")
    for path_arg, what in ((script, "script"), (input_file, "input_file")):
        if path_arg is not None and not os.path.isfile(os.fspath(path_arg)):
            raise models.refuse(f"{what} {os.fspath(path_arg)!r} is not a file")
    command: list[str] = []
    if executable is not None:
        command.append(executable)
    elif pos_args:
        command.append(pos_args.pop(0))
    else:
        command.append(os.environ.get("SHELL") or "/bin/sh")
    if script is not None:
        command.append(os.fspath(script))
    if input_file is not None:
        command.append(os.fspath(input_file))
    for key, value in cmd_kwargs.items():
        flag = f"-{key}" if len(key) == 1 else f"--{key.replace('_', '-')}"
        if isinstance(value, bool):
            if value:
                command.append(flag)
        else:
            command += [flag, f"{value}"]
    return command + pos_args


def start(command: list[str], out_prefix: str, env: dict | None, cwd: Any,
          done: Callable[[int, str, str], None]) -> tuple[subprocess.Popen, threading.Thread]:
    """Start ``command`` (its own process group) writing ``<out_prefix>.out``/``.err``; a
    thread waits for it and calls ``done(returncode, out_path, err_path)``."""
    out_path, err_path = f"{out_prefix}.out", f"{out_prefix}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=None if env is None else {**os.environ, **env},
                                   cwd=cwd, start_new_session=True)

    def wait() -> None:
        done(process.wait(), out_path, err_path)

    thread = threading.Thread(target=wait, name=f"runlite-simvue-{os.path.basename(out_prefix)}", daemon=True)
    thread.start()
    return process, thread
