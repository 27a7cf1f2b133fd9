"""The sequence pair: an LSTM generator of tokens and a CNN discriminator over token embeddings.

G follows SeqGAN's generator (Yu et al. 2017): an embedding, one LSTM layer and a linear read-out
to the vocabulary; x_t ~ softmax(W h_t + b), with h_t = LSTM(emb(x_{t-1}), h_{t-1}) and a start
token (row ``vocab_size`` of the embedding) before x_1. D follows the CNN discriminators of SeqGAN
and RelGAN (Kim 2014): embeddings, 1-D convolutions of widths 2 to 5, ReLU, max over time, one
logit. D takes token ids (B, L) or (relaxed) one-hots (B, L, V): a one-hot times the embedding
matrix is the embedding row, so a Gumbel-softmax sample reaches D through the same weights.

With ``cfg.eos`` token 0 ends a sequence: every later position is 0, sampling forces it, and a
sequence's likelihood counts the positions up to and including its first 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import spectral_norm
from .configs import SeqConfig

KERNEL_WIDTHS = (2, 3, 4, 5)


def counted(tokens: Tensor, eos: bool) -> Tensor:
    """(B, L) float mask of the positions a sequence's likelihood counts: all of them, or with an end
    token (0) those up to and including the first 0."""
    if not eos:
        return torch.ones_like(tokens, dtype=torch.float32)
    ended_before = torch.cumsum((tokens == 0).long(), dim=1) - (tokens == 0).long()  # 0s strictly before t
    return (ended_before == 0).float()


def pad_after_end(tokens: Tensor) -> Tensor:
    """Set every position after a sequence's first 0 to 0 (the data's padding)."""
    return tokens * counted(tokens, True).long()


def draw(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """(B, V) logits -> (B,) one draw each from softmax(logits), by inverting the CDF at a uniform u
    (the same distribution as torch.multinomial, ten times faster over a 5,000-token vocabulary)."""
    cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)  # (B, V)
    u = torch.rand(len(cdf), 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(1).clamp_(max=cdf.shape[1] - 1)


class SeqGenerator(nn.Module):
    def __init__(self, cfg: SeqConfig):
        super().__init__()
        self.cfg = cfg
        V, E, H = cfg.vocab_size, cfg.emb_dim, cfg.hidden_dim
        self.embed = nn.Embedding(V + 1, E)  # row V: the start token
        self.lstm = nn.LSTM(E, H, batch_first=True)
        self.out = nn.Linear(H, V)

    # -------------------------------------------------------------------- likelihood (teacher forcing)
    def logits(self, tokens: Tensor) -> Tensor:
        """(B, L) tokens -> (B, L, V): the logits of x_t given x_<t at every position."""
        start = torch.full_like(tokens[:, :1], self.cfg.vocab_size)
        h, _ = self.lstm(self.embed(torch.cat([start, tokens[:, :-1]], dim=1)))  # (B, L, H)
        return self.out(h)

    def token_logp(self, tokens: Tensor, temperature: float = 1.0) -> Tensor:
        """(B, L) log p(x_t | x_<t), 0 at the positions not counted (after the end token). ``temperature``:
        of the model that :meth:`sample` draws from at that temperature, softmax(logits / T)."""
        logits = self.logits(tokens)
        if temperature != 1.0:
            logits = logits / temperature
        logp = torch.log_softmax(logits, dim=-1).gather(2, tokens[..., None]).squeeze(2)
        return logp * counted(tokens, self.cfg.eos)

    def nll(self, tokens: Tensor, temperature: float = 1.0) -> Tensor:
        """(B,) negative log-likelihood per counted token, in nats (SeqGAN's NLL is this, averaged), under
        softmax(logits / ``temperature``)."""
        mask = counted(tokens, self.cfg.eos)
        return -(self.token_logp(tokens, temperature)).sum(1) / mask.sum(1)

    # ------------------------------------------------------------------------------------ sampling
    def _step(self, inp: Tensor, state):
        h, state = self.lstm(inp[:, None, :], state)  # one position: (B, 1, E) -> (B, 1, H)
        return self.out(h[:, 0]), state

    def _prime(self, n: int, prefix: Tensor | None):
        """Run the LSTM over the start token and ``prefix``: (logits of the next position, state)."""
        start = torch.full((n, 1), self.cfg.vocab_size, dtype=torch.long, device=self.out.weight.device)
        inp = start if prefix is None else torch.cat([start, prefix], dim=1)
        h, state = self.lstm(self.embed(inp))
        return self.out(h[:, -1]), state

    @torch.no_grad()
    def sample(self, n: int, *, temperature: float = 1.0, generator: torch.Generator | None = None,
               prefix: Tensor | None = None) -> Tensor:
        """(n, L) tokens drawn from softmax(logits / temperature); ``prefix`` (n, t): complete these
        (SeqGAN's Monte-Carlo rollouts). ``generator``: a private RNG (default: torch's global one)."""
        logits, state = self._prime(n, prefix)
        out = [] if prefix is None else list(prefix.unbind(1))
        done = torch.zeros(n, dtype=torch.bool, device=logits.device)
        if prefix is not None and self.cfg.eos:
            done = (prefix == 0).any(dim=1)
        while len(out) < self.cfg.seq_len:
            tok = draw(logits.float() / temperature, generator)
            if self.cfg.eos:
                tok = tok.masked_fill(done, 0)
                done = done | (tok == 0)
            out.append(tok)
            if len(out) < self.cfg.seq_len:
                logits, state = self._step(self.embed(tok), state)
        return torch.stack(out, dim=1)

    def sample_relaxed(self, n: int, beta: float, straight_through: bool = False) -> tuple[Tensor, Tensor]:
        """(y, tokens): Gumbel-softmax samples y (n, L, V), differentiable in G's weights, and the tokens
        argmax(o + g) they relax. The next position is fed the embedding of y (y @ E), as in RelGAN."""
        from ..sequences.estimators import gumbel_softmax

        logits, state = self._prime(n, None)
        ys, toks = [], []
        done = torch.zeros(n, dtype=torch.bool, device=logits.device)
        end = F.one_hot(torch.zeros(n, dtype=torch.long, device=logits.device), self.cfg.vocab_size).float()
        for t in range(self.cfg.seq_len):
            y, tok = gumbel_softmax(logits, beta, straight_through=straight_through)
            if self.cfg.eos:  # after the end token: the hard end token, no gradient
                y = torch.where(done[:, None], end, y)
                tok = tok.masked_fill(done, 0)
                done = done | (tok == 0)
            ys.append(y)
            toks.append(tok)
            if t + 1 < self.cfg.seq_len:
                logits, state = self._step(y @ self.embed.weight[:-1], state)  # (n, V) @ (V, E)
        return torch.stack(ys, dim=1), torch.stack(toks, dim=1)


class SeqDiscriminator(nn.Module):
    def __init__(self, cfg: SeqConfig):
        super().__init__()
        self.cfg = cfg
        wrap = spectral_norm if cfg.sn else (lambda m: m)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        widths = sorted({min(k, cfg.seq_len) for k in KERNEL_WIDTHS})  # a short sequence: no wider than it
        self.convs = nn.ModuleList(wrap(nn.Conv1d(cfg.emb_dim, cfg.d_filters, k)) for k in widths)
        self.out = wrap(nn.Linear(cfg.d_filters * len(widths), 1))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """(B, L) token ids or (B, L, V) one-hots (relaxed or not) -> (B,) logits."""
        e = self.embed(x) if not x.is_floating_point() else x @ self.embed.weight  # (B, L, E)
        e = e.transpose(1, 2)  # (B, E, L)
        # Max over time passes the gradient to the position that won, like max pooling in an image D.
        feats = [torch.relu(conv(e)).amax(dim=2) for conv in self.convs]  # each (B, F)
        return self.out(torch.cat(feats, dim=1)).squeeze(1)
