"""Input data: TFDS sources, the embedded `symmetric_shapes` set, resumable pipelines."""

from an_flax.data.input_pipeline import create_eval_dataset
from an_flax.data.input_pipeline import create_train_iterator
from an_flax.data.input_pipeline import image_shape
from an_flax.data.input_pipeline import num_classes
