#!/usr/bin/env python3
"""Micro-benchmark of the semantic cache's embedder (issue 7): all-MiniLM-L6-v2, int8 and fp32
ONNX, run by onnxruntime on one thread.

Measured, per variant and prompt length (short ~12 tokens, medium ~60, long ~250), as ms per
prompt (median of N calls after a warm-up): the whole ``Embedder.embed`` (tokenize, run, mean
pooling, native L2 normalization), the tokenizer alone, and CPU time / wall time of the loop (1.0
means one core). Before timing: the one-time build (fresh directory), int8 vs fp32 cosine on
twelve sentences, and the resident memory of a process that has loaded one embedder.

    python bench/embed.py [--quick] [--repeats N] [--cache-dir DIR] [--write-results]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import onnxruntime
import tokenizers

from brutor.embed import Embedder, cosine, ensure_model

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Issue 7: embedder"

PROMPTS = {
    "short": "How do I reset the password of my account?",
    "medium": (
        "I ordered a pair of running shoes last week and they arrived in the wrong size. The box "
        "was also damaged. Could you explain how to return them, whether I will be refunded the "
        "shipping costs, and how long the exchange usually takes? I would prefer a store credit "
        "if that is faster."
    ),
    "long": " ".join(
        [
            "Our team is migrating a monolithic Django application to a set of services running on "
            "Kubernetes. The database is PostgreSQL 14 with about two terabytes of data, and we use "
            "Celery with Redis for background jobs. We need zero downtime during the migration.",
            "Please propose a step-by-step plan covering the strangler-fig pattern, how to split the "
            "database without breaking foreign keys, how to keep the Celery workers consistent while "
            "both systems run, what to monitor, and how to roll back each step if something fails.",
            "Also list the risks you see in our current setup: a single primary database, long "
            "running migrations that lock tables, cron jobs on one virtual machine, secrets in "
            "environment files, and no load tests. For each risk suggest a mitigation and estimate "
            "the effort in days for a team of four engineers who know Python well but are new to "
            "Kubernetes. Finally, compare managed Kubernetes offerings for a team of our size, "
            "including their pricing model, upgrade policy, autoscaling, network policies, and how "
            "each integrates with our existing logging stack (Loki and Grafana) and with our CI.",
        ]
    ),
}

SENTENCES = [
    "How do I reset my password?",
    "What is the capital of France?",
    "Translate 'good morning' into Spanish.",
    "Write a haiku about the sea in autumn.",
    "The quarterly revenue grew by 12 percent compared to last year.",
    "Explain the difference between TCP and UDP in simple terms.",
    "My order #48213 arrived damaged; I would like a refund or a replacement please.",
    "List three side effects of ibuprofen.",
    "def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "Summarize the plot of Pride and Prejudice in two sentences.",
    "Which is heavier, a kilogram of feathers or a kilogram of steel?",
    PROMPTS["long"],
]

NOTES = [
    "- The graph is written node by node from the safetensors weights (no torch, `brutor/embed/onnx_build.py`); "
    "its fp32 output matches an independent float64 numpy BERT within 1e-7 (`tests/embed/test_graph.py`). "
    "onnxruntime's SkipLayerNormalization fusion is disabled: here it made the int8 graph ~20 % slower "
    "(16.7 → 13.8 ms at 250 tokens without it).",
    "- Time grows faster than the token count (attention is quadratic). At ~250 tokens the quantized "
    "MatMuls take ~6.6 ms and the fp32 attention (scores, softmax, context, mask) ~4.6 ms. A fused "
    "`com.microsoft.MultiHeadAttention` was tried: 10 % faster (13.8 → 12.4 ms), not adopted.",
    "- The cache embeds the last user turn only (CACHE.md), usually short. A hard 10 ms bound needs a "
    "window of at most ~190 tokens here (`Embedder.load(dir, max_tokens=192)`, another embedder id).",
]

RSS_SCRIPT = """
import sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
from brutor.embed import Embedder
before = rss()
emb = Embedder.load(sys.argv[1], variant=sys.argv[2])
emb.embed("warm up " * 300)  # a full window: the arena at its peak
print(f"{before:.0f} {rss():.0f}")
"""


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median ms per call, and CPU seconds / wall seconds over the timed calls."""
    for _ in range(max(3, repeats // 10)):
        fn()
    samples = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return statistics.median(samples) * 1000, cpu / wall


def aembed_ms(emb: Embedder, text: str, repeats: int) -> float:
    async def run() -> float:
        for _ in range(3):
            await emb.aembed(text)
        samples = []
        for _ in range(repeats):
            t = time.perf_counter()
            await emb.aembed(text)
            samples.append(time.perf_counter() - t)
        return statistics.median(samples) * 1000

    return asyncio.run(run())


def build_seconds() -> float:
    with tempfile.TemporaryDirectory(prefix="brutor-embed-bench-") as tmp:
        start = time.perf_counter()
        ensure_model(tmp, "int8")
        return time.perf_counter() - start


def rss_mb(cache: Path, variant: str) -> tuple[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(cache), variant], capture_output=True, text=True, check=True
    )
    before, after = out.stdout.split()
    return before, after


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about 15 s)")
    parser.add_argument(
        "--repeats", type=int, default=0, help="calls per measurement (default 200, quick 30)"
    )
    parser.add_argument("--cache-dir", type=Path, help="model cache (default: a temporary directory)")
    parser.add_argument(
        "--write-results", action="store_true", help=f"write '{HEADING}' into bench/RESULTS.md"
    )
    args = parser.parse_args()
    repeats = args.repeats or (30 if args.quick else 200)

    with tempfile.TemporaryDirectory(prefix="brutor-embed-cache-") as tmp:
        cache = args.cache_dir or Path(tmp)
        build_s = build_seconds()
        embedders = {v: Embedder.load(cache, variant=v) for v in ("int8", "fp32")}
        try:
            section = measure(embedders, cache, repeats, build_s)
        finally:
            for emb in embedders.values():
                emb.close()
    print(section)
    if args.write_results:
        write_section(section)
        print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


def measure(embedders: dict[str, Embedder], cache: Path, repeats: int, build_s: float) -> str:
    int8, fp32 = embedders["int8"], embedders["fp32"]
    cosines = [cosine(int8.embed(s), fp32.embed(s)) for s in SENTENCES]
    for name, text in PROMPTS.items():  # correctness before timing
        assert int8.fits(text), name
        assert abs(cosine(int8.embed(text), int8.embed(text)) - 1.0) < 1e-6
    prompts = dict(PROMPTS)
    for n in (128, 192):  # where the 10 ms line falls: prefixes of the long prompt
        prompts[f"{n}-token prefix"] = prefix_of(int8, PROMPTS["long"], n)
    prompts = dict(sorted(prompts.items(), key=lambda kv: int8.token_count(kv[1])))
    rows, int8_ms = [], {}
    for name, text in prompts.items():
        tokens = int8.token_count(text)
        tok_ms, _ = timed(lambda text=text: int8._tok.encode(text), repeats)
        cells = [name, str(tokens), f"{tok_ms:.2f}"]
        for emb in (int8, fp32):
            ms, ratio = timed(lambda emb=emb, text=text: emb.embed(text), repeats)
            cells += [f"{ms:.2f}", f"{ratio:.2f}"]
            if emb is int8:
                int8_ms[tokens] = ms
        cells.append(f"{aembed_ms(int8, text, repeats):.2f}")
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    rss = {v: rss_mb(cache, v) for v in ("int8", "fp32")}
    sizes = {v: next(cache.glob(f"*.{v}.*.onnx")).stat().st_size / 1e6 for v in ("int8", "fp32")}
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    lines = [
        HEADING,
        "",
        f"{today}, {platform.machine()} ({_cpu()}), Python {platform.python_version()}, onnxruntime "
        f"{onnxruntime.__version__}, tokenizers {tokenizers.__version__}. Method: `python bench/embed.py"
        f"{' --quick' if repeats < 100 else ''}`: median of {repeats} calls after a warm-up, one "
        "onnxruntime thread (intra-op 1, inter-op 1, sequential). `embed` = tokenize + ONNX run + "
        "mean pooling + native L2 normalization, one prompt per call; `aembed` = the same awaited "
        "from an event loop (its worker thread). CPU/wall over the timed loop (1.00 = one core; "
        f"lower means the process waited for a CPU: load average {_load()} at the end).",
        "",
        "| prompt | tokens | tokenize ms | int8 ms | int8 CPU/wall | fp32 ms | fp32 CPU/wall | int8 aembed ms |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"- Target (≤ 10 ms per prompt on one core, int8): {target_line(int8_ms)}.",
        f"- One-time build of the int8 model (safetensors → ONNX graph → dynamic per-channel int8), "
        f"fresh directory: {build_s:.1f} s. Files: int8 {sizes['int8']:.1f} MB, fp32 {sizes['fp32']:.1f} MB.",
        f"- Cosine int8 vs fp32 on {len(cosines)} sentences: min {min(cosines):.4f}, mean "
        f"{statistics.mean(cosines):.4f} (recalibrate cache thresholds per embedder id).",
        f"- RSS of a process with one loaded embedder: int8 {rss['int8'][1]} MB, fp32 {rss['fp32'][1]} MB "
        f"({rss['int8'][0]} MB after `import brutor.embed`, before loading).",
        *NOTES,
        "",
    ]
    return "\n".join(_wrap(line) for line in lines)


def prefix_of(emb: Embedder, text: str, tokens: int) -> str:
    """The shortest word prefix of ``text`` with at least ``tokens`` tokens."""
    words = text.split()
    for i in range(1, len(words) + 1):
        prefix = " ".join(words[:i])
        if emb.token_count(prefix) >= tokens:
            return prefix
    return text


def target_line(ms_by_tokens: dict[int, float]) -> str:
    met = [t for t, ms in ms_by_tokens.items() if ms <= 10.0]
    missed = {t: ms for t, ms in ms_by_tokens.items() if ms > 10.0}
    if not missed:
        return f"met at every length measured (up to {max(met)} tokens)"
    return f"met up to {max(met) if met else 0} tokens, missed at " + ", ".join(
        f"{t} tokens ({ms:.1f} ms)" for t, ms in sorted(missed.items())
    )


def _wrap(line: str) -> str:
    if line.startswith(("|", "#")) or len(line) <= 105:
        return line
    indent = "  " if line.startswith("- ") else ""
    return textwrap.fill(line, width=105, subsequent_indent=indent, break_on_hyphens=False)


def _load() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_section(section: str) -> None:
    """Replace the section if present, else append it at the end (re-read just before writing)."""
    text = RESULTS.read_text(encoding="utf-8")
    start = text.find(HEADING + "\n")
    if start < 0:
        RESULTS.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    end = text.find("\n## ", start + len(HEADING))
    rest = "" if end < 0 else text[end + 1 :]
    RESULTS.write_text(text[:start] + section + ("\n" + rest if rest else ""), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
