"""VGGish audio features: the 4096-d fc2 activation (the paper's "4096 neuron features") and the
128-d embedding, one row per non-overlapping 0.96 s example of the cleaned participant speech.

Network
    The architecture is torchvggish's (``torchvggish.torchvggish.VGG`` built by ``_vgg``), built here
    without ``torchvggish.vggish()`` (which downloads weights). Weights come from a local state-dict
    file whose sha256 is checked (fetch it once with :func:`download_vggish_weights`) or, for the
    synthetic demo only, the literal ``"random"`` (seeded initialisation; recorded in every output).

Features
    * ``fc2``: the 4096-d activation after the second fully-connected layer and its ReLU
      (``model.embeddings[3]``).
    * ``embedding``: the 128-d output of the final layer (``model.embeddings[5]``, after ReLU), i.e. the
      *raw* VGGish embedding. torchvggish's ``Postprocessor`` (PCA + whitening + 8-bit quantisation,
      as in the released AudioSet embeddings) is NOT applied: it needs separately published PCA
      parameters (``vggish_pca_params-970ea276.pth``) and is a fixed affine map + quantisation of
      this output, so it adds no information.

Input
    Log-mel examples with the same maths as ``torchvggish.vggish_input.waveform_to_examples``
    (25 ms periodic-Hann frames, 10 ms hop, 512-point FFT magnitude, 64 HTK mel bands 125-7500 Hz,
    ``log(mel + 0.01)``, 96 frames per example, hop 96 frames), computed in float32 with torch and
    streamed block by block from the wav with soundfile, so memory does not grow with session length.
    Example ``k`` starts at ``k * 0.96`` s of the cleaned wav and needs 15 600 samples, so a wav of
    ``N`` samples gives ``floor((1 + floor((N - 400) / 160)) / 96)`` examples (``floor(d / 0.96)``,
    or one less when the last example lacks its final 15 ms).
"""

from __future__ import annotations

import copy
import hashlib
import os
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import soundfile as sf
import torch
from torchvggish import mel_features, vggish_params
from torchvggish.torchvggish import VGG, _vgg

from depsev.constants import AUDIO_SR, VGGISH_PRECISIONS
from depsev.errors import InputError
from depsev.features.io import (
    audio_clean_settings,
    read_feature_meta,
    read_segments,
    session_times,
    write_feature_parquet,
)
from depsev.features.io import fixed_list as _fixed_list
from depsev.hashing import file_sha256
from depsev.progress import Progress
from depsev.workflow import torch_threads

#: published torchvggish weights (the 8 hex digits in the name are the sha256 prefix)
VGGISH_WEIGHTS_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
VGGISH_WEIGHTS_NAME = "vggish-10086976.pth"
RANDOM_SEED = 20250401
FC2_DIM = 4096
EMBEDDING_DIM = vggish_params.EMBEDDING_SIZE  # 128

SR = vggish_params.SAMPLE_RATE  # 16000
WIN = int(round(SR * vggish_params.STFT_WINDOW_LENGTH_SECONDS))  # 400 samples
HOP = int(round(SR * vggish_params.STFT_HOP_LENGTH_SECONDS))  # 160 samples
N_FFT = 2 ** int(np.ceil(np.log(WIN) / np.log(2.0)))  # 512
FRAMES_PER_EXAMPLE = int(round(vggish_params.EXAMPLE_WINDOW_SECONDS / vggish_params.STFT_HOP_LENGTH_SECONDS))
EXAMPLE_HOP_FRAMES = int(round(vggish_params.EXAMPLE_HOP_SECONDS / vggish_params.STFT_HOP_LENGTH_SECONDS))
EXAMPLE_SAMPLES = EXAMPLE_HOP_FRAMES * HOP  # 15360 samples = 0.96 s between example starts
EXAMPLE_SPAN = (FRAMES_PER_EXAMPLE - 1) * HOP + WIN  # 15600 samples covered by one example
EXAMPLE_SECONDS = EXAMPLE_SAMPLES / SR  # 0.96
PRECISIONS = VGGISH_PRECISIONS

assert SR == AUDIO_SR


# ----------------------------------------------------------------------------------------------
# weights


def _sha256_params(model: torch.nn.Module) -> str:
    """sha256 of the parameters' bytes in state-dict order (fingerprint of a random init)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy())  # buffer protocol: no copy
    return h.hexdigest()


#: the seeded random initialisation and its fingerprint, made once per process (0.5 s each time)
_RANDOM_STATE: dict[str, object] = {}


def _random_model() -> tuple[VGG, str]:
    """The seeded random VGGish (a fresh copy per call: callers may change a model in place) and the
    sha256 fingerprint of its parameters."""
    if not _RANDOM_STATE:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            model = _vgg(postprocess=False)
        _RANDOM_STATE["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        _RANDOM_STATE["sha256"] = _sha256_params(model)
        return model, str(_RANDOM_STATE["sha256"])
    with torch.device("meta"):
        model = _vgg(postprocess=False)
    model.load_state_dict({k: v.clone() for k, v in _RANDOM_STATE["state"].items()}, assign=True)
    return model, str(_RANDOM_STATE["sha256"])


def load_vggish(weights: str | Path, sha256: str | None, *, allow_random: bool) -> tuple[VGG, dict]:
    """Build torchvggish's VGGish (no PCA postprocessor) in eval mode and load its weights.

    ``weights``: a local state-dict file (``.pth``) or the literal ``"random"`` (seeded init, only with
    ``allow_random=True``, i.e. the synthetic demo). ``sha256``: expected hex digest of the file (the
    full 64 digits or a prefix of at least 8, like the one in the published file name); ``None``
    computes and records it. Returns ``(model, meta)`` with meta
    ``{"weights": "random" | file name, "sha256": ..., "mode": "random" | "pretrained"}``
    (for random weights ``sha256`` fingerprints the initialised parameters).
    Raises InputError for a missing file, a checksum mismatch, an unreadable or foreign state dict,
    or random weights that are not allowed.
    """
    if str(weights) == "random":
        if not allow_random:
            raise InputError("random", "random VGGish weights are only allowed for the synthetic demo; "
                             "fetch the published weights with `depsev weights vggish --dest weights` "
                             f"(or download {VGGISH_WEIGHTS_URL} by hand) and set audio.vggish.weights "
                             "to the .pth file")
        model, fingerprint = _random_model()
        return model.eval(), {"weights": "random", "sha256": fingerprint, "mode": "random",
                       "seed": RANDOM_SEED}
    path = Path(weights)
    if not path.is_file():
        raise InputError(path, "VGGish weights file not found; fetch it with `depsev weights vggish` "
                         f"(or download {VGGISH_WEIGHTS_URL} by hand)")
    digest = file_sha256(path)
    if sha256 is not None:
        expected = sha256.strip().lower()
        if len(expected) < 8 or not digest.startswith(expected):
            raise InputError(path, f"sha256 mismatch: expected {expected}, file has {digest}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt/foreign file
        raise InputError(path, f"cannot read as a torch state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict):
        raise InputError(path, f"expected a state dict, found {type(state).__name__}")
    model = _vgg(postprocess=False)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(path, f"not a torchvggish VGGish state dict: {exc}") from exc
    return model.eval(), {"weights": path.name, "sha256": digest, "mode": "pretrained"}


def download_vggish_weights(dest: str | Path, *, url: str = VGGISH_WEIGHTS_URL,
                            timeout: float = 60.0) -> Path:
    """Fetch the published torchvggish weights into ``dest`` (a folder, or a ``.pth`` file path).

    The file's sha256 must start with the 8 hex digits in its published name (``vggish-10086976``).
    An existing file that passes the check is kept. Raises InputError when the download fails
    (e.g. no network: download the URL by hand and pass the file's path) or the checksum differs.
    """
    dest = Path(dest)
    target = dest if dest.suffix == ".pth" else dest / Path(url).name
    prefix = expected_sha256_prefix(Path(url).name)
    if target.is_file():
        verify_sha256_prefix(target, prefix)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as out:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        raise InputError(url, f"download failed ({exc}); without network, download this URL on another "
                         f"machine and copy it to {target}") from exc
    try:
        verify_sha256_prefix(part, prefix)
    except InputError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)
    return target


def expected_sha256_prefix(file_name: str) -> str:
    """The hex sha256 prefix in a torchvggish-style file name (``vggish-10086976.pth`` -> ``10086976``)."""
    stem = Path(file_name).stem
    prefix = stem.rsplit("-", 1)[-1].lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise InputError(file_name, "file name carries no '-<hex sha256 prefix>' to verify against")
    return prefix


def verify_sha256_prefix(path: Path, prefix: str) -> str:
    """Return the file's sha256; InputError naming the file when it does not start with ``prefix``."""
    digest = file_sha256(path)
    if not digest.startswith(prefix.lower()):
        raise InputError(path, f"sha256 {digest} does not start with {prefix}: corrupt or wrong file")
    return digest


# ----------------------------------------------------------------------------------------------
# log-mel examples


class LogMel:
    """torch float32 version of ``vggish_input.waveform_to_examples`` for 16 kHz mono audio."""

    def __init__(self) -> None:
        self.window = torch.from_numpy(mel_features.periodic_hann(WIN)).float()
        mel = mel_features.spectrogram_to_mel_matrix(
            num_mel_bins=vggish_params.NUM_MEL_BINS, num_spectrogram_bins=N_FFT // 2 + 1,
            audio_sample_rate=SR, lower_edge_hertz=vggish_params.MEL_MIN_HZ,
            upper_edge_hertz=vggish_params.MEL_MAX_HZ)
        self.mel = torch.from_numpy(mel).float()  # (257, 64)

    @staticmethod
    def n_examples(n_samples: int) -> int:
        """Number of complete examples in ``n_samples`` samples (as the reference frames them)."""
        if n_samples < WIN:
            return 0
        n_frames = 1 + (n_samples - WIN) // HOP
        return max(0, 1 + (n_frames - FRAMES_PER_EXAMPLE) // EXAMPLE_HOP_FRAMES)

    def examples(self, samples: torch.Tensor) -> torch.Tensor:
        """``(n_examples, 1, 96, 64)`` float32 log-mel examples of a 1-D float32 tensor."""
        k = self.n_examples(samples.shape[0])
        if k == 0:
            return torch.empty((0, 1, FRAMES_PER_EXAMPLE, vggish_params.NUM_MEL_BINS))
        used = samples[: (k * EXAMPLE_HOP_FRAMES - 1) * HOP + WIN]
        frames = used.unfold(0, WIN, HOP)[: k * EXAMPLE_HOP_FRAMES] * self.window
        spec = torch.fft.rfft(frames, n=N_FFT).abs()
        logmel = torch.log(spec @ self.mel + vggish_params.LOG_OFFSET)
        return logmel.reshape(k, 1, FRAMES_PER_EXAMPLE, vggish_params.NUM_MEL_BINS)


# ----------------------------------------------------------------------------------------------
# streaming audio


def _mono16k_blocks(wav_path: Path, block_samples: int) -> Iterator[np.ndarray]:
    """Yield float32 mono 16 kHz blocks of the wav (downmix by mean, streaming soxr resampling)."""
    try:
        fh = sf.SoundFile(wav_path)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InputError(wav_path, f"cannot read audio ({exc})") from exc
    with fh:
        resampler = None
        if fh.samplerate != SR:
            import soxr

            resampler = soxr.ResampleStream(fh.samplerate, SR, 1, dtype="float32", quality="HQ")
        src_block = max(1, int(block_samples * fh.samplerate / SR))
        while True:
            raw = fh.read(src_block, dtype="float32", always_2d=True)
            last = raw.shape[0] < src_block
            mono = raw.mean(axis=1, dtype=np.float32) if raw.shape[1] > 1 else raw[:, 0]
            if resampler is not None:
                mono = resampler.resample_chunk(np.ascontiguousarray(mono), last=last)
            if mono.size:
                yield mono
            if last:
                return


def _forward(model: VGG, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fc2, embedding) of a batch of examples: fc2 = ReLU(FC2) (embeddings[3]), emb = embeddings[5]."""
    h = model.features(x)
    # same flattening order as VGG.forward: (N, C, H, W) -> (N, H, W, C)
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)
    fc2 = model.embeddings[:4](h)
    emb = model.embeddings[4:](fc2)
    return fc2.float(), emb.float()


#: bf16 copies of fp32 models (converted once per model object)
_BF16_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inference_model(model: VGG, precision: str = "fp32") -> VGG:
    """The model prepared for fast CPU inference.

    fp32: the model itself, its conv weights switched to channels-last in place (values unchanged).
    bf16: a channels-last bf16 copy, made once per model object and cached (do not change the model's
    weights afterwards).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        # channels-last conv weights: oneDNN's fastest layout here (~1.4x NCHW on 2 cores); same values
        return model.eval().to(memory_format=torch.channels_last)
    cached = _BF16_CACHE.get(model)
    if cached is None:
        cached = copy.deepcopy(model).eval().to(memory_format=torch.channels_last, dtype=torch.bfloat16)
        _BF16_CACHE[model] = cached
    return cached


def _expected_examples(wav_path: Path) -> int | None:
    """The examples the wav's header promises, for progress lines only (None when it cannot be read:
    the reader then says why)."""
    try:
        info = sf.info(str(wav_path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    return LogMel.n_examples(int(info.frames * SR / info.samplerate)) if info.samplerate else None


def embed_wav(wav_path: str | Path, model: VGG, *, batch_size: int = 32, block_seconds: float = 61.44,
              precision: str = "fp32", threads: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VGGish features of a wav: ``(clean_time f64[n], fc2 f32[n, 4096], emb f32[n, 128])``.

    ``clean_time`` is the start of each 0.96 s example on the wav's clock. The wav is read in blocks
    of ``block_seconds`` (multichannel is averaged, other rates resampled to 16 kHz with soxr), so
    memory stays flat for hour-long sessions. ``precision="bf16"`` runs the network in bfloat16
    (check its fc2 cosine to fp32 with :func:`depsev.bench.bench_vggish` before trusting it);
    ``threads`` sets torch's intra-op threads for the call.
    """
    wav_path = Path(wav_path)
    if not wav_path.is_file():
        raise InputError(wav_path, "audio file not found")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    logmel = LogMel()
    block_examples = max(1, int(round(block_seconds / EXAMPLE_SECONDS)))
    net = inference_model(model, precision)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    fc2_parts: list[np.ndarray] = []
    emb_parts: list[np.ndarray] = []
    buf = np.zeros(0, dtype=np.float32)
    progress = Progress(f"vggish {wav_path.name}", _expected_examples(wav_path), unit="examples")
    with torch_threads(threads), torch.inference_mode():
        for block in _mono16k_blocks(wav_path, block_examples * EXAMPLE_SAMPLES):
            buf = np.concatenate([buf, block]) if buf.size else block
            k = LogMel.n_examples(buf.size)
            if k == 0:
                continue
            ex = logmel.examples(torch.from_numpy(buf))
            buf = buf[k * EXAMPLE_SAMPLES:].copy()
            for i in range(0, k, batch_size):
                x = ex[i:i + batch_size].to(dtype).contiguous(memory_format=torch.channels_last)
                fc2, emb = _forward(net, x)
                fc2_parts.append(fc2.numpy())
                emb_parts.append(emb.numpy())
                progress.update(x.shape[0])
    progress.done()
    n = sum(p.shape[0] for p in fc2_parts)
    fc2_all = np.concatenate(fc2_parts) if fc2_parts else np.zeros((0, FC2_DIM), np.float32)
    emb_all = np.concatenate(emb_parts) if emb_parts else np.zeros((0, EMBEDDING_DIM), np.float32)
    return np.arange(n, dtype=np.float64) * EXAMPLE_SECONDS, fc2_all, emb_all


# ----------------------------------------------------------------------------------------------
# session stage


def vggish_schema() -> pa.Schema:
    """Arrow schema of ``vggish/<ID>.parquet`` (docs/CONTRACT.md)."""
    return pa.schema([
        ("time", pa.float64()),
        ("clean_time", pa.float64()),
        ("fc2", pa.list_(pa.float32(), FC2_DIM)),
        ("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)),
    ])


def vggish_session(clean_wav: str | Path, segments_parquet: str | Path, out_parquet: str | Path, *,
                   weights: str | Path, sha256: str | None = None, allow_random: bool = False,
                   batch_size: int = 32, precision: str = "fp32", threads: int | None = None,
                   loaded: tuple[VGG, dict] | None = None) -> dict:
    """Embed one session's cleaned wav and write ``vggish/<ID>.parquet`` (see docs/CONTRACT.md).

    ``time`` is the session clock (``clean_time`` mapped through
    ``depsev.features.audio.clean_to_session_time``). An empty wav, or one shorter than one example,
    writes an empty table with the same schema; the returned dict then has ``empty=True``.
    ``loaded``: what :func:`load_vggish` returned for these ``weights``, to embed many sessions in one
    process with one load (and one bf16 copy: :func:`inference_model` makes it once per model object);
    its weights must be the ones ``weights`` names (checked: they are recorded in the output).
    Returns ``{"participant_id", "n_examples", "empty", "clean_seconds", "out", **weights meta}``.
    """
    clean_wav, out_parquet = Path(clean_wav), Path(out_parquet)
    if not clean_wav.is_file():
        raise InputError(clean_wav, "audio file not found")
    segments = read_segments(segments_parquet)
    try:
        info = sf.info(str(clean_wav))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InputError(clean_wav, f"cannot read audio ({exc})") from exc
    if loaded is None:
        model, wmeta = load_vggish(weights, sha256, allow_random=allow_random)
    else:
        if str(weights) == "random" and not allow_random:
            load_vggish(weights, sha256, allow_random=False)  # raises: random weights not allowed here
        model, wmeta = loaded
        named = "random" if str(weights) == "random" else Path(weights).name
        if wmeta.get("weights") != named or (sha256 is not None and not wmeta["sha256"].startswith(
                sha256.lower())):
            raise ValueError(f"the loaded VGGish ({wmeta.get('weights')}, sha256 {wmeta.get('sha256')}) "
                             f"is not the one asked for ({weights}, sha256 {sha256})")
    clean_time, fc2, emb = embed_wav(clean_wav, model, batch_size=batch_size, precision=precision,
                                     threads=threads)
    time = session_times(clean_time, segments, segments_parquet)
    table = pa.Table.from_arrays(
        [pa.array(time, pa.float64()), pa.array(clean_time, pa.float64()),
         _fixed_list(fc2, FC2_DIM), _fixed_list(emb, EMBEDDING_DIM)], schema=vggish_schema())
    empty = table.num_rows == 0
    meta = {
        "stage": "vggish",
        "weights_mode": wmeta["mode"], "weights_file": wmeta["weights"], "sha256": wmeta["sha256"],
        "torch_version": torch.__version__, "precision": precision,
        "example_seconds": vggish_params.EXAMPLE_WINDOW_SECONDS, "hop_seconds": EXAMPLE_SECONDS,
        "n_examples": table.num_rows, "empty": empty,
        "clean_wav": clean_wav.name,
        "clean_seconds": info.frames / info.samplerate if info.samplerate else 0.0,
        "source_sample_rate": info.samplerate,
        "fc2": "ReLU output of the 2nd fully-connected layer (4096-d)",
        "embedding": "raw 128-d VGGish output (ReLU), without torchvggish's PCA/whitening/quantisation",
        # carried forward: the audio_clean settings of the segments table (depsev.shards.preparation)
        "audio_clean": audio_clean_settings(read_feature_meta(segments_parquet)),
    }
    if wmeta["mode"] == "pretrained":
        meta["weights_path"] = str(weights)
    if wmeta["mode"] == "random":
        meta["warning"] = ("RANDOM VGGish weights (synthetic demo only): "
                           "features carry no pretrained knowledge")
    write_feature_parquet(table, out_parquet, meta)
    return {"participant_id": _participant_id(out_parquet), "n_examples": table.num_rows, "empty": empty,
            "clean_seconds": meta["clean_seconds"], "out": str(out_parquet), **wmeta}


def _participant_id(out_parquet: Path) -> int | None:
    try:
        return int(out_parquet.stem)
    except ValueError:
        return None
