"""`xnai-satellite` (= `xnai satellite`): flags come from the fields of `SatelliteSettings`."""

from __future__ import annotations

import argparse
import sys

from satellite.wake import stop_models, wake_models
from wyoming_xnai.audio.wakeword import UnknownWakeWord
from wyoming_xnai.errors import UserError
from wyoming_xnai.settings import SatelliteSettings


def check(settings: SatelliteSettings) -> None:
    """Mistakes a user can fix get one line before anything starts."""
    wav = settings.satellite_mic_wav
    if wav is None and not settings.satellite_mic_command:
        raise UserError(
            "no microphone: give --mic-command (e.g. 'arecord -r 16000 -c 1 -f S16_LE -t raw') or --mic-wav"
        )
    if wav is not None and not wav.is_file():
        raise UserError(f"--mic-wav {wav}: no such file")
    if settings.satellite_snd_command and settings.satellite_snd_wav:
        raise UserError("give --snd-command or --snd-wav, not both")
    if settings.satellite_end_silence <= 0.1:
        raise UserError("--end-silence must be more than 0.1 s")
    try:
        wake_models(settings)
        stop_models(settings)
    except UnknownWakeWord as err:
        raise UserError(str(err)) from None


def run(settings: SatelliteSettings, args: argparse.Namespace) -> int:
    """Called by `xnai satellite`: HA mode is a Wyoming server, otherwise the local pipeline."""
    check(settings)
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
