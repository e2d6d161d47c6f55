"""Cheap attacks on the CAPTCHA, each against its goal, all in one run (issue 14).

1. **OCR on the picture.** Tesseract (Debian ``tesseract-ocr``, 5.x) with the alphabet as
   whitelist, on every picture in each of ``VARIANTS`` (preprocessing: 3× upscale; Otsu
   threshold after autocontrast; median filter; morphological opening; adaptive threshold;
   local polarity normalisation for dark tiles) × page segmentation modes 7 and 8. A picture
   counts as read when any try reads it exactly (best of all tries). Ours against the stock
   ImageCaptcha drawing (colour, its defaults, our size) in the same run: goal <= 1 %.
2. **Frame search on the audio.** Whoever has the repository has every published clip: the
   attack looks for each clip's samples in the WAV (probes of 64 samples that occur in one
   clip only) and reads the characters in the order found. Ours against today's rendering
   (the clips of one voice joined verbatim with digital silence) as the baseline: goal <= 2 %.
3. **Spectral matching on the audio.** Log-mel features (23 ms frames, 20 bands 100-5000 Hz),
   gain normalised (the mean log-mel vector of a stretch removed), every character stretch
   matched to every published clip of the alphabet, each at tape speeds ``SPEEDS``, by
   dynamic time warping; the two readings of a position vote together (summed costs). The
   attacker is given the true start and end of every character, which a real one would
   first have to find in the babble, so the figure is an upper bound. Goal: <= 2 %.

It also prints the speech level and the signal-to-noise ratio the audio was made with (so
nobody tunes the audio into noise alone). The picture's and the audio's costs (rendering
time, S3 bytes) are in bench/captcha.py.

Needs ``tesseract`` on the PATH: ``apt-get install -y tesseract-ocr`` (Debian 12 has 5.3).
Without it the OCR figure is reported as not measured and the script fails. The audio
attacks are pure Python (the spectral one runs on every core, ~5 minutes for 200).

    .venv/bin/python bench/captcha_attacks.py [pictures=200] [challenges=200]
"""

from __future__ import annotations

import array
import cmath
import io
import json
import math
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "bench":
    # Run as a script: this folder comes first on sys.path, where bench/captcha.py would
    # hide the captcha package; the project root goes there instead.
    sys.path[0] = str(ROOT)

if TYPE_CHECKING:
    from PIL import Image

OCR_GOAL = 0.01
AUDIO_GOAL = 0.02
PAGE_SEPARATOR = "@@PAGE@@"
BATCH = 25  # pictures per tesseract process

# ---------------------------------------------------------------------------- the picture


def _otsu(image: Image.Image) -> int:
    """The grey level that best splits the histogram into two classes (Otsu's method)."""
    histogram = image.histogram()
    total = sum(histogram)
    weighted = sum(level * count for level, count in enumerate(histogram))
    best, threshold, below, below_sum = -1.0, 128, 0, 0.0
    for level in range(256):
        below += histogram[level]
        if below == 0:
            continue
        above = total - below
        if above == 0:
            break
        below_sum += level * histogram[level]
        spread = below * above * (below_sum / below - (weighted - below_sum) / above) ** 2
        if spread > best:
            best, threshold = spread, level
    return threshold


def _binary(image: Image.Image) -> Image.Image:
    threshold = _otsu(image)
    return image.point(lambda level: 255 if level > threshold else 0)


def _upscaled(image: Image.Image) -> Image.Image:
    from PIL import Image

    grey = image.convert("L")
    return grey.resize((grey.width * 3, grey.height * 3), Image.Resampling.BICUBIC)


def _plain(image: Image.Image) -> Image.Image:
    return _upscaled(image)


def _contrast(image: Image.Image) -> Image.Image:
    from PIL import ImageOps

    return _binary(_upscaled(ImageOps.autocontrast(image.convert("L"), cutoff=1)))


def _median(image: Image.Image) -> Image.Image:
    from PIL import ImageFilter

    return _binary(_upscaled(image).filter(ImageFilter.MedianFilter(5)))


def _opened(image: Image.Image) -> Image.Image:
    from PIL import ImageFilter

    # Text is black: growing the white and shrinking it back removes thin dark marks.
    return _binary(_upscaled(image)).filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.MinFilter(5))


def _adaptive(image: Image.Image) -> Image.Image:
    from PIL import ImageChops, ImageFilter, ImageOps

    grey = _upscaled(ImageOps.autocontrast(image.convert("L"), cutoff=1))
    darker = ImageChops.subtract(grey.filter(ImageFilter.BoxBlur(15)), grey)  # than around it
    return darker.point(lambda level: 0 if level > 12 else 255)


def _polarity(image: Image.Image) -> Image.Image:
    from PIL import Image, ImageFilter, ImageOps

    grey = _upscaled(image)
    dark_around = grey.filter(ImageFilter.BoxBlur(40)).point(lambda level: 255 if level < 128 else 0)
    return Image.composite(ImageOps.invert(grey), grey, dark_around)  # light-on-dark turned over


def _polarity_binary(image: Image.Image) -> Image.Image:
    return _binary(_polarity(image))


def _polarity_median(image: Image.Image) -> Image.Image:
    from PIL import ImageFilter

    return _binary(_polarity(image).filter(ImageFilter.MedianFilter(5)))


VARIANTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "upscaled": _plain, "autocontrast+threshold": _contrast, "median+threshold": _median,
    "opening": _opened, "adaptive": _adaptive, "polarity+threshold": _polarity_binary,
    "polarity+median": _polarity_median,
}
PAGE_SEGMENTATION_MODES = (7, 8)  # one text line; one word


def _tesseract(images: list[Image.Image], psm: int, whitelist: str, folder: Path) -> list[str]:
    """What tesseract reads in each image: one process for the whole list, through a list
    file; a process that dies (tesseract 5.3 sometimes does, SIGFPE) is retried one by one."""
    if len(images) > 1:
        read: list[str] = []
        for start in range(0, len(images), BATCH):
            chunk = images[start:start + BATCH]
            try:
                read += _tesseract_run(chunk, psm, whitelist, folder)
            except RuntimeError:
                for image in chunk:
                    try:
                        read += _tesseract_run([image], psm, whitelist, folder)
                    except RuntimeError:
                        read.append("")  # it could not read this one at all
        return read
    return _tesseract_run(images, psm, whitelist, folder)


def _tesseract_run(images: list[Image.Image], psm: int, whitelist: str, folder: Path) -> list[str]:
    names = []
    for index, image in enumerate(images):
        path = folder / f"{index:04d}.png"
        image.save(path)
        names.append(str(path))
    listing = folder / "pictures.txt"
    listing.write_text("\n".join(names) + "\n", encoding="utf-8")
    done = subprocess.run(
        ["tesseract", str(listing), "stdout", "--psm", str(psm), "-l", "eng",
         "-c", f"tessedit_char_whitelist={whitelist}", "-c", f"page_separator={PAGE_SEPARATOR}"],
        capture_output=True, text=True, check=False, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"tesseract exited with {done.returncode}")
    pages = done.stdout.split(PAGE_SEPARATOR)[:len(images)]
    if len(pages) != len(images):
        raise RuntimeError(f"tesseract gave {len(pages)} pages for {len(images)} pictures")
    return ["".join(page.split()).upper() for page in pages]


@dataclass(frozen=True)
class OcrResult:
    pictures: int
    solved_by: dict[str, set[int]]  # try → indexes of the pictures it read exactly

    @property
    def best(self) -> int:
        return len(set().union(*self.solved_by.values()))

    @property
    def rate(self) -> float:
        return self.best / self.pictures


def ocr_attack(pngs: list[bytes], answers: list[str], whitelist: str,
               variants: Iterable[str] = VARIANTS) -> OcrResult:
    from PIL import Image

    pictures = [Image.open(io.BytesIO(png)) for png in pngs]
    solved_by: dict[str, set[int]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in variants:
            prepared = [VARIANTS[name](picture) for picture in pictures]
            for psm in PAGE_SEGMENTATION_MODES:
                read = _tesseract(prepared, psm, whitelist, Path(folder))
                solved_by[f"{name}/psm{psm}"] = {i for i, text in enumerate(read) if text == answers[i]}
    return OcrResult(len(pngs), solved_by)


def stock_png(answer: str) -> bytes:
    """The captcha package's own drawing with its defaults (colour), at our picture's size."""
    from captcha.image import ImageCaptcha

    from chalicelib.captcha.picture import HEIGHT, WIDTH

    return ImageCaptcha(width=WIDTH, height=HEIGHT).generate(answer).getvalue()


# ---------------------------------------------------------------------------- the audio

RATE = 11025
FRAME = 256  # 23 ms at 11025 Hz
MEL_BANDS = 20
SPEEDS = (0.87, 1.0, 1.15)  # each clip also at these tape speeds: ours plays them at 0.85-1.18
LENGTH_RATIO = (0.6, 1.7)  # a clip this much shorter or longer than the stretch is not it


def published_clips() -> dict[tuple[str, str], bytes]:
    """Every clip in the repository, (voice, name) → 16-bit frames."""
    from chalicelib.captcha.audio import VOICE_DIR

    clips = {}
    for path in sorted(VOICE_DIR.rglob("*.wav")):
        with wave.open(str(path), "rb") as clip:
            clips[(path.parent.name, path.stem)] = clip.readframes(clip.getnframes())
    return clips


def frames_of(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes), "rb") as wav:
        return wav.readframes(wav.getnframes())


def _samples(frames: bytes) -> array.array[int]:
    found = array.array("h")
    found.frombytes(frames)
    return found


@dataclass(frozen=True)
class Reading:
    """An audio challenge as an attacker gets it, plus what only the bench knows."""

    wav: bytes
    answer: str
    characters: list[tuple[int, int]]  # true frame ranges of the 2 × 5 characters


def joined_verbatim(answer: str, chance: random.Random, voice: str = "m1") -> Reading:
    """Today's rendering (before issue 14): the clips of one voice joined as they are,
    with 350-650 ms of digital silence between characters and 900 ms around "igen"."""
    clips = published_clips()
    silence = b"\0\0"
    chunks = [clips[(voice, "intro")]]
    at = len(chunks[0]) // 2
    characters = []
    for reading in range(2):
        if reading:
            pause = RATE * 900 // 1000
            chunks += [silence * pause, clips[(voice, "igen")]]
            at += pause + len(clips[(voice, "igen")]) // 2
        for char in answer:
            pause = RATE * chance.randint(350, 650) // 1000
            chunks += [silence * pause, clips[(voice, char)]]
            at += pause
            characters.append((at, at + len(clips[(voice, char)]) // 2))
            at += len(clips[(voice, char)]) // 2
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(b"".join(chunks))
    return Reading(out.getvalue(), answer, characters)


@lru_cache(maxsize=1)
def _unique_probes() -> list[tuple[str, int, bytes]]:
    """(name, offset, 64 samples) found in one published clip only, up to 8 a clip;
    near-silent stretches are skipped (they are everywhere)."""
    from chalicelib.core.config import CAPTCHA_ALPHABET

    clips = published_clips()
    everything = b"|".join(clips.values())
    probes = []
    for (_, name), frames in clips.items():
        if name not in CAPTCHA_ALPHABET:
            continue
        kept = 0
        for offset in range(0, len(frames) - 128, 1000):
            probe = frames[offset:offset + 128]
            if max(abs(sample) for sample in _samples(probe)) < 1000:
                continue
            first = everything.find(probe)
            if everything.find(probe, first + 1) >= 0:
                continue
            probes.append((name, offset, probe))
            kept += 1
            if kept == 8:
                break
    return probes


def frame_search(wav_bytes: bytes) -> str:
    """The characters whose published clips' samples are in the WAV, in order (the first 5)."""
    frames = frames_of(wav_bytes)
    found: list[tuple[int, str]] = []
    for name, offset, probe in _unique_probes():
        at = frames.find(probe)
        while at >= 0:
            if at % 2 == 0:  # on a sample boundary
                found.append((at - offset, name))
            at = frames.find(probe, at + 2)
    found.sort()
    read: list[str] = []
    last: int | None = None
    for at, name in found:
        if last is None or abs(at - last) >= 200:  # other probes of the same clip
            read.append(name)
            last = at
    return "".join(read[:5])


@cache
def _bit_reversed(size: int) -> list[int]:
    bits = size.bit_length() - 1
    return [int(format(index, f"0{bits}b")[::-1], 2) for index in range(size)]


@cache
def _twiddles(size: int) -> list[complex]:
    return [cmath.exp(-2j * math.pi * k / size) for k in range(size // 2)]


def _fft(values: list[complex]) -> list[complex]:
    size = len(values)
    out = [values[index] for index in _bit_reversed(size)]
    span = 2
    while span <= size:
        half, twiddles = span // 2, _twiddles(span)
        for start in range(0, size, span):
            for k in range(half):
                i, j = start + k, start + k + half
                turned = twiddles[k] * out[j]
                out[i], out[j] = out[i] + turned, out[i] - turned
        span *= 2
    return out


@lru_cache(maxsize=1)
def _mel_bank() -> list[list[tuple[int, float]]]:
    def mel(hz: float) -> float:
        return 2595 * math.log10(1 + hz / 700)

    def hz(value: float) -> float:
        return 700 * (10 ** (value / 2595) - 1)

    low, high = mel(100), mel(5000)
    edges = [hz(low + (high - low) * i / (MEL_BANDS + 1)) * FRAME / RATE for i in range(MEL_BANDS + 2)]
    bank = []
    for band in range(1, MEL_BANDS + 1):
        left, centre, right = edges[band - 1], edges[band], edges[band + 1]
        weights = [(k, (k - left) / (centre - left) if k < centre else (right - k) / (right - centre))
                   for k in range(FRAME // 2 + 1) if left < k < right]
        bank.append(weights)
    return bank


_WINDOW = [0.5 - 0.5 * math.cos(2 * math.pi * i / (FRAME - 1)) for i in range(FRAME)]
Features = list[tuple[float, ...]]


def log_mel(samples: array.array[int]) -> Features:
    """Log-mel frames of ``samples``, gain normalised (their mean vector removed)."""
    bank = _mel_bank()
    frames = []
    for start in range(0, len(samples) - FRAME + 1, FRAME):
        spectrum = _fft([complex(v * w) for v, w in zip(samples[start:start + FRAME], _WINDOW, strict=True)])
        power = [abs(bin_) ** 2 for bin_ in spectrum[:FRAME // 2 + 1]]
        frames.append(tuple(math.log(sum(power[k] * w for k, w in band) + 1e3) for band in bank))
    if not frames:
        return []
    mean = [sum(frame[i] for frame in frames) / len(frames) for i in range(MEL_BANDS)]
    return [tuple(v - m for v, m in zip(frame, mean, strict=True)) for frame in frames]


def dtw(first: Features, second: Features) -> float:
    """Dynamic time warping cost of the best alignment, per step (Euclidean frame distance)."""
    infinity = float("inf")
    previous = [0.0] + [infinity] * len(second)
    distance = math.dist
    for frame in first:
        current = [infinity] * (len(second) + 1)
        for j, other in enumerate(second, start=1):
            best = min(previous[j - 1], previous[j], current[j - 1])
            current[j] = best + distance(frame, other)
        previous = current
    return previous[-1] / (len(first) + len(second))


@lru_cache(maxsize=1)
def templates() -> list[tuple[str, Features]]:
    """Every published clip of the alphabet at every speed in ``SPEEDS``, as features."""
    from PIL import Image

    from chalicelib.core.config import CAPTCHA_ALPHABET

    found = []
    for (_, name), frames in published_clips().items():
        if name not in CAPTCHA_ALPHABET:
            continue
        clip = Image.frombytes("I", (len(frames) // 2, 1), frames, "raw", "I;16S").convert("F")
        for speed in SPEEDS:
            played = clip.resize((round(clip.width * speed), 1), Image.Resampling.BILINEAR)
            floats = array.array("f")
            floats.frombytes(played.tobytes())  # "F": native 32-bit floats
            samples = array.array("h", (max(-32768, min(32767, round(v))) for v in floats))
            found.append((name, log_mel(samples)))
    return found


def spectral(reading: Reading) -> str:
    """The attacker's reading: each character stretch's nearest clip, both readings summed."""
    samples = _samples(frames_of(reading.wav))
    costs: list[dict[str, float]] = []
    for start, end in reading.characters:
        stretch = log_mel(samples[start:end])
        nearest: dict[str, float] = {}
        for name, template in templates():
            if not LENGTH_RATIO[0] <= len(template) / max(len(stretch), 1) <= LENGTH_RATIO[1]:
                continue
            cost = dtw(stretch, template)
            if cost < nearest.get(name, float("inf")):
                nearest[name] = cost
        costs.append(nearest)
    half = len(costs) // 2
    read = ""
    for first, second in zip(costs[:half], costs[half:], strict=True):
        summed = {name: first[name] + second[name] for name in first.keys() & second.keys()}
        read += min(summed, key=summed.__getitem__) if summed else "?"
    return read


def _attack_both(reading: Reading) -> tuple[str, str]:
    return frame_search(reading.wav), spectral(reading)


# ---------------------------------------------------------------------------- the run


def _bench(figure: str, value: str, baseline: str, ratio: float, goal: str) -> None:
    print("BENCH " + json.dumps({"figure": figure, "value": value, "baseline": baseline,
                                 "ratio": round(ratio, 4), "goal": goal}, ensure_ascii=False))


def _share(solved: int, total: int) -> str:
    return f"{100 * solved / total:.1f}% ({solved} of {total})"


def bench_pictures(count: int) -> bool:
    from chalicelib.captcha.challenges import random_answer
    from chalicelib.captcha.picture import render_png
    from chalicelib.core.config import CAPTCHA_ALPHABET

    if shutil.which("tesseract") is None:
        print("tesseract not found: apt-get install -y tesseract-ocr. The OCR figure is not measured.")
        return False
    version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[0]
    answers = [random_answer() for _ in range(count)]
    started = time.monotonic()
    ours = ocr_attack([render_png(answer) for answer in answers], answers, CAPTCHA_ALPHABET)
    stock = ocr_attack([stock_png(answer) for answer in answers], answers, CAPTCHA_ALPHABET)
    tries = len(ours.solved_by)
    print(f"OCR ({version}, {tries} tries a picture, {time.monotonic() - started:.0f} s):")
    for name, result in (("ours", ours), ("stock ImageCaptcha", stock)):
        per_try = ", ".join(f"{k} {len(v)}" for k, v in result.solved_by.items() if v) or "none"
        print(f"  {name:20s} best of tries {_share(result.best, count)}; "
              f"first try alone {len(result.solved_by['upscaled/psm7'])}; read by: {per_try}")
    _bench(f"CAPTCHA picture read by OCR (tesseract, best of {tries} tries)", _share(ours.best, count),
           f"stock ImageCaptcha {_share(stock.best, count)}", ours.rate, f"<= {OCR_GOAL}")
    return ours.rate <= OCR_GOAL


def bench_audio(count: int) -> bool:
    from chalicelib.captcha import audio
    from chalicelib.captcha.challenges import random_answer

    chance = random.Random(secrets.randbits(64))  # the bench's own pauses for today's rendering
    answers = [random_answer() for _ in range(count)]
    ours: list[Reading] = []
    levels: list[tuple[float, float]] = []
    for answer in answers:
        rendered = audio.render(answer)
        ours.append(Reading(rendered.wav, answer, rendered.characters))
        levels.append((rendered.speech_dbfs, rendered.babble_dbfs))
    today = [joined_verbatim(answer, chance) for answer in answers]
    speech = sum(level for level, _ in levels) / count
    babble = sum(level for _, level in levels) / count
    print(f"audio: speech {speech:.1f} dBFS RMS over the spoken clips, babble {babble:.1f} dBFS "
          f"({audio.BABBLE_STREAMS} streams of clips played backwards): SNR {speech - babble:+.1f} dB; "
          f"tempo {audio.TEMPO[0]}-{audio.TEMPO[1]}, gain ±{audio.GAIN_DB[1]:g} dB, echo, "
          f"{len(audio.voices())} voices")
    _bench("CAPTCHA audio: signal-to-noise ratio (speech over babble)", f"{speech - babble:+.1f} dB",
           f"speech {speech:.1f} dBFS, babble {babble:.1f} dBFS", round(speech - babble, 2),
           ">= 3")  # never tuned into noise: the speech stays the loudest
    started = time.monotonic()
    templates()  # made once here, then inherited by each worker
    _unique_probes()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        found_ours = list(pool.map(_attack_both, ours, chunksize=4))
        found_today = list(pool.map(_attack_both, today, chunksize=4))
    print(f"audio attacks on {count} challenges each: {time.monotonic() - started:.0f} s")
    met = True
    for index, attack in enumerate(("frame search", "spectral (log-mel + DTW, true boundaries)")):
        solved = sum(found[index] == answer for found, answer in zip(found_ours, answers, strict=True))
        before = sum(found[index] == answer for found, answer in zip(found_today, answers, strict=True))
        chars = sum(a == b for found, answer in zip(found_ours, answers, strict=True)
                    for a, b in zip(found[index], answer, strict=False))
        print(f"  {attack:42s} ours {_share(solved, count)} ({chars / (5 * count):.0%} of characters); "
              f"today's rendering {_share(before, count)}")
        _bench(f"CAPTCHA audio solved by {attack}", _share(solved, count),
               f"clips joined verbatim (before) {_share(before, count)}", solved / count, f"<= {AUDIO_GOAL}")
        met = met and solved / count <= AUDIO_GOAL
    return met


def main(argv: list[str]) -> int:
    pictures = int(argv[0]) if argv else 200
    challenges = int(argv[1]) if len(argv) > 1 else 200
    os.environ.update({"STAGE": "local", "APP_SECRET": secrets.token_hex(32)})
    os.environ.pop("CAPTCHA_TEST_ANSWER", None)  # random answers, as in production
    pictures_met = bench_pictures(pictures)
    audio_met = bench_audio(challenges)
    return 0 if pictures_met and audio_met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
