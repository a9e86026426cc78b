"""Model merging: averaging, task vectors, task arithmetic, TIES, negation, cosine, and their errors."""
import pytest
import torch

from mtl_utils.architectures import merging
from mtl_utils.foundations.models import LeNetTrunk


def _state(*values):
    return {"w": torch.tensor(values, dtype=torch.float32)}


def test_averaging_two_identical_models_returns_the_model():
    torch.manual_seed(0)
    net = LeNetTrunk()
    same = {k: v.clone() for k, v in net.state_dict().items()}
    merged = merging.average([net.state_dict(), same])
    torch.testing.assert_close(merged, net.state_dict())
    other = LeNetTrunk()
    other.load_state_dict(merged)  # the keys and shapes load back into the architecture


def test_average_and_interpolate_by_hand():
    torch.testing.assert_close(merging.average([_state(1.0, 2.0), _state(3.0, 6.0)]), _state(2.0, 4.0))
    torch.testing.assert_close(merging.interpolate(_state(0.0, 4.0), _state(4.0, 0.0), 0.25), _state(1.0, 3.0))


def test_task_vector_arithmetic_and_negation():
    pre, ft1, ft2 = _state(1.0, 1.0), _state(2.0, 0.0), _state(1.0, 3.0)
    tau1, tau2 = merging.task_vector(ft1, pre), merging.task_vector(ft2, pre)
    torch.testing.assert_close(tau1, _state(1.0, -1.0))
    torch.testing.assert_close(merging.task_arithmetic(pre, [tau1, tau2], 0.5), _state(1.5, 1.5))
    torch.testing.assert_close(merging.task_arithmetic(pre, [tau1], 1.0), ft1)  # λ = 1 on one vector: the fine-tune
    torch.testing.assert_close(merging.negate(pre, tau1, 2.0), _state(-1.0, 3.0))


def test_ties_on_hand_made_vectors():
    # Three task vectors of five entries, k = 60%: each keeps its 3 largest magnitudes.
    t1 = _state(0.5, -0.1, 0.3, -0.4, 0.05)   # keeps 0.5, 0.3, -0.4
    t2 = _state(-0.2, 0.6, 0.1, -0.3, 0.0)    # keeps -0.2, 0.6, -0.3
    t3 = _state(0.4, 0.2, -0.7, 0.01, 0.02)   # keeps 0.4, 0.2, -0.7
    # trimmed sums per entry: 0.7 (+), 0.8 (+), -0.4 (-), -0.7 (-), 0 (nobody kept it)
    # disjoint means: mean(0.5, 0.4), mean(0.6, 0.2), -0.7 alone, mean(-0.4, -0.3), 0
    expected = _state(0.45, 0.4, -0.7, -0.35, 0.0)
    torch.testing.assert_close(merging.ties_vector([t1, t2, t3], 60), expected)
    pre = _state(1.0, 1.0, 1.0, 1.0, 1.0)
    torch.testing.assert_close(merging.ties(pre, [t1, t2, t3], 60, 2.0), _state(1.9, 1.8, -0.4, 0.3, 1.0))


def test_ties_with_k_100_keeps_everything_and_one_vector_is_returned():
    t = _state(0.5, -0.1, 0.3)
    torch.testing.assert_close(merging.ties_vector([t], 100), t)
    # agreeing signs: the disjoint mean is the plain mean; opposing: only the winning side counts
    torch.testing.assert_close(merging.ties_vector([_state(1.0, 1.0), _state(3.0, -3.0)], 100), _state(2.0, -3.0))


def test_ties_trims_over_all_entries_of_a_vector_not_per_tensor():
    t = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([10.0, 20.0])}
    merged = merging.ties_vector([t], 50)
    torch.testing.assert_close(merged, {"a": torch.tensor([0.0, 0.0]), "b": torch.tensor([10.0, 20.0])})


def test_cosine():
    assert merging.cosine(_state(1.0, 0.0), _state(0.0, 2.0)) == pytest.approx(0.0)
    assert merging.cosine(_state(1.0, 1.0), _state(-2.0, -2.0)) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="zero vector"):
        merging.cosine(_state(0.0, 0.0), _state(1.0, 0.0))


def test_errors_for_different_keys_or_shapes():
    with pytest.raises(ValueError, match="different keys"):
        merging.average([{"w": torch.zeros(2)}, {"v": torch.zeros(2)}])
    with pytest.raises(ValueError, match="shape"):
        merging.average([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}])
    with pytest.raises(ValueError, match="different keys"):
        merging.task_vector({"w": torch.zeros(2)}, {"w": torch.zeros(2), "b": torch.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        merging.task_arithmetic({"w": torch.zeros(3)}, [{"w": torch.zeros(2)}], 0.5)
    with pytest.raises(ValueError, match="shape"):
        merging.ties({"w": torch.zeros(3)}, [{"w": torch.zeros(2)}], 50, 1.0)
    with pytest.raises(TypeError, match="floating-point"):
        merging.average([{"w": torch.zeros(2, dtype=torch.long)}])
    with pytest.raises(TypeError, match="list of state dicts"):
        merging.average({"w": torch.zeros(2)})


@pytest.mark.parametrize("k", [0, -5, 100.5, 1000, float("nan"), True, "50"])
def test_ties_k_outside_0_100_is_an_error(k):
    with pytest.raises(ValueError, match="k must be a percentage in \\(0, 100\\]"):
        merging.ties_vector([_state(1.0, 2.0)], k)


def test_empty_list_of_task_vectors_is_an_error():
    pre = _state(1.0)
    with pytest.raises(ValueError, match="task vectors: need at least one, got an empty list"):
        merging.task_arithmetic(pre, [], 0.5)
    with pytest.raises(ValueError, match="task vectors: need at least one"):
        merging.ties(pre, [], 50, 1.0)
    with pytest.raises(ValueError, match="state dicts: need at least one"):
        merging.average([])


def test_bad_lambda_and_alpha():
    with pytest.raises(ValueError, match="lam must be a finite number"):
        merging.task_arithmetic(_state(1.0), [_state(1.0)], float("inf"))
    with pytest.raises(ValueError, match="lam must be a non-negative"):
        merging.negate(_state(1.0), _state(1.0), -1.0)
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        merging.interpolate(_state(1.0), _state(2.0), float("nan"))


def test_booleans_are_not_numbers_for_lam_and_alpha():
    """True would silently act as 1: every scale rejects it, as ties_vector rejects k=True."""
    with pytest.raises(ValueError, match="lam must be a finite number"):
        merging.task_arithmetic(_state(1.0), [_state(1.0)], True)
    with pytest.raises(ValueError, match="lam must be a finite number"):
        merging.ties(_state(1.0), [_state(1.0)], 50, True)
    with pytest.raises(ValueError, match="lam must be a non-negative"):
        merging.negate(_state(1.0), _state(1.0), True)
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        merging.interpolate(_state(1.0), _state(2.0), False)
