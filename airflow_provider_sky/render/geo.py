"""Where a cloud region roughly is, so a route can be drawn on a map-like layout.

Coordinates are city-level guesses (longitude, latitude in degrees) from the region's own name:
enough to put Europe right of America and Tokyo far right, which is all a route picture needs.
A region the table does not know (testbed namespaces, ``local:*``) has no place: the route is
then drawn by hops from the source instead.
"""

from __future__ import annotations

import re

# Checked in order; the first pattern found in the region's name (after the cloud prefix) wins,
# so the specific ones (numbered zones) come before the general ones.
_PLACES: tuple[tuple[str, float, float], ...] = (
    ("ap-northeast-1|asia-northeast1|japaneast", 139.7, 35.7),
    ("ap-northeast-2|asia-northeast3|korea", 127.0, 37.6),
    ("ap-northeast-3|asia-northeast2|japanwest", 135.5, 34.7),
    ("ap-southeast-1|asia-southeast1|southeastasia", 103.8, 1.35),
    ("ap-southeast-2|australia-southeast1|australiaeast", 151.2, -33.9),
    ("ap-southeast-3|asia-southeast2|indonesia", 106.8, -6.2),
    ("australia-southeast2|australiasoutheast", 144.9, -37.8),
    ("ap-east-1|asia-east2|eastasia", 114.2, 22.3),
    ("asia-east1", 120.7, 24.1),
    ("ap-south-1|asia-south1|centralindia|westindia", 72.9, 19.1),
    ("asia-south2|southindia", 77.2, 28.6),
    ("af-south|southafrica", 18.4, -33.9),
    ("me-south|bahrain", 50.6, 26.1),
    ("me-central|uae", 54.4, 24.5),
    ("qatar", 51.5, 25.3),
    ("me-west", 34.8, 32.1),
    ("sa-east|southamerica-east|brazil", -46.6, -23.5),
    ("southamerica-west|chile", -70.7, -33.4),
    ("ca-central|northamerica-northeast1|canadacentral|canadaeast", -73.6, 45.5),
    ("northamerica-northeast2", -79.4, 43.7),
    ("us-east-2|northcentralus|us-central", -90.0, 40.5),
    ("us-east4|us-east-1|eastus", -77.5, 39.0),
    ("us-east1", -81.0, 33.2),
    ("southcentralus", -98.5, 29.4),
    ("us-west-1|westus$|us-west2", -122.0, 37.4),
    ("us-west-2|us-west1|westus2", -121.0, 45.6),
    ("us-west4|westus3|us-west3", -112.0, 34.5),
    ("eu-west-1|northeurope", -6.3, 53.3),
    ("eu-west-2|europe-west2|uksouth|ukwest", -0.1, 51.5),
    ("eu-west-3|francecentral", 2.35, 48.9),
    ("europe-west1", 3.8, 50.5),
    ("europe-west4|westeurope", 5.0, 52.4),
    ("eu-central-1|europe-west3|germanywestcentral", 8.7, 50.1),
    ("eu-central-2|europe-west6|switzerland", 8.5, 47.4),
    ("eu-north|europe-north|swedencentral", 18.1, 59.3),
    ("norway", 10.8, 59.9),
    ("eu-south-1|europe-west8", 9.2, 45.5),
    ("eu-south-2|europe-southwest", -3.7, 40.4),
    ("europe-central2|poland", 21.0, 52.2),
)
_COMPILED = tuple((re.compile(pattern), lon, lat) for pattern, lon, lat in _PLACES)


def place(region: str) -> tuple[float, float] | None:
    """(longitude, latitude) of a grid region id such as ``gcp:europe-west4-a``, or None."""
    cloud, _, name = region.partition(":")
    if cloud not in ("aws", "gcp", "azure"):
        return None
    for pattern, lon, lat in _COMPILED:
        if pattern.search(name):
            return lon, lat
    return None
