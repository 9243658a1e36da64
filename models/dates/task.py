"""Dates in words to ISO digits: "the twenty first of march nineteen ninety nine" -> "1999-03-21".

The output reorders the input (year first, then month, then day), and every output character comes from a
known span of input words: the year's digits from the year words, the month's from the month name, the
day's from the day words. So a cross-attention head can be checked: does its strongest weight land in the
span the character comes from?
"""

from __future__ import annotations

import calendar
import datetime
import random
from dataclasses import dataclass

MONTHS = tuple(calendar.month_name[1:])  # January ... December
ONES = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
            "twelve": "twelfth", "twenty": "twentieth", "thirty": "thirtieth"}
FIRST_YEAR, LAST_YEAR = 1950, 2049
FIELDS = ("year", "month", "day")


def number_words(n: int) -> list[str]:
    """0 < n < 100 in words: 21 -> ["twenty", "one"]."""
    if n < 10:
        return [ONES[n]]
    if n < 20:
        return [TEENS[n - 10]]
    return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])


def ordinal_words(n: int) -> list[str]:
    """The day of the month in words: 21 -> ["twenty", "first"], 30 -> ["thirtieth"]."""
    words = number_words(n)
    last = words[-1]
    return [*words[:-1], ORDINALS.get(last, last + "th")]


def year_words(year: int) -> list[str]:
    """1999 -> nineteen ninety nine; 1905 -> nineteen oh five; 2000 -> two thousand; 2019 -> two thousand nineteen."""
    century, rest = divmod(year, 100)
    if century == 20:
        return ["two", "thousand"] + (number_words(rest) if rest else [])
    return number_words(century) + (["oh"] + number_words(rest) if 0 < rest < 10 else
                                    number_words(rest) if rest else ["hundred"])


@dataclass(frozen=True)
class DateExample:
    """One date in words, its ISO form, and which input words each output character comes from."""

    words: tuple[str, ...]
    target: str  # "1999-03-21"
    spans: dict[str, tuple[int, int]]  # field -> [start, end) of its words in `words`

    def aligned(self, position: int) -> tuple[int, int] | None:
        """The input span output character `position` comes from (None for the '-' separators)."""
        field = {0: "year", 1: "year", 2: "year", 3: "year", 5: "month", 6: "month", 8: "day", 9: "day"}.get(position)
        return None if field is None else self.spans[field]


def date_example(date: datetime.date, order: str) -> DateExample:
    """The date in words in one of two orders: "dmy" (the 21st of March 1999) or "mdy" (March 21st 1999)."""
    parts = {"day": ordinal_words(date.day), "month": [MONTHS[date.month - 1].lower()],
             "year": year_words(date.year)}
    sequence = (["the", "day"], ["of", "month"], ["year"]) if order == "dmy" else (["month"], ["day"], ["year"])
    words, spans = [], {}
    for chunk in sequence:
        for item in chunk:
            if item in parts:
                spans[item] = (len(words), len(words) + len(parts[item]))
                words += parts[item]
            else:
                words.append(item)
    return DateExample(tuple(words), date.isoformat(), spans)


def is_held_out(date: datetime.date) -> bool:
    """Every tenth day is never trained on: test dates are dates the model has not seen."""
    return date.toordinal() % 10 == 0


def random_example(rng: random.Random, held_out: bool | None = None) -> DateExample:
    """A random date between 1950 and 2049 in a random order; `held_out` picks from the test or training dates."""
    first = datetime.date(FIRST_YEAR, 1, 1).toordinal()
    last = datetime.date(LAST_YEAR, 12, 31).toordinal()
    while True:
        date = datetime.date.fromordinal(rng.randint(first, last))
        if held_out is None or is_held_out(date) == held_out:
            return date_example(date, rng.choice(("dmy", "mdy")))


def held_out_example(index: int) -> DateExample:
    """Test example `index`: a held-out date, the same for every run (models.dates.train measures on 0..999)."""
    return random_example(random.Random(10_000 + index), held_out=True)


def vocabulary() -> list[str]:
    """Every input word and output character the task uses (special tokens are added by the tokenizer)."""
    words = {"the", "of", "oh", "hundred", "thousand", *ONES[1:], *TEENS, *TENS[2:], *ORDINALS.values(),
             *(m.lower() for m in MONTHS)}
    words |= {w + "th" for w in (*ONES[1:], *TEENS, *TENS[2:]) if w not in ORDINALS}
    return sorted(words) + [str(d) for d in range(10)] + ["-"]
