"""The benchmark's results file: one JSON line per finished training run.

`runs.jsonl` in the output folder starts with the run's configuration; each
finished (method, seed) run, and each tuning trial, is appended as soon as
it ends (flushed and synced), so an interrupted benchmark loses at most the
run in progress. `--resume` reads the file back and trains only what is
missing; an output folder that already holds results is never silently
overwritten.
"""

import json
import os

FILENAME = "runs.jsonl"
RESULT_FILES = (FILENAME, "results.json", "results.csv", "results.png", "table.md",
                "claims.md", "claims.json")


class StoreError(ValueError):
    """An output folder that cannot be used as asked (one line for the CLI)."""


class RunStore:
    """Finished runs of one benchmark, keyed by strings such as `final/sam/0`.

    Args:
        folder: the output folder (created if missing); None keeps the
            records in memory only.
        config: the run's configuration (JSON-ready dict); `--resume`
            refuses a folder written with another configuration.
        resume: continue the runs already in `folder`.
        overwrite: discard results already in `folder`.
    """

    def __init__(self, folder, config, resume=False, overwrite=False):
        self.records = {}
        self.path = None if folder is None else os.path.join(folder, FILENAME)
        if folder is None:
            return
        existing = [f for f in RESULT_FILES if os.path.exists(os.path.join(folder, f))]
        if resume:
            if not os.path.exists(self.path):
                raise StoreError(
                    f"--resume: {self.path} does not exist; nothing to resume "
                    "(drop --resume to start a new run)"
                )
            self._load(config)
            return
        if existing and not overwrite:
            raise StoreError(
                f"output folder {folder!r} already holds results ({', '.join(existing)}); "
                "pass --resume to continue that run, --overwrite to replace it, "
                "or choose another --output"
            )
        os.makedirs(folder, exist_ok=True)
        for name in existing:
            os.remove(os.path.join(folder, name))
        self._append({"kind": "config", "config": config})

    def _load(self, config):
        with open(self.path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        if not lines or lines[0].get("kind") != "config":
            raise StoreError(f"--resume: {self.path} does not start with a configuration")
        saved = lines[0]["config"]
        changed = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
        if changed:
            details = "; ".join(
                f"{k}: {saved.get(k)!r} then, {config.get(k)!r} now" for k in changed
            )
            raise StoreError(
                f"--resume: the arguments differ from the interrupted run's ({details}); "
                "resume with the same arguments"
            )
        for line in lines[1:]:
            self.records[line["key"]] = line["record"]

    def _append(self, line):
        if self.path is None:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def get(self, key):
        """The record stored under `key`, or None."""
        return self.records.get(key)

    def add(self, key, record):
        """Stores `record` under `key`, appended to the file at once."""
        self.records[key] = record
        self._append({"kind": "run", "key": key, "record": record})
        return record

    def run(self, key, train):
        """The stored record for `key`, else `train()`'s, stored."""
        found = self.get(key)
        return found if found is not None else self.add(key, train())
