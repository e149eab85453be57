"""Tag a corpus on a Ray cluster: the local engine, replicated over a pool of model actors.

:func:`tag_ray` is :func:`nokoding.tagging.tag` with the per-document work spread over Ray:

.. code-block:: text

    driver: expand inputs, ids, resume check  ──►  ray.data.from_items(one row per file)
      .map(read_stage)                 hash + read + segment, in parallel tasks (any node)
      .map_batches(SuggestActor,       model replicas: each loads the model once and runs
        compute=ActorPoolStrategy(N))  the local suggester (suggest_codes → predict) per document
      .iter_rows()  ──►  driver: result file per document as it arrives, manifest,
                          then the combined CSV / JSON Lines / REFI-QDA and their checks

Each document goes through the engine in one call, exactly as in a local run, so the
outputs are byte-identical to a local run of the same inputs and options (same per-document
result files and manifest entries in ``out_dir/.nokoding``, same combined files) when torch
uses the same number of CPU threads on the same kind of CPU (``threads_per_actor`` and
``NOKODING_NUM_THREADS`` for the local run; fp32 sums depend on how the work is split
across threads). With other thread counts or hardware, probabilities agree to about 1e-6 and
only a near-tie can change a ranking. A run started by either engine resumes under the other.

Faults:

* an unreadable or unparsable input is recorded in :attr:`TagSummary.failures` and the run
  goes on (as locally);
* an actor that dies (process crash, node lost, out of memory) is restarted by Ray and its
  batch is retried (Ray Data's actor-pool defaults, ``max_restarts=-1`` and
  ``max_task_retries=-1``). A :class:`~nokoding.distributed.stages.CrashLedger` actor counts
  per document the processes that died while tagging it; a document that has killed more
  than ``max_retries`` is recorded as a failure and skipped, so its batch-mates and the rest
  of the corpus are finished and the run always ends;
* an interrupted run (Ctrl-C, driver lost) keeps every document whose result file and
  manifest entry were written; rerunning the same command skips them.

Requirements on a cluster: nokoding (same version) and its model must be installed or
reachable on every node (``--model`` a name under ``$NOKODING_MODELS`` or a folder on a
shared file system), and the inputs must be on a file system the workers can read at the
same absolute paths (NFS, a mounted bucket). The driver holds every result in memory for
the combined outputs, as the local run does.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nokoding.codebook import Codebook
from nokoding.distributed.run_state import RunState
from nokoding.distributed.stages import (
    CrashLedger,
    SuggestActor,
    decode_tagged,
    plan_row,
    read_stage,
)
from nokoding.document import Document, Segment
from nokoding.tagging import (
    DEFAULT_ROLES,
    Suggester,
    TagSummary,
    check_options,
    model_key,
    open_run,
    run_settings,
    summary_settings,
    transcript_reader,
)

__all__ = ["ActorStartError", "RayRunInfo", "RayTagSummary", "tag_ray"]


class ActorStartError(RuntimeError):
    """The model actors could not start (model or nokoding missing on a node, out of memory,
    an error in ``suggester_factory``); the message carries Ray's report of the cause.
    Documents finished before are kept for resume."""


@dataclass
class RayRunInfo:
    """How a :func:`tag_ray` run used the cluster (for throughput and cost accounting).

    Attributes:
        address: the cluster connected to (``"local"`` when a private one was started).
        actors, gpus_per_actor, cpus_per_actor, threads_per_actor, batch_size: the pool used.
        connect_seconds: time to start or join Ray.
        pipeline_seconds: time from submitting the pipeline to the last result (actor start,
            model loading, reading, tagging).
        first_result_seconds: time from submitting the pipeline to the first result.
        documents: documents that went through the pipeline (resumed ones do not).
        segments: coded segments tagged in the pipeline.
        batches: actor calls (``SuggestActor.__call__``), counting retried ones once.
        workers: ``host:pid`` of each actor process that returned results → its documents,
            segments, batches and seconds spent in the model. A restarted actor is a new
            process, so it appears as a new worker.
    """

    address: str = ""
    actors: int = 0
    gpus_per_actor: float = 0.0
    cpus_per_actor: float = 1.0
    threads_per_actor: int = 0
    batch_size: int = 0
    connect_seconds: float = 0.0
    pipeline_seconds: float = 0.0
    first_result_seconds: float = 0.0
    documents: int = 0
    segments: int = 0
    batches: int = 0
    workers: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Per batch: [seconds from submitting the pipeline to its first result, its segments,
    #: its seconds inside the suggester]. Results arrive a batch at a time.
    arrivals: dict[tuple[str, int], list[float]] = field(default_factory=dict, repr=False)

    @property
    def startup_seconds(self) -> float:
        """Time before the first batch started tagging: actor start, model load, first reads
        (the first result's arrival less its time in the model)."""
        if not self.arrivals:
            return 0.0
        first = min(self.arrivals.values())
        return max(0.0, first[0] - first[2])

    @property
    def running_segments_per_s(self) -> float:
        """Segments per second once the actors were up: segments / (pipeline − start-up)."""
        span = self.pipeline_seconds - self.startup_seconds
        return self.segments / span if span > 0 else 0.0

    @property
    def seconds_per_batch(self) -> float:
        """Actor wall time per batch once running: (pipeline − start-up) x actors / batches
        (assumes every actor busy; the tail of a short run inflates it)."""
        return (self.pipeline_seconds - self.startup_seconds) * self.actors / self.batches if self.batches else 0.0

    @property
    def overhead_seconds_per_batch(self) -> float:
        """:attr:`seconds_per_batch` less the mean time per batch inside the model: what the
        pipeline (reads, Arrow/pickle, object store, scheduling, driver) adds to each batch."""
        return self.seconds_per_batch - self.model_seconds / self.batches if self.batches else 0.0

    @property
    def model_seconds(self) -> float:
        """Actor time spent inside the suggester, summed over workers."""
        return sum(w["model_seconds"] for w in self.workers.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address, "actors": self.actors, "gpus_per_actor": self.gpus_per_actor,
            "cpus_per_actor": self.cpus_per_actor, "threads_per_actor": self.threads_per_actor,
            "batch_size": self.batch_size,
            "connect_seconds": round(self.connect_seconds, 3), "pipeline_seconds": round(self.pipeline_seconds, 3),
            "first_result_seconds": round(self.first_result_seconds, 3),
            "documents": self.documents, "segments": self.segments, "batches": self.batches,
            "model_seconds": round(self.model_seconds, 3),
            "startup_seconds": round(self.startup_seconds, 3),
            "running_segments_per_s": round(self.running_segments_per_s, 2),
            "seconds_per_batch": round(self.seconds_per_batch, 4),
            "overhead_seconds_per_batch": round(self.overhead_seconds_per_batch, 4), "workers": self.workers,
        }


@dataclass
class RayTagSummary(TagSummary):
    """A :class:`~nokoding.tagging.TagSummary` plus :attr:`ray`, how the cluster was used
    (``summary.json`` holds only the :class:`TagSummary` fields, as a local run writes)."""

    ray: RayRunInfo = field(default_factory=RayRunInfo)

    def lines(self) -> list[str]:
        """:meth:`TagSummary.lines` plus one line on the cluster (when a pipeline ran)."""
        out = super().lines()
        r = self.ray
        if r.actors:
            gpu = f", {r.gpus_per_actor:g} GPU" if r.gpus_per_actor else ""
            out.insert(3, f"ray ({r.address}): {r.actors} actor(s) x {r.cpus_per_actor:g} CPU{gpu}; "
                          f"{r.documents} document(s) in {r.batches} batch(es), {r.pipeline_seconds:.1f} s")
        return out


def tag_ray(
    inputs: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str],
    model: str = "thesis-mrs",
    formats: Sequence[str] | str = ("csv", "jsonl", "qdpx"),
    top_k: int = 3,
    threshold: float | None = None,
    address: str | None = None,
    num_actors: int = 2,
    gpus_per_actor: float = 0,
    cpus_per_actor: float | None = None,
    cpus_per_reader: float = 0.5,
    threads_per_actor: int | None = None,
    batch_size: int = 4,
    device: str = "auto",
    runtime: str | None = None,
    force: bool = False,
    max_retries: int = 3,
    roles: Sequence[str] = DEFAULT_ROLES,
    interviewer: Sequence[str] = (),
    informant: Sequence[str] = (),
    codebook: Codebook | None = None,
    suggester_factory: Callable[[], Suggester] | None = None,
    reader: Callable[[Path], Document] | None = None,
    segmenter: Callable[[Document], Sequence[Segment]] | None = None,
    progress: bool | None = None,
    created: datetime | None = None,
    flush_seconds: float = 2.0,
) -> RayTagSummary:
    """Tag transcripts on Ray with the local engine and write the local run's outputs.

    Args:
        inputs, out_dir, model, formats, top_k, threshold, force, roles, interviewer, informant, codebook,
            reader, segmenter, progress, created: as for :func:`nokoding.tagging.tag`.
        address: Ray cluster to join: ``None`` (``$RAY_ADDRESS``, else start a private local
            instance, stopped at the end), ``"auto"`` (the cluster this node belongs to) or
            ``"ray://head:10001"`` (Ray Client). An already initialised Ray is used as is.
        num_actors: model replicas (Ray actors), each holding one copy of the model.
        gpus_per_actor: GPUs reserved per actor (0: CPU; 0.5 packs two actors per GPU).
        cpus_per_actor: CPUs reserved per actor (torch in the actor uses that many threads,
            at least one); ``None``: 1, or less on a cluster too small to also run a reader.
        cpus_per_reader: CPUs reserved per read-and-segment task. The cluster must have
            ``num_actors * cpus_per_actor + cpus_per_reader`` CPUs, or reading could never
            start (checked: ``ValueError``).
        threads_per_actor: torch CPU threads per actor; ``None``: ``cpus_per_actor`` rounded
            down, at least 1. fp32 scores depend on the thread count in their last bits: a
            local run with the same count (``NOKODING_NUM_THREADS=N``) on the same kind of CPU
            writes byte-identical outputs; otherwise probabilities agree to about 1e-6.
        batch_size: documents per actor call (each document is still one engine call).
        device: ``"auto"`` (CUDA when the actor has a GPU), ``"cpu"`` or ``"cuda"``.
        runtime: as for :func:`nokoding.tagging.tag` (``None``: the actor's device default).
        max_retries: how often a document whose actor died while tagging it is tried again
            (on a restarted actor) before it is recorded as a failure.
        suggester_factory: zero-argument callable building a suggester
            (``segments -> suggestions``) in each actor instead of loading ``model``; it is
            pickled and sent to the actors. Give ``codebook=`` with it for ``qdpx``.
        flush_seconds: longest time between manifest rewrites.

    Returns:
        A :class:`RayTagSummary`; failed inputs are listed there, never raised.

    Raises:
        ValueError: bad options (as :func:`nokoding.tagging.tag`), ``num_actors`` < 1,
            ``batch_size`` < 1, a cluster with too few CPUs for the actors and a reader, or
            ``qdpx`` without any codebook available.
        nokoding.model.ModelLoadError: the model cannot be found (checked on the driver
            before Ray starts).
        ActorStartError: an actor could not be created (e.g. the model cannot be loaded on a
            node).
        ImportError: Ray is not installed (``pip install 'nokoding[ray]'``).
        OSError: if ``out_dir`` cannot be written.
    """
    started = time.monotonic()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    fmts = check_options(formats, top_k, threshold, device, runtime, roles)
    if num_actors < 1:
        raise ValueError(f"num_actors must be at least 1, got {num_actors}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if threads_per_actor is not None and threads_per_actor < 1:
        raise ValueError(f"threads_per_actor must be at least 1, got {threads_per_actor}")
    if min(gpus_per_actor, cpus_per_actor or 0, cpus_per_reader, max_retries) < 0:
        raise ValueError("gpus_per_actor, cpus_per_actor, cpus_per_reader and max_retries must not be negative")

    summary = RayTagSummary()
    out, state, files, ids = open_run(inputs, out_dir, summary)
    settings = run_settings(model_key(model), top_k, roles, runtime, interviewer, device, informant)
    summary.settings = summary_settings(settings, model, device, threshold, fmts, runtime)
    if reader is None and (interviewer or informant):
        reader = transcript_reader(interviewer, informant)
    run = RunState(out, state, settings, files, ids, flush_seconds=flush_seconds)

    if codebook is None and suggester_factory is not None:
        codebook = getattr(suggester_factory, "codebook", None)
    if codebook is None and suggester_factory is not None and not state.codebook_path.is_file() and "qdpx" in fmts:
        raise ValueError("the qdpx format needs the codebook: pass codebook= with suggester_factory")

    pending = run.take_resumable(force)
    model_codebook = None
    if pending:
        if suggester_factory is None:
            model_codebook = _model_codebook(model)  # fails fast, before any cluster work
        info = _run_pipeline(
            run, pending, model=model, top_k=top_k, device=device, runtime=runtime, address=address,
            num_actors=num_actors, gpus_per_actor=gpus_per_actor, cpus_per_actor=cpus_per_actor,
            cpus_per_reader=cpus_per_reader, threads_per_actor=threads_per_actor, batch_size=batch_size,
            max_retries=max_retries, roles=roles,
            suggester_factory=suggester_factory, reader=reader, segmenter=segmenter, progress=progress,
        )
        summary.ray = info
    run.finish(summary, formats=fmts, codebook=codebook, model_codebook=model_codebook, model=model,
               top_k=top_k, threshold=threshold, created=created, roles=roles, started=started)
    return summary


def _model_codebook(model: str) -> Codebook:
    """The codebook saved with the model (what the actors' model will use).

    Raises:
        nokoding.model.ModelLoadError: no such model, or its codebook is unreadable.
    """
    from nokoding.model import ModelLoadError, find_model
    from nokoding.model.io import CODEBOOK

    folder = find_model(model)
    try:
        return Codebook.from_yaml(folder / CODEBOOK)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{folder / CODEBOOK}: {err}") from None


def _connect(address: str | None) -> tuple[bool, str]:
    """Join or start Ray; returns (whether this call started it, the address)."""
    import ray

    if ray.is_initialized():
        return False, "existing"
    if address is None and not os.environ.get("RAY_ADDRESS"):
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
        return True, "local"
    ray.init(address=address, logging_level=logging.WARNING)
    return True, address or os.environ.get("RAY_ADDRESS", "")


def _actor_cpus(total: float, num_actors: int, cpus_per_actor: float | None, cpus_per_reader: float) -> float:
    """CPUs per actor: as asked, or 1 (less when ``total`` CPUs would leave no room for a reader).

    Raises:
        ValueError: the actors and one reader do not fit in ``total`` CPUs.
    """
    room = total - cpus_per_reader
    cpus = cpus_per_actor if cpus_per_actor is not None else min(1.0, room / num_actors)
    if cpus <= 0 or num_actors * cpus > room + 1e-9:
        raise ValueError(
            f"the Ray cluster has {total:g} CPUs: {num_actors} actor(s) x {cpus:g} CPU plus a reader task "
            f"({cpus_per_reader:g} CPU) do not fit, so reading could never start; use fewer actors, "
            "fewer CPUs per actor, or a bigger cluster"
        )
    return float(cpus)


def _run_pipeline(
    run: RunState,
    pending: list[int],
    *,
    model: str,
    top_k: int,
    device: str,
    runtime: str | None,
    address: str | None,
    num_actors: int,
    gpus_per_actor: float,
    cpus_per_actor: float | None,
    cpus_per_reader: float,
    threads_per_actor: int | None,
    batch_size: int,
    max_retries: int,
    roles: Sequence[str],
    suggester_factory: Callable[[], Suggester] | None,
    reader: Callable[[Path], Document] | None,
    segmenter: Callable[[Document], Sequence[Segment]] | None,
    progress: bool | None,
) -> RayRunInfo:
    """Run read → tag over the ``pending`` input positions and store results as they arrive."""
    try:
        import ray
        import ray.data
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(f"the Ray engine needs Ray: pip install 'nokoding[ray]' ({err})") from None

    info = RayRunInfo(actors=num_actors, gpus_per_actor=float(gpus_per_actor), batch_size=batch_size)
    t0 = time.monotonic()
    started_here, info.address = _connect(address)
    info.connect_seconds = time.monotonic() - t0
    try:
        info.cpus_per_actor = _actor_cpus(float(ray.cluster_resources().get("CPU", 0.0)), num_actors,
                                          cpus_per_actor, cpus_per_reader)
        info.threads_per_actor = threads_per_actor or max(1, int(info.cpus_per_actor))
    except BaseException:
        if started_here:
            ray.shutdown()
        raise
    ctx = ray.data.DataContext.get_current()
    wanted = {"enable_progress_bars": False, "print_on_execution_start": False, "max_errored_blocks": -1}
    saved = {k: getattr(ctx, k) for k in wanted if hasattr(ctx, k)}
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm.auto import tqdm

    bar = tqdm(total=len(pending), unit="doc", desc="tagging (ray)", disable=not show, file=sys.stderr,
               dynamic_ncols=True)
    batches: set[tuple[str, int]] = set()
    ledger = None
    try:
        # Our own progress bar. A block that still errors after Ray's retries (say, a read
        # task whose node was lost three times) loses only its documents, reported below.
        for k in saved:
            setattr(ctx, k, wanted[k])
        rows = [plan_row(i, run.files[i], run.ids[i]) for i in pending]
        blocks = max(1, min(len(rows), -(-len(rows) // batch_size)))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        ds = ds.map(read_stage, fn_kwargs={"roles": tuple(roles), "reader": reader, "segmenter": segmenter},
                    num_cpus=cpus_per_reader)
        # Ray Data restarts a dead actor and retries its batch (max_restarts=-1,
        # max_task_retries=-1 are its defaults for actor pools); the ledger bounds the retries
        # per document, so a document that kills every process it runs in fails alone.
        ledger = ray.remote(num_cpus=0)(CrashLedger).remote()
        ds = ds.map_batches(
            SuggestActor,
            fn_constructor_kwargs={"model": model, "top_k": top_k, "device": device, "runtime": runtime,
                                   "suggester_factory": suggester_factory, "threads": info.threads_per_actor,
                                   "ledger": ledger, "max_retries": max_retries},
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=num_actors),
            num_cpus=info.cpus_per_actor,
            num_gpus=gpus_per_actor or None,
        )
        t1 = time.monotonic()
        try:
            _gather(ds, run, info, batches, bar, t1)
        except ray.exceptions.ActorDiedError as err:
            if "creation task" not in str(err):
                raise
            raise ActorStartError(f"a model actor could not start: {err}") from None
        info.pipeline_seconds = time.monotonic() - t1
        info.batches = len(batches)
        for order in pending:
            if order not in run.tagged and order not in run.failed:
                run.fail(order, "no result: its batch failed in Ray (see the Ray logs); rerun to retry it")
    finally:
        bar.close()
        run.flush()
        if ledger is not None and not started_here:
            ray.kill(ledger)
        for k, v in saved.items():
            setattr(ctx, k, v)
        if started_here:
            ray.shutdown()
    for name, w in info.workers.items():
        w["model_seconds"] = round(w["model_seconds"], 3)
        w["batches"] = sum(1 for n, _ in batches if n == name)
    return info


def _gather(ds: Any, run: RunState, info: RayRunInfo, batches: set[tuple[str, int]], bar: Any, t1: float) -> None:
    """Store each document's result as it arrives (any order) and account for it."""
    for row in ds.iter_rows():
        if not info.first_result_seconds:
            info.first_result_seconds = time.monotonic() - t1
        order = int(row["order"])
        if row["status"] == "tagged":
            tagged = decode_tagged(row)
            run.put(order, row["sha256"], tagged)
            info.documents += 1
            info.segments += len(tagged)
            batch = (row["worker"], int(row["batch"]))
            arrival = info.arrivals.setdefault(batch, [time.monotonic() - t1, 0, 0.0])
            arrival[1] += len(tagged)
            arrival[2] += float(row["model_seconds"])
            batches.add(batch)
            w = info.workers.setdefault(row["worker"], {"documents": 0, "segments": 0, "model_seconds": 0.0})
            w["documents"] += 1
            w["segments"] += len(tagged)
            w["model_seconds"] += float(row["model_seconds"])
        else:
            run.fail(order, row["error"] or f"unexpected state {row['status']!r}")
        bar.update(1)
        bar.set_postfix(segments=info.segments, failed=len(run.failed), refresh=False)
