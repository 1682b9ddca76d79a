"""Input data. The pipelines' API is in `an_flax.data.input_pipeline`.

Nothing is imported here, so that light modules of this package do not pull in TensorFlow.
"""
