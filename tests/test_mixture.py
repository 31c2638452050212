"""``pipeline.mixture``: scikit-learn's diagonal Gaussian mixture, the same numbers, faster."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from pipeline.diarize import DiarizeOptions, resegment, sound_frames, standardised
from pipeline.mixture import DiagonalMixture, logsumexp_rows

DATA = Path(__file__).parent / "data"


def _real_call_sound() -> tuple[np.ndarray, np.ndarray]:
    """pyannote's real call: its sound frames as ``resegment`` models them, and each 10 ms frame's
    speaker from its RTTM (-1: nobody, the later of two voices at once)."""
    from faster_whisper import decode_audio

    samples = decode_audio(str(DATA / "pyannote_sample.wav"), sampling_rate=16000)
    labels = np.full(len(samples) // 160, -1)
    rows = [line.split() for line in (DATA / "pyannote_sample.rttm").read_text().splitlines()]
    names = sorted({row[7] for row in rows})
    for row in rows:
        start, length = float(row[3]), float(row[4])
        labels[round(start * 100) : round((start + length) * 100)] = names.index(row[7])
    return sound_frames(samples, len(labels), 16000), labels


def _sklearn(components: int, max_iter: int):
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(components, covariance_type="diag", random_state=0, max_iter=max_iter, reg_covar=1e-3)


@pytest.mark.parametrize("components,max_iter", [(32, 30), (8, 100)])
def test_a_speakers_mixture_is_scikit_learns(components: int, max_iter: int) -> None:
    # the frames resegmentation fits (float32, one speaker's): the same weights, means, variances,
    # iterations and scores as scikit-learn's GaussianMixture (equal to the last bit on the
    # versions this was written on; the tolerance leaves room for another version's arithmetic)
    sound, labels = _real_call_sound()
    x = standardised(sound, np.flatnonzero(labels >= 0))
    frames = x[labels == 0]
    assert frames.dtype == np.float32 and len(frames) > 1000
    ours = DiagonalMixture(components, max_iter=max_iter, reg_covar=1e-3).fit(frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _sklearn(components, max_iter).fit(frames)
    assert ours.n_iter_ == theirs.n_iter_ and ours.converged_ == theirs.converged_
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-4, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(ours.score_samples(x), theirs.score_samples(x), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), atol=1e-4)
    assert ours.predict_proba(x).dtype == np.float32


def test_resegmenting_a_real_call_gives_scikit_learns_frames(monkeypatch) -> None:
    # the whole of resegment (several rounds, both speakers refitted each round) on the real call
    # with a fifth of each turn given to the wrong speaker: the same frames as with scikit-learn
    import pipeline.diarize as diarize

    sound, truth = _real_call_sound()
    noisy = truth.copy()
    for start in np.flatnonzero(np.diff(truth, prepend=-1) != 0):
        if truth[start] >= 0:
            noisy[start : start + 30] = 1 - truth[start]
    options = DiarizeOptions()
    ours = resegment(sound, noisy, options)

    def fit_with_sklearn(frames, components, max_iter, fitted=None):
        frames = frames[:: -(-len(frames) // diarize.MAX_FIT_FRAMES)]
        with warnings.catch_warnings(), diarize.one_thread():
            warnings.simplefilter("ignore")
            return _sklearn(components, max_iter).fit(frames)

    monkeypatch.setattr(diarize, "fit_mixture", fit_with_sklearn)
    theirs = resegment(sound, noisy, options)
    assert np.mean(ours == theirs) >= 0.999
    speech = truth >= 0
    assert np.mean(ours[speech] == truth[speech]) > np.mean(noisy[speech] == truth[speech])


def test_no_subnormal_numbers_are_made_and_the_log_sum_is_right() -> None:
    # the responsibilities of far-away Gaussians would be float32 subnormals, which exp and the
    # matrix products take many times longer on: they are 0 here, and the sums are as exact
    from scipy.special import logsumexp

    rng = np.random.default_rng(0)
    a = (rng.uniform(-300.0, 0.0, (500, 32))).astype(np.float32)
    a[:, 3] = a[:, 5] = a.max(axis=1) + 1.0  # ties for the largest, counted apart as scikit-learn does
    a[7] = -np.inf
    a[7, 0] = 0.0
    got = logsumexp_rows(a)
    np.testing.assert_allclose(got, logsumexp(a.astype(np.float64), axis=1), rtol=1e-6, atol=1e-5)
    model = DiagonalMixture(2, reg_covar=1e-3).fit(np.concatenate([rng.normal(-50, 1, (300, 3)), rng.normal(50, 1, (300, 3))]).astype(np.float32))
    resp = model.predict_proba(np.array([[-50, -50, -50], [0, 0, 0], [50, 50, 50]], dtype=np.float32))
    assert ((resp == 0) | (resp >= np.finfo(np.float32).tiny)).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-6)
    assert resp[0].argmax() != resp[2].argmax() and resp[0].max() == resp[2].max() == 1.0


def test_too_few_frames_are_named() -> None:
    with pytest.raises(ValueError, match="3 frames cannot fit 32 Gaussians"):
        DiagonalMixture(32).fit(np.zeros((3, 19), dtype=np.float32))
