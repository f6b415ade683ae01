"""``python -m brutor.embed.build <cache_dir>``: build the embedding model ahead of time (in a
Dockerfile or CI), so that the gateway's first start does not."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from brutor.embed.store import Variant, ensure_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brutor.embed.build", description="Build the embedding model into a cache directory."
    )
    parser.add_argument("cache_dir", type=Path, help="e.g. <data_dir>/models")
    parser.add_argument("--variant", choices=["int8", "fp32"], default="int8")
    args = parser.parse_args(argv)
    log = logging.getLogger("brutor.embed")
    log.addHandler(logging.StreamHandler(sys.stderr))
    log.setLevel(logging.INFO)
    log.propagate = False
    variant: Variant = "fp32" if args.variant == "fp32" else "int8"
    print(ensure_model(args.cache_dir, variant))
    return 0


if __name__ == "__main__":
    sys.exit(main())
