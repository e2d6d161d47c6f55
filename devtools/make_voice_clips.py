"""Make the Danish voice clips of the audio CAPTCHA (run once; the clips are committed).

    apt-get install -y espeak-ng
    .venv/bin/python -m devtools.make_voice_clips

Writes ``chalicelib/data/voice/da/<voice>/<name>.wav`` for every character of the CAPTCHA
alphabet plus the intro and "igen", in each of the ``VOICES`` (espeak-ng's Danish voice
with four variants, each its own speed and pitch), and ``manifest.json`` with the text
spoken, the voices and the espeak-ng version, so a clip can be remade or a voice swapped
without guessing. Each clip is trimmed of leading/trailing silence (pauses are added when
a challenge is read out) and halved to 11025 Hz: speech stays clear and the clips small.

Anyone with the repository has these clips: the audio must never contain them verbatim
(chalicelib/captcha/audio.py changes every clip it plays; docs/captcha.md#the-audio).
"""

from __future__ import annotations

import array
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from chalicelib.captcha.audio import AGAIN, INTRO, VOICE_DIR
from chalicelib.core.config import CAPTCHA_ALPHABET

# Voice id → (espeak-ng voice, words per minute, pitch 0-99): two male and two female
# variants of the Danish voice, so a character is never said the same way twice in a row.
VOICES = {
    "m1": ("da", 130, 50),
    "m3": ("da+m3", 120, 38),
    "f2": ("da+f2", 135, 62),
    "f4": ("da+f4", 140, 56),
}
# Letter names as Danes say them, plus the Danish phone alphabet's word for each, since
# bare names (be, de, pe, te, ve) are easily confused. Digits are said as numbers.
SPOKEN = {
    "A": "a, som i Anna", "B": "be, som i Bernhard", "C": "se, som i Cecilie",
    "D": "de, som i David", "E": "e, som i Erik", "F": "æf, som i Frederik",
    "G": "ge, som i Georg", "H": "hå, som i Hans", "J": "jåd, som i Johan",
    "K": "kå, som i Karen", "M": "æm, som i Mari", "N": "æn, som i Nikolaj",
    "P": "pe, som i Peter", "Q": "ku, som i Quintus", "R": "ær, som i Rasmus",
    "S": "æs, som i Søren", "T": "te, som i Theodor", "U": "u, som i Ulla",
    "V": "ve, som i Viggo", "W": "dobbelt-ve, som i William", "X": "æks, som i Xerxes",
    "Y": "y, som i Yrsa", "Z": "sæt, som i Zakarias",
    "2": "tallet to", "3": "tallet tre", "4": "tallet fire", "5": "tallet fem",
    "6": "tallet seks", "7": "tallet syv", "8": "tallet otte", "9": "tallet ni",
    INTRO: "Skriv de fem tegn, du hører.", AGAIN: "Igen.",
}
SILENCE_LEVEL = 300  # |sample| below this (of 32767) counts as silence when trimming


def _speak(voice: str, words_per_minute: int, pitch: int, text: str, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch),
                    "-w", str(path), text], check=True)


def _trim_and_halve(samples: array.array[int]) -> array.array[int]:
    loud = [index for index, sample in enumerate(samples) if abs(sample) > SILENCE_LEVEL]
    if not loud:
        raise ValueError("espeak-ng produced silence")
    kept = samples[loud[0]:loud[-1] + 1]
    # Averaging pairs is a crude low-pass filter before dropping every other sample.
    return array.array("h", ((kept[i] + kept[i + 1]) // 2 for i in range(0, len(kept) - 1, 2)))


def make_clip(voice_id: str, name: str, text: str, scratch: Path) -> None:
    voice, words_per_minute, pitch = VOICES[voice_id]
    raw = scratch / f"{voice_id}-{name}.wav"
    _speak(voice, words_per_minute, pitch, text, raw)
    with wave.open(str(raw), "rb") as source:
        if (source.getnchannels(), source.getsampwidth()) != (1, 2):
            raise ValueError(f"{name}: expected 16-bit mono from espeak-ng")
        rate = source.getframerate()
        samples = array.array("h", source.readframes(source.getnframes()))
    if sys.byteorder != "little":
        samples.byteswap()
    halved = _trim_and_halve(samples)
    if sys.byteorder != "little":
        halved.byteswap()
    with wave.open(str(VOICE_DIR / voice_id / f"{name}.wav"), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(rate // 2)
        clip.writeframes(halved.tobytes())


def main() -> int:
    missing = set(CAPTCHA_ALPHABET) - set(SPOKEN)
    if missing:
        print(f"no text for {''.join(sorted(missing))}", file=sys.stderr)
        return 1
    names = [*CAPTCHA_ALPHABET, INTRO, AGAIN]  # only what a challenge can say
    version = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    if VOICE_DIR.exists():
        shutil.rmtree(VOICE_DIR)  # clips of characters no longer in the alphabet go too
    with tempfile.TemporaryDirectory() as folder:
        for voice_id in VOICES:
            (VOICE_DIR / voice_id).mkdir(parents=True)
            for name in names:
                make_clip(voice_id, name, SPOKEN[name], Path(folder))
            print(f"{voice_id}: {len(names)} clips")
    manifest = {
        "engine": version,
        "voices": {voice_id: {"voice": voice, "words_per_minute": wpm, "pitch": pitch}
                   for voice_id, (voice, wpm, pitch) in VOICES.items()},
        "clips": {name: SPOKEN[name] for name in names},
    }
    (VOICE_DIR / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
