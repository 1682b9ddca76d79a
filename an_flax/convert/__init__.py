"""Other code bases' checkpoints as this project's models and train states.

  studiogan   PyTorch-StudioGAN's SNGAN / SAGAN `.pth` files (`load_generator`,
              `load_discriminator`, and `python -m an_flax.convert.studiogan`, which
              writes an Orbax checkpoint that `eval.py` and `train.py` read).
"""
