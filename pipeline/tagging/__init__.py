"""Interaction analytics: touchpoint, journey stage, sentiment and complaint topics.

``load_tagger(TaggingOptions())`` validates the taxonomies (YAML in ``data/taxonomies/``), loads
the encoder and trains (or fetches from the cache) one linear head per taxonomy and one for
sentiment; ``Tagger.tag(utterances)`` returns ``records.Tag`` objects and ``tags_to_rows`` turns
them into rows of the ``tags`` table.
"""

from .options import TaggingOptions
from .rows import tags_to_rows
from .tagger import Tagger, check_tagger, load_tagger
from .taxonomy import Taxonomy, load_taxonomies, parse_taxonomy

__all__ = ["TaggingOptions", "Tagger", "Taxonomy", "check_tagger", "load_tagger", "load_taxonomies", "parse_taxonomy", "tags_to_rows"]
