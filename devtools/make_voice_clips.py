"""Make the Danish voice clips of the audio CAPTCHA (run once; the clips are committed).

    apt-get install -y espeak-ng
    .venv/bin/python -m devtools.make_voice_clips

Writes ``chalicelib/data/voice/da/<name>.wav`` for every character of the CAPTCHA alphabet
plus the intro and "igen", and ``manifest.json`` with the text spoken and the espeak-ng
version, so a clip can be remade or a voice swapped without guessing. Each clip is
trimmed of leading/trailing silence (the pauses are added when a challenge is built) and
halved to 11025 Hz: speech stays clear and a challenge's WAV stays small.
"""

from __future__ import annotations

import array
import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from chalicelib.captcha.audio import AGAIN, INTRO, VOICE_DIR
from chalicelib.core.config import CAPTCHA_ALPHABET

VOICE = "da"
WORDS_PER_MINUTE = "130"
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


def _speak(text: str, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", WORDS_PER_MINUTE, "-w", str(path), text],
                   check=True)


def _trim_and_halve(samples: array.array[int]) -> array.array[int]:
    loud = [index for index, sample in enumerate(samples) if abs(sample) > SILENCE_LEVEL]
    if not loud:
        raise ValueError("espeak-ng produced silence")
    kept = samples[loud[0]:loud[-1] + 1]
    # Averaging pairs is a crude low-pass filter before dropping every other sample.
    return array.array("h", ((kept[i] + kept[i + 1]) // 2 for i in range(0, len(kept) - 1, 2)))


def make_clip(name: str, text: str, scratch: Path) -> None:
    raw = scratch / f"{name}.wav"
    _speak(text, raw)
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
    with wave.open(str(VOICE_DIR / f"{name}.wav"), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(rate // 2)
        clip.writeframes(halved.tobytes())


def main() -> int:
    missing = set(CAPTCHA_ALPHABET) - set(SPOKEN)
    if missing:
        print(f"no text for {''.join(sorted(missing))}", file=sys.stderr)
        return 1
    VOICE_DIR.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        for name, text in SPOKEN.items():
            make_clip(name, text, Path(folder))
            print(f"{name}: {text}")
    manifest = {"engine": version, "voice": VOICE, "words_per_minute": int(WORDS_PER_MINUTE),
                "clips": SPOKEN}
    (VOICE_DIR / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
