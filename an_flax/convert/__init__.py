"""Other code bases' checkpoints as this project's models and train states.

  studiogan   PyTorch-StudioGAN's SNGAN / SAGAN `.pth` files (`load_generator`,
              `load_discriminator`, and `python -m an_flax.convert.studiogan`, which
              writes an Orbax checkpoint that `eval.py` and `train.py` read).
  biggan      StudioGAN's BigGAN G and D and BigGAN-PyTorch's G / G_ema `.pth` files as
              `an_flax.models.biggan`'s networks (`load_studiogan_generator`,
              `load_studiogan_discriminator`, `load_biggan_pytorch_generator`).
"""
