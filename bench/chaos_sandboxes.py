"""Billing sandboxes for the chaos run, as processes: `python -m bench.chaos_sandboxes chargebee PORT`.

`bridge sandbox chargebee` keeps Chargebee's real retry schedule (minutes to days); a bounded
chaos run needs the same behaviour compressed into seconds, so this launcher shortens it.
"""

from __future__ import annotations

import sys

import uvicorn

# Chargebee retries 7 times; the same count, seconds instead of minutes to days.
FAST_RETRY_DELAYS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0)


def main(argv: list[str]) -> None:
    """Serve the named sandbox on 127.0.0.1:PORT."""
    name, port = argv[0], int(argv[1])
    if name != "chargebee":
        raise SystemExit(f"unknown sandbox {name!r}")
    from bridge.sandbox.chargebee.app import create_app

    app = create_app(retry_delays=FAST_RETRY_DELAYS, duplicate_rate=0.1, out_of_order=True, seed=int(argv[2]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
