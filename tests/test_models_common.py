"""Tests of course_lib.models.common: the decode contract of both sequence VAEs, make_loss, encode_all,
z_sensitivity on MelodyVAE and TransformerVAE, check_tokens, the small helpers, and that a training step reads no
token values (it runs on the meta device, where any read of a value fails)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.annealing import make_schedule
from course_lib.losses import free_bits_kl, gaussian_kl, sequence_nll
from course_lib.models import common as C
from course_lib.models import lstm_vae as LV
from course_lib.models import transformer_vae as TV
from course_lib.train import TrainState

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py

T, BAR, VOCAB, MAX_LEN = 16, 8, 12, 16


def melody_vae(hierarchical: bool = False, seed: int = 0) -> LV.MelodyVAE:
    torch.manual_seed(seed)
    return LV.MelodyVAE(T, embed=8, enc_hidden=16, dec_hidden=16, latent=4, hierarchical=hierarchical, bar_steps=BAR,
                        conductor_hidden=16, conductor_out=6).eval()


def transformer_vae(seed: int = 0) -> TV.TransformerVAE:
    torch.manual_seed(seed)
    return TV.TransformerVAE(VOCAB, MAX_LEN, d_model=32, n_heads=2, n_layers=2, latent=4, dropout=0.1,
                             n_memory=2).eval()


def melodies(b: int = 5, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, LV.N_MELODY_TOKENS, (b, T), generator=torch.Generator().manual_seed(seed))


def events(lengths: tuple[int, ...] = (5, 9, 3, 12, 7), width: int = 12, seed: int = 1) -> torch.Tensor:
    """BOS, random tokens, EOS, then PAD up to width."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((len(lengths), width), TV.PAD, dtype=torch.long)
    for i, n in enumerate(lengths):
        x[i, 0] = TV.BOS
        x[i, 1:n - 1] = torch.randint(3, VOCAB, (n - 2,), generator=g)
        x[i, n - 1] = TV.EOS
    return x


CASES = {"flat": (lambda: melody_vae(False), melodies, LV.N_MELODY_TOKENS),
         "hierarchical": (lambda: melody_vae(True), melodies, LV.N_MELODY_TOKENS),
         "transformer": (transformer_vae, events, VOCAB)}


# ---------------------------------------------------------------------------------------- the decode contract

@pytest.mark.parametrize("case", list(CASES))
def test_decode_returns_teacher_forced_logits_aligned_with_the_tokens(case):
    build, data, vocab = CASES[case]
    m, x = build(), data()
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (x.shape[0], 4)
    logits = m.decode(mu, x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (*x.shape, vocab)
    forward_logits, mu2, _ = m(x)
    assert torch.allclose(forward_logits, logits, atol=1e-6) and torch.equal(mu2, mu)
    t = 3  # logits[:, t] scores tokens[:, t] from tokens[:, :t]: changing token t changes only later steps
    y = x.clone()
    y[:, t] = 3 + (y[:, t] - 2) % (vocab - 3)
    changed = m.decode(mu, y)
    assert torch.allclose(changed[:, :t + 1], logits[:, :t + 1], atol=1e-5)
    assert not torch.allclose(changed[:, t + 1:], logits[:, t + 1:])


def test_melody_stepwise_path_is_named_and_returns_the_fed_tokens():
    m, x = melody_vae(True), melodies()
    z = torch.randn(5, 4)
    logits, fed = m.decode_stepwise(z, x, teacher_forcing=1.0)
    assert torch.allclose(logits, m.decode(z, x), atol=1e-5) and torch.equal(fed, x)
    free, fed = m.decode_stepwise(z, temperature=0.0)  # no tokens: free-running
    assert torch.equal(fed, free.argmax(-1))


# ----------------------------------------------------------------------------------------------- make_loss

def test_make_loss_by_hand_and_schedules():
    m, x = melody_vae(), melodies(4)
    sched = make_schedule("logistic", W=8, b=0.1)
    state = TrainState(epoch=2, step=5, training=False)
    loss, logs = C.make_loss(beta=sched, free_nats=1.0, free_bits_mode="dim")(m, (x,), state)
    logits, mu, logvar = m(x)
    nll = sequence_nll(logits, x)
    assert torch.allclose(loss, nll.mean() + sched(5) * free_bits_kl(mu, logvar, 1.0, "dim"))
    assert torch.isclose(logs["recon"], nll.mean()) and torch.isclose(logs["kl"], gaussian_kl(mu, logvar).mean())
    assert float(logs["beta"]) == pytest.approx(sched(5))
    assert float(logs["acc"]) == pytest.approx((logits.argmax(-1) == x).float().mean().item())
    _, logs = C.make_loss(beta=sched, per_epoch=True)(m, (x,), state)
    assert float(logs["beta"]) == pytest.approx(sched(2))


def test_make_loss_teacher_forcing_schedule_is_read_only_while_training():
    m, x = melody_vae(), melodies(4)
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, tokens, teacher_forcing=1.0):
            seen.append(teacher_forcing)
            return m(tokens, teacher_forcing=teacher_forcing)

    fn = C.make_loss(beta=0.0, teacher_forcing=lambda s: 1.0 - 0.1 * s)
    fn(Spy(), (x,), TrainState(step=3, training=True))
    fn(Spy(), (x,), TrainState(step=3, training=False))
    assert seen == [pytest.approx(0.7), 1.0]


def test_make_loss_word_dropout_only_while_training():
    m, x = melody_vae(), torch.randint(2, 90, (4, T), generator=torch.Generator().manual_seed(2))
    plain, dropped = C.make_loss(beta=0.0), C.make_loss(beta=0.0, word_dropout=0.9)
    val = TrainState(training=False)
    assert torch.allclose(plain(m, (x,), val)[0], dropped(m, (x,), val)[0])
    train_state = TrainState(training=True)
    assert not torch.allclose(plain(m, (x,), train_state)[0], dropped(m, (x,), train_state)[0])


def test_make_loss_pad_token_scores_only_non_pad_targets():
    x = torch.tensor([[1, 5, 6, 2, 0, 0], [1, 7, 2, 0, 0, 0]])
    logits = torch.randn(2, 6, 9, generator=torch.Generator().manual_seed(0))
    logits[0, 1, 5] = 10.0  # a right argmax at a real step
    mu, logvar = torch.randn(2, 3), torch.randn(2, 3)

    class Fixed(torch.nn.Module):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, tokens, teacher_forcing=1.0):
            return self.out, mu, logvar

    state = TrainState(training=False)
    loss, logs = C.make_loss(beta=0.3, pad_token=0)(Fixed(logits), (x,), state)
    keep = x != 0
    nll = (F.cross_entropy(logits.transpose(1, 2), x, reduction="none") * keep).sum(1)
    assert torch.allclose(loss, nll.mean() + 0.3 * gaussian_kl(mu, logvar).mean(), atol=1e-5)
    hits = logits.argmax(-1) == x
    assert float(logs["acc"]) == pytest.approx(hits[keep].float().mean().item())
    other = logits.clone()
    other[~keep] = 50.0 * torch.eye(9)[0]  # the PAD steps now predict PAD perfectly: nothing may change
    loss2, logs2 = C.make_loss(beta=0.3, pad_token=0)(Fixed(other), (x,), state)
    assert torch.allclose(loss, loss2) and float(logs2["acc"]) == pytest.approx(float(logs["acc"]))
    plain, plain_logs = C.make_loss(beta=0.3)(Fixed(logits), (x,), state)  # default: every step counts
    assert torch.allclose(plain, sequence_nll(logits, x).mean() + 0.3 * gaussian_kl(mu, logvar).mean())
    assert float(plain_logs["acc"]) == pytest.approx(hits.float().mean().item())


@pytest.mark.parametrize("kwargs, match", [({"pad_token": 0.0}, "pad_token"), ({"pad_token": True}, "pad_token"),
                                           ({"free_bits_mode": "sum"}, "free_bits_mode"),
                                           ({"word_dropout": -0.1}, "word_dropout"),
                                           ({"word_dropout": 1.0}, "word_dropout"), ({"free_nats": -1.0}, "free_nats"),
                                           ({"beta": -0.5}, "beta"), ({"teacher_forcing": 1.5}, "teacher_forcing")])
def test_make_loss_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.make_loss(**kwargs)


# ------------------------------------------------------------------------------- encode_all, z_sensitivity

@pytest.mark.parametrize("case", list(CASES))
def test_encode_all_matches_encode_and_restores_mode(case):
    build, data, _ = CASES[case]
    m, x = build(), data(7) if case != "transformer" else data((5, 9, 3, 12, 7, 4, 6))
    m.train()
    mu, logvar = C.encode_all(m, x.numpy(), batch_size=3)
    assert m.training and mu.shape == (7, 4) and mu.device.type == "cpu"
    ref = m.eval().encode(x)
    assert torch.allclose(mu, ref[0], atol=1e-5) and torch.allclose(logvar, ref[1], atol=1e-5)
    empty = C.encode_all(m, x[:0])
    assert empty[0].shape == empty[1].shape == (0, 4)


def by_hand(m, x, pad):
    """z_sensitivity over the whole batch at once, from its definition."""
    with torch.no_grad():
        mu = m.eval().encode(x)[0]
        own = F.log_softmax(m.decode(mu, x), -1)
        other = F.log_softmax(m.decode(torch.roll(mu, 1, 0), x), -1)
    keep = torch.ones_like(x, dtype=torch.bool) if pad is None else x != pad
    changed = (own.argmax(-1) != other.argmax(-1))[keep].float().mean().item()
    kl = (own.exp() * (own - other)).sum(-1)[keep].mean().item()
    return changed, kl


def collapse(m: torch.nn.Module) -> None:
    """Zero every weight that reads z, so the decoder ignores it."""
    with torch.no_grad():
        if isinstance(m, TV.TransformerVAE):
            m.z_to_memory.weight.zero_()
            m.z_to_input.weight.zero_()
        elif m.hierarchical:
            m.conductor_init.weight.zero_()
        else:
            m.decoder_init.weight.zero_()
            m.decoder.weight_ih_l0[:, 8:] = 0  # the z half of the input (embed = 8)


@pytest.mark.parametrize("case", list(CASES))
def test_z_sensitivity_on_both_models(case):
    build, data, _ = CASES[case]
    m = build()
    x = data(8) if case != "transformer" else data((5, 9, 3, 12, 7, 4, 6, 10))
    pad = TV.PAD if case == "transformer" else None
    with torch.no_grad():
        m.to_mu.weight.mul_(30.0)  # spread the codes apart, so that swapping them matters in an untrained model
        if case == "hierarchical":
            m.conductor_init.weight.mul_(10.0)
            m.decoder_init.weight.mul_(10.0)
    m.train()
    s = C.z_sensitivity(m, x.numpy(), batch_size=3, pad=pad)
    assert m.training and s["kl"] > 0 and 0 <= s["changed"] <= 1
    changed, kl = by_hand(m, x, pad)
    assert s["changed"] == pytest.approx(changed) and s["kl"] == pytest.approx(kl, rel=1e-3)
    m.train()
    collapse(m)
    assert C.z_sensitivity(m, x, batch_size=3, pad=pad) == pytest.approx({"changed": 0.0, "kl": 0.0}, abs=1e-6)


def test_z_sensitivity_pad_scores_only_non_pad_steps():
    m, x = transformer_vae(), events()
    every, only_real = C.z_sensitivity(m, x), C.z_sensitivity(m, x, pad=TV.PAD)
    assert every["kl"] == pytest.approx(by_hand(m, x, None)[1], rel=1e-4)
    assert only_real["kl"] == pytest.approx(by_hand(m, x, TV.PAD)[1], rel=1e-4)
    assert every != only_real
    assert C.z_sensitivity(m, x[:0]) == {"changed": 0.0, "kl": 0.0}
    with pytest.raises(ValueError, match="pad"):
        C.z_sensitivity(m, x, pad=-1)


# --------------------------------------------------------------------------------------------- check_tokens

def test_check_tokens_accepts_valid_data():
    assert C.check_tokens(melodies(), LV.N_MELODY_TOKENS) is None
    assert C.check_tokens(events().numpy(), VOCAB, "train", pad=TV.PAD) is None
    assert C.check_tokens(np.zeros((0, 4), dtype=np.int64), 3) is None


@pytest.mark.parametrize("tokens, kwargs, match", [
    (torch.tensor([[0, 90, 3]]), {}, r"train: token 90 is outside the vocabulary 0\.\.89"),
    (torch.tensor([[0, -1, 3]]), {}, r"train: token -1 is outside"),
    (np.array([[0.0, 1.0]]), {}, "integers"),
    (torch.tensor([0, 1, 2]), {}, r"shape \(batch, steps\)"),
    (torch.tensor([[1, 2], [0, 0]]), {"pad": 0}, r"train: sequence 1 is all PAD \(0\)"),
    (torch.tensor([[1, 2]]), {"pad": 90}, "pad must be an index"),
])
def test_check_tokens_errors(tokens, kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.check_tokens(tokens, LV.N_MELODY_TOKENS, "train", **kwargs)


def test_check_tokens_without_pad_allows_rows_of_zeros():
    C.check_tokens(torch.zeros(2, 4, dtype=torch.long), 90)  # token 0 is "hold" in melodies: a real token


# --------------------------------------------------------------------------------- no host sync per step

@pytest.mark.parametrize("case", list(CASES))
def test_a_training_step_reads_no_token_values(case):
    """On the meta device a tensor has no values, so any check that reads one (and would sync a GPU) fails."""
    build, _, _ = CASES[case]
    m = build().to("meta").train()
    x = torch.zeros(3, T if case != "transformer" else 12, dtype=torch.long, device="meta")
    kw = {"pad_token": TV.PAD} if case == "transformer" else {}
    loss, logs = C.make_loss(beta=0.5, free_nats=1.0, word_dropout=0.2, **kw)(m, (x,), TrainState(training=True))
    loss.backward()
    assert loss.device.type == "meta" and logs["acc"].device.type == "meta"
    if case != "transformer":
        logits, _, _ = m(x, teacher_forcing=0.5)  # scheduled sampling: draws and coin flips stay on the device
        assert logits.shape == (3, T, LV.N_MELODY_TOKENS)


# ------------------------------------------------------------------------------------------------- helpers

def test_evaluating_restores_the_mode_even_after_an_error():
    m = torch.nn.Linear(2, 2).train()
    with pytest.raises(RuntimeError):
        with C.evaluating(m):
            assert not m.training
            raise RuntimeError
    assert m.training
    with C.evaluating(m.eval()):
        pass
    assert not m.training


def test_chunks_and_as_tokens():
    x = C.as_tokens(np.arange(14).reshape(7, 2))
    assert isinstance(x, torch.Tensor) and x.dtype == torch.int64
    parts = list(C.chunks(x, 3, torch.device("cpu")))
    assert [len(p) for p in parts] == [3, 3, 1] and torch.equal(torch.cat(parts), x)
    with pytest.raises(ValueError, match="batch_size"):
        list(C.chunks(x, 0, torch.device("cpu")))


def test_draw_token():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]])
    assert torch.equal(C.draw_token(logits, 0.0, None), torch.tensor([1, 0]))
    many = logits.repeat(500, 1)
    a = C.draw_token(many, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(a, C.draw_token(many, 1.0, torch.Generator().manual_seed(0)))
    share = (a.view(500, 2)[:, 0] == 1).float().mean().item()
    assert share == pytest.approx(torch.softmax(logits[0], 0)[1].item(), abs=0.05)
    hot = (C.draw_token(many, 100.0, torch.Generator().manual_seed(0)).view(500, 2)[:, 0] == 1).float().mean().item()
    assert hot < 0.5  # a high temperature flattens the distribution
