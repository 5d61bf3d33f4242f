"""Embed across a Ray cluster: an `Embedder` whose `embed` fans batches out to Ray actors.

Optional (`pip install ".[scale]"`); `ray` is imported only when a `RayEmbedder` is built.
`rag index PATH --ray auto` reads and chunks the documents in this process (chunking needs
only the tokenizer and is cheap), and `build_index` hands the passages to this embedder, which
sends batches to one actor per worker CPU; each actor loads the embedder once. The vectors come
back in order and are written by this process to the chosen store (local folder or Milvus), so
the store code and its incremental logic are the same with or without Ray.

Why Ray actors directly and not Ray Data `map_batches`: the vectors must come back to the one
process that writes the store (the local store has a single writer), in the order of the
passages, and indexing already works in bounded batches of passages; a small actor pool with
results keyed by batch number does exactly that without Ray Data's extra dependencies
(pyarrow, pandas) or its dataset materialisation, and makes retry and exactly-once easy to see:

- each actor is created with `max_restarts` and `max_task_retries`, so when a worker process
  dies Ray restarts the actor (reloading the embedder) and re-runs the batch it was running;
- if an actor is lost for good, the batch is sent to a fresh actor;
- a batch's vectors are stored in the slot of its batch number, once; a batch answered twice
  cannot add a passage twice, and one never answered fails the run (nothing is written
  half-embedded: `build_index` aborts its generation).

Scaling model: embedding is compute-bound and embarrassingly parallel, so throughput is about
(workers x per-worker throughput) until the driver's chunking, the transfer of texts and
vectors (about 1.5 KB per 384-d vector) or the store's single writer becomes the bottleneck;
see benchmarks/RESULTS-cluster.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.errors import ModelError, RagError

FREE_CPU_WAIT_S = 20.0  # how long to wait for busy CPUs to be released before giving up

Progress = Callable[[int, int], None]

OBJECT_STORE_BYTES = 500 * 1024 * 1024  # a small object store for a local cluster


class ClusterError(RagError):
    """The Ray cluster cannot be reached or lost work it could not redo."""


class _Worker:
    """One embedding worker: loads the embedder once, then embeds batches."""

    def __init__(self, spec: Any, threads: int, backend: str | None = None) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from rag.index.embedding import load_embedder

        if not isinstance(spec, str):
            self.emb = spec
            return
        # As many ONNX Runtime / torch threads as the actor has CPUs.
        self.emb = load_embedder(spec, backend=backend, threads=max(threads, 1))

    def embed(self, batch_no: int, texts: list[str]) -> tuple[int, int, np.ndarray]:
        return batch_no, os.getpid(), self.emb.embed(texts)

    def pid(self) -> int:
        return os.getpid()


class RayEmbedder:
    """An `Embedder` (name, dim, max_tokens, count_tokens, embed) that embeds on Ray workers.

    `address`: "auto" joins the running cluster (RAY_ADDRESS or `ray start` on this machine) and
    starts a local one with `local_cpus` CPUs when none runs; "local" always starts a local one;
    anything else (`HOST:PORT`, `ray://HOST:10001`) is passed to `ray.init`. Workers of a remote
    cluster need rag and its embedder installed (same version); a local cluster gets this
    checkout on its PYTHONPATH.
    """

    def __init__(self, embedder: Any, address: str = "auto", *, workers: int | None = None,
                 batch_size: int = 256, local_cpus: int = 2, threads_per_worker: int = 1,
                 max_restarts: int = 3, object_store_memory: int = OBJECT_STORE_BYTES,
                 start_timeout: float = 300.0) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ClusterError(f"--ray needs the ray package ({exc}); install the extra: "
                               "pip install \".[scale]\"") from exc
        from rag.index.embedding import backend_of, load_embedder

        self._ray = ray
        self._local = load_embedder(embedder) if isinstance(embedder, str) else embedder
        self.name = self._local.name
        self.backend = backend_of(self._local)  # recorded in the manifest: the workers use the same one
        self.dim = self._local.dim
        self.max_tokens = self._local.max_tokens
        self.batch_size = batch_size
        self.max_restarts = max_restarts
        self.restarted_workers = 0  # worker processes that died and were replaced, this embedder's life
        self.resubmitted_batches = 0  # batches sent again to a fresh actor
        self._started = False
        if not ray.is_initialized():
            self._started = True
            self._init(address, local_cpus, object_store_memory)
        # CPUs of actors that were just killed come back asynchronously: wait a little for them
        # before deciding the cluster is busy.
        deadline = time.monotonic() + FREE_CPU_WAIT_S
        free = int(ray.available_resources().get("CPU", 0))
        while not workers and free < threads_per_worker and time.monotonic() < deadline:
            time.sleep(0.25)
            free = int(ray.available_resources().get("CPU", 0))
        self.workers = workers or free // max(threads_per_worker, 1)
        if self.workers < 1:
            self.close()
            raise ClusterError(f"the Ray cluster has no free CPU for an embedding worker "
                               f"({int(ray.cluster_resources().get('CPU', 0))} CPUs, all in use)")
        self._spec = embedder if isinstance(embedder, str) else self._local
        self._threads = threads_per_worker
        self._cls = ray.remote(num_cpus=threads_per_worker, max_restarts=max_restarts,
                               max_task_retries=max_restarts)(_Worker)
        self._actors: list[Any] = []
        self.pids: set[int] = set()
        self._actors = [self._new_actor() for _ in range(self.workers)]
        try:  # every worker up, the embedder loaded: a cluster short of CPUs fails here, not later
            self.worker_pids(timeout=start_timeout)
        except Exception as exc:
            self.close()
            raise ClusterError(f"{self.workers} Ray worker(s) did not start within {start_timeout:.0f}s "
                               f"({type(exc).__name__}: {exc})") from exc

    def _init(self, address: str, local_cpus: int, object_store_memory: int) -> None:
        ray = self._ray
        common: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        local = dict(num_cpus=local_cpus, object_store_memory=object_store_memory,
                     runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                         p for p in (str(Path(__file__).resolve().parent.parent),
                                     os.environ.get("PYTHONPATH", "")) if p)}}, **common)
        try:
            if address == "local":
                ray.init(**local)
            elif address == "auto":
                try:
                    ray.init(address="auto", **common)
                except (ConnectionError, RuntimeError, ValueError):
                    ray.init(**local)
            else:
                ray.init(address=address, **common)
        except Exception as exc:
            raise ClusterError(f"cannot start or reach the Ray cluster at {address!r} "
                               f"({type(exc).__name__}: {exc})") from exc

    def _new_actor(self) -> Any:
        return self._cls.remote(self._spec, self._threads, self.backend)

    def worker_pids(self, timeout: float | None = None) -> list[int]:
        """The process id of each actor (for tests and `ray` diagnostics)."""
        pids = list(self._ray.get([a.pid.remote() for a in self._actors], timeout=timeout))
        self.pids.update(pids)
        return pids

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._local.count_tokens(texts)

    def embed(self, texts: Sequence[str], *, batch_size: int | None = None,
              progress: Progress | None = None) -> np.ndarray:
        ray = self._ray
        from ray.exceptions import RayActorError

        size = batch_size or self.batch_size
        batches = [list(texts[i:i + size]) for i in range(0, len(texts), size)]
        out: list[np.ndarray | None] = [None] * len(batches)
        todo = list(range(len(batches)))[::-1]
        running: dict[Any, tuple[int, int]] = {}  # ref -> (batch number, actor slot)
        attempts = [0] * len(batches)
        done_texts = 0

        def submit(slot: int) -> None:
            b = todo.pop()
            attempts[b] += 1
            running[self._actors[slot].embed.remote(b, batches[b])] = (b, slot)

        for slot in range(len(self._actors)):
            for _ in range(2):  # two batches in flight per actor keep it busy while one returns
                if todo:
                    submit(slot)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            b, slot = running.pop(ref)
            try:
                got_b, pid, vecs = ray.get(ref)
            except RayActorError as exc:
                # Ray gave up on this actor (restarts used up): a fresh one redoes the batch.
                if attempts[b] > self.max_restarts + 1:
                    raise ClusterError(f"batch {b} failed on {attempts[b]} workers: {exc}") from exc
                self._actors[slot] = self._new_actor()
                self.resubmitted_batches += 1
                todo.append(b)
                submit(slot)
                continue
            except Exception as exc:
                raise ModelError(f"embedding failed on a Ray worker: {exc}") from exc
            if pid not in self.pids:
                self.pids.add(pid)
                self.restarted_workers = max(len(self.pids) - len(self._actors), 0)
            if out[got_b] is None:  # a batch answered twice is kept once
                out[got_b] = np.asarray(vecs, dtype=np.float32)
                done_texts += len(batches[got_b])
                if progress:
                    progress(done_texts, len(texts))
            if todo:
                submit(slot)
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            raise ClusterError(f"{len(missing)} batch(es) came back from no worker")
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.dim), np.float32)  # type: ignore[arg-type]

    def close(self) -> None:
        for a in getattr(self, "_actors", []):
            try:
                self._ray.kill(a)
            except Exception:  # noqa: BLE001 - an actor already gone
                pass
        self._actors = []
        if self._started:
            self._ray.shutdown()
            self._started = False

    def __enter__(self) -> "RayEmbedder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
