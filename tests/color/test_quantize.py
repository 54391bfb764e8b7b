"""Tests for polychrome.color.quantize: in-gamut ab bins, nearest-bin look-up, encodings, class statistics.

Oracles: scikit-image's rgb2lab for which grid cells sRGB reaches, and numpy brute force for neighbours and
Gaussian weights.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from polychrome.color.lab import rgb_to_lab
from polychrome.color.quantize import (
    AB_LIMIT,
    AbBins,
    AbGrid,
    AbPalette,
    ab_bins,
    bin_histogram,
    in_gamut_ab_bins,
    rebalance_weights,
    smooth_priors,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def bins() -> torch.Tensor:
    # Scans every 8-bit sRGB color (~15 s on 2 cores); the library caches it, so compute it once here.
    return in_gamut_ab_bins(10)


@pytest.fixture(scope="module")
def grid(bins: torch.Tensor) -> AbGrid:
    return AbGrid(bins, 10)


def _cube_surface(levels: int = 256) -> np.ndarray:
    """Every 8-bit color on the faces of the RGB cube, (N, 3) float64 in 0..1.

    The rim of sRGB's ab footprint comes from the cube's surface, so these reach every cell sRGB reaches.
    """
    lv = np.arange(levels) / (levels - 1)
    u, v = np.meshgrid(lv, lv, indexing="ij")
    faces = []
    for channel in range(3):
        for value in (0.0, 1.0):
            parts = [u, v]
            parts.insert(channel, np.full_like(u, value))
            faces.append(np.stack(parts, axis=-1).reshape(-1, 3))
    return np.concatenate(faces)


def _random_in_gamut_ab(shape: tuple[int, int, int], seed: int = 0) -> torch.Tensor:
    """(B, 2, H, W) ab of random 8-bit sRGB colors, float32."""
    gen = torch.Generator().manual_seed(seed)
    rgb = torch.randint(0, 256, (shape[0], 3, shape[1], shape[2]), generator=gen).double() / 255
    return rgb_to_lab(rgb)[:, 1:].float()


def _primary_cells() -> dict[str, tuple[int, int]]:
    names = ["red", "green", "blue", "yellow", "cyan", "magenta"]
    rgb = torch.tensor(
        [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=torch.float64
    )
    ab = rgb_to_lab(rgb.T.reshape(1, 3, 1, 6))[0, 1:, 0].T  # (6, 2)
    cells = (torch.round(ab / 10) * 10).to(torch.int64).tolist()
    return {name: tuple(cell) for name, cell in zip(names, cells, strict=True)}


def _brute_force(ab: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared distances (N, Q) in float64."""
    return ((ab[:, None, :] - centers[None, :, :]) ** 2).sum(-1)


class TestInGamutAbBins:
    def test_count_dtype_shape(self, bins):
        assert bins.shape == (261, 2)
        assert bins.dtype == torch.float32

    def test_on_multiples_of_grid(self, bins):
        assert torch.equal(bins, torch.round(bins / 10) * 10)

    def test_sorted_by_a_then_b_and_unique(self, bins):
        keys = (bins[:, 0] * 1000 + bins[:, 1]).tolist()
        assert keys == sorted(keys)
        assert len(set(keys)) == len(keys)

    def test_within_ab_limit(self, bins):
        assert bins.abs().max() <= 110

    def test_matches_cells_reached_by_srgb(self, bins):
        # Independent oracle: every 8-bit color on the RGB cube's surface through scikit-image. The set of
        # cells they fall in must be exactly the bins: each bin is reachable, no reachable cell is missing.
        ab = rgb2lab(_cube_surface()[None])[0, :, 1:] / 10
        reached = {tuple(cell) for cell in (np.round(ab).astype(np.int64) * 10).tolist()}
        assert reached == {tuple(b) for b in bins.to(torch.int64).tolist()}

    def test_every_bin_reachable_from_sample(self, bins):
        # Any single bin must hold at least one 8-bit color: check a sample by a witness from skimage.
        ab = rgb2lab(_cube_surface()[None])[0, :, 1:]
        cells = np.round(ab / 10).astype(np.int64) * 10
        for index in [0, 7, 60, 130, 200, 260]:
            a, b = bins[index].to(torch.int64).tolist()
            assert ((cells[:, 0] == a) & (cells[:, 1] == b)).any(), (a, b)

    def test_convex_hull_only_cell_absent(self, bins):
        # Zhang's 313 bins include (-70, 0): inside the hull of the gamut's footprint, but no sRGB color.
        assert [-70.0, 0.0] not in bins.tolist()

    @pytest.mark.parametrize("name", ["red", "green", "blue", "yellow", "cyan", "magenta"])
    def test_primary_cells_present(self, bins, name):
        cell = _primary_cells()[name]
        assert list(map(float, cell)) in bins.tolist()

    def test_gray_cell_present(self, bins):
        assert [0.0, 0.0] in bins.tolist()

    def test_cached_result_not_mutable_by_caller(self, bins):
        first = in_gamut_ab_bins(10)
        first.fill_(0)
        torch.testing.assert_close(in_gamut_ab_bins(10), bins)

    @pytest.mark.parametrize("grid_size", [0, -10])
    def test_bad_grid(self, grid_size):
        with pytest.raises(ValueError, match="grid"):
            in_gamut_ab_bins(grid_size)

    def test_default_grid(self, bins):
        default = AbGrid.default()
        assert default.grid == 10
        assert default.num_bins == 261
        torch.testing.assert_close(default.centers, bins)


SMALL_CENTERS = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [-10.0, -10.0]])


class TestNearestBins:
    def test_hand_example(self):
        grid = AbGrid(SMALL_CENTERS, 10)
        ab = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
        indices, sq_dist = grid.nearest_bins(ab, 4)
        # (0,0): 25, (0,10): 9 + 36 = 45, (10,0): 49 + 16 = 65, (10,10): 49 + 36 = 85.
        assert indices.flatten().tolist() == [0, 2, 1, 3]
        torch.testing.assert_close(sq_dist.flatten(), torch.tensor([25.0, 45.0, 65.0, 85.0]))

    def test_shapes(self, grid):
        ab = _random_in_gamut_ab((2, 3, 4))
        indices, sq_dist = grid.nearest_bins(ab, 5)
        assert indices.shape == sq_dist.shape == (2, 5, 3, 4)
        assert indices.dtype == torch.int64

    @pytest.mark.parametrize("k", [1, 5, 9])
    def test_agrees_with_exact_on_random_in_gamut(self, grid, k):
        ab = _random_in_gamut_ab((2, 24, 24))
        fast_idx, fast_dist = grid.nearest_bins(ab, k)
        exact_idx, exact_dist = grid.nearest_bins_exact(ab, k + 1)
        torch.testing.assert_close(fast_dist, exact_dist[:, :k], rtol=1e-4, atol=1e-2)
        # Compare indices only where a rank is not tied with its neighbours.
        gaps = exact_dist[:, 1:] - exact_dist[:, :-1]  # (B, k, H, W)
        untied = gaps[:, :k] > 1e-2
        untied[:, 1:] &= gaps[:, : k - 1] > 1e-2
        assert untied.float().mean() > 0.5
        assert torch.equal(fast_idx[untied], exact_idx[:, :k][untied])

    @pytest.mark.parametrize("k", [1, 5, 25, 261])
    def test_agrees_with_exact_over_the_whole_clamped_square(self, grid, k):
        # Anywhere in [-110, 110]^2, in gamut or not: the candidate lists must hold every possible neighbour.
        g = torch.Generator().manual_seed(k)
        ab = (torch.rand(1, 2, 40, 40, generator=g) * 2 - 1) * 110
        _, fast_dist = grid.nearest_bins(ab, k)
        _, exact_dist = grid.nearest_bins_exact(ab, k)
        torch.testing.assert_close(fast_dist, exact_dist, rtol=1e-4, atol=1e-2)

    def test_candidate_lists_are_short(self, grid):
        # The point of the tables: a few dozen distances per pixel for the soft encoding, not all 261.
        table, _, _ = grid._candidates(torch.device("cpu"), 5)
        assert table.shape[-1] <= 25

    def test_agrees_with_numpy_brute_force(self, grid):
        ab = _random_in_gamut_ab((1, 8, 8), seed=1)
        _, fast_dist = grid.nearest_bins(ab, 5)
        oracle = np.sort(_brute_force(ab[0].reshape(2, -1).T.double().numpy(), grid.centers.double().numpy()))
        np.testing.assert_allclose(fast_dist[0].reshape(5, -1).T.numpy(), oracle[:, :5], rtol=1e-4, atol=1e-2)

    def test_agrees_with_exact_on_gamut_rim(self, grid):
        # Every 8-bit color on the cube's surface, where the window around a color holds the fewest bins.
        rgb = torch.from_numpy(_cube_surface(86).T.copy()).reshape(1, 3, 1, -1)
        ab = rgb_to_lab(rgb)[:, 1:].float()
        _, fast_dist = grid.nearest_bins(ab, 5)
        _, exact_dist = grid.nearest_bins_exact(ab, 5)
        assert torch.isfinite(fast_dist).all()
        torch.testing.assert_close(fast_dist, exact_dist, rtol=1e-4, atol=1e-2)

    def test_far_outside_is_clamped_then_exact(self, grid):
        ab = torch.tensor([[200.0, 200.0], [-200.0, -200.0]]).T.reshape(1, 2, 1, 2)
        indices, sq_dist = grid.nearest_bins(ab, 5)
        exact_idx, exact_dist = grid.nearest_bins_exact(ab.clamp(-110, 110), 5)
        assert torch.isfinite(sq_dist).all()
        torch.testing.assert_close(sq_dist, exact_dist)
        assert torch.equal(indices[:, 0], exact_idx[:, 0])

    def test_outside_gamut_with_sparse_window(self, grid):
        ab = torch.tensor([[-110.0, 56.0], [60.0, 105.0], [200.0, -200.0], [0.0, 300.0]]).T.reshape(
            1, 2, 1, 4
        )
        indices, sq_dist = grid.nearest_bins(ab, 5)
        exact_idx, exact_dist = grid.nearest_bins_exact(ab.clamp(-110, 110), 5)
        assert torch.isfinite(sq_dist).all()
        assert torch.equal(indices[:, 0], exact_idx[:, 0])  # (-110, 56): nearest is (-80, 60), not (-90, 80)

    def test_exact_works_off_grid(self):
        centers = torch.tensor([[1.5, 2.5], [-33.3, 7.0], [50.0, -50.0]])
        grid = AbGrid(centers, 10)
        ab = torch.tensor([0.0, 0.0]).view(1, 2, 1, 1)
        indices, sq_dist = grid.nearest_bins_exact(ab, 3)
        assert indices.flatten().tolist() == [0, 1, 2]
        torch.testing.assert_close(sq_dist.flatten(), torch.tensor([8.5, 33.3**2 + 49.0, 5000.0]))

    def test_off_grid_centers_rejected_by_fast_path(self):
        grid = AbGrid(torch.tensor([[1.5, 2.5], [10.0, 0.0]]), 10)
        with pytest.raises(ValueError, match="grid"):
            grid.nearest_bins(torch.zeros(1, 2, 1, 1), 1)

    @pytest.mark.parametrize("shape", [(1, 3, 2, 2), (1, 1, 2, 2), (2, 2, 2), (2, 2, 2, 2, 2)])
    def test_wrong_shape(self, shape):
        grid = AbGrid(SMALL_CENTERS, 10)
        with pytest.raises(ValueError, match="shape"):
            grid.nearest_bins(torch.zeros(shape), 1)

    @pytest.mark.parametrize("k", [0, 26, -1])
    def test_bad_k(self, k):
        grid = AbGrid(SMALL_CENTERS, 10)
        with pytest.raises(ValueError, match="k"):
            grid.nearest_bins(torch.zeros(1, 2, 1, 1), k)


class TestEncodeHard:
    def test_matches_argmin(self, grid):
        ab = _random_in_gamut_ab((2, 16, 16), seed=2)
        hard = grid.encode_hard(ab)
        assert hard.shape == (2, 16, 16)
        assert hard.dtype == torch.int64
        dist = _brute_force(
            ab.permute(0, 2, 3, 1).reshape(-1, 2).double().numpy(), grid.centers.double().numpy()
        )
        best = np.take_along_axis(dist, hard.reshape(-1, 1).numpy(), axis=1)[:, 0]
        np.testing.assert_allclose(best, dist.min(axis=1), atol=1e-2)

    @pytest.mark.parametrize("scale", [30.0, 80.0, 200.0, 1e4])  # in gamut, across the rim, far outside
    def test_is_the_nearest_bin_of_ab_within_the_limit(self, grid, scale):
        ab = torch.randn(2, 2, 24, 24, generator=torch.Generator().manual_seed(int(scale))) * scale
        hard = grid.encode_hard(ab)
        assert torch.equal(hard, grid.nearest_bins(ab, 1)[0][:, 0])
        assert torch.equal(hard, grid.nearest_bins_exact(ab.clamp(-AB_LIMIT, AB_LIMIT), 1)[0][:, 0])

    def test_off_grid_centers_and_wrong_shape_are_refused(self, grid):
        with pytest.raises(ValueError, match="grid"):
            AbGrid(grid.centers + 0.5).encode_hard(torch.zeros(1, 2, 1, 1))
        with pytest.raises(ValueError, match="shape"):
            grid.encode_hard(torch.zeros(2, 1, 1))

    def test_bin_centres_map_to_themselves(self, grid):
        ab = grid.centers.T.reshape(1, 2, 1, -1)
        assert torch.equal(grid.encode_hard(ab).flatten(), torch.arange(grid.num_bins))


class TestEncodeSoft:
    def test_distribution(self, grid):
        ab = _random_in_gamut_ab((2, 8, 8), seed=3)
        target = grid.encode_soft(ab)
        assert target.shape == (2, 261, 8, 8)
        assert target.dtype == torch.float32
        assert (target >= 0).all()
        torch.testing.assert_close(target.sum(dim=1), torch.ones(2, 8, 8))
        assert ((target > 0).sum(dim=1) == 5).all()

    def test_on_gamut_rim(self, grid):
        rgb = torch.from_numpy(_cube_surface(52).T.copy()).reshape(1, 3, 1, -1)
        target = grid.encode_soft(rgb_to_lab(rgb)[:, 1:].float())
        torch.testing.assert_close(target.sum(dim=1), torch.ones(1, 1, target.shape[-1]))
        assert ((target > 0).sum(dim=1) == 5).all()

    def test_gaussian_weights_by_hand(self, grid):
        ab_value = np.array([23.7, -41.2])
        target = grid.encode_soft(torch.tensor(ab_value, dtype=torch.float32).view(1, 2, 1, 1))[0, :, 0, 0]
        dist = _brute_force(ab_value[None], grid.centers.double().numpy())[0]
        nearest = np.argsort(dist)[:5]
        weights = np.exp(-dist[nearest] / (2 * 5.0**2))
        weights /= weights.sum()
        expected = np.zeros(261)
        expected[nearest] = weights
        np.testing.assert_allclose(target.double().numpy(), expected, atol=1e-5)

    def test_sigma_and_k(self):
        grid = AbGrid(SMALL_CENTERS, 10)
        ab = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
        target = grid.encode_soft(ab, k=2, sigma=10.0).flatten()
        w = torch.tensor([math.exp(-25 / 200), math.exp(-45 / 200)])
        expected = torch.zeros(5)
        expected[[0, 2]] = w / w.sum()
        torch.testing.assert_close(target, expected)

    def test_k1_is_one_hot_of_hard(self, grid):
        ab = _random_in_gamut_ab((1, 4, 4), seed=4)
        target = grid.encode_soft(ab, k=1)
        hard = torch.nn.functional.one_hot(grid.encode_hard(ab), 261).permute(0, 3, 1, 2).float()
        torch.testing.assert_close(target, hard)

    def test_far_outside_still_valid(self, grid):
        # Clamped to the corners (110, 110) and (-110, -110), whose 5x5 windows hold no bin: exact fallback.
        ab = torch.tensor([[200.0, 200.0], [-200.0, -200.0]]).T.reshape(1, 2, 1, 2)
        target = grid.encode_soft(ab)
        assert torch.isfinite(target).all()
        torch.testing.assert_close(target.sum(dim=1), torch.ones(1, 1, 2))
        assert ((target > 0).sum(dim=1) == 5).all()

    def test_just_outside_gamut_still_valid(self, grid):
        ab = torch.tensor([[-110.0, 56.0], [60.0, 105.0], [200.0, -200.0], [0.0, 300.0]]).T.reshape(
            1, 2, 1, 4
        )
        target = grid.encode_soft(ab)
        torch.testing.assert_close(target.sum(dim=1), torch.ones(1, 1, 4))
        assert ((target > 0).sum(dim=1) == 5).all()

    def test_wrong_shape(self, grid):
        with pytest.raises(ValueError, match="shape"):
            grid.encode_soft(torch.zeros(1, 3, 2, 2))


class TestBinHistogram:
    def test_counts(self):
        bins = torch.tensor([[0, 2, 2], [4, 2, 0]])
        hist = bin_histogram(bins, 6)
        assert hist.dtype == torch.float64
        assert hist.tolist() == [2.0, 0.0, 3.0, 0.0, 1.0, 0.0]

    def test_mask(self):
        bins = torch.tensor([[0, 2, 2], [4, 2, 0]])
        mask = torch.tensor([[True, False, True], [True, False, False]])
        assert bin_histogram(bins, 6, mask).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]

    def test_empty_mask(self):
        bins = torch.tensor([1, 2, 3])
        assert bin_histogram(bins, 4, torch.zeros(3, dtype=torch.bool)).tolist() == [0.0] * 4

    def test_matches_numpy(self):
        bins = torch.randint(0, 261, (2, 16, 16))
        np.testing.assert_array_equal(
            bin_histogram(bins, 261).numpy(), np.bincount(bins.flatten().numpy(), minlength=261)
        )


class TestSmoothPriors:
    def test_sums_to_one(self, bins):
        counts = torch.rand(261) * 100
        priors = smooth_priors(counts, bins)
        assert priors.shape == (261,)
        assert priors.sum().item() == pytest.approx(1.0, abs=1e-12)
        assert (priors > 0).all()

    def test_smoother_than_spiky_histogram(self, bins):
        counts = torch.ones(261)
        counts[130] = 1000.0
        raw = counts / counts.sum()
        priors = smooth_priors(counts, bins)
        assert priors.max() < raw.max()
        assert priors.argmax().item() == 130

    def test_single_spike_is_normalised_gaussian(self, bins):
        # No mass lost at the rim: a spike at a rim bin spreads exactly its own mass.
        c = bins.double().numpy()
        for j in (0, 130, 260):
            counts = torch.zeros(261)
            counts[j] = 7.0
            kernel = np.exp(-_brute_force(c, c[j : j + 1])[:, 0] / (2 * 5.0**2))
            np.testing.assert_allclose(smooth_priors(counts, bins).numpy(), kernel / kernel.sum(), atol=1e-12)

    def test_keeps_mass_of_each_source(self, bins):
        # Linear in p with columns summing to 1: the mass of a rim bin and an interior bin stays 1:3.
        rim, interior = torch.zeros(261), torch.zeros(261)
        rim[0], interior[130] = 1.0, 1.0
        mixed = smooth_priors(rim + 3 * interior, bins)
        expected = 0.25 * smooth_priors(rim, bins) + 0.75 * smooth_priors(interior, bins)
        torch.testing.assert_close(mixed, expected)

    def test_scale_invariant(self, bins):
        counts = torch.rand(261)
        torch.testing.assert_close(smooth_priors(counts, bins), smooth_priors(counts * 1000, bins))

    def test_tiny_sigma_is_identity(self, bins):
        counts = torch.rand(261)
        torch.testing.assert_close(smooth_priors(counts, bins, sigma=1e-3), counts.double() / counts.sum())


class TestRebalanceWeights:
    def test_expected_weight_is_one(self):
        p = torch.rand(261) + 1e-3
        for lam in (0.0, 0.25, 0.5, 1.0):
            w = rebalance_weights(p, lam).double()
            assert (p.double() / p.sum() * w).sum().item() == pytest.approx(1.0, abs=1e-5)

    def test_lam_one_is_uniform(self):
        w = rebalance_weights(torch.rand(10) + 0.01, lam=1.0)
        torch.testing.assert_close(w, torch.ones(10))

    @pytest.mark.parametrize("lam", [0.0, 0.2, 0.5, 0.9])
    def test_rarer_classes_weigh_more(self, lam):
        p = torch.tensor([0.5, 0.3, 0.15, 0.05])
        w = rebalance_weights(p, lam)
        assert (w[1:] > w[:-1]).all()

    def test_hand_example(self):
        p = [0.5, 0.3, 0.2]
        lam = 0.5
        raw = [1.0 / ((1 - lam) * pi + lam / 3) for pi in p]
        scale = sum(pi * wi for pi, wi in zip(p, raw, strict=True))
        expected = torch.tensor([wi / scale for wi in raw], dtype=torch.float32)
        torch.testing.assert_close(rebalance_weights(torch.tensor(p), lam), expected)

    def test_hand_example_exact_fractions(self):
        # p = (1/2, 1/4, 1/4), lam = 1/2, Q = 3: raw w = 1 / (p/2 + 1/6) = (12/5, 24/7, 24/7),
        # E_p[raw] = 6/5 + 12/7 = 102/35, so w = (84/102, 120/102, 120/102) = (14/17, 20/17, 20/17).
        w = rebalance_weights(torch.tensor([0.5, 0.25, 0.25]), 0.5)
        torch.testing.assert_close(w, torch.tensor([14 / 17, 20 / 17, 20 / 17]))

    def test_lam_zero_inverts_prior(self):
        p = torch.tensor([0.5, 0.25, 0.25])
        torch.testing.assert_close(rebalance_weights(p, 0.0), 1 / (3 * p))

    def test_unnormalised_priors(self):
        counts = torch.tensor([50.0, 30.0, 20.0])
        torch.testing.assert_close(rebalance_weights(counts, 0.5), rebalance_weights(counts / 100, 0.5))

    def test_lam_zero_with_unseen_bins_stays_finite(self):
        # A dataset that never shows bin 2: w = 1 / (Q' p) over the Q' = 2 bins it shows, and bin 2 gets the
        # largest of those instead of 1 / 0 (which made every weight NaN through 0 * inf).
        w = rebalance_weights(torch.tensor([0.8, 0.2, 0.0]), 0.0)
        torch.testing.assert_close(w, torch.tensor([1 / 1.6, 1 / 0.4, 1 / 0.4]))
        assert torch.isfinite(rebalance_weights(torch.tensor([5.0, 0.0, 0.0, 1.0]), 0.0)).all()

    @pytest.mark.parametrize("priors", [torch.zeros(3), torch.tensor([1.0, -0.5, 1.0])])
    def test_bad_priors(self, priors):
        with pytest.raises(ValueError, match="priors"):
            rebalance_weights(priors, 0.5)

    @pytest.mark.parametrize("lam", [-0.1, 1.1])
    def test_bad_lam(self, lam):
        with pytest.raises(ValueError, match="lam"):
            rebalance_weights(torch.ones(3), lam)


def _random_palette(k: int, seed: int = 0) -> torch.Tensor:
    """k arbitrary (off-grid) centres spread over the ab plane, (k, 2) float32."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(k, 2, generator=gen) * 2 - 1) * 90.0


class TestArbitraryCenters:
    def test_exact_search_matches_numpy_brute_force(self):
        centers = _random_palette(40)
        ab = _random_in_gamut_ab((2, 9, 11), seed=5)
        indices, sq_dist = AbPalette(centers).nearest_bins(ab, 5)
        assert indices.shape == sq_dist.shape == (2, 5, 9, 11)
        oracle = _brute_force(
            ab.permute(0, 2, 3, 1).reshape(-1, 2).double().numpy(), centers.double().numpy()
        )
        order = np.argsort(oracle, axis=1)[:, :5]
        np.testing.assert_allclose(
            sq_dist.permute(0, 2, 3, 1).reshape(-1, 5).numpy(),
            np.sort(oracle, axis=1)[:, :5],
            rtol=1e-5,
            atol=1e-3,
        )
        np.testing.assert_array_equal(indices.permute(0, 2, 3, 1).reshape(-1, 5).numpy(), order)

    def test_exact_search_is_the_same_in_small_chunks(self, monkeypatch):
        import polychrome.color.quantize as quantize

        palette = AbPalette(_random_palette(30, seed=1))
        ab = _random_in_gamut_ab((1, 8, 8), seed=6)
        whole = palette.nearest_bins(ab, 3)
        monkeypatch.setattr(quantize, "EXACT_CHUNK", 30 * 7)  # 7 pixels a chunk, the last one short
        chunked = palette.nearest_bins(ab, 3)
        assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])

    def test_squared_distances_are_exact_where_cdist_is_not(self):
        # Two centres 0.02 apart far from the origin, among 30 others, seen from 30 pixels: torch.cdist then
        # takes its matrix-product shortcut, whose |x|^2 ~ 2e4 leaves ~1e-3 of float32 precision (it returns
        # 0 for both). Differences of coordinates keep the order and the values.
        centers = torch.cat((torch.tensor([[100.0, 100.0], [100.02, 100.0]]), _random_palette(30) * 0.5))
        ab = torch.tensor([100.015, 100.0]).view(1, 2, 1, 1).expand(1, 2, 1, 30)
        indices, sq_dist = AbBins(centers).nearest_bins(ab, 2)
        assert torch.equal(indices[0, :, 0], torch.tensor([[1], [0]]).expand(2, 30))
        expected = torch.tensor([0.005**2, 0.015**2]).view(2, 1).expand(2, 30)
        torch.testing.assert_close(sq_dist[0, :, 0], expected, rtol=2e-2, atol=1e-7)

    def test_encodings_on_a_palette(self):
        centers = torch.tensor([[0.0, 0.0], [20.0, 5.0], [-30.0, 40.0]])
        palette = AbPalette(centers)
        ab = torch.tensor([18.0, 3.0]).view(1, 2, 1, 1)
        assert palette.encode_hard(ab).flatten().tolist() == [1]
        soft = palette.encode_soft(ab, k=2, sigma=10.0).flatten()
        d = torch.tensor([4.0 + 4.0, 18.0**2 + 9.0])  # to centres 1 and 0
        w = torch.softmax(-d / 200.0, dim=0)
        torch.testing.assert_close(soft, torch.tensor([w[1], w[0], 0.0]))

    def test_grid_agrees_with_the_generic_search_on_grid_centres(self, grid):
        ab = _random_in_gamut_ab((1, 16, 16), seed=7)
        fast, exact = grid.nearest_bins(ab, 1), AbBins(grid.centers).nearest_bins(ab, 1)
        torch.testing.assert_close(fast[1], exact[1], rtol=1e-4, atol=1e-2)

    def test_ab_bins_picks_the_grid_only_for_grid_centres(self, bins):
        assert type(ab_bins(bins, 10)) is AbGrid and ab_bins(bins, 10).grid == 10
        assert type(ab_bins(bins[::7], 10)) is AbGrid  # a subset of the grid still uses the table
        assert type(ab_bins(bins, None)) is AbPalette
        assert type(ab_bins(_random_palette(5), 10)) is AbPalette

    @pytest.mark.parametrize("k", [0, 6])
    def test_k_beyond_the_palette_raises(self, k):
        with pytest.raises(ValueError, match="k must be in 1..5"):
            AbPalette(_random_palette(5)).nearest_bins(torch.zeros(1, 2, 1, 1), k)

    @pytest.mark.parametrize(
        "centers", [torch.zeros(0, 2), torch.zeros(3), torch.zeros(4, 3), torch.tensor([[0.0, float("nan")]])]
    )
    def test_bad_centers_raise(self, centers):
        with pytest.raises(ValueError, match="centers"):
            AbPalette(centers)
