"""Called from the request threads."""
from .registry import FORMATS


def export(report, fmt="json"):
    codec = FORMATS[fmt]
    return codec.media_type, codec.dumps(report)
