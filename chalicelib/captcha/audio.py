"""The CAPTCHA read aloud in Danish, made when a visitor asks for it (``GET /captcha/{id}/audio``).

The clips in ``chalicelib/data/voice/da/<voice>/`` were made once with espeak-ng by
``devtools/make_voice_clips.py``: every character of the alphabet in four voices, letters
spelled as in the Danish phone alphabet ("be, som i Bernhard") and digits as "tallet fem",
because bare letter names (be/de/pe/te/ve) sound alike. No speech engine runs in the Lambda.

Anyone with this repository has those clips, so a rendering must never contain them as
they are: joined verbatim, a search for each clip's samples read every challenge, and a
spectral matcher (log-mel features, nearest clip by dynamic time warping) nearly every one.
So each rendering (docs/captcha.md#the-audio; the attacks: bench/captcha_attacks.py):

- says each character in a voice picked at random, played faster or slower like a tape
  (tempo and pitch together, ``TEMPO``) and louder or softer (``GAIN_DB``);
- adds a short echo, as of a small room (``ECHO``);
- lays babble under the whole recording: ``BABBLE_STREAMS`` streams of clips played
  backwards (speech-like sound without a single word in it) and a faint hiss, together
  ``SNR_DB`` below the speech;
- starts with a random lead-in of babble, and pauses for a random time between characters.

The levels are fixed, not left to chance: speech at ``SPEECH_DBFS`` (RMS over the spoken
clips), babble ``SNR_DB`` below it, so the speech is always the loudest voice.

The signal processing runs in Pillow on "F" images one sample high: resampling, gain and
mixing are then C loops, and a rendering takes a few milliseconds. Pillow is in the Lambda
for the picture anyway; this module imports it on first use only.
"""

from __future__ import annotations

import io
import math
import os
import random
import secrets
import wave
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.core.resources import DATA

if TYPE_CHECKING:
    from PIL import Image

VOICE_DIR = DATA / "voice" / "da"
INTRO, AGAIN = "intro", "igen"
RATE = 11025  # frames per second of the clips and of every rendering
# Per character: the tape speed (1.0 = as recorded) and the gain change.
TEMPO = (0.85, 1.18)
GAIN_DB = (-3.0, 3.0)
# Two reflections of the speech (delay in ms, level relative to the speech).
ECHO = ((25.0, 45.0, 0.3), (60.0, 95.0, 0.18))
BABBLE_STREAMS = 4
SNR_DB = 3.0
SPEECH_DBFS = -24.0
# Seconds: babble before the intro, between characters, around "igen", after the end.
LEAD_IN = (0.4, 1.6)
GAP = (0.35, 0.65)
REPEAT_GAP = (0.8, 1.0)
TAIL = (0.5, 1.0)
BABBLE_GAP = (0.05, 0.25)
HISS_DB = 20.0  # the hiss under the babble, this far below it
FULL_SCALE = 32767
PEAK_LIMIT = 0.97 * FULL_SCALE  # the whole recording is turned down if a peak would clip
_FLIP_SIGN = bytes(value ^ 0x80 for value in range(256))


@dataclass(frozen=True)
class Rendering:
    """A rendered challenge: the WAV and what the bench and tests measure of it."""

    wav: bytes
    spoken: list[str]  # what is said, in order: intro, the characters, "igen", the characters
    # Frame ranges where each character is spoken: both readings, in order (10 for 5 characters).
    characters: list[tuple[int, int]]
    lead_in: int  # frames of babble alone before the intro
    speech_dbfs: float  # RMS of the speech over the spoken clips
    babble_dbfs: float  # RMS of the babble over the whole recording

    @property
    def snr_db(self) -> float:
        return self.speech_dbfs - self.babble_dbfs


@dataclass(frozen=True)
class Clip:
    image: Image.Image  # "F", 1 × frames
    mean_square: float


@lru_cache(maxsize=1)
def voices() -> dict[str, dict[str, Clip]]:
    """Every clip as a float image, by voice and name; read once per process (about 3 MB)."""
    from PIL import Image

    found: dict[str, dict[str, Clip]] = {}
    for path in sorted(VOICE_DIR.glob("*/*.wav")):
        with wave.open(str(path), "rb") as clip:
            shape = (clip.getnchannels(), clip.getsampwidth(), clip.getframerate())
            if shape != (1, 2, RATE):
                raise ValueError(f"{path}: format {shape}, expected 16-bit mono at {RATE} Hz")
            frames = clip.readframes(clip.getnframes())
        image = Image.frombytes("I", (len(frames) // 2, 1), frames, "raw", "I;16S").convert("F")
        found.setdefault(path.parent.name, {})[path.stem] = Clip(image, _mean_square(image))
    if not found:
        raise FileNotFoundError(f"no voice clips in {VOICE_DIR}; run devtools/make_voice_clips.py")
    return found


def _mean_square(image: Image.Image) -> float:
    from PIL import Image, ImageMath

    squared = ImageMath.lambda_eval(lambda e: e["a"] * e["a"], a=image)
    # A box filter over the whole row is its mean.
    return float(squared.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0)))


def _added(first: Image.Image, second: Image.Image, weight: float) -> Image.Image:
    """first + second × weight, sample by sample."""
    from PIL import ImageMath

    result: Image.Image = ImageMath.lambda_eval(lambda e: e["a"] + e["b"] * weight, a=first, b=second)
    return result


def _dbfs(mean_square: float) -> float:
    return 10 * math.log10(max(mean_square, 1e-9) / FULL_SCALE**2)


def render(answer: str, rng: random.Random | None = None) -> Rendering:
    """The intro, each character of ``answer``, "igen", each character once more, with
    babble throughout (see the module docstring). ``rng`` only for tests and the bench."""
    from PIL import Image, ImageMath

    chance = rng or secrets.SystemRandom()
    library = voices()
    names = sorted(library)
    missing = sorted({char for char in answer if any(char not in library[name] for name in names)})
    if missing:
        raise ValueError(f"no voice clip for {''.join(missing)!r}")

    def said(voice: str, name: str) -> Image.Image:
        clip = library[voice][name].image
        frames = max(1, round(clip.width * chance.uniform(*TEMPO)))
        gain = 10 ** (chance.uniform(*GAIN_DB) / 20)
        return clip.resize((frames, 1), Image.Resampling.BILINEAR).point(lambda v: v * gain)

    host = chance.choice(names)  # who reads the intro and "igen"
    spoken = [INTRO, *answer, AGAIN, *answer]
    parts: list[tuple[Image.Image, bool, tuple[float, float]]] = []
    for index, name in enumerate(spoken):
        is_char = name not in (INTRO, AGAIN)
        pause = GAP if is_char and spoken[index + 1:index + 2] not in ([AGAIN], []) else REPEAT_GAP
        parts.append((said(chance.choice(names) if is_char else host, name), is_char, pause))
    lead_in = position = round(RATE * chance.uniform(*LEAD_IN))
    placed: list[tuple[int, Image.Image, bool]] = []
    for image, is_char, pause in parts:
        placed.append((position, image, is_char))
        position += image.width + round(RATE * chance.uniform(*pause))
    total = position + round(RATE * chance.uniform(*TAIL))

    speech = Image.new("F", (total, 1), 0.0)
    for start, image, _ in placed:
        speech.paste(image, (start, 0))
    for low, high, level in ECHO:
        delayed = Image.new("F", (total, 1), 0.0)
        delayed.paste(speech, (round(RATE * chance.uniform(low, high) / 1000), 0))
        speech = _added(speech, delayed, level)
    spoken_frames = sum(image.width for _, image, _ in placed)
    speech_ms = _mean_square(speech) * total / spoken_frames  # over the spoken clips only

    babble = Image.new("F", (total, 1), 0.0)
    everything = [clip.image for clips in library.values() for clip in clips.values()]
    for _ in range(BABBLE_STREAMS):
        stream = Image.new("F", (total, 1), 0.0)
        at = -chance.randrange(2 * RATE)  # streams start mid-clip, at different points
        while at < total:
            backwards = chance.choice(everything).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            stream.paste(backwards, (at, 0))
            at += backwards.width + round(RATE * chance.uniform(*BABBLE_GAP))
        babble = _added(babble, stream, 1.0)
    # A faint hiss under it all: nowhere a stretch of digital silence (where all streams
    # pause at once) that would mark where a character starts. Uniform noise from
    # os.urandom, its mean (127.5) removed: RMS 255 / sqrt(12).
    hiss = Image.frombytes("L", (total, 1), os.urandom(total)).convert("F")
    hiss_weight = math.sqrt(_mean_square(babble)) * 10 ** (-HISS_DB / 20) / (255 / math.sqrt(12))
    babble = ImageMath.lambda_eval(lambda e: e["b"] + (e["h"] - 127.5) * hiss_weight, b=babble, h=hiss)

    # Speech to SPEECH_DBFS, babble SNR_DB under it; then all down together if a peak clips.
    speech_gain = FULL_SCALE * 10 ** (SPEECH_DBFS / 20) / math.sqrt(speech_ms)
    babble_gain = FULL_SCALE * 10 ** ((SPEECH_DBFS - SNR_DB) / 20) / math.sqrt(_mean_square(babble))
    mix = ImageMath.lambda_eval(lambda e: e["s"] * speech_gain + e["b"] * babble_gain, s=speech, b=babble)
    low_peak, high_peak = mix.getextrema()
    limit = min(1.0, PEAK_LIMIT / max(abs(low_peak), abs(high_peak), 1.0))
    return Rendering(
        wav=_wav(mix, limit),
        spoken=spoken,
        characters=[(start, start + image.width) for start, image, is_char in placed if is_char],
        lead_in=lead_in,
        speech_dbfs=_dbfs(speech_ms * (speech_gain * limit) ** 2),
        babble_dbfs=_dbfs(_mean_square(babble) * (babble_gain * limit) ** 2),
    )


def _wav(mix: Image.Image, gain: float) -> bytes:
    """16-bit mono WAV of ``mix`` × ``gain``. Pillow packs unsigned 16-bit only: the samples
    are offset by 32768 and the sign bit flipped back in the high bytes."""
    unsigned = mix.point(lambda v: v * gain + 32768.0).convert("I").convert("I;16")
    frames = bytearray(unsigned.tobytes("raw", "I;16"))  # little-endian, as WAV wants
    frames[1::2] = frames[1::2].translate(_FLIP_SIGN)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(bytes(frames))
    return out.getvalue()


def render_wav(answer: str) -> bytes:
    """A fresh WAV of ``answer`` (see :func:`render`)."""
    return render(answer).wav
