"""What a newsletter request ends in: the outcome names and the refusal error.

Kept apart from the services (which load the pynamodb models and transactions) so the
routes can declare their errors and result texts at import time while the services load
only when a newsletter route is called: ``import app`` stays light.
"""

from __future__ import annotations

# Outcomes of signup/confirm/unsubscribe/erase/rights link, shown on the result page.
CONFIRMED_NOW = "confirmed"
ALREADY_CONFIRMED = "already-confirmed"
UNSUBSCRIBED_NOW = "unsubscribed"
ERASED = "erased"
SIGNUP_ACCEPTED = "accepted"
PREFERENCES_SAVED = "preferences-saved"
# A link to export or erase was mailed to the subscribed address (or nothing was: the same
# answer for an unknown address, and within the mail interval).
RIGHTS_LINK_SENT = "rights-link-sent"
# A POST from another site's page, refused with 400, not 403: CloudFront shows every 403 as
# the 404 page (its error response for S3's missing keys applies to every origin).
CROSS_SITE = "CrossSiteRequest"


class SubscriptionError(Exception):
    """A request we refuse. ``code`` is stable (clients and result pages key on it);
    ``message`` is Danish and says what to do, without echoing what the visitor typed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid_link() -> SubscriptionError:
    return SubscriptionError(
        404, "InvalidLink",
        "Linket er ugyldigt eller bruges ikke længere. Kopiér hele linket fra den nyeste mail, "
        "eller tilmeld dig igen på borgerdialog.dk.",
    )


def busy() -> SubscriptionError:
    return SubscriptionError(409, "Busy", "Tilmeldingen blev ændret samtidig. Prøv igen.")


def rights_link_required() -> SubscriptionError:
    """A manage token (from a digest, which may have been forwarded) at export or erase."""
    return SubscriptionError(
        400, "RightsLinkRequired",
        "Linket fra nyhedsbrevet kan kun afmelde. For at hente eller slette dine data skal du bede "
        "om et link (POST /subscriptions/rights-link eller knappen »Send mig et link«); vi sender "
        "det til den adresse, du er tilmeldt med.",
    )


def rights_link_expired() -> SubscriptionError:
    return SubscriptionError(
        410, "RightsLinkExpired",
        "Linket til dine data er udløbet: det virker i en time. Åbn linket igen og bed om et nyt.",
    )
