"""Pictures of a run and of a model: predicted vs ground-truth boxes,
training curves, effective receptive fields, a CoC layer's kernels."""

from .backbone_loading import input_normalisation, load_backbone
from .coc_kernels import (
    coc_kernel_views,
    coc_layer_names,
    is_coc_layer,
    plot_coc_kernels,
    tiled_kernels,
)
from .erf import (
    FRACTIONS,
    border_radius,
    effective_receptive_field,
    image_batch,
    plot_erf,
    read_images,
    square_radii,
)
from .figure_file import save_figure
from .prediction_grid import draw_pair, ground_truth, predict, prediction_grid
from .training_curves import (
    default_keys,
    find_scalars_file,
    load_scalars,
    plot_training_curves,
)

__all__ = [
    'input_normalisation',
    'load_backbone',
    'coc_kernel_views',
    'coc_layer_names',
    'is_coc_layer',
    'plot_coc_kernels',
    'tiled_kernels',
    'FRACTIONS',
    'border_radius',
    'effective_receptive_field',
    'image_batch',
    'plot_erf',
    'read_images',
    'square_radii',
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
