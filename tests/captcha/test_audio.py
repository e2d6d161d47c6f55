"""The audio CAPTCHA: made on demand, never the published clips as they are, speech over the
babble; and its route (``GET /captcha/{id}/audio``)."""

from __future__ import annotations

import array
import io
import itertools
import json
import math
import random
import wave
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from chalicelib.captcha import audio
from chalicelib.captcha import challenges as captcha
from chalicelib.core.config import CAPTCHA_ALPHABET, get_settings
from tests.support.captcha import fixed_answer, new_challenge, worked_challenge

PROBE = 32  # samples: a run this long from a clip, found in a rendering, is the clip verbatim


def _clips() -> dict[str, bytes]:
    """Every published clip (whatever the folder layout), path → frames."""
    clips = {}
    for path in sorted(audio.VOICE_DIR.rglob("*.wav")):
        with wave.open(str(path), "rb") as clip:
            clips[str(path.relative_to(audio.VOICE_DIR))] = clip.readframes(clip.getnframes())
    assert len(clips) > 30
    return clips


def _frames(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 11025)
        return wav.readframes(wav.getnframes())


def _samples(frames: bytes) -> array.array[int]:
    found = array.array("h")
    found.frombytes(frames)
    return found


def _rms(samples: array.array[int]) -> float:
    return math.sqrt(sum(value * value for value in samples) / max(len(samples), 1))


@pytest.mark.no_aws
def test_no_published_clip_is_in_any_rendering_verbatim() -> None:
    """Whoever has the repository has the clips: searching a WAV for their samples read every
    challenge (issue 14). No run of 32 samples of any clip may appear in a rendering, and
    there is no digital silence between the characters to cut them apart by."""
    probes = {(name, offset): frames[offset:offset + 2 * PROBE]
              for name, frames in _clips().items()
              for offset in range(0, len(frames) - 2 * PROBE, 2 * 997)
              if max(map(abs, _samples(frames[offset:offset + 2 * PROBE]))) >= 500}
    assert len(probes) > 300
    for answer in ["K7M2P", *(captcha.random_answer() for _ in range(7))]:
        frames = _frames(audio.render_wav(answer))
        found = [key for key, probe in probes.items() if probe in frames]
        assert found == [], f"{answer}: clip samples verbatim at {found[:5]}"
        samples = _samples(frames)
        longest, run = 0, 0
        for before, after in itertools.pairwise(samples):
            run = run + 1 if before == after else 0
            longest = max(longest, run)
        assert longest < 110, f"{answer}: {longest} equal samples (10 ms) in a row"


@pytest.mark.no_aws
def test_a_rendering_says_the_intro_the_characters_igen_and_the_characters_again() -> None:
    rendering = audio.render("K7M2P", random.Random(14))
    assert rendering.spoken == ["intro", *"K7M2P", "igen", *"K7M2P"]
    assert len(rendering.characters) == 10
    starts = [start for start, _ in rendering.characters]
    assert starts == sorted(starts) and starts[0] > rendering.lead_in > 0
    seconds = len(_frames(rendering.wav)) / 2 / audio.RATE
    assert 15 < seconds < 40
    # Every character of the alphabet can be said, in every voice.
    for voice in audio.voices().values():
        assert set(CAPTCHA_ALPHABET) | {audio.INTRO, audio.AGAIN} <= set(voice)


@pytest.mark.no_aws
def test_the_speech_stays_louder_than_the_babble_at_the_stated_levels() -> None:
    """SNR and speech level are fixed (docs/captcha.md#the-audio), not tuned into noise:
    the WAV itself is louder where the characters are said than in the lead-in, where there
    is babble alone, by what speech 3 dB over the babble gives (10·log10(1 + 10^0.3) dB)."""
    for seed in range(5):
        rendering = audio.render(captcha.random_answer(), random.Random(seed))
        assert rendering.snr_db == pytest.approx(audio.SNR_DB, abs=0.01)
        assert audio.SPEECH_DBFS - 1 <= rendering.speech_dbfs <= audio.SPEECH_DBFS + 0.01  # rarely limited
        samples = _samples(_frames(rendering.wav))
        babble_alone = _rms(samples[:rendering.lead_in])
        spoken = array.array("h")
        for start, end in rendering.characters:
            spoken.extend(samples[start:end])
        assert 20 * math.log10(_rms(spoken) / babble_alone) > 3.0
        assert babble_alone > 100  # there is babble: not digital silence


@pytest.mark.no_aws
def test_two_renderings_of_the_same_answer_differ() -> None:
    first, second = audio.render_wav("K7M2P"), audio.render_wav("K7M2P")
    assert first != second


# --- GET /captcha/{id}/audio -------------------------------------------------------------

dynamodb = pytest.mark.dynamodb  # the route tests run again in the DynamoDB Local lane
AUDIO = {"accept": "audio/wav"}
# Accept headers of real requests: the site's script, a browser's media element, Firefox's
# media element, a navigation (the no-JavaScript link), curl.
TAKES_WAV = ["audio/wav", "audio/*", "*/*",
             "audio/webm,audio/ogg,audio/wav,audio/*;q=0.9,application/ogg;q=0.7,video/*;q=0.6,*/*;q=0.5",
             "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"]


@dynamodb
def test_the_audio_of_a_live_challenge_is_a_fresh_wav_never_cached(client: Client) -> None:
    captcha_id, proof = worked_challenge(client)
    bodies = []
    for accept in TAKES_WAV:
        response = client.http.get(f"/captcha/{captcha_id}/audio", headers={"accept": accept})
        assert response.status_code == 200, accept
        assert response.headers["Content-Type"] == "audio/wav"
        assert response.headers["Cache-Control"] == "no-store"
        assert 15 < len(_frames(response.body)) / 2 / audio.RATE < 40
        bodies.append(response.body)
    assert len(set(bodies)) == len(bodies)  # each a new rendering
    captcha.consume(captcha_id, fixed_answer(), proof=proof)  # listening used up nothing


@dynamodb
def test_an_accept_that_takes_no_wav_gets_a_danish_406(client: Client, aws_calls: Counter[str]) -> None:
    captcha_id = new_challenge(client)
    aws_calls.clear()
    for headers in ({"accept": "text/html"}, {"accept": "application/json"}, {}):
        response = client.http.get(f"/captcha/{captcha_id}/audio", headers=headers)
        assert response.status_code == 406, headers
        assert "audio/wav" in json.loads(response.body)["Message"]
    assert sum(aws_calls.values()) == 0


@dynamodb
@pytest.mark.parametrize("captcha_id", ["0" * 32, "abc", "A" * 32, "g" * 32, "..%2F..%2Fetc"])
def test_an_unknown_challenge_has_no_audio(client: Client, captcha_id: str) -> None:
    response = client.http.get(f"/captcha/{captcha_id}/audio", headers=AUDIO)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    problem = json.loads(response.body)
    assert problem["Code"] == "NotFoundError"
    assert "Nyt billede" in problem["Message"]


@dynamodb
def test_an_expired_solved_or_used_up_challenge_has_no_audio(client: Client) -> None:
    settings = get_settings()
    made_earlier = captcha.CaptchaService(
        key=settings.secret_for("captcha"), bucket=settings.bucket, site_url=settings.site_url,
        answers=lambda _id: fixed_answer(), clock=lambda: datetime.now(UTC) - timedelta(minutes=11))
    expired = made_earlier.create().captcha_id
    solved, proof = worked_challenge(client)
    captcha.consume(solved, fixed_answer(), proof=proof)
    # Three wrong answers: the no-JavaScript page's challenges take three tries (one made with
    # a proof of work takes one try per proof).
    used_up = captcha.create_challenge(work=False).captcha_id
    for _ in range(captcha.MAX_WRONG_ANSWERS):
        with pytest.raises(captcha.CaptchaRejected):
            captcha.consume(used_up, "22222")
    for captcha_id, says in ((expired, "udløbet"), (solved, "brugt"), (used_up, "for mange gange")):
        response = client.http.get(f"/captcha/{captcha_id}/audio", headers=AUDIO)
        assert response.status_code == 404
        assert says in json.loads(response.body)["Message"]
