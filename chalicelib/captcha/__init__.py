"""The self-hosted CAPTCHA: ``challenges`` (create, consume once, give back), ``picture``
(PNG), ``audio`` (Danish WAV), ``work`` (the proof of work issued with a challenge, ALTCHA's
protocol), ``limit`` (the per-IP limit on new challenges), ``model`` (the challenges table) and
``routes`` (``POST /captcha``). Pillow and captcha load only when a picture is drawn. See
docs/captcha.md.
"""
