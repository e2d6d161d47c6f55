"""The self-hosted CAPTCHA: ``challenges`` (create, consume once, give back), ``picture``
(PNG), ``audio`` (Danish WAV), ``model`` (the challenges table) and ``routes``
(``POST /captcha``). Pillow and captcha load only when a picture is drawn. See docs/captcha.md.
"""
