"""Regenerate ``word_frequencies.tsv``: the 100,000 commonest English words and their Zipf
frequency (log10 of occurrences per billion words) from wordfreq 3.1 (Robyn Speer; code Apache-2.0,
data CC BY-SA 4.0). The encoder turns it into a weight per token (rarer tokens weigh more) for the
taxonomy heads' pooled vectors (``pipeline/tagging/encoder.py``). Only needed to rebuild the file:

    pip install wordfreq==3.1.1 && python models/make_word_frequencies.py
"""

from pathlib import Path

import wordfreq

OUT = Path(__file__).with_name("word_frequencies.tsv")
TOP = 100_000

with OUT.open("w", encoding="utf-8", newline="\n") as handle:
    handle.write("# wordfreq 3.1.1, English, top 100,000; word<TAB>Zipf frequency. Data CC BY-SA 4.0 (see models/README.md).\n")
    for word in wordfreq.top_n_list("en", TOP):
        handle.write(f"{word}\t{wordfreq.zipf_frequency(word, 'en'):.2f}\n")
