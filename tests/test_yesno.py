import math

import pytest

from hypodisc.backends.yesno import classify_token, p_yes, p_yes_from_top_logprobs, variant_token_ids


@pytest.mark.fast
def test_p_yes_matches_hand_computation():
    # P(yes)=0.6 split over two spellings, P(no)=0.2: normalised 0.6 / 0.8 = 0.75.
    assert p_yes([math.log(0.5), math.log(0.1)], [math.log(0.2)]) == pytest.approx(0.75)


@pytest.mark.fast
def test_p_yes_edge_cases():
    assert p_yes([], []) == 0.5
    assert p_yes([-1.0], []) == 1.0
    assert p_yes([], [-1.0]) == 0.0
    # Very peaked distributions must not underflow to nan.
    assert p_yes([-2000.0], [-1.0]) == pytest.approx(0.0)
    assert p_yes([-1.0], [-2000.0]) == pytest.approx(1.0)


@pytest.mark.fast
def test_classify_token_variants():
    assert [classify_token(t) for t in ["Yes", " yes", "YES", "\u0120No", " no ", "Y", "Noah", "yes."]] == [
        "yes", "yes", "yes", None, "no", None, None, None]


@pytest.mark.fast
def test_top_logprobs_counts_duplicate_spellings():
    pairs = [("Yes", math.log(0.3)), (" Yes", math.log(0.3)), ("No", math.log(0.2)), ("Maybe", math.log(0.2))]
    assert p_yes_from_top_logprobs(pairs) == pytest.approx(0.6 / 0.8)


def test_variant_ids_from_real_tokenizer(smol):
    yes, no = smol._yes_ids, smol._no_ids
    assert yes and no and not (yes & no)
    assert all(classify_token(smol._piece(t)) == "yes" for t in yes)
    assert all(classify_token(smol._piece(t)) == "no" for t in no)


@pytest.mark.fast
def test_variant_ids_reject_tokenizer_without_yes():
    with pytest.raises(ValueError):
        variant_token_ids(lambda s: [ord(c) for c in s], lambda t: chr(t))
