"""What every model's ``Meta`` shares: the stage's region and table name from settings.

The endpoint is not set here: botocore reads ``AWS_ENDPOINT_URL`` itself, for pynamodb's
client as for boto3's.
"""

from __future__ import annotations

from chalicelib.core.config import get_settings


def region() -> str:
    return get_settings().region
