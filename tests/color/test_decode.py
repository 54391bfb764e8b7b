"""Tests for polychrome.color.decode on hand-built logits, checked against numpy computations by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polychrome.color.decode import (
    DECODERS,
    decode,
    decode_annealed_mean,
    decode_mean,
    decode_mode,
    decode_topk_mean,
)

CENTERS = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, -10.0], [20.0, -30.0]])
Q = CENTERS.shape[0]
ALL = [decode_mean, decode_annealed_mean, decode_mode, decode_topk_mean]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _pixels(*logit_rows: list[float]) -> torch.Tensor:
    """One pixel per row, laid out as (1, Q, 1, N)."""
    return torch.tensor(logit_rows, dtype=torch.float32).T.reshape(1, Q, 1, len(logit_rows))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _ab(out: torch.Tensor, pixel: int) -> np.ndarray:
    return out[0, :, 0, pixel].double().numpy()


LOGITS = [2.0, 0.5, 1.2, -1.0, 0.3]  # mode is bin 0 at (0, 0)
C = CENTERS.double().numpy()


class TestMode:
    def test_argmax_centre(self):
        out = decode_mode(_pixels(LOGITS, [0.0, 0.0, 0.0, 0.0, 5.0], [1.0, 3.0, 2.0, 0.0, 0.0]), CENTERS)
        assert out.shape == (1, 2, 1, 3)
        assert _ab(out, 0).tolist() == [0.0, 0.0]
        assert _ab(out, 1).tolist() == [20.0, -30.0]
        assert _ab(out, 2).tolist() == [10.0, 0.0]


class TestMean:
    def test_expectation(self):
        out = decode_mean(_pixels(LOGITS), CENTERS)
        np.testing.assert_allclose(_ab(out, 0), _softmax(np.array(LOGITS)) @ C, atol=1e-5)

    def test_uniform_is_centroid(self):
        out = decode_mean(_pixels([0.0] * Q), CENTERS)
        np.testing.assert_allclose(_ab(out, 0), C.mean(axis=0), atol=1e-5)

    def test_shift_invariant(self):
        logits = torch.randn(2, Q, 3, 4)
        torch.testing.assert_close(decode_mean(logits, CENTERS), decode_mean(logits + 7.0, CENTERS))


class TestAnnealedMean:
    def test_by_hand(self):
        t = 0.38
        expected = _softmax(np.log(_softmax(np.array(LOGITS))) / t) @ C  # p^(1/T), renormalised
        out = decode_annealed_mean(_pixels(LOGITS), CENTERS)  # default temperature
        np.testing.assert_allclose(_ab(out, 0), expected, atol=1e-4)

    def test_t1_is_mean(self):
        logits = torch.randn(2, Q, 3, 4)
        torch.testing.assert_close(
            decode_annealed_mean(logits, CENTERS, temperature=1.0), decode_mean(logits, CENTERS)
        )

    def test_small_t_approaches_mode(self):
        logits = torch.randn(2, Q, 3, 4) * 3
        torch.testing.assert_close(
            decode_annealed_mean(logits, CENTERS, temperature=1e-3),
            decode_mode(logits, CENTERS),
            atol=1e-3,
            rtol=0,
        )

    def test_default_lies_between_mean_and_mode(self):
        # Two live bins on the a axis: the annealed mean moves monotonically from the mean to the mode.
        logits = _pixels([1.0, 0.2, -30.0, -30.0, -30.0])
        mean = _ab(decode_mean(logits, CENTERS), 0)[0]
        mode = _ab(decode_mode(logits, CENTERS), 0)[0]
        assert mode == 0.0 and mean > 1.0
        previous = mean
        for t in (0.8, 0.38, 0.2, 0.05):
            value = _ab(decode_annealed_mean(logits, CENTERS, temperature=t), 0)[0]
            assert mode < value < previous
            previous = value
        # p = (p0, p1) with log(p0/p1) = 0.8: the weight of bin 1 is 1 / (1 + exp(0.8 / T)), times a = 10.
        default = _ab(decode_annealed_mean(logits, CENTERS), 0)[0]
        assert default == pytest.approx(10.0 / (1.0 + np.exp(0.8 / 0.38)), abs=1e-4)

    @pytest.mark.parametrize("t", [0.0, -0.5])
    def test_bad_temperature(self, t):
        with pytest.raises(ValueError, match="temperature"):
            decode_annealed_mean(_pixels(LOGITS), CENTERS, temperature=t)


def _topk_by_hand(logits: list[float], k: int) -> np.ndarray:
    logits = np.array(logits)
    top = np.argsort(-logits)[:k]
    return _softmax(logits[top]) @ C[top]


class TestTopkMean:
    def test_per_pixel_by_hand(self):
        rows = [
            [3.0, 2.0, -1.0, -2.0, 0.0],  # top 2: bins 0, 1
            [-2.0, -1.0, 0.0, 4.0, 3.5],  # top 2: bins 3, 4
            [0.0, 5.0, 4.0, 1.0, -3.0],  # top 2: bins 1, 2
        ]
        out = decode_topk_mean(_pixels(*rows), CENTERS, k=2)
        for pixel, row in enumerate(rows):
            np.testing.assert_allclose(_ab(out, pixel), _topk_by_hand(row, 2), atol=1e-5)

    @pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
    def test_every_k_by_hand(self, k):
        rows = [LOGITS, [0.3, -1.0, 2.2, 1.9, 0.0]]
        out = decode_topk_mean(_pixels(*rows), CENTERS, k=k)
        for pixel, row in enumerate(rows):
            np.testing.assert_allclose(_ab(out, pixel), _topk_by_hand(row, k), atol=1e-5)

    def test_k1_is_mode(self):
        logits = torch.randn(2, Q, 3, 4)
        torch.testing.assert_close(decode_topk_mean(logits, CENTERS, k=1), decode_mode(logits, CENTERS))

    def test_k_all_is_mean(self):
        logits = torch.randn(2, Q, 3, 4)
        torch.testing.assert_close(decode_topk_mean(logits, CENTERS, k=Q), decode_mean(logits, CENTERS))

    def test_disjoint_topk_sets_do_not_zero_channels(self):
        # Regression for the seed bug: top-k taken per channel zeroed the bins of one pixel for the other.
        # Pixel 0 keeps bins {1, 2} (a > 0, b > 0); pixel 1 keeps {3, 4} (a, b far from 0).
        rows = [[-5.0, 3.0, 3.0, -5.0, -5.0], [-5.0, -5.0, -5.0, 2.0, 2.0]]
        out = decode_topk_mean(_pixels(*rows), CENTERS, k=2)
        np.testing.assert_allclose(_ab(out, 0), [5.0, 5.0], atol=1e-5)
        np.testing.assert_allclose(_ab(out, 1), [5.0, -20.0], atol=1e-5)
        assert (out != 0).all()

    def test_default_k_is_5(self):
        logits = torch.randn(1, 9, 2, 2)
        centers = torch.randn(9, 2) * 30
        torch.testing.assert_close(decode_topk_mean(logits, centers), decode_topk_mean(logits, centers, k=5))

    @pytest.mark.parametrize("k", [0, Q + 1])
    def test_bad_k(self, k):
        with pytest.raises(ValueError, match="k"):
            decode_topk_mean(_pixels(LOGITS), CENTERS, k=k)


class TestShapes:
    @pytest.mark.parametrize("fn", ALL)
    def test_batched(self, fn):
        logits = torch.randn(3, Q, 4, 5)
        out = fn(logits, CENTERS)
        assert out.shape == (3, 2, 4, 5)
        assert out.dtype == torch.float32
        # Each image and each pixel is decoded on its own.
        torch.testing.assert_close(out[1:2], fn(logits[1:2], CENTERS))
        torch.testing.assert_close(out[2:3, :, 1:2, 3:4], fn(logits[2:3, :, 1:2, 3:4], CENTERS))

    @pytest.mark.parametrize("fn", ALL)
    def test_realistic_size(self, fn):
        centers = torch.randn(261, 2) * 40
        out = fn(torch.randn(2, 261, 8, 8), centers)
        assert out.shape == (2, 2, 8, 8)
        assert torch.isfinite(out).all()

    @pytest.mark.parametrize("fn", ALL)
    def test_float64_and_float16_logits(self, fn):
        logits = torch.randn(1, Q, 2, 2, dtype=torch.float64)
        torch.testing.assert_close(fn(logits, CENTERS), fn(logits.float(), CENTERS))
        assert torch.isfinite(fn(logits.half(), CENTERS)).all()

    @pytest.mark.parametrize("fn", ALL)
    @pytest.mark.parametrize("shape", [(Q, 4, 5), (1, 1, Q, 4, 5), (Q,)])
    def test_wrong_logits_rank(self, fn, shape):
        with pytest.raises(ValueError, match="logits"):
            fn(torch.randn(shape), CENTERS)

    @pytest.mark.parametrize("fn", ALL)
    @pytest.mark.parametrize("centers", [torch.zeros(Q + 1, 2), torch.zeros(Q, 3), torch.zeros(Q * 2)])
    def test_wrong_centers(self, fn, centers):
        with pytest.raises(ValueError, match="centers"):
            fn(torch.randn(1, Q, 2, 2), centers)

    @pytest.mark.parametrize("fn", [decode_mean, decode_annealed_mean, decode_topk_mean])
    def test_differentiable(self, fn):
        logits = torch.randn(1, Q, 2, 2, requires_grad=True)
        fn(logits, CENTERS).sum().backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all()


class TestDecode:
    @pytest.mark.parametrize("method", sorted(DECODERS))
    def test_dispatch(self, method):
        logits = torch.randn(2, Q, 3, 3)
        torch.testing.assert_close(decode(logits, CENTERS, method), DECODERS[method](logits, CENTERS))

    def test_registry(self):
        assert {
            "annealed_mean": decode_annealed_mean,
            "mean": decode_mean,
            "mode": decode_mode,
            "topk_mean": decode_topk_mean,
        } == DECODERS

    def test_default_is_annealed_mean(self):
        logits = torch.randn(1, Q, 2, 2)
        torch.testing.assert_close(decode(logits, CENTERS), decode_annealed_mean(logits, CENTERS))

    def test_options_are_passed(self):
        logits = torch.randn(1, Q, 2, 2)
        torch.testing.assert_close(
            decode(logits, CENTERS, "annealed_mean", temperature=0.1),
            decode_annealed_mean(logits, CENTERS, temperature=0.1),
        )
        torch.testing.assert_close(
            decode(logits, CENTERS, "topk_mean", k=2), decode_topk_mean(logits, CENTERS, k=2)
        )

    def test_unknown_method(self):
        with pytest.raises(ValueError, match="unknown decoding 'median'"):
            decode(torch.randn(1, Q, 2, 2), CENTERS, "median")

    def test_unknown_option(self):
        with pytest.raises(TypeError):
            decode(torch.randn(1, Q, 2, 2), CENTERS, "mean", k=3)


def test_the_torch_free_list_of_decodings_names_every_decoder() -> None:
    from polychrome.color.constants import DECODE_METHODS
    from polychrome.color.decode import DECODERS

    assert sorted(DECODE_METHODS) == sorted(DECODERS)
