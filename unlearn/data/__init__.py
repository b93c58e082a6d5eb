"""Interaction data: loaders for each source, the synthetic generator, digests and per-user splits."""

from unlearn.data._frame import SOURCES, DataError, RawInteractions, content_digest, finalise_interactions
from unlearn.data._loaders import ColumnMapping, load_source
from unlearn.data._split import per_user_split
from unlearn.data._synthetic import synthetic_interactions

__all__ = [
    "SOURCES",
    "ColumnMapping",
    "DataError",
    "RawInteractions",
    "content_digest",
    "finalise_interactions",
    "load_source",
    "per_user_split",
    "synthetic_interactions",
]
