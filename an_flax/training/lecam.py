"""LeCam regularisation (Tseng et al., 2021) as StudioGAN applies it, over a pytree state.

D's loss gains `weight * R`, R = E[relu(D(x) - a_fake)^2] + E[relu(a_real - D(G(z)))^2],
the anchors a_real, a_fake exponential moving averages of D's mean output on real and on
fake images (StudioGAN: `src/utils/losses.py` `lecam_reg`, `src/utils/ops.py` `LeCamEMA`,
`src/worker.py`). At every D update, of G step `step`: both anchors move first, by
`decay` from `start_step` on and copied before it (decay 0); R counts only once
`step > start_step`. The anchors start at StudioGAN's 7777 and carry no gradient. They
are a pytree (`LeCamAnchors`), so they live in the train state and resume exactly.
"""

from typing import Tuple

import flax
import jax
import jax.numpy as jnp

INITIAL_ANCHOR = 7777.0  # StudioGAN's LeCamEMA(init=7777)


@flax.struct.dataclass
class LeCamAnchors:
  """The moving averages of D's mean logit on real (`real`) and fake (`fake`) images."""

  real: jax.Array
  fake: jax.Array


def init_anchors() -> LeCamAnchors:
  return LeCamAnchors(real=jnp.asarray(INITIAL_ANCHOR, jnp.float32),
                      fake=jnp.asarray(INITIAL_ANCHOR, jnp.float32))


def update_anchors(anchors: LeCamAnchors, real_logits: jax.Array, fake_logits: jax.Array,
                   step: jax.Array, decay: float, start_step: int) -> LeCamAnchors:
  """Both anchors moved towards this batch's mean logits (copied before `start_step`)."""
  rate = jnp.where(step < start_step, 0.0, decay)
  mean = lambda logits: jax.lax.stop_gradient(jnp.mean(logits.astype(jnp.float32)))
  return LeCamAnchors(real=anchors.real * rate + mean(real_logits) * (1.0 - rate),
                      fake=anchors.fake * rate + mean(fake_logits) * (1.0 - rate))


def lecam_penalty(real_logits: jax.Array, fake_logits: jax.Array, anchors: LeCamAnchors
                  ) -> jax.Array:
  """R: real logits above the fake anchor and fake logits below the real one, squared."""
  real = jnp.mean(jax.nn.relu(real_logits.astype(jnp.float32) - anchors.fake) ** 2)
  fake = jnp.mean(jax.nn.relu(anchors.real - fake_logits.astype(jnp.float32)) ** 2)
  return real + fake


def lecam_term(anchors: LeCamAnchors, real_logits: jax.Array, fake_logits: jax.Array,
               step: jax.Array, weight: float, decay: float, start_step: int
               ) -> Tuple[jax.Array, LeCamAnchors]:
  """(what one D update adds to D's loss, the moved anchors), as StudioGAN's worker does.

  `weight`: `LOSS.lecam_lambda`; `decay`: `LOSS.lecam_ema_decay`; `start_step`:
  `LOSS.lecam_ema_start_iter`; `step`: the G step the D update belongs to.
  """
  anchors = update_anchors(anchors, real_logits, fake_logits, step, decay, start_step)
  penalty = lecam_penalty(real_logits, fake_logits, anchors)
  return jnp.where(step > start_step, weight * penalty, 0.0), anchors
