"""The calls of a folder (``bench/calls.py``'s) as they reach a contact centre's recorder from a
mobile phone or a VoIP line: through a low-bit-rate speech codec, and with packets lost on the
way, to measure Parley on audio less clean than a G.711 line's. Each recording is encoded and
decoded by ffmpeg with ``--codec``, then (``--packet-loss``) 20 ms packets are lost in bursts and
their samples are silence (no concealment: a G.711 leg without it), then written back as G.711
mu-law WAV at 8 kHz, as the recorder stores every call; a 16 kHz call (a softphone's) as 16-bit
WAV at 16 kHz. The sidecars, RTTMs, STMs and truth files
are copied, so every bench that reads the clean folder reads this one, and the two can be
compared call by call.

    python bench/phone_codecs.py bench/out/roles-s92 bench/out/roles-s92-gsm --codec gsm
    python bench/phone_codecs.py bench/out/roles-s92 bench/out/roles-s92-loss5 --packet-loss 0.05

Codecs (ffmpeg's encoders, Debian's build): ``none`` or ``g711`` (the line as it was), ``gsm`` (GSM
06.10 full rate, 13 kbit/s, the mobile networks' first codec, libgsm), ``opus`` (Opus in its
VoIP mode, narrowband, ``--kbps``, default 8: a softphone or WebRTC call on a poor link,
libopus), ``g723`` (G.723.1, 6.3 kbit/s, the lowest rate of the old VoIP gateways). AMR, what
mobile networks use today, has no encoder in Debian's ffmpeg or sox. 16 kHz calls: ``opus``
(wideband, ``--kbps``, default 8 as for narrowband), ``g722`` (G.722, 64 kbit/s, HD voice on a
desk phone), ``none``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from noisy import copy_manifest, copy_references  # bench/noisy.py: the same folders, the same references

RATES = {8000: ("none", "g711", "gsm", "opus", "g723"), 16000: ("none", "opus", "g722")}
"""The codecs each sample rate may go through."""
PACKET_S = 0.02
"""One packet of speech: 20 ms, as G.711, GSM and Opus calls send them."""
BURST_PACKETS = 2.0
"""Mean length of a burst of lost packets (a two-state Gilbert model: losses come together)."""
CODECS = {
    "g711": None,
    "none": None,
    "g722": (["-c:a", "g722"], ".wav"),
    "gsm": (["-c:a", "libgsm", "-f", "gsm"], ".gsm"),
    "opus": (["-c:a", "libopus", "-application", "voip", "-b:a", "{kbps}k", "-cutoff", "{band}"], ".opus"),
    "g723": (["-c:a", "g723_1", "-b:a", "6300"], ".wav"),
}


def through_codec(audio: np.ndarray, codec: str, kbps: float = 8.0, rate: int = 8000) -> np.ndarray:
    """``audio`` (mono float at ``rate``) encoded with ``codec`` and decoded again by ffmpeg, the same
    length (the codec's delay taken off: the decoded signal is aligned to the input by
    cross-correlation, ``aligned``)."""
    if CODECS[codec] is None:
        return audio.astype(np.float32)
    args, suffix = CODECS[codec]
    args = [a.format(kbps=f"{kbps:g}", band=rate // 2) for a in args]  # Opus: narrowband at 8 kHz, wideband at 16
    with tempfile.TemporaryDirectory() as tmp:
        src, coded, back = Path(tmp) / "in.wav", Path(tmp) / f"coded{suffix}", Path(tmp) / "out.wav"
        sf.write(src, audio, rate, subtype="PCM_16")
        for cmd in (["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-ar", str(rate), "-ac", "1", *args, str(coded)],
                    ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(coded), "-ar", str(rate), "-ac", "1",
                     "-c:a", "pcm_s16le", str(back)]):
            done = subprocess.run(cmd, capture_output=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"ffmpeg could not run {codec}: {done.stderr.decode().strip()} (check `ffmpeg -encoders`)")
        decoded, _ = sf.read(back, dtype="float32")
    return aligned(audio, decoded, rate // 10)


def aligned(reference: np.ndarray, decoded: np.ndarray, max_lag: int = 800) -> np.ndarray:
    """``decoded`` shifted by the lag (0 to ``max_lag`` samples late) that best matches
    ``reference`` over its first 80,000 samples, cut or padded to its length."""
    n = min(len(reference), len(decoded), 80_000)
    ref = reference[:n]
    lags = range(0, min(max_lag, len(decoded) - n) + 1)
    best = max(lags, key=lambda lag: float(np.dot(ref, decoded[lag: lag + n])))
    out = decoded[best: best + len(reference)]
    return np.pad(out, (0, len(reference) - len(out))).astype(np.float32)


def lost_packets(n_packets: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """True for each lost packet: a two-state Gilbert model whose losses come in bursts of
    ``BURST_PACKETS`` on average and make up ``share`` of the packets over a long call."""
    lost = np.zeros(n_packets, dtype=bool)
    if share <= 0:
        return lost
    leave = 1.0 / BURST_PACKETS  # from the lossy state back to the good one
    enter = share * leave / (1.0 - share)  # so that the lossy state's share is ``share``
    state = False
    for i in range(n_packets):
        state = (rng.random() >= leave) if state else (rng.random() < enter)
        lost[i] = state
    return lost


def encoders() -> str:
    """``ffmpeg -encoders``' list ("" without ffmpeg): whether this ffmpeg can make a codec."""
    if shutil.which("ffmpeg") is None:
        return ""
    return subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=False).stdout


def degrade(src: Path, dst: Path, codec: str, kbps: float, packet_loss: float) -> float:
    """Write ``src`` (an 8 or 16 kHz mono call) through ``codec`` and ``packet_loss`` to ``dst``;
    returns the share of packets lost."""
    audio, rate = sf.read(src, dtype="float32", always_2d=True)
    if rate not in RATES or audio.shape[1] != 1:
        raise SystemExit(f"{src}: {rate} Hz, {audio.shape[1]} channel(s); bench/phone_codecs.py takes 8 or 16 kHz mono "
                         f"calls (make them with bench/calls.py --layout mono)")
    if codec not in RATES[rate]:
        raise SystemExit(f"{src}: {codec} does not carry {rate // 1000} kHz calls; use one of {', '.join(RATES[rate])}")
    out = through_codec(audio[:, 0], codec, kbps, rate)
    rng = np.random.default_rng(int(hashlib.sha256(src.name.encode()).hexdigest()[:12], 16))
    packet = int(PACKET_S * rate)
    lost = lost_packets(-(-len(out) // packet), packet_loss, rng)
    for i in np.flatnonzero(lost):
        out[i * packet: (i + 1) * packet] = 0.0
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, np.clip(out, -1.0, 1.0), rate, subtype="ULAW" if rate == 8000 else "PCM_16")
    return float(lost.mean()) if len(lost) else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--codec", choices=sorted(CODECS), default="none", help="none (or g711): packet loss only")
    parser.add_argument("--kbps", type=float, default=8.0, help="Opus bit rate")
    parser.add_argument("--packet-loss", type=float, default=0.0, help="share of 20 ms packets lost, in bursts")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None and CODECS[args.codec] is not None:
        raise SystemExit("ffmpeg is not installed: run `make install` (apt-get install ffmpeg)")
    wavs = sorted(args.src.glob("*.wav"))
    if not wavs:
        raise SystemExit(f"{args.src}: no .wav recordings; make some with bench/calls.py --layout mono --rate 8000")
    shares = []
    for wav in wavs:
        shares.append(degrade(wav, args.out / wav.name, args.codec, args.kbps, args.packet_loss))
        copy_references(args.src, args.out, wav)
    copy_manifest(args.src, args.out)
    print(f"{args.out}: {len(wavs)} recordings through {args.codec}"
          f"{f' at {args.kbps:g} kbit/s' if args.codec == 'opus' else ''}, {100 * np.mean(shares):.1f}% of packets lost",
          file=sys.stderr)


if __name__ == "__main__":
    main()
