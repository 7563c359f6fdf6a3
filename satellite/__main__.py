"""`xnai-satellite` (= `xnai satellite`): flags come from the `satellite_*` fields of the one Settings model."""

from __future__ import annotations

import argparse
import sys

from wyoming_xnai.settings import Settings


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Called by `xnai satellite`: HA mode is a Wyoming server, otherwise the local pipeline."""
    if settings.satellite_ha:
        from satellite.ha import main as ha_main

        return ha_main(settings)
    from satellite.pipeline import main as pipeline_main

    return pipeline_main(settings)


def main(argv: list[str] | None = None) -> int:
    from wyoming_xnai.cli import main as cli_main

    return cli_main(["satellite", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
