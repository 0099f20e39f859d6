"""The state directory (--state-dir): the emulator's state in SQLite, written as it changes and read
back when the emulator starts again.

The database holds the snapshot document (emulator/state/snapshot.py) in rows: one for the whole
(the clock, the token signing key, faults of every project, the instant written), one per project (its
settings, identities, Prove Keys, links, faults, counts), and one per flow, SMS, webhook delivery and
persona. A commit writes, in one transaction, only the rows whose text changed:
- a flow only when the flow store says a call found it or it recorded an event (`changed_ids`),
- an SMS once (one never changes), and deliveries only when the webhooks' change version moved,
- projects and the whole at every commit (small).

Commits run before each reply is sent (emulator/http/commit.py), so an acknowledged change is in the
database; what timers change in between (a code expiring, a retry sent) is written as the change feed
reports it, and a restart that missed it re-arms the timer anyway. The WAL journal with synchronous
NORMAL survives a killed process whole (kill -9 loses at most the request in flight); a power cut may
lose the last commits, never the database.

One emulator per directory: a lock (flock on `lock`, released by the kernel when the process dies,
even by kill -9) makes a second one refuse to start.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import fcntl
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from emulator import strict_json
from emulator.clock import rfc3339
from emulator.outbox import Sms
from emulator.service import Emulator
from emulator.state import snapshot
from emulator.state.codec import Personas, encode

DATABASE = "state.sqlite3"
LOCK = "lock"
FORMAT = "prove-emulator-state"
VERSION = 1  # of the rows' layout; the rows' bodies follow the snapshot format's version

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    kind TEXT NOT NULL,  -- head, project, flow, sms, delivery, persona
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,  -- the order records are read back in (a flow's start order, say)
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""
# The persona table remembers each persona object it wrote (a scenario reload makes new ones): past so
# many it starts again, and a persona still named is encoded once more, to the digest already written.
PERSONAS_REMEMBERED = 10_000
UPSERT = ("INSERT INTO rows (kind, key, seq, body) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body")


class StateDirectoryError(Exception):
    """The state directory cannot be used (in use, unreadable, of another format); says why."""


class StateWriteError(Exception):
    """A commit failed (disk full, say): nothing of it was written, and it is tried again whole."""


class StateDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StateDirectoryError(f"state directory {path}: cannot be made: {error.strerror or error}") from None
        self._lock_fd = self._lock()
        try:
            self._db = sqlite3.connect(path / DATABASE, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(SCHEMA)
            self._check_format()
            self._seq: int = self._db.execute("SELECT coalesce(max(seq), 0) FROM rows").fetchone()[0]
        except sqlite3.Error as error:
            self._unlock()
            raise StateDirectoryError(f"state directory {path}: {DATABASE} cannot be used: {error}") from None
        except StateDirectoryError:
            self._unlock()
            raise
        self._emulator: Emulator | None = None
        self._rewrite_owed = False  # the rows are not known to be the emulator's: delete all, write all
        self._flow_restores = 0  # the flow store's restores, as of the last commit
        self._personas = Personas()
        self._written: dict[tuple[str, str], str] = {}  # (kind, key) -> body, of heads, projects, deliveries
        self._written_sms: list[int] = []  # rising
        self._sms_clears = 0  # the outbox's clears, as of the last commit
        self._written_personas: set[str] = set()
        self._versions: dict[str, int] = {}

    # -- opening -----------------------------------------------------------------------------------

    def _lock(self) -> int:
        lock_path = self.path / LOCK
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StateDirectoryError(f"state directory {self.path}: {LOCK} cannot be opened: {error.strerror or error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StateDirectoryError(
                    f"state directory {self.path} is in use by another emulator"
                    + (f" (pid {holder})" if holder else "")
                    + "; stop it, or give this one another --state-dir") from None
            raise StateDirectoryError(f"state directory {self.path}: cannot be locked: {error.strerror or error}") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who holds it, for the next one's error
        except OSError as error:
            os.close(fd)
            raise StateDirectoryError(f"state directory {self.path}: {LOCK} cannot be written: {error.strerror or error}") from None
        return fd

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = -1

    def _check_format(self) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 [("format", FORMAT), ("version", str(VERSION))])
            return
        if meta.get("format") != FORMAT:
            raise StateDirectoryError(f"state directory {self.path}: {DATABASE} is not a prove-emulator state database")
        if meta.get("version") != str(VERSION):
            raise StateDirectoryError(f"state directory {self.path}: its layout version {meta.get('version')} is not "
                                      f"the one this emulator reads ({VERSION})")

    # -- reading -----------------------------------------------------------------------------------

    def load(self) -> snapshot.Snapshot | None:
        """The state the directory holds, checked whole; None for a new directory."""
        rows: dict[str, list[tuple[str, str]]] = {}
        try:
            for kind, key, body in self._db.execute("SELECT kind, key, body FROM rows ORDER BY kind, seq, key"):
                rows.setdefault(kind, []).append((key, body))
        except sqlite3.Error as error:  # a damaged file
            raise StateDirectoryError(f"state directory {self.path}: {DATABASE} cannot be read: {error}") from None
        if "head" not in rows:
            return None
        try:
            document = self._document(rows)
            return snapshot.from_json(document)
        except (ValueError, TypeError, AttributeError, snapshot.SnapshotError) as error:  # rows of the wrong shape
            raise StateDirectoryError(f"state directory {self.path} holds state this emulator cannot read: {error}") from None

    @staticmethod
    def _document(rows: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(rows["head"][0][1])
        projects: dict[str, Any] = {key: json.loads(body) for key, body in rows.get("project", [])}
        for kind, field in (("flow", "flows"), ("sms", "sms"), ("delivery", "webhookDeliveries")):
            records = [json.loads(body) for _, body in rows.get(kind, [])]
            if kind == "sms":
                records.sort(key=lambda record: record.get("id", 0) if isinstance(record, dict) else 0)
            for record in records:
                project_id = record.get("projectId") if isinstance(record, dict) else None
                if project_id not in projects:
                    raise ValueError(f"a {kind} row names project {project_id!r}, which the directory does not hold")
                projects[project_id].setdefault(field, []).append(record)
        document["projects"] = projects
        document["personas"] = {key: json.loads(body) for key, body in rows.get("persona", [])}
        return document

    # -- writing -----------------------------------------------------------------------------------

    def attach(self, emulator: Emulator) -> None:
        """From now on, write the emulator's state here; first the whole of it, in place of the old."""
        self._emulator = emulator
        self._rewrite_owed = True
        self.commit()

    def commit(self) -> None:
        """Write what changed since the last commit, in one transaction (StateWriteError if it failed:
        nothing of it was written, and the next commit writes it all)."""
        emulator = self._emulator
        if emulator is None:
            return
        if emulator.flows.restores != self._flow_restores:  # a snapshot came in: rows and their order anew
            self._rewrite_owed = True
        if self._rewrite_owed:
            self._forget_written(emulator)
        changed_flows = emulator.flows.changed_ids or {}
        emulator.flows.changed_ids = {}
        try:
            self._commit(emulator, changed_flows)
        except BaseException:
            emulator.flows.changed_ids = {**changed_flows, **(emulator.flows.changed_ids or {})}
            raise

    def _forget_written(self, emulator: Emulator) -> None:
        """Write everything at the next commit, after deleting every row: what the database holds is
        not known (a rewrite owed), or its order no longer the emulator's."""
        emulator.flows.changed_ids = dict.fromkeys(flow.correlation_id for flow in emulator.flows.all())
        self._written = {}
        self._written_sms = []
        self._written_personas = set()
        self._versions = {}
        self._personas = Personas()

    def _commit(self, emulator: Emulator, changed_flows: dict[str, None]) -> None:
        writes: list[tuple[str, str, str]] = []  # (kind, key, body)
        deletes: list[tuple[str, str]] = []
        written: dict[tuple[str, str], str] = {}

        def compare(kind: str, key: str, body: str) -> None:
            written[(kind, key)] = body
            if self._written.get((kind, key)) != body:
                writes.append((kind, key, body))

        head = snapshot.to_json(snapshot.take_head(emulator), self._personas)
        del head["projects"], head["personas"]  # in rows of their own
        # The instant read back as the one written: what is due after it runs again after a restart.
        # Not now, when a timer already due has not run yet (the ticker's next turn): it would be lost.
        taken_at = head.pop("takenAt")
        due = emulator.clock.earliest_due()
        if due is not None and due < emulator.clock.now():
            taken_at = rfc3339(due - 0.001)
        head_text = strict_json.dumps(head)
        head_moved = self._written.get(("head", "")) != head_text
        written[("head", "")] = head_text
        for project in emulator.projects.all():
            state = snapshot.project_state(emulator, project, records=False)
            compare("project", project.client_id, strict_json.dumps(encode(state, self._personas)))
        versions = emulator.changes.versions()
        if versions.get("webhooks") != self._versions.get("webhooks"):
            for delivery in emulator.webhooks.deliveries():
                compare("delivery", delivery.id, strict_json.dumps(encode(delivery, self._personas)))
        else:
            written.update((key, body) for key, body in self._written.items() if key[0] == "delivery")
        deletes.extend(key for key in self._written if key not in written)

        for correlation_id in changed_flows:
            flow = emulator.flows.as_it_is(correlation_id)
            if flow is None:
                deletes.append(("flow", correlation_id))
            else:
                writes.append(("flow", correlation_id, strict_json.dumps(encode(flow, self._personas))))

        written_sms = self._written_sms
        if versions.get("sms") != self._versions.get("sms"):
            written_sms, new_sms, gone_sms = self._sms_moved(emulator)
            writes.extend(("sms", str(sms.id), strict_json.dumps(encode(sms, self._personas))) for sms in new_sms)
            deletes.extend(("sms", str(number)) for number in gone_sms)

        new_personas = [digest for digest in self._personas.encoded if digest not in self._written_personas]
        writes.extend(("persona", digest, strict_json.dumps(self._personas.encoded[digest])) for digest in new_personas)

        rewrite = self._rewrite_owed
        if not (head_moved or writes or deletes or rewrite):
            self._versions = versions
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            if rewrite:
                self._db.execute("DELETE FROM rows")
            self._db.execute(UPSERT, ("head", "", 0, strict_json.dumps({**head, "takenAt": taken_at})))
            self._db.executemany("DELETE FROM rows WHERE kind = ? AND key = ?", deletes)
            self._db.executemany(UPSERT, [(kind, key, self._next_seq(), body) for kind, key, body in writes])
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise StateWriteError(f"the state directory {self.path} could not be written: {error}") from None
        self._rewrite_owed = False
        self._flow_restores = emulator.flows.restores
        self._written = written
        self._written_sms = written_sms
        self._sms_clears = emulator.outbox.clears
        self._written_personas.update(new_personas)
        self._versions = versions
        if self._personas.remembered > PERSONAS_REMEMBERED:
            self._personas = Personas()

    def _sms_moved(self, emulator: Emulator) -> tuple[list[int], list[Sms], list[int]]:
        """(the SMS ids written after this commit, the messages to write, the ids to delete). Ids rise:
        the new ones follow the last written, and the outbox drops its oldest. After a clear (a reset, a
        restore, which may give ids again) every message is written again."""
        outbox = emulator.outbox
        written = self._written_sms
        if outbox.clears == self._sms_clears:
            new = outbox.messages(after=written[-1]) if written else outbox.messages()
            oldest = outbox.oldest_id()
            cut = bisect.bisect_left(written, oldest) if oldest is not None else len(written)
            if len(written) - cut + len(new) == len(outbox):
                return written[cut:] + [sms.id for sms in new], new, written[:cut]
        every = outbox.messages()
        return [sms.id for sms in every], every, written

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def close(self) -> None:
        """Write what is left, then let the directory go (another emulator may take it)."""
        try:
            self.commit()
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._unlock()
