"""audio_clean: loading, denoising, participant-only segmentation, time mapping (real speech)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import soxr

from depsev.errors import InputError
from depsev.features import audio as A

SR = 16000
ARCTIC = "cmu_arctic_a0007_16k.wav"
ALSA = "alsa_Front_Center_48k.wav"
TWO = "pyannote_sample_2speakers_16k.wav"
PARTICIPANT, INTERVIEWER = "speaker90", "speaker91"


def _mask(turns: pd.DataFrame, n: int) -> np.ndarray:
    """Sample mask (16 kHz) of the union of ``turns`` -- independent of the module's merging."""
    m = np.zeros(n, dtype=bool)
    for s, e in zip(turns["start"], turns["end"], strict=True):
        m[int(round(s * SR)):int(round(e * SR))] = True
    return m


@pytest.fixture(scope="module")
def two_speakers(speech_fixtures):
    turns = A.read_rttm(speech_fixtures / TWO.replace(".wav", ".rttm"))
    transcript = pd.DataFrame({
        "start": turns["start"], "end": turns["end"],
        "speaker": np.where(turns["speaker"] == PARTICIPANT, "participant", "interviewer"),
        "text": "",
    })
    return turns, transcript


@pytest.fixture(scope="module")
def cleaned_two(speech_fixtures, two_speakers, tmp_path_factory):
    """clean_session on the two-speaker file, speaker90 as the participant, no denoise/normalize."""
    out = tmp_path_factory.mktemp("two")
    qc = A.clean_session(speech_fixtures / TWO, out / "p.wav", out / "p_segments.parquet",
                         transcript=two_speakers[1], denoise=False, normalize=False)
    return qc, out / "p.wav", out / "p_segments.parquet"


# ---------------------------------------------------------------------------------------------
# loading


@pytest.mark.parametrize("name", [ARCTIC, ALSA])
def test_load_audio_resamples_to_16k_mono(speech_fixtures, name):
    path = speech_fixtures / name
    info = sf.info(path)
    y = A.load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size / SR - info.frames / info.samplerate) < 2 / SR
    assert np.isfinite(y).all()
    assert 0.01 < np.max(np.abs(y)) <= 1.0


def test_load_audio_stereo_44k_downmixes_by_mean(speech_fixtures, tmp_path):
    y16 = A.load_audio(speech_fixtures / ARCTIC)
    y44 = soxr.resample(y16, SR, 44100, quality="VHQ")
    stereo = np.stack([y44, 0.5 * y44], axis=1)
    path = tmp_path / "stereo44.wav"
    sf.write(path, stereo, 44100, subtype="FLOAT")
    y = A.load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - y16.size) <= 1
    n = min(y.size, y16.size)
    # mean of (x, 0.5x) is 0.75x: same waveform, 3/4 of the amplitude
    gain = float(np.dot(y[:n], y16[:n]) / np.dot(y16[:n], y16[:n]))
    assert gain == pytest.approx(0.75, abs=0.01)
    assert np.corrcoef(y[:n], y16[:n])[0, 1] > 0.999
    qc = A.clean_session(path, tmp_path / "o.wav", tmp_path / "o.parquet", segmentation="none",
                         denoise=False)
    assert (qc["input_sample_rate"], qc["input_channels"]) == (44100, 2)
    assert qc["participant_seconds"] == pytest.approx(4.0, abs=1 / SR)


def test_bad_audio_raises_input_error_naming_the_file(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    no_frames = tmp_path / "no_frames.wav"
    sf.write(no_frames, np.zeros(0, dtype=np.float32), SR)
    for path, words in [(empty, "empty"), (corrupt, "cannot read"), (no_frames, "no samples"),
                        (tmp_path / "missing.wav", "not found")]:
        with pytest.raises(InputError) as err:
            A.load_audio(path)
        assert str(path) in str(err.value) and words in str(err.value)
        with pytest.raises(InputError):
            A.clean_session(path, tmp_path / "o.wav", tmp_path / "o.parquet")


def test_nan_samples_raise(tmp_path):
    path = tmp_path / "nan.wav"
    y = np.zeros(1600, dtype=np.float32)
    y[10] = np.nan
    sf.write(path, y, SR, subtype="FLOAT")
    with pytest.raises(InputError, match="NaN"):
        A.load_audio(path)


# ---------------------------------------------------------------------------------------------
# denoise


def test_denoise_removes_white_noise_floor_keeps_tone():
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    voiced = sum(0.3 / k * np.sin(2 * np.pi * 180 * k * t) for k in range(1, 6))
    on = ((t >= 0.5) & (t < 1.3)) | ((t >= 2.0) & (t < 2.6))
    clean = np.where(on, voiced, 0.0)
    noisy = (clean + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    out = A.denoise(noisy, SR)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    assert np.array_equal(out, A.denoise(noisy, SR))  # deterministic

    def db(x, a, b):
        s = slice(int(a * SR), int(b * SR))
        return 10 * np.log10(np.mean(np.asarray(x[s], dtype=np.float64) ** 2))

    quiet = (1.55, 1.85)  # a silent stretch, away from the bursts' edges
    assert db(noisy, *quiet) - db(out, *quiet) >= 6.0
    # the voice survives (its profile is not mistaken for noise; mask smoothing costs a little)
    assert abs(db(out, 0.6, 1.2) - db(clean, 0.6, 1.2)) < 3.0


def test_denoise_keeps_real_speech(speech_fixtures):
    y = A.load_audio(speech_fixtures / ARCTIC)
    out = A.denoise(y)
    e = [10 * np.log10(np.mean(np.asarray(x[int(0.4 * SR):int(3.5 * SR)], np.float64) ** 2))
         for x in (y, out)]
    assert e[0] - e[1] < 2.0


def test_denoise_passes_silence_and_tiny_signals_through():
    z = np.zeros(SR, dtype=np.float32)
    assert np.array_equal(A.denoise(z), z)
    short = np.full(100, 0.1, dtype=np.float32)
    assert np.array_equal(A.denoise(short), short)
    with pytest.raises(ValueError):
        A.denoise(np.zeros((2, 100), dtype=np.float32))


def test_denoise_in_a_fresh_process_does_not_import_torch_and_matches(tmp_path):
    """The audio_clean job's cost: noisereduce is imported without torch; same output as with it."""
    import subprocess
    import sys

    rng = np.random.default_rng(1)
    y = (0.1 * np.sin(np.arange(SR) / 7.0) + 0.01 * rng.standard_normal(SR)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    src = str(Path(A.__file__).resolve().parents[2])
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]);"
            "from depsev.features.audio import denoise;"
            "out = denoise(np.load(sys.argv[2]));"
            "assert 'torch' not in sys.modules, 'torch was imported';"
            "import torch; assert float(torch.ones(2).sum()) == 2.0;"  # importable afterwards
            "np.save(sys.argv[3], out)")
    subprocess.run([sys.executable, "-c", code, src, str(tmp_path / "y.npy"), str(tmp_path / "o.npy")],
                   check=True, capture_output=True, text=True)
    import torch  # noqa: F401 - in this process torch is loaded: noisereduce is imported as is

    assert np.array_equal(np.load(tmp_path / "o.npy"), A.denoise(y))


def test_normalize_peak():
    y = np.array([0.0, 0.25, -0.5], dtype=np.float32)
    out, gain = A.normalize_peak(y, -6.0)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-6 / 20), rel=1e-5)
    assert gain == pytest.approx(-6.0 - 20 * np.log10(0.5))
    assert A.normalize_peak(np.zeros(3, np.float32))[1] == 0.0


# ---------------------------------------------------------------------------------------------
# segmentation


def test_vad_finds_most_but_not_all_of_arctic_and_keeps_thread_count(speech_fixtures):
    import torch

    threads = torch.get_num_threads()
    y = A.load_audio(speech_fixtures / ARCTIC)
    seg = A.participant_segments(y.size / SR, vad_audio=y)  # auto without transcript -> vad
    assert torch.get_num_threads() == threads
    assert list(seg.columns) == ["start", "end", "source"]
    assert set(seg["source"]) == {"vad"}
    speech = float((seg["end"] - seg["start"]).sum())
    assert 2.0 < speech < 3.9  # a read sentence with leading/trailing silence
    assert seg["start"].iloc[0] > 0.05 and seg["end"].iloc[-1] <= 4.0


def test_transcript_spans_are_merged_clipped_and_validated():
    edaic = pd.DataFrame({"start": [5.0, 1.0, 2.5, 4.0, 9.0, 3.0],
                          "end": [6.0, 2.5, 3.0, 4.0, 12.0, 3.5],
                          "speaker": "participant", "text": "x"})
    seg = A.participant_segments(10.0, transcript=edaic, mode="transcript")
    # [1, 2.5] + [2.5, 3] + [3, 3.5] adjacent -> [1, 3.5]; [4, 4] zero-length dropped;
    # [9, 12] clipped to the 10 s audio
    assert seg[["start", "end"]].to_numpy().tolist() == [[1.0, 3.5], [5.0, 6.0], [9.0, 10.0]]
    assert set(seg["source"]) == {"transcript"}
    gap = A.participant_segments(10.0, transcript=edaic, merge_gap_s=1.5)
    assert gap[["start", "end"]].to_numpy().tolist() == [[1.0, 6.0], [9.0, 10.0]]

    woz = edaic.assign(speaker=["participant", "interviewer"] * 3)
    with pytest.raises(InputError, match="speaker_column=True"):
        A.participant_segments(10.0, transcript=woz, transcript_name="300_TRANSCRIPT.csv")
    kept = A.participant_segments(10.0, transcript=woz, speaker_column=True)
    assert kept[["start", "end"]].to_numpy().tolist() == [[2.5, 3.0], [5.0, 6.0], [9.0, 10.0]]
    assert set(kept["source"]) == {"transcript_speaker"}

    backwards = edaic.assign(end=[4.0, 2.5, 3.0, 4.0, 12.0, 3.5])
    with pytest.raises(InputError, match=r"t\.csv: 1 transcript row\(s\) end before"):
        A.participant_segments(10.0, transcript=backwards, transcript_name="t.csv")
    missing = edaic.assign(start=[5.0, None, 2.5, 4.0, 9.0, 3.0])
    with pytest.raises(InputError, match="missing or non-numeric"):
        A.participant_segments(10.0, transcript=missing)
    with pytest.raises(InputError, match="lacks column"):
        A.participant_segments(10.0, transcript=edaic.drop(columns="end"))


def test_segmentation_modes():
    none = A.participant_segments(7.5, mode="none")
    assert none[["start", "end", "source"]].to_numpy().tolist() == [[0.0, 7.5, "none"]]
    assert len(A.participant_segments(0.0, mode="none")) == 0
    with pytest.raises(ValueError, match="not one of"):
        A.participant_segments(1.0, mode="diarize")
    with pytest.raises(ValueError, match="vad_audio"):
        A.participant_segments(1.0, mode="vad")
    with pytest.raises(ValueError, match="transcript"):
        A.participant_segments(1.0, mode="transcript")


def test_read_rttm(speech_fixtures, tmp_path):
    turns = A.read_rttm(speech_fixtures / TWO.replace(".wav", ".rttm"))
    assert len(turns) == 10 and set(turns["speaker"]) == {PARTICIPANT, INTERVIEWER}
    assert turns.iloc[0].tolist() == [6.69, pytest.approx(7.12), PARTICIPANT]
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER f 1 abc 1.0 <NA> <NA> s1 <NA> <NA>\n")
    with pytest.raises(InputError, match="line 1"):
        A.read_rttm(bad)
    bad.write_text(";; nothing\n")
    with pytest.raises(InputError, match="no SPEAKER"):
        A.read_rttm(bad)


# ---------------------------------------------------------------------------------------------
# clean_session on the two-speaker conversation


def test_two_speakers_keeps_only_the_participant(speech_fixtures, two_speakers, cleaned_two):
    turns, _ = two_speakers
    qc, wav, seg_path = cleaned_two
    n = sf.info(speech_fixtures / TWO).frames
    mine = _mask(turns[turns["speaker"] == PARTICIPANT], n)
    other_only = _mask(turns[turns["speaker"] == INTERVIEWER], n) & ~mine

    info = sf.info(wav)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert info.frames == mine.sum()  # cleaned duration == the participant's merged turn time
    assert qc["participant_seconds"] == pytest.approx(mine.sum() / SR)
    assert qc["segmentation"] == "transcript_speaker" and qc["flags"] == []

    seg = pd.read_parquet(seg_path)
    assert list(seg.columns) == A.SEGMENT_COLUMNS
    kept = _mask(seg, n)
    assert np.array_equal(kept, mine)
    assert not (kept & other_only).any() and other_only.sum() > 5 * SR  # interviewer-only time gone
    assert len(seg) == qc["n_segments"] and (seg["start"].diff().dropna() > 0).all()
    assert np.allclose(seg["end"] - seg["start"], seg["clean_end"] - seg["clean_start"])
    assert seg["clean_start"].iloc[0] == 0 and seg["clean_end"].iloc[-1] == info.frames / SR

    # no denoise / no normalisation: the cleaned wav is the original samples, cut and concatenated
    orig = sf.read(speech_fixtures / TWO, dtype="int16")[0]
    out = sf.read(wav, dtype="int16")[0]
    assert np.array_equal(out, orig[mine])

    meta = json.loads(pq.read_schema(seg_path).metadata[b"depsev"])
    assert meta["qc"]["n_segments"] == len(seg) and meta["denoise_params"] is None


def test_clean_to_session_time_round_trips(cleaned_two):
    seg = pd.read_parquet(cleaned_two[2])
    rng = np.random.default_rng(1)
    k = rng.integers(0, len(seg), 200)
    start, length = seg["start"].to_numpy()[k], (seg["end"] - seg["start"]).to_numpy()[k]
    t_session = start + rng.uniform(0, 1, 200) * length
    t_clean = seg["clean_start"].to_numpy()[k] + (t_session - start)
    assert np.allclose(A.clean_to_session_time(t_clean, seg), t_session, atol=1e-9)
    # segment starts map to their session starts; the end of the wav to the last segment's end
    assert np.allclose(A.clean_to_session_time(seg["clean_start"], seg), seg["start"])
    assert A.clean_to_session_time([seg["clean_end"].iloc[-1]], seg)[0] == pytest.approx(seg["end"].iloc[-1])
    assert A.clean_to_session_time(np.array([]), seg).size == 0
    with pytest.raises(ValueError, match="must lie in"):
        A.clean_to_session_time([seg["clean_end"].iloc[-1] + 0.5], seg)
    with pytest.raises(ValueError, match="empty"):
        A.clean_to_session_time([0.0], seg.iloc[:0])


def test_clean_session_vad_with_denoise_and_normalize(speech_fixtures, tmp_path, caplog, monkeypatch):
    import depsev.progress

    monkeypatch.setattr(depsev.progress, "DEFAULT_EVERY", 0.0)  # a line per step (default: per 10 s)
    with caplog.at_level(logging.INFO, logger="depsev.progress"):
        qc = A.clean_session(speech_fixtures / ARCTIC, tmp_path / "a.wav", tmp_path / "a.parquet")
    # progress: a line per step, and the final 100% line
    lines = [r.getMessage() for r in caplog.records if r.name == "depsev.progress"]
    assert lines[0].startswith(f"audio clean {Path(ARCTIC).name} 1/3 steps (33%)") and "read" in lines[0]
    assert lines[-1].startswith(f"audio clean {Path(ARCTIC).name} 3/3 steps (100%)")
    assert qc["segmentation"] == "vad" and qc["denoise"] is True and qc["flags"] == []
    y, sr = sf.read(tmp_path / "a.wav", dtype="float32")
    assert sr == SR and 2.0 < y.size / SR < 3.9
    assert np.max(np.abs(y)) == pytest.approx(10 ** (A.NORMALIZE_PEAK_DBFS / 20), abs=2e-4)
    seg = pd.read_parquet(tmp_path / "a.parquet")
    assert set(seg["source"]) == {"vad"} and seg["clean_end"].iloc[-1] == y.size / SR


def test_transcript_past_audio_end_is_flagged_and_clipped(speech_fixtures, tmp_path):
    transcript = pd.DataFrame({"start": [0.3, 3.0], "end": [2.0, 6.0], "speaker": "participant",
                               "text": ["a", "b"]})
    qc = A.clean_session(speech_fixtures / ARCTIC, tmp_path / "a.wav", tmp_path / "a.parquet",
                         transcript=transcript, denoise=False)
    assert qc["segmentation"] == "transcript"
    assert any(f.startswith("transcript extends past audio end") for f in qc["flags"])
    seg = pd.read_parquet(tmp_path / "a.parquet")
    assert seg[["start", "end"]].to_numpy().tolist() == [[0.3, 2.0], [3.0, 4.0]]


def test_silent_audio_is_flagged_not_fatal(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(2 * SR, dtype=np.int16), SR, subtype="PCM_16")
    for mode in ("auto", "none"):
        qc = A.clean_session(path, tmp_path / "s.wav", tmp_path / "s.parquet", segmentation=mode)
        assert any(f.startswith("silent audio") for f in qc["flags"])
        assert "no participant speech found" in qc["flags"]
        assert qc["n_segments"] == 0 and qc["participant_seconds"] == 0.0 and qc["duration_s"] == 2.0
        json.dumps(qc, allow_nan=False)  # the QC record is plain JSON
        assert sf.info(tmp_path / "s.wav").frames == 0
        seg = pd.read_parquet(tmp_path / "s.parquet")
        assert len(seg) == 0 and list(seg.columns) == A.SEGMENT_COLUMNS


def test_clean_session_transcript_mode_without_transcript(speech_fixtures, tmp_path):
    with pytest.raises(InputError, match="needs a transcript"):
        A.clean_session(speech_fixtures / ARCTIC, tmp_path / "a.wav", tmp_path / "a.parquet",
                        segmentation="transcript")


def test_clean_session_reads_a_daicwoz_transcript_file(speech_fixtures, two_speakers, tmp_path):
    """Integration with depsev.corpus.transcripts.read_transcript (skips until that reader exists)."""
    pytest.importorskip("depsev.corpus.transcripts")
    turns, _ = two_speakers
    path = tmp_path / "300_TRANSCRIPT.csv"
    woz = pd.DataFrame({"start_time": turns["start"], "stop_time": turns["end"],
                        "speaker": np.where(turns["speaker"] == PARTICIPANT, "Participant", "Ellie"),
                        "value": "words"})
    woz.to_csv(path, sep="\t", index=False)
    qc = A.clean_session(speech_fixtures / TWO, tmp_path / "w.wav", tmp_path / "w.parquet",
                         transcript_path=path, denoise=False)
    mine = _mask(turns[turns["speaker"] == PARTICIPANT], sf.info(speech_fixtures / TWO).frames)
    assert qc["segmentation"] == "transcript_speaker"
    assert sf.info(tmp_path / "w.wav").frames == mine.sum()


def test_module_imports_without_transcript_reader():
    import subprocess
    import sys

    code = ("import sys; sys.modules['depsev.corpus.transcripts'] = None; "
            "import depsev.features.audio")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
