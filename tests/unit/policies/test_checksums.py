"""Check digits of policies.recognizers.checksums, with worked examples computed by hand."""

from __future__ import annotations

import pytest

from policies.recognizers.checksums import (
    health_insurance_number_check_digit,
    health_insurance_number_valid,
    icao_check_digit,
    mrz_document_number_valid,
    pension_number_check_digit,
    pension_number_valid,
)


def _other_digits(check: str) -> list[str]:
    return [d for d in "0123456789" if d != check]


# --- Rentenversicherungsnummer ---------------------------------------------------------------


def test_pension_number_commonly_cited_example_is_valid() -> None:
    # 65 170839 J 00 3, J = 10:  digits 6 5 1 7 0 8 3 9 1 0 0 0
    # weights                          2 1 2 5 7 1 2 1 2 1 2 1
    # products 12 5 2 35 0 8 6 9 2 0 0 0 -> digit sums 3 5 2 8 0 8 6 9 2 0 0 0 = 43 -> 3
    assert pension_number_check_digit("65170839J00") == 3
    assert pension_number_valid("65170839J003")


def test_pension_number_worked_example_with_spaces() -> None:
    # 12 150680 M 03, M = 13:  digits 1 2 1 5 0 6 8 0 1 3 0 3
    # products 2 2 2 25 0 6 16 0 2 3 0 3 -> digit sums 2 2 2 7 0 6 7 0 2 3 0 3 = 34 -> 4
    assert pension_number_check_digit("12150680M03") == 4
    assert pension_number_valid("12 150680 M 03 4")
    assert pension_number_valid("12150680m034")  # lower-case letter as typed
    # The form "12 150680 M 03 2" quoted in the brief does not validate: its digit is 4.
    assert not pension_number_valid("12 150680 M 03 2")


@pytest.mark.parametrize("wrong", _other_digits("3"))
def test_pension_number_wrong_check_digit(wrong: str) -> None:
    assert not pension_number_valid("65170839J00" + wrong)


@pytest.mark.parametrize(
    "number",
    [
        "00170839J003",  # no carrier has area 00
        "65171339J00" + str(pension_number_check_digit("65171339J00")),  # month 13
        "65170839J00",  # too short
        "65170839100 3",  # digit where the letter belongs
        "",
        "65170839Ä003",
    ],
)
def test_pension_number_malformed(number: str) -> None:
    assert not pension_number_valid(number)


def test_pension_check_digit_rejects_a_malformed_body() -> None:
    with pytest.raises(ValueError, match="pension number body"):
        pension_number_check_digit("651708391003")


# --- Krankenversichertennummer ---------------------------------------------------------------


def test_health_insurance_number_worked_example() -> None:
    # A123456780, A = 01:  digits 0 1 1 2 3 4 5 6 7 8, weights 1 2 1 2 ...
    # products 0 2 1 4 3 8 5 12 7 16 -> digit sums 0 2 1 4 3 8 5 3 7 7 = 40 -> 0
    assert health_insurance_number_check_digit("A12345678") == 0
    assert health_insurance_number_valid("A123456780")
    assert health_insurance_number_valid("a 123456780")


def test_health_insurance_number_second_example() -> None:
    # Z = 26: digits 2 6 9 8 7 6 5 4 3 2 -> products 2 12 9 16 7 12 5 8 3 4
    # digit sums 2 3 9 7 7 3 5 8 3 4 = 51 -> 1
    assert health_insurance_number_check_digit("Z98765432") == 1
    assert health_insurance_number_valid("Z987654321")


@pytest.mark.parametrize("wrong", _other_digits("0"))
def test_health_insurance_number_wrong_check_digit(wrong: str) -> None:
    assert not health_insurance_number_valid("A12345678" + wrong)


@pytest.mark.parametrize("number", ["A12345678", "1123456780", "AB23456780", "A1234567800", ""])
def test_health_insurance_number_malformed(number: str) -> None:
    assert not health_insurance_number_valid(number)


def test_health_insurance_check_digit_rejects_a_malformed_body() -> None:
    with pytest.raises(ValueError, match="health insurance number body"):
        health_insurance_number_check_digit("123456789")


# --- ICAO 9303 -------------------------------------------------------------------------------


def test_icao_check_digit_of_the_german_id_card_specimen() -> None:
    # L01X00T47: L=21 0 1 X=33 0 0 T=29 4 7, weights 7 3 1 7 3 1 7 3 1
    # 147 + 0 + 1 + 231 + 0 + 0 + 203 + 12 + 7 = 601 -> 1 (not 5): the MRZ reads L01X00T471
    assert icao_check_digit("L01X00T47") == 1
    assert mrz_document_number_valid("L01X00T471")
    assert not mrz_document_number_valid("L01X00T475")


def test_icao_check_digit_of_other_specimens() -> None:
    # Passport specimen C01X00T47: C=12 -> 84 + 0 + 1 + 231 + 0 + 0 + 203 + 12 + 7 = 538 -> 8
    assert icao_check_digit("C01X00T47") == 8
    # 2010 ID card specimen T22000129: 203 + 6 + 2 + 0 + 0 + 0 + 7 + 6 + 9 = 233 -> 3
    assert icao_check_digit("T22000129") == 3
    # ICAO 9303 part 3 example passport: L898902C3 -> 147+24+9+56+27+0+14+36+3 = 316 -> 6,
    # birth date 740812 -> 49+12+0+56+3+2 = 122 -> 2, expiry 120415 -> 7+6+0+28+3+5 = 49 -> 9
    assert icao_check_digit("L898902C3") == 6
    assert icao_check_digit("740812") == 2
    assert icao_check_digit("120415") == 9


def test_icao_filler_counts_as_zero_and_case_is_ignored() -> None:
    assert icao_check_digit("AB<<") == icao_check_digit("AB00")
    assert icao_check_digit("l01x00t47") == 1


def test_icao_check_digit_rejects_other_characters() -> None:
    with pytest.raises(ValueError, match="MRZ field"):
        icao_check_digit("L01-X00")


@pytest.mark.parametrize("number", ["", "5", "L01X00T47A", "L01X00T4-1", "Ä01X00T471"])
def test_mrz_document_number_malformed(number: str) -> None:
    assert not mrz_document_number_valid(number)


def test_mrz_document_number_every_wrong_digit_is_rejected() -> None:
    assert [d for d in "0123456789" if mrz_document_number_valid("T22000129" + d)] == ["3"]
