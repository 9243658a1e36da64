"""models.dates.task: dates read back from their words; every output character's span holds its source words."""

from __future__ import annotations

import datetime
import random

import pytest

from models.dates.task import date_example, ordinal_words, random_example, vocabulary, year_words


@pytest.mark.parametrize(("n", "words"), [(1, ["first"]), (2, ["second"]), (3, ["third"]), (4, ["fourth"]),
                                          (11, ["eleventh"]), (12, ["twelfth"]), (20, ["twentieth"]),
                                          (21, ["twenty", "first"]), (30, ["thirtieth"]), (31, ["thirty", "first"])])
def test_days_are_ordinals(n, words):
    assert ordinal_words(n) == words


@pytest.mark.parametrize(("year", "words"), [(1999, "nineteen ninety nine"), (1905, "nineteen oh five"),
                                             (1950, "nineteen fifty"), (2000, "two thousand"),
                                             (2019, "two thousand nineteen"), (2049, "two thousand forty nine")])
def test_years_are_said_as_people_say_them(year, words):
    assert " ".join(year_words(year)) == words


def test_both_orders_give_the_iso_date_and_spans_that_hold_each_field():
    date = datetime.date(1999, 3, 21)
    dmy, mdy = date_example(date, "dmy"), date_example(date, "mdy")
    assert " ".join(dmy.words) == "the twenty first of march nineteen ninety nine"
    assert " ".join(mdy.words) == "march twenty first nineteen ninety nine"
    for example in (dmy, mdy):
        assert example.target == "1999-03-21"
        assert example.words[slice(*example.spans["month"])] == ("march",)
        assert example.words[slice(*example.spans["day"])] == ("twenty", "first")
        assert example.words[slice(*example.aligned(0))] == ("nineteen", "ninety", "nine")
        assert example.aligned(4) is None and example.aligned(7) is None  # the separators come from no word


def test_random_examples_use_only_the_vocabulary():
    rng, vocab = random.Random(0), set(vocabulary())
    for _ in range(2000):
        example = random_example(rng)
        assert set(example.words) <= vocab and set(example.target) <= vocab
        assert len(example.target) == 10
