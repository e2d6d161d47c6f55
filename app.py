"""borgerdialog's Chalice app: builds the app and registers the blueprints, nothing else.

Each blueprint lives in the feature package that owns it (docs/architecture.md).
"""

from __future__ import annotations

from chalice.app import Chalice

from chalicelib.articles.routes import bp as articles
from chalicelib.captcha.routes import bp as captcha
from chalicelib.core.config import get_settings
from chalicelib.core.guard import guard_routes
from chalicelib.core.logs import configure as configure_logs
from chalicelib.core.openapi import bp as openapi
from chalicelib.digest.handlers import bp as digest
from chalicelib.newsletter.actions import bp as newsletter_actions
from chalicelib.newsletter.pages import bp as newsletter_pages
from chalicelib.newsletter.ses_events import bp as ses_events

app = Chalice(app_name="borgerdialog")
# The types Chalice answers base64-encoded, as bytes: the CAPTCHA's audio (GET
# /captcha/{id}/audio). audio/* lets a request that accepts any audio have it (Chalice refuses
# a binary answer whose type the Accept does not name). The deployed REST API treats */* as
# binary (infra/merged.py), so the browser's Accept order does not matter there
# (docs/api.md#bytes-through-api-gateway).
app.api.binary_types = ["audio/wav", "audio/*"]
# Chalice's app.log defaults to ERROR; the stage decides how much we hear, and in what form.
configure_logs(app.log, get_settings().log_level, json_lines=get_settings().log_format == "json")

app.register_blueprint(articles)            # GET /articles, /articles/{slug}, /categories
app.register_blueprint(captcha)             # POST /captcha, GET /captcha/{id}/audio
app.register_blueprint(newsletter_actions)  # POST /subscriptions[/confirm|unsubscribe|export|erase], consent
app.register_blueprint(newsletter_pages)    # GET /nyhedsbrev and the pages behind mail links
app.register_blueprint(ses_events)          # ses_notifications: bounces, complaints, unsubscribe mails
app.register_blueprint(digest)              # digest_schedule, digest_worker
app.register_blueprint(openapi)             # GET /openapi.json

# Last: every route registered above answers AWS throttling with 503 + Retry-After, never a 500.
guard_routes(app)
