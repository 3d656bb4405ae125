"""The effective configuration of each file for one command line: discovered or explicit,
plus the command line's overrides; and the files the command line names."""

from __future__ import annotations

import argparse
import os
from typing import Any, Dict, Optional

from safestate_lint import config as config_mod
from safestate_lint.config import Config
from safestate_lint.files import discover_files
from safestate_lint.finding import UserError

__all__ = ["Settings", "collect"]


class Settings:
    """The effective configuration of each file: discovered or explicit, plus CLI overrides."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.explicit: Optional[Config] = None
        if args.config:
            self.explicit = config_mod.load_file(args.config, require_section=True)
        self._cache: Dict[str, Config] = {}

    def override(self, config: Config) -> Config:
        changes: Dict[str, Any] = {}
        if self.args.select is not None:
            changes["select"] = tuple(self.args.select)
        if self.args.ignore is not None:
            changes["ignore"] = tuple(self.args.ignore)
        if self.args.extend_select:
            changes["extend_select"] = config.extend_select + tuple(self.args.extend_select)
        if self.args.extend_ignore:
            changes["extend_ignore"] = config.extend_ignore + tuple(self.args.extend_ignore)
        if self.args.exclude:
            changes["extend_exclude"] = config.extend_exclude + tuple(self.args.exclude)
        if self.args.assume_single_event_loop:
            changes["assume_single_event_loop"] = True
        if getattr(self.args, "runtime", None):
            changes["runtime_module"] = self.args.runtime
        return config.with_overrides(**changes) if changes else config

    def for_path(self, path: str) -> Config:
        """The config for a file, or for a directory given on the command line."""
        absolute = os.path.abspath(path)
        directory = absolute if os.path.isdir(absolute) else os.path.dirname(absolute)
        if directory not in self._cache:
            self._cache[directory] = self.override(self.explicit or config_mod.discover(directory))
        return self._cache[directory]

    def validate(self) -> None:
        """Option errors that argparse cannot see: unknown codes, a stdin name without stdin."""
        for option in ("select", "ignore", "extend_select", "extend_ignore"):
            bad = config_mod.unknown_code(getattr(self.args, option) or [])
            if bad is not None:
                raise UserError(f"safestate-lint: error: --{option.replace('_', '-')}: unknown rule code or prefix '{bad}'")
        paths = self.args.paths
        if "-" in paths and paths != ["-"]:
            raise UserError("safestate-lint: error: - (stdin) must be the only PATH")
        if self.args.stdin_filename and paths != ["-"]:
            raise UserError("safestate-lint: error: --stdin-filename names the file read from stdin: give - as the PATH")


def collect(args: argparse.Namespace, settings: Settings) -> tuple:
    files, path_errors = discover_files(args.paths, settings.for_path) if args.paths != ["-"] else ([], [])
    return files, [(e.display, e.reason) for e in path_errors]
