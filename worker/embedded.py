"""The in-process JobQueue behind `emotrace serve` without Redis: the newcomer's first try.

Jobs run on a small thread pool of the serving process, through the same ``worker.chunks``
functions the Celery tasks call, so the embedded result equals the distributed one. It is not
crash-safe across machines, but it resumes its own unfinished jobs when the process restarts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from emotrace import jobs
from emotrace.db import session_scope
from emotrace.settings import Settings
from emotrace.storage import RecordingStore
from worker import chunks

log = logging.getLogger(__name__)

NOTIFY_ATTEMPTS = 3


class EmbeddedQueue:
    def __init__(self, settings: Settings, store: RecordingStore) -> None:
        self._settings = settings
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=settings.embedded_workers, thread_name_prefix="emotrace-job")
        self._waiting = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._janitor = threading.Thread(target=self._purge_periodically, name="emotrace-purge", daemon=True)
        self._janitor.start()

    def submit(self, job_id: uuid.UUID) -> None:
        with self._lock:
            self._waiting += 1
        self._pool.submit(self._run, job_id)

    def depth(self) -> dict[str, int]:
        with self._lock:
            return {"embedded": self._waiting}

    def check(self) -> None:
        return None

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def resume(self) -> int:
        """Resubmit the jobs a previous run of this process left unfinished."""
        with session_scope(self._settings) as session:
            job_ids = jobs.reclaim_active_jobs(session)
        for job_id in job_ids:
            self.submit(job_id)
        return len(job_ids)

    def _run(self, job_id: uuid.UUID) -> None:
        with self._lock:
            self._waiting -= 1
        try:
            self._run_job(job_id)
        except Exception:
            log.exception("job %s: embedded run failed", job_id)

    def _run_job(self, job_id: uuid.UUID) -> None:
        settings, store = self._settings, self._store
        chunks.plan(settings, job_id)
        for index in chunks.unfinished(settings, job_id):
            while not self._stop.is_set():
                try:
                    chunks.analyze(settings, store, job_id, index, on_ended=self._notify)
                    break
                except chunks.ChunkFailed as exc:
                    # The next try of a chunk out of attempts fails the job (jobs.claim_chunk).
                    time.sleep(exc.backoff_s(30))
        if not self._stop.is_set():
            chunks.finish(settings, store, job_id, on_ended=self._notify)

    def _notify(self, job_id: uuid.UUID) -> None:
        for attempt in range(NOTIFY_ATTEMPTS):
            try:
                chunks.notify(self._settings, job_id)
                return
            except Exception:
                log.warning("job %s callback attempt %d failed", job_id, attempt + 1)
                self._stop.wait(2**attempt)

    def _purge_periodically(self) -> None:
        while not self._stop.wait(self._settings.purge_interval_s):
            try:
                chunks.purge(self._settings, self._store)
            except Exception:
                log.exception("purge failed")
