"""The CAPTCHA read aloud in Danish: a WAV built from one recorded clip per character.

The clips in ``chalicelib/data/voice/da/`` were made once with espeak-ng by
``devtools/make_voice_clips.py`` (which also wrote ``manifest.json``): no speech engine
runs in the Lambda, and joining clips with the stdlib ``wave`` module costs well under a
millisecond. Letters are spelled as in the Danish phone alphabet ("be, som i Bernhard")
and digits as "tallet fem", because bare letter names (be/de/pe/te/ve) sound alike.

The pauses between clips vary at random, so two challenges with the same characters
differ in length and timing.
"""

from __future__ import annotations

import io
import secrets
import wave
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.core.resources import DATA

VOICE_DIR = DATA / "voice" / "da"
INTRO, AGAIN = "intro", "igen"
# Pauses in milliseconds: (shortest, longest) between characters, and around the repeat.
GAP_MS = (350, 650)
REPEAT_GAP_MS = 900


@dataclass(frozen=True)
class Voice:
    channels: int
    sample_width: int
    frame_rate: int
    clips: dict[str, bytes]  # clip name → raw frames

    def silence(self, milliseconds: int) -> bytes:
        frames = self.frame_rate * milliseconds // 1000
        return b"\x00" * (frames * self.sample_width * self.channels)


@lru_cache(maxsize=1)
def voice() -> Voice:
    """Every clip, read once per process (about 1 MB of frames)."""
    clips: dict[str, bytes] = {}
    params: tuple[int, int, int] | None = None
    for path in sorted(VOICE_DIR.glob("*.wav")):
        with wave.open(str(path), "rb") as clip:
            found = (clip.getnchannels(), clip.getsampwidth(), clip.getframerate())
            if params is not None and found != params:
                raise ValueError(f"{path.name}: format {found} differs from the other clips {params}")
            params = found
            clips[path.stem] = clip.readframes(clip.getnframes())
    if params is None:
        raise FileNotFoundError(f"no voice clips in {VOICE_DIR}; run devtools/make_voice_clips.py")
    return Voice(*params, clips=clips)


def _gap(current: Voice) -> bytes:
    low, high = GAP_MS
    return current.silence(low + secrets.randbelow(high - low + 1))


def render_wav(answer: str) -> bytes:
    """The intro, each character of ``answer``, "igen", and each character once more."""
    current = voice()
    missing = sorted({char for char in answer if char not in current.clips})
    if missing:
        raise ValueError(f"no voice clip for {''.join(missing)!r}")

    def spelled() -> list[bytes]:  # fresh pauses for each reading
        return [part for char in answer for part in (_gap(current), current.clips[char])]

    chunks = [
        current.clips[INTRO], *spelled(),
        current.silence(REPEAT_GAP_MS), current.clips[AGAIN], *spelled(),
        current.silence(REPEAT_GAP_MS),
    ]
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(current.channels)
        wav.setsampwidth(current.sample_width)
        wav.setframerate(current.frame_rate)
        for chunk in chunks:  # written piece by piece: no joined copy of the whole
            wav.writeframesraw(chunk)
    return out.getvalue()
