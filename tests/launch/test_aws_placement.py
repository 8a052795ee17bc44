"""EC2 placement: the catalog's zone IDs and users' zone names both reach the right zone."""

from __future__ import annotations

import pytest

from airflow_provider_sky.launch.backends.aws import placement


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("use1-az1", {"AvailabilityZoneId": "use1-az1"}),
        ("eus2-az1", {"AvailabilityZoneId": "eus2-az1"}),
        ("usw2-lax1-az1", {"AvailabilityZoneId": "usw2-lax1-az1"}),
        ("us-east-1a", {"AvailabilityZone": "us-east-1a"}),
        ("us-west-2-lax-1a", {"AvailabilityZone": "us-west-2-lax-1a"}),
    ],
)
def test_zone_ids_and_zone_names_map_to_their_own_placement_keys(zone: str, expected: dict[str, str]) -> None:
    assert placement(zone) == expected
