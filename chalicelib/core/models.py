"""What every model's ``Meta`` shares: the stage's region, from settings.

Each model says ``class Meta(StageTable): table_name = get_settings().<name>_table``.
pynamodb reads ``Meta`` when the class is defined, so the environment must be set before
the models are imported (the tests' conftest and the local stack do). The endpoint is not
set here: botocore reads ``AWS_ENDPOINT_URL`` itself, for pynamodb's client as for boto3's.
"""

from __future__ import annotations

from chalicelib.core.config import get_settings


class StageTable:
    """The base of every model's ``Meta``."""

    region = get_settings().region
