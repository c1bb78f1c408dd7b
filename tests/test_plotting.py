"""Plotting helpers: they draw what they are given and reject bad shapes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dynloss_lib import schedules  # noqa: E402
from dynloss_book import plotting


def test_decision_regions_follow_the_predictor():
  fig, ax = plt.subplots()
  x = np.zeros((2, 2)); y = np.array([0, 1])
  regions = plotting.decision_regions(ax, lambda p: (p[:, 1] > 0).astype(int), x, y,
                                      num_classes=2, resolution=10)
  assert (regions[:5] == 0).all() and (regions[5:] == 1).all()  # origin="lower": row 0 is y<0
  plt.close(fig)


def test_heatmap_rejects_mismatched_shape():
  fig, ax = plt.subplots()
  with pytest.raises(ValueError, match=r"\(2, 3\)"):
    plotting.heatmap(ax, np.zeros((3, 2)), [1, 2], [10, 20, 30])
  plt.close(fig)


def test_heatmap_annotations_use_contrasting_colour():
  fig, ax = plt.subplots()
  plotting.heatmap(ax, np.array([[0.1, 0.9]]), [1], [10, 20])
  assert [t.get_color() for t in ax.texts] == ["white", "black"]
  plt.close(fig)


def test_plot_gamma_matches_schedule():
  fig, ax = plt.subplots()
  schedule = schedules.square(4.0, 8, 2)
  gamma = plotting.plot_gamma(ax, schedule, 20, 2)
  np.testing.assert_allclose(gamma[5], np.asarray(schedule(5)))
  assert len(ax.lines) == 2
  plt.close(fig)


@pytest.mark.parametrize("extent,resolution", [(0.0, 10), (1.0, 1), (1.0, 2.5)])
def test_grid_points_rejects_bad_arguments(extent, resolution):
  with pytest.raises(ValueError):
    plotting.grid_points(extent, resolution)


def test_class_cmap_rejects_too_many_classes():
  with pytest.raises(ValueError, match="num_classes=9"):
    plotting.class_cmap(9)


def test_class_key_shows_each_class_region_and_point_colour():
  fig, ax = plt.subplots()
  legend = plotting.class_key(fig, 3, names=["a", "b", "c"], loc="lower center")
  assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "c"]
  assert legend in fig.legends
  handles = legend.legend_handles
  assert len(handles) == 3
  plt.close(fig)


@pytest.mark.parametrize("names", [["only one"], ["a", "b", "c", "d"]])
def test_class_key_rejects_wrong_number_of_names(names):
  fig, ax = plt.subplots()
  with pytest.raises(ValueError, match="names="):
    plotting.class_key(ax, 3, names=names)
  plt.close(fig)


def test_series_colors_are_distinct():
  assert len(set(plotting.SERIES_COLORS)) == len(plotting.SERIES_COLORS)


@pytest.mark.parametrize("zoom", [False, True])
def test_fig4_figure_draws_the_six_panels_and_the_onsets(zoom):
  import matplotlib.pyplot as plt
  from dynloss_book.landscape import fig4_figure
  steps = np.arange(0, 100, 10)
  arrays = {"bin_step": steps, "gamma": np.ones((10, 3)), "F_min": np.ones(10), "F_max": np.ones(10),
            "dF_min": np.zeros(10), "dF_max": np.zeros(10), "acc_mean": np.ones(10),
            "ntk_min": np.ones(10), "ntk_max": np.ones(10), "hessian_step": steps,
            "hessian_max": np.full(10, 1.5), "onsets": np.array([35, -1, 75]),
            "zoom_step": np.arange(30, 60), "zoom_gamma": np.ones((30, 3)),
            **{f"zoom_{k}": np.ones(30) for k in ("F", "dF", "acc", "ntk")}}
  fig = fig4_figure(arrays, learning_rate=1.0, title="t", zoom=zoom)
  axes = fig.axes
  assert len(axes) == 6 and axes[4].get_ylabel() == r"Hessian $\lambda_{\max}$"
  assert [line.get_ydata()[0] for line in axes[4].lines if line.get_linestyle() == "--"] == [2.0]
  onsets = sorted({line.get_xdata()[0] for line in axes[1].lines if line.get_color() == "0.6"})
  assert onsets == ([35] if zoom else [35, 75])  # -1 is no onset; the zoom shows its window only
  plt.close(fig)
