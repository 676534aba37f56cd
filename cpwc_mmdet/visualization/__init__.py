"""Pictures of a run: predicted vs ground-truth boxes, training curves."""

from .figure_file import save_figure
from .prediction_grid import draw_pair, ground_truth, predict, prediction_grid
from .training_curves import (
    default_keys,
    find_scalars_file,
    load_scalars,
    plot_training_curves,
)

__all__ = [
    'draw_pair',
    'ground_truth',
    'predict',
    'prediction_grid',
    'default_keys',
    'find_scalars_file',
    'load_scalars',
    'plot_training_curves',
    'save_figure',
]
