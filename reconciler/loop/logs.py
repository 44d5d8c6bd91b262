"""Structured logging for the loop: one line per action with its reason, human or JSON."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.converge.applying import Progress

LOGGER_NAME = "reconcile"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, sort_keys=False)


class HumanFormatter(logging.Formatter):
    """``2026-01-01T10:00:00 info  message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        extra = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD and v not in ("", None)
        )
        line = f"{stamp} {record.levelname.lower():<5} {record.getMessage()}"
        return f"{line} {extra}" if extra else line


def setup(fmt: str = "human", level: int = logging.INFO) -> logging.Logger:
    """Configure the ``reconcile`` logger to write to stderr in ``fmt`` (human or json)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def log_progress(logger: logging.Logger, progress: Progress) -> None:
    """One line per finished step: what, why, which fields, how long."""
    step = progress.step
    if progress.phase == "start":
        return
    extra = {
        "resource": step.key,
        "action": step.action.value,
        "reason": step.reason.value,
        "fields": ", ".join(sorted({d.path for d in step.diffs})),
        "seconds": round(progress.seconds, 3),
    }
    if progress.phase == "done":
        logger.info(f"{step.action.value} {step.key} ({step.reason.value})", extra=extra)
    elif progress.phase == "warning":
        logger.warning(f"{step.action.value} {step.key}: {progress.message}", extra=extra)
    else:
        logger.error(
            f"{step.action.value} {step.key} {progress.phase}: {progress.message}", extra=extra
        )
