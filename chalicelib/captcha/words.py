"""What the signup form says when the picture it showed could not be used (chalicelib.captcha).

Keyed by the signup's error code (``Captcha`` + ``CaptchaRejected.code``, or a proof-of-work
code of ``captcha.work``: the proof belongs to the picture, so the visitor hears of the
picture, never of the work their browser did). Both ways of
signing up show a new picture after such a refusal and say so beside the answer field: the
no-JavaScript form page (``newsletter.pages.signup_form_again``) and the site's script,
which reads these texts from the form (``data-captcha-messages``), so the two say the same
words. The API's own message for the same refusal is for a client that keeps the picture
("du har 2 forsøg tilbage"), which is not what the form does. See docs/captcha.md#the-words.
"""

from __future__ import annotations

NEW_PICTURE_AFTER = {
    "CaptchaWrong": "Tegnene passede ikke. Her er et nyt billede: skriv tegnene fra det.",
    "CaptchaExpired": "Billedet var udløbet (det gælder i 10 minutter). Her er et nyt: "
                      "skriv tegnene fra det.",
    "CaptchaUsed": "Billedet var allerede brugt. Her er et nyt: skriv tegnene fra det.",
    "CaptchaUnknown": "Billedet kunne ikke bruges. Her er et nyt: skriv tegnene fra det.",
    "CaptchaExhausted": "Der var skrevet forkerte tegn for mange gange. Her er et nyt billede: "
                        "skriv tegnene fra det.",
    "ProofOfWorkMissing": "Din browser nåede ikke at gøre billedet klar. Her er et nyt: skriv tegnene "
                          "fra det.",
    "ProofOfWorkInvalid": "Billedet kunne ikke bruges. Her er et nyt: skriv tegnene fra det.",
    "ProofOfWorkExpired": "Billedet var udløbet (det gælder i 10 minutter). Her er et nyt: "
                          "skriv tegnene fra det.",
    "ProofOfWorkUsed": "Billedet var allerede brugt. Her er et nyt: skriv tegnene fra det.",
}
