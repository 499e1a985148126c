"""``stalk-worker-py``: runs an app's tasks. ``-A module:app`` names the ``Stalk`` app (its
module is imported, which declares its tasks); SIGTERM and SIGINT shut down warm."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from typing import List, Optional

from .app import Stalk
from .errors import StalkError
from .worker import Worker


def load_app(spec: str) -> Stalk:
    """The app named ``module:attribute``."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"stalk-worker-py: -A takes module:app, not {spec!r}")
    sys.path.insert(0, os.getcwd())
    app = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(app, Stalk):
        raise SystemExit(f"stalk-worker-py: {spec} is not a stalk.Stalk app")
    return app


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="stalk-worker-py", description=__doc__)
    parser.add_argument("-A", "--app", required=True, help="the app, module:attribute")
    parser.add_argument(
        "-Q", "--queues", default=os.environ.get("STALK_QUEUES", "default"),
        help="queues to take tasks from, comma-separated, tried in order (STALK_QUEUES)",
    )
    parser.add_argument(
        "-c", "--concurrency", type=int, default=int(os.environ.get("STALK_CONCURRENCY", "4")),
        help="tasks at once, one thread each (STALK_CONCURRENCY)",
    )
    parser.add_argument("--worker-id", default=os.environ.get("STALK_WORKER_ID"))
    parser.add_argument(
        "--lease", type=float, default=float(os.environ.get("STALK_LEASE_S", "30")),
        help="seconds a started task's lease lasts; extended while it runs (STALK_LEASE_S)",
    )
    parser.add_argument("--token", default=os.environ.get("STALK_TOKEN"))
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = load_app(args.app)
    queues = tuple(q for q in args.queues.split(",") if q)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    worker = Worker(
        app, queues, args.concurrency, worker_id=args.worker_id, lease=args.lease, token=args.token
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    logging.getLogger("stalk.worker").info(
        "worker ready: %s, queues %s, %d threads, tasks %s",
        worker.worker_id, ",".join(queues), args.concurrency, ",".join(sorted(app.tasks)),
    )
    try:
        worker.run()
    except StalkError as err:
        print(f"stalk-worker-py: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
