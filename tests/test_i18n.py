"""Message catalogs: complete in every shipped locale, placeholders consistent."""

from __future__ import annotations

import string

from bot.i18n import SUPPORTED, Translator, normalise_locale


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_locale_has_every_key_with_the_same_placeholders() -> None:
    catalogs = Translator().catalogs
    assert set(SUPPORTED) <= set(catalogs)
    reference = catalogs["en"]
    for locale in SUPPORTED:
        missing = set(reference) - set(catalogs[locale])
        extra = set(catalogs[locale]) - set(reference)
        assert not missing and not extra, (locale, missing, extra)
        for key, text in reference.items():
            assert _fields(catalogs[locale][key]) == _fields(text), (locale, key)
            assert catalogs[locale][key].strip(), (locale, key)


def test_translated_texts_differ_from_english() -> None:
    catalogs = Translator().catalogs
    same = [k for k in catalogs["en"] if catalogs["sv"][k] == catalogs["en"][k]]
    assert len(same) <= 2, same


def test_missing_key_falls_back_to_english() -> None:
    tr = Translator({"en": {"hi": "Hello {name}"}, "sv": {}})
    assert tr.t("hi", "sv", name="Ana") == "Hello Ana"


def test_normalise_locale() -> None:
    assert normalise_locale("sv-SE") == "sv"
    assert normalise_locale("LV") == "lv"
    assert normalise_locale("de") is None
    assert normalise_locale(None) is None
