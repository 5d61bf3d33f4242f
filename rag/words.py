"""Words too common to tell passages apart, shared by lexical search, question analysis and
citation checks."""

from __future__ import annotations

# Words too common to help a lexical match; kept short on purpose (names and numbers matter).
STOPWORDS = frozenset("""
a an and are as at be been being but by can could did do does for from had has have he her his
how i if in into is it its me my no nor not of on or our she so than that the their them then
there these they this those to too was we were what when where which while who whom why will
with would you your about after again against all also any because before between both during
each few further here just more most only other own same should some such through under until
up very s t don said says according
""".split())
