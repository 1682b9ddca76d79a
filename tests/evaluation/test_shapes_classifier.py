"""The shipped classifier's accuracy on the generated test split is what its training run
recorded (exactly: evaluation is deterministic) and high enough to judge samples by."""

import pytest

from an_flax.evaluation import train_shapes_classifier
from an_flax.metrics import load_shapes_classifier, shapes_classifier

ACCURACY_FLOOR = 0.97


@pytest.mark.parametrize("size", shapes_classifier.IMAGE_SIZES)
def test_test_accuracy_is_the_recorded_one(size, data_dir):
  images, labels = train_shapes_classifier.load_split(size, "test", data_dir)
  accuracy = train_shapes_classifier.split_accuracy(load_shapes_classifier(size), images,
                                                    labels)
  record = shapes_classifier.load_training_record(size)
  assert len(labels) == record["num_test"] == 1000
  assert accuracy == record["test_accuracy"]
  assert accuracy >= ACCURACY_FLOOR
