"""The calls of a folder (``bench/calls.py``'s) as they reach a contact centre's recorder from a
mobile phone or a VoIP line: through a low-bit-rate speech codec, and with packets lost on the
way, to measure Parley on audio less clean than a G.711 line's. Each recording is encoded and
decoded by ffmpeg with ``--codec`` (AMR by PyAV, below), then (``--packet-loss``) 20 ms packets are lost in bursts and
their samples are silence (no concealment: a G.711 leg without it) or, with ``--conceal``, what
a VoIP receiver plays instead (``conceal``: the last pitch period repeated, fading, after G.711
Appendix I), then written back as G.711
mu-law WAV at 8 kHz, as the recorder stores every call; a 16 kHz call (a softphone's) as 16-bit
WAV at 16 kHz. The sidecars, RTTMs, STMs and truth files
are copied, so every bench that reads the clean folder reads this one, and the two can be
compared call by call.

    python bench/phone_codecs.py bench/out/roles-s92 bench/out/roles-s92-gsm --codec gsm
    python bench/phone_codecs.py bench/out/roles-s92 bench/out/roles-s92-loss5 --packet-loss 0.05

Codecs (ffmpeg's encoders, Debian's build): ``none`` or ``g711`` (the line as it was), ``gsm`` (GSM
06.10 full rate, 13 kbit/s, the mobile networks' first codec, libgsm), ``opus`` (Opus in its
VoIP mode, narrowband, ``--kbps``, default 8: a softphone or WebRTC call on a poor link,
libopus), ``g723`` (G.723.1, 6.3 kbit/s, the lowest rate of the old VoIP gateways), ``amr``
(AMR-NB, what GSM and UMTS mobile calls carry today, ``--kbps`` one of its eight modes, default
12.2, the full-rate one; 4.75 is the lowest, where a network goes on a poor radio link; with
discontinuous transmission as networks run it: in pauses the decoder makes comfort noise).
Debian's ffmpeg and sox have no AMR encoder, so AMR goes through PyAV (faster-whisper's own
dependency, whose wheels carry OpenCORE AMR). 16 kHz calls: ``opus`` (wideband, ``--kbps``,
default 8 as for narrowband), ``g722`` (G.722, 64 kbit/s, HD voice on a desk phone), ``none``.
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

RATES = {8000: ("none", "g711", "gsm", "opus", "g723", "amr"), 16000: ("none", "opus", "g722")}
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
    "amr": "pyav",
}
AMR_MODES = (4.75, 5.15, 5.9, 6.7, 7.4, 7.95, 10.2, 12.2)
"""AMR-NB's bit rates (kbit/s): a network picks one per call leg, and may change it."""
DEFAULT_KBPS = {"opus": 8.0, "amr": 12.2}


def through_codec(audio: np.ndarray, codec: str, kbps: float | None = None, rate: int = 8000) -> np.ndarray:
    """``audio`` (mono float at ``rate``) encoded with ``codec`` at ``kbps`` (None: the codec's
    ``DEFAULT_KBPS``) and decoded again by ffmpeg (AMR: ``through_amr``, by PyAV), the same length
    (the codec's delay taken off: the decoded signal is aligned to the input by cross-correlation,
    ``aligned``)."""
    if CODECS[codec] is None:
        return audio.astype(np.float32)
    kbps = DEFAULT_KBPS.get(codec, 8.0) if kbps is None else kbps
    if codec == "amr":
        return aligned(audio, through_amr(audio, kbps), rate // 10)
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


def through_amr(audio: np.ndarray, kbps: float) -> np.ndarray:
    """``audio`` (mono float at 8 kHz) encoded as AMR-NB (``encode_amr``) and decoded, both by
    OpenCORE AMR in PyAV (ffmpeg's own AMR decoder cannot read the silence frames that
    discontinuous transmission sends)."""
    import av

    with tempfile.TemporaryDirectory() as tmp:
        coded = encode_amr(audio, kbps, Path(tmp) / "coded.amr")
        decoder = av.CodecContext.create("libopencore_amrnb", "r")
        decoder.sample_rate, decoder.layout = 8000, "mono"
        with av.open(str(coded)) as source:
            pieces = [f.to_ndarray().reshape(-1) for packet in source.demux(audio=0) for f in decoder.decode(packet)]
    decoded = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    return (decoded.astype(np.float32) / 32768.0) if decoded.dtype == np.int16 else decoded.astype(np.float32)


def encode_amr(audio: np.ndarray, kbps: float, path: Path) -> Path:
    """``audio`` (mono float at 8 kHz) written to ``path`` as an AMR-NB file (RFC 4867's storage
    format) at ``kbps`` (one of ``AMR_MODES``), with discontinuous transmission: in pauses the
    encoder sends a short silence description now and then instead of speech frames, and the
    decoder makes comfort noise from it."""
    import av

    if kbps not in AMR_MODES:
        raise SystemExit(f"AMR-NB has no {kbps:g} kbit/s mode; use one of {', '.join(f'{m:g}' for m in AMR_MODES)}")
    if not pyav_amr():
        raise SystemExit(f"this PyAV ({av.__version__}) has no AMR-NB encoder (libopencore_amrnb); "
                         f"PyAV's own wheels carry it: pip install --force-reinstall av")
    with av.open(str(path), "w", format="amr") as out:
        stream = out.add_stream("libopencore_amrnb", rate=8000, layout="mono", options={"dtx": "1"})
        stream.bit_rate = int(round(kbps * 1000))
        frame = av.AudioFrame.from_ndarray((np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)[None, :],
                                           format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


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


def pyav_amr() -> bool:
    """Whether PyAV is here and can encode AMR-NB (OpenCORE AMR in its build)."""
    try:
        import av

        av.codec.Codec("libopencore_amrnb", "w")
        return True
    except Exception:  # noqa: BLE001 - no PyAV, or a build without OpenCORE AMR
        return False


def encoders() -> str:
    """``ffmpeg -encoders``' list ("" without ffmpeg): whether this ffmpeg can make a codec; with
    ``libopencore_amrnb`` added where PyAV can encode AMR-NB."""
    found = ""
    if shutil.which("ffmpeg") is not None:
        found = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=False).stdout
    if pyav_amr():
        found += "\n A..... libopencore_amrnb    OpenCORE AMR-NB (through PyAV)"
    return found


CONCEAL_FULL_S = 0.01
"""``conceal``: the first 10 ms of a loss repeat the last pitch period at full level ..."""
CONCEAL_FADE_S = 0.05
"""... then fade to silence over this long (G.711 Appendix I: 20% less every 10 ms, silent after 60 ms)."""


def conceal(audio: np.ndarray, lost: np.ndarray, packet: int, rate: int) -> np.ndarray:
    """``audio`` with each run of lost packets filled as a VoIP receiver's concealment does,
    after G.711 Appendix I in a simple form: the last pitch period before the loss (2.5-15 ms:
    the lag at which the last 15 ms before it are most like the 15 ms that lag earlier) repeated
    through the loss, at full level for ``CONCEAL_FULL_S``, fading to silence over
    ``CONCEAL_FADE_S``, and, where it has not faded out (a loss under 60 ms), cross-faded over
    4 ms into the first packet after it; after a longer loss speech comes back at once. A loss
    in the call's first 50 ms, or after 50 ms of digital silence, stays silent (nothing to
    repeat)."""
    out = audio.copy()
    history = int(0.05 * rate)
    lo, hi = int(0.0025 * rate), int(0.015 * rate)
    full, fade, blend = int(CONCEAL_FULL_S * rate), int(CONCEAL_FADE_S * rate), int(0.004 * rate)
    edges = np.diff(np.concatenate([[0], lost.astype(int), [0]]))
    for first, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        a, b = first * packet, min(end * packet, len(out))
        if a < history:
            out[a:b] = 0.0
            continue
        past = out[a - history: a]
        if not past.any():
            out[a:b] = 0.0
            continue
        scores = [float(np.dot(past[-lag - hi: -lag], past[-hi:])) / (np.linalg.norm(past[-lag - hi: -lag]) * np.linalg.norm(past[-hi:]) + 1e-9)
                  for lag in range(lo, hi + 1)]  # history (50 ms) >= 2 x hi (30 ms)
        period = lo + int(np.argmax(scores))
        cycle = past[-period:]
        n = b - a
        fill = np.resize(cycle, n + blend)
        gain = np.clip(1.0 - np.maximum(np.arange(n) - full, 0) / fade, 0.0, 1.0)
        out[a:b] = fill[:n] * gain
        after = min(blend, len(out) - b)
        if after > 0 and gain[-1] > 0:  # out of it: the repeated period fades into the packet that came
            ramp = np.linspace(0.0, 1.0, after, endpoint=False)
            out[b: b + after] = ramp * out[b: b + after] + (1 - ramp) * fill[n: n + after] * gain[-1]
    return out


def degrade(src: Path, dst: Path, codec: str, kbps: float, packet_loss: float, concealed: bool = False) -> float:
    """Write ``src`` (an 8 or 16 kHz mono call) through ``codec`` and ``packet_loss`` to ``dst``
    (``concealed``: the lost packets filled by ``conceal``, else silence); returns the share of
    packets lost."""
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
    if concealed:
        out = conceal(out, lost, packet, rate)
    else:
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
    parser.add_argument("--kbps", type=float, default=None, help="Opus bit rate (default 8), AMR-NB mode (default 12.2)")
    parser.add_argument("--packet-loss", type=float, default=0.0, help="share of 20 ms packets lost, in bursts")
    parser.add_argument("--conceal", action="store_true",
                        help="lost packets filled by the receiver's concealment (the last pitch period repeated, fading), not silence")
    args = parser.parse_args()
    args.kbps = args.kbps if args.kbps is not None else DEFAULT_KBPS.get(args.codec, 8.0)
    if shutil.which("ffmpeg") is None and CODECS[args.codec] not in (None, "pyav"):
        raise SystemExit("ffmpeg is not installed: run `make install` (apt-get install ffmpeg)")
    wavs = sorted(args.src.glob("*.wav"))
    if not wavs:
        raise SystemExit(f"{args.src}: no .wav recordings; make some with bench/calls.py --layout mono --rate 8000")
    shares = []
    for wav in wavs:
        shares.append(degrade(wav, args.out / wav.name, args.codec, args.kbps, args.packet_loss, args.conceal))
        copy_references(args.src, args.out, wav)
    copy_manifest(args.src, args.out)
    print(f"{args.out}: {len(wavs)} recordings through {args.codec}"
          f"{f' at {args.kbps:g} kbit/s' if args.codec in DEFAULT_KBPS else ''}, {100 * np.mean(shares):.1f}% of packets lost"
          f"{' (concealed)' if args.conceal else ''}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
