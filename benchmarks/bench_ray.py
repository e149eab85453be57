"""Ray engine benchmark: local `tag()` vs `tag_ray()` on the same corpus, same machine.

Run from the repository root (needs ``pip install 'nokoding[ray]'``):

    python benchmarks/bench_ray.py                      # me5-small (frozen, untrained heads), 40 documents
    python benchmarks/bench_ray.py --model tiny         # tiny random encoder: pipeline overhead dominates
    python benchmarks/bench_ray.py --docs 200 --actors 4 --cpus 8
    python benchmarks/bench_ray.py --docs 24 --turns 10 --local-threads 1   # what ray_cpu.* holds

Three timed runs over one synthetic corpus of Norwegian interview transcripts (informant
turns built from :data:`nokoding.testing.NORWEGIAN_SAMPLE`, fixed seed):

1. **local** — :func:`nokoding.tagging.tag` in this process (torch uses every core it may);
2. **ray** — :func:`nokoding.distributed.tag_ray` on a private Ray instance with ``--cpus``
   CPUs and ``--actors`` model actors; the outputs are checked to be byte-identical to (1);
3. **ray, no model** — the same pipeline with a suggester that returns a constant
   suggestion, on a corpus five times larger, so what remains is the pipeline's cost:
   reading tasks, scheduling, Arrow/pickle, object store, the driver writing each result.

Reported: segments/s end to end (local, with and without the model load; ray with and
without ``ray.init``); Ray's start-up (actor start + model load) and its rate once running;
the per-actor model rate (segments / seconds inside the suggester); and the *per-batch
overhead*: actor wall time per batch once running, less the time inside the model
(:attr:`nokoding.distributed.RayRunInfo.overhead_seconds_per_batch`), for runs 2 and 3. Writes
``benchmarks/results/ray_cpu.json`` and ``.md`` (or ``--out``).
"""

from __future__ import annotations

import json
import platform
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import typer

REPO = Path(__file__).resolve().parents[1]
CREATED = datetime(2024, 1, 1, tzinfo=UTC)
OUTPUTS = ("segments.csv", "segments.jsonl", "project.qdpx")


def make_corpus(folder: Path, n_docs: int, turns: int, seed: int = 0) -> int:
    """Write ``n_docs`` transcripts of ``turns`` question/answer pairs; returns informant turns."""
    from nokoding.testing import NORWEGIAN_SAMPLE

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(n_docs):
        lines = []
        for _ in range(turns):
            lines.append("I: " + rng.choice(NORWEGIAN_SAMPLE).rstrip(".") + "?")
            lines.append("Informant: " + " ".join(rng.sample(NORWEGIAN_SAMPLE, rng.randint(1, 3))))
        (folder / f"intervju_{d:04d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n_docs * turns


def build_model(kind: str, folder: Path) -> Path:
    """A frozen-backbone CodingModel with untrained heads on the thesis codebook (speed does
    not depend on the head weights)."""
    from nokoding.corpora import load_codebook
    from nokoding.model import save_pretrained
    from nokoding.model.coding_model import CodingModel

    codebook = load_codebook("thesis_mrs")
    if kind == "tiny":
        from nokoding.testing import make_tiny_encoder

        backbone = str(make_tiny_encoder(folder / "encoder"))
    else:
        backbone = kind
    return save_pretrained(CodingModel.from_backbone(backbone, codebook, strategy="frozen"), folder / "model")


class _ConstantSuggester:
    """Returns one fixed suggestion per segment: the pipeline without the model."""

    def __init__(self, codebook_yaml: str) -> None:
        from nokoding.codebook import Codebook

        self.codebook = Codebook.from_yaml(codebook_yaml)

    def __call__(self, segments):
        from nokoding.suggestions import CodeScore, Suggestion

        cb = self.codebook
        codes = tuple(CodeScore(c.id, c.category, c.subcategory, 0.5) for c in cb.codes[:3])
        cats = {c.id: 0.5 for c in cb.categories}
        sent = {lab: 1 / len(cb.sentiment_labels) for lab in cb.sentiment_labels}
        return [Suggestion(s.text, codes, cats, cb.sentiment_labels[0], sent, (), s) for s in segments]


def main(
    model: str = typer.Option("me5-small", help="me5-small (needs the converted backbone) or tiny."),
    docs: int = typer.Option(40, help="Transcripts in the corpus."),
    turns: int = typer.Option(15, help="Informant turns (segments) per transcript."),
    actors: int = typer.Option(2, help="Model actors for the Ray run."),
    cpus: int = typer.Option(2, help="CPUs of the private Ray instance."),
    batch_size: int = typer.Option(4, help="Documents per actor call."),
    local_threads: int = typer.Option(0, help="torch threads for the local run (0: torch's default, all cores)."),
    out: Path = typer.Option(REPO / "benchmarks" / "results", help="Folder for ray_cpu.json/.md."),
) -> None:
    """Local vs Ray throughput and Ray's per-batch overhead (see the module docstring)."""
    import ray
    import torch

    from nokoding.codebook import Codebook
    from nokoding.distributed import tag_ray
    from nokoding.tagging import tag

    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    try:
        segments = make_corpus(work / "corpus", docs, turns)
        t = time.perf_counter()
        model_dir = build_model(model, work)
        print(f"model {model} built in {time.perf_counter() - t:.1f} s; corpus {docs} docs, {segments} segments")
        common = {"model": str(model_dir), "device": "cpu", "progress": False, "created": CREATED}
        if local_threads:
            from nokoding.inference.runtime import configure_threads

            configure_threads(local_threads)

        from nokoding.model import load_model

        t = time.perf_counter()
        load_model(model_dir)  # what tag() does first: timed apart, to report the tagging rate alone
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        local = tag([work / "corpus"], out_dir=work / "local", **common)
        local_s = time.perf_counter() - t
        assert local.ok and local.segments == segments, local.lines()
        threads = torch.get_num_threads()
        print(f"local: {segments / local_s:.1f} segments/s end to end ({local_s:.1f} s, torch threads {threads}); "
              f"{segments / max(local_s - load_s, 1e-9):.1f} segments/s without the model load ({load_s:.1f} s)")

        t = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
        init_s = time.perf_counter() - t
        try:
            t = time.perf_counter()
            dist = tag_ray([work / "corpus"], out_dir=work / "ray", num_actors=actors, batch_size=batch_size, **common)
            ray_s = time.perf_counter() - t
            assert dist.ok and dist.segments == segments, dist.lines()
            identical = all((work / "ray" / f).read_bytes() == (work / "local" / f).read_bytes() for f in OUTPUTS)
            max_diff = _max_abs_diff(work / "local" / "segments.jsonl", work / "ray" / "segments.jsonl")
            info = dist.ray
            per_actor = {w: v["segments"] / v["model_seconds"] for w, v in info.workers.items() if v["model_seconds"]}
            print(f"ray: {segments / ray_s:.1f} segments/s end to end ({ray_s:.1f} s, first result after "
                  f"{info.first_result_seconds:.1f} s; + {init_s:.1f} s ray.init); start-up {info.startup_seconds:.1f} s, "
                  f"then {info.running_segments_per_s:.1f} segments/s; {info.seconds_per_batch:.2f} s per batch, "
                  f"{info.model_seconds / max(info.batches, 1):.2f} s of it in the model; "
                  f"outputs identical: {identical} (max |difference| "
                  f"in JSON Lines numbers {max_diff:.1e}; local used {threads} torch threads, each actor "
                  f"{info.threads_per_actor})")
            print("     per-actor model rate: " + ", ".join(f"{r:.1f}" for r in per_actor.values()) + " segments/s")

            big_docs = docs * 5
            big_segments = make_corpus(work / "corpus_big", big_docs, turns, seed=1)
            cb_yaml = str(model_dir / "codebook.yaml")
            factory = lambda: _ConstantSuggester(cb_yaml)
            t = time.perf_counter()
            bare = tag_ray([work / "corpus_big"], out_dir=work / "bare", num_actors=actors, batch_size=batch_size,
                           suggester_factory=factory, codebook=Codebook.from_yaml(cb_yaml), **common)
            bare_s = time.perf_counter() - t
            b = bare.ray
            per_batch = b.overhead_seconds_per_batch
            print(f"ray, no model ({big_docs} docs): {big_segments / bare_s:.1f} segments/s end to end; "
                  f"{b.batches} batches, start-up {b.startup_seconds:.1f} s, then {b.running_segments_per_s:.1f} "
                  f"segments/s; overhead {per_batch * 1000:.0f} ms per batch of {batch_size} documents per actor")
        finally:
            ray.shutdown()

        result = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python " + " ".join(sys.argv),
            "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                        "torch": torch.__version__, "ray": ray.__version__, "cpu_cores": cpus,
                        "note": "shared with other jobs (load average about 10); numbers are noisy"},
            "model": model, "backbone_frozen_untrained_heads": True,
            "corpus": {"documents": docs, "segments": segments, "segments_per_document": turns},
            "local": {"seconds": round(local_s, 3), "segments_per_s": round(segments / local_s, 2),
                      "model_load_seconds": round(load_s, 3),
                      "segments_per_s_without_load": round(segments / max(local_s - load_s, 1e-9), 2),
                      "torch_threads": threads},
            "ray": {"actors": actors, "batch_size": batch_size, "ray_init_seconds": round(init_s, 3),
                    "seconds": round(ray_s, 3), "segments_per_s": round(segments / ray_s, 2),
                    "segments_per_s_incl_init": round(segments / (ray_s + init_s), 2),
                    "first_result_seconds": round(info.first_result_seconds, 3),
                    "startup_seconds": round(info.startup_seconds, 3),
                    "running_segments_per_s": round(info.running_segments_per_s, 2),
                    "overhead_ms_per_batch": round(info.overhead_seconds_per_batch * 1000, 1),
                    "per_actor_model_segments_per_s": {w: round(r, 2) for w, r in per_actor.items()},
                    "outputs_identical_to_local": identical, "max_abs_diff_jsonl": max_diff,
                    "run": info.to_dict()},
            "ray_no_model": {"documents": big_docs, "segments": big_segments, "seconds": round(bare_s, 3),
                             "segments_per_s": round(big_segments / bare_s, 2),
                             "first_result_seconds": round(b.first_result_seconds, 3),
                             "startup_seconds": round(b.startup_seconds, 3),
                             "running_segments_per_s": round(b.running_segments_per_s, 2),
                             "overhead_ms_per_batch": round(per_batch * 1000, 1),
                             "overhead_ms_per_document": round(per_batch / batch_size * 1000, 1), "run": b.to_dict()},
        }
        out.mkdir(parents=True, exist_ok=True)
        (out / "ray_cpu.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        (out / "ray_cpu.md").write_text(_markdown(result), encoding="utf-8")
        print(f"wrote {out / 'ray_cpu.json'} and {out / 'ray_cpu.md'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _max_abs_diff(a: Path, b: Path) -> float:
    """Largest absolute difference between corresponding numbers of two JSON Lines files
    (``inf`` when their structure or any text differs)."""
    def walk(x, y) -> float:
        if isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
            return max((walk(x[k], y[k]) for k in x), default=0.0)
        if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            return max((walk(u, v) for u, v in zip(x, y)), default=0.0)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            return abs(float(x) - float(y))
        return 0.0 if x == y else float("inf")

    rows = [[json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()] for p in (a, b)]
    return walk(rows[0], rows[1])


def _markdown(r: dict) -> str:
    loc, ray_, bare = r["local"], r["ray"], r["ray_no_model"]
    rates = ", ".join(f"{v:.1f}" for v in ray_["per_actor_model_segments_per_s"].values())
    return "\n".join([
        f"# Ray engine vs local ({r['model']}, CPU)",
        "",
        f"{r['date']} · {r['machine']['platform']} · torch {r['machine']['torch']} · Ray {r['machine']['ray']} · "
        f"{r['machine']['cpu_cores']} CPU cores ({r['machine']['note']})",
        "",
        f"Command: `{r['command']}`",
        "",
        f"Corpus: {r['corpus']['documents']} synthetic transcripts, {r['corpus']['segments']} informant segments. "
        f"Model: {r['model']} backbone, frozen, untrained heads (speed does not depend on head weights).",
        "",
        "| run | seconds | segments/s |",
        "| --- | ---: | ---: |",
        f"| local `tag()`, {loc['torch_threads']} torch thread(s), end to end | {loc['seconds']:.1f} | "
        f"{loc['segments_per_s']:.1f} |",
        f"| local, without the model load ({loc['model_load_seconds']:.1f} s) | "
        f"{loc['seconds'] - loc['model_load_seconds']:.1f} | {loc['segments_per_s_without_load']:.1f} |",
        f"| `tag_ray()`, {ray_['actors']} actors, batch {ray_['batch_size']} docs, after `ray.init` "
        f"(first result at {ray_['first_result_seconds']:.1f} s) | {ray_['seconds']:.1f} | {ray_['segments_per_s']:.1f} |",
        f"| same, including `ray.init` ({ray_['ray_init_seconds']:.1f} s) | "
        f"{ray_['seconds'] + ray_['ray_init_seconds']:.1f} | {ray_['segments_per_s_incl_init']:.1f} |",
        f"| same, once running (start-up {ray_['startup_seconds']:.1f} s: actor start, model load) | | "
        f"{ray_['running_segments_per_s']:.1f} |",
        f"| `tag_ray()` with a constant suggester (no model), {bare['documents']} docs | {bare['seconds']:.1f} | "
        f"{bare['segments_per_s']:.1f} |",
        "",
        f"Per-actor model rate (segments / seconds inside the suggester, 1 torch thread): {rates} segments/s.",
        f"Per-batch overhead (actor wall time per batch once running, less the time in the model), measured "
        f"with no model: {bare['overhead_ms_per_batch']:.0f} ms per batch of {ray_['batch_size']} documents "
        f"({bare['overhead_ms_per_document']:.0f} ms per document): read + segment tasks, Arrow/pickle, object "
        "store, scheduling, the driver writing each result. In the model run each batch took "
        f"{ray_['run']['seconds_per_batch']:.1f} s of actor time, "
        f"{ray_['run']['model_seconds'] / max(ray_['run']['batches'], 1):.1f} s of it in the model; the overhead is "
        "below the noise there.",
        f"Ray outputs byte-identical to local: {ray_['outputs_identical_to_local']} (largest difference of a "
        f"number in the JSON Lines: {ray_['max_abs_diff_jsonl']:.1e}; local ran {loc['torch_threads']} torch "
        f"thread(s), each actor {ray_['run']['threads_per_actor']}: fp32 sums depend on the thread count, "
        "equal counts give equal bytes).",
        "",
    ])


if __name__ == "__main__":
    typer.run(main)
