"""``runlite.simvue.Handler``: a ``logging.Handler`` that sends log records to a run's events,
as ``simvue.handler.Handler`` does (records of ``simvue.*`` loggers are skipped)."""

from __future__ import annotations

import logging
from typing import Any


class Handler(logging.Handler):
    """Log records as events of ``simvue_run`` (a ``runlite.simvue.Run``): the formatted
    message at info level, as Simvue sends it; a failing call goes to ``handleError``."""

    def __init__(self, simvue_run: Any) -> None:
        logging.Handler.__init__(self)
        self._run_object = simvue_run

    def emit(self, record: logging.LogRecord) -> None:
        if "simvue." in record.name:
            return
        message = self.format(record)
        try:
            self._run_object.log_event(message)
        except Exception:  # noqa: BLE001 - logging must not raise (as in Simvue)
            logging.Handler.handleError(self, record)

    def close(self) -> None:
        """Nothing to release (the run is closed by its owner)."""
