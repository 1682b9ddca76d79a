"""PyTorch-StudioGAN's LeCam regulariser: `LeCamEMA`, `lecam_reg` and the worker's use.

A transcription of StudioGAN at HEAD 947b35e (MIT licence): `LeCamEMA` of
`src/utils/ops.py` (itself from google/lecam-gan, with only the D_real / D_fake fields
the regulariser reads), `lecam_reg` of `src/utils/losses.py`, and the lines of
`WORKER.train_discriminator` (`src/worker.py`) that update the averages and add the
regulariser to D's loss, as `d_update_term`. The reference of tests/training/test_lecam.py;
imports only torch.
"""

import torch
import torch.nn.functional as F


class LeCamEMA(object):

  def __init__(self, init=7777, decay=0.9, start_iter=0):
    self.D_real = init
    self.D_fake = init
    self.decay = decay
    self.start_itr = start_iter

  def update(self, cur, mode, itr):
    if itr < self.start_itr:
      decay = 0.0
    else:
      decay = self.decay
    if mode == "D_real":
      self.D_real = self.D_real * decay + cur * (1 - decay)
    elif mode == "D_fake":
      self.D_fake = self.D_fake * decay + cur * (1 - decay)


def lecam_reg(d_logit_real, d_logit_fake, ema):
  reg = torch.mean(F.relu(d_logit_real - ema.D_fake).pow(2)) + \
        torch.mean(F.relu(ema.D_real - d_logit_fake).pow(2))
  return reg


def d_update_term(lecam_ema, real_adv_output, fake_adv_output, current_step, lecam_lambda,
                  lecam_ema_start_iter):
  """What one D update adds to `dis_acml_loss` (worker.py, `if self.LOSS.apply_lecam:`)."""
  lecam_ema.update(torch.mean(real_adv_output).item(), "D_real", current_step)
  lecam_ema.update(torch.mean(fake_adv_output).item(), "D_fake", current_step)
  if current_step > lecam_ema_start_iter:
    lecam_loss = lecam_reg(real_adv_output, fake_adv_output, lecam_ema)
  else:
    lecam_loss = torch.tensor(0.)
  return lecam_lambda * lecam_loss
