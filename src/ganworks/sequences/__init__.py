"""GANs for discrete sequences: data, gradient estimators, the training loop and metrics.

``ganworks train --data oracle|oracle40|brackets|names|text:PATH`` trains the ``seq`` pair
(``ganworks.models.seq``) with Gumbel-softmax or REINFORCE (``--estimator``), after optional
maximum-likelihood pre-training (``--pretrain-kimg``), or by maximum likelihood alone
(``--objective mle``). See docs/sequences.md.
"""

from .. import data as _datasets  # noqa: F401  (first: the dataset registry imports .data below while it loads)
from .data import SEQUENCE_DATASETS, TEXT_PREFIX, TokenDataset, is_sequence_data, load_sequences

__all__ = ["SEQUENCE_DATASETS", "TEXT_PREFIX", "TokenDataset", "is_sequence_data", "load_sequences"]
