"""bench/diarization.py's stage timing (``--stages``), on pyannote's real call through the
telephone band: the stages it names must be the functions diarization runs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import diarization  # noqa: E402


def test_stage_times_name_the_stages_a_phone_call_runs():
    from pipeline.diarize import DiarizeOptions, diarize_full

    samples, reference = diarization.real_call(0.5, telephone=True)  # one 30 s copy, 8 kHz band
    assert len({who for _, _, who in reference}) == 2
    diarize_full(samples[: 10 * 16000], options=DiarizeOptions(), expected=2, source_rate=8000)  # models loaded, as the bench does
    found = []
    stages = diarization.stage_times(lambda: found.append(
        diarize_full(samples, options=DiarizeOptions(), expected=2, source_rate=8000)))
    assert len({t.speaker for t in found[0].turns}) == 2
    # a two-person call: Silero at 8 kHz, CAM++, resegmented by each voice's sound, clustered
    for label in ("speaker embeddings", "speech detection", "resegmentation", "clustering and count rules"):
        assert stages[label] > 0, (label, stages)
    named = sum(v for k, v in stages.items() if k not in ("other", "total"))
    assert stages["other"] > -0.01 and named <= stages["total"] + 0.01  # (the named stages do not nest)
    assert stages["other"] < 0.5 * stages["total"], stages  # the named stages are most of the time
