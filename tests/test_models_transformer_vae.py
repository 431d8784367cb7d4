"""Tests of course_lib.models.transformer_vae: shapes, padding invariance, causality, the two paths of z, sampling,
make_loss with padding, a tiny memorisation run through course_lib.train, and clear errors on bad inputs.
encode_all, z_sensitivity and check_tokens (shared with MelodyVAE) are tested in test_models_common.py."""
from __future__ import annotations

import pytest
import torch

from course_lib.losses import gaussian_kl, sequence_nll
from course_lib.models import transformer_vae as TV
from course_lib.models.common import make_loss
from course_lib.train import TrainState, train

V, L, Z = 12, 16, 8
SMALL = dict(d_model=32, n_heads=2, n_layers=2, latent=Z, dropout=0.1, n_memory=2)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


def tiny(seed: int = 0, **kw) -> TV.TransformerVAE:
    torch.manual_seed(seed)
    return TV.TransformerVAE(V, L, **{**SMALL, **kw}).eval()


def batch(lengths: tuple[int, ...] = (5, 9, 3, 12), width: int = 12, seed: int = 1, vocab: int = V) -> torch.Tensor:
    """BOS, random tokens, EOS, then PAD up to width."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((len(lengths), width), TV.PAD, dtype=torch.long)
    for i, n in enumerate(lengths):
        x[i, 0] = TV.BOS
        x[i, 1:n - 1] = torch.randint(3, vocab, (n - 2,), generator=g)
        x[i, n - 1] = TV.EOS
    return x


def test_shapes_and_dtypes():
    m, x = tiny(), batch()
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (4, Z) and mu.dtype == torch.float32
    logits, mu2, logvar2 = m(x)
    assert logits.shape == (4, 12, V) and torch.equal(mu2, mu) and torch.equal(logvar2, logvar)
    assert m.decode(mu, x).shape == (4, 12, V)
    s = m.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, L) and s.dtype == torch.long and 0 <= s.min() and s.max() < V
    r = m.reconstruct(x)
    assert r.shape == x.shape and r.dtype == torch.long
    assert m.embedding.num_embeddings == V + 2 and (m.start, m.mask) == (V, V + 1)
    assert torch.equal(m.decoder_inputs(x)[:, 1:], x[:, :-1]) and (m.decoder_inputs(x)[:, 0] == V).all()


def test_extra_padding_changes_nothing():
    m, x = tiny(), batch()
    wider = torch.cat([x, torch.zeros(4, 4, dtype=torch.long)], dim=1)
    mu, logvar = m.encode(x)
    mu2, logvar2 = m.encode(wider)
    assert torch.allclose(mu, mu2, atol=1e-5) and torch.allclose(logvar, logvar2, atol=1e-5)
    a, b = m(x)[0], m(wider)[0][:, :12]
    keep = x != TV.PAD
    assert torch.allclose(a[keep], b[keep], atol=1e-5)


def test_decoder_is_causal():
    m, x, z = tiny(), batch(), torch.randn(4, Z)
    base = m.decode(z, x)
    for t in (0, 4, 10):
        y = x.clone()
        y[:, t] = 3 + (y[:, t] + 1) % (V - 3)
        out = m.decode(z, y)
        assert torch.allclose(out[:, :t + 1], base[:, :t + 1], atol=1e-5)
        assert not torch.allclose(out[:, t + 1:], base[:, t + 1:])


def test_eval_uses_mu_and_train_draws_z():
    m, x = tiny(dropout=0.0), batch()
    a, mu, _ = m(x)
    assert torch.equal(a, m(x)[0]) and torch.allclose(a, m.decode(mu, x), atol=1e-6)
    m.train()
    c, mu_train, _ = m(x)
    assert torch.allclose(mu_train, mu, atol=1e-6)  # no dropout: only the draw of z differs
    assert not torch.allclose(c, m(x)[0])


def test_z_reaches_the_decoder_through_memory_and_through_the_inputs():
    m, x = tiny(), batch()
    z1, z2 = torch.randn(4, Z), torch.randn(4, Z)
    assert (m.decode(z1, x) - m.decode(z2, x)).abs().amax() > 1e-3
    for path in ("z_to_memory", "z_to_input"):
        other = tiny()
        with torch.no_grad():
            getattr(other, path).weight.zero_()  # this path no longer depends on z; the other one still does
        assert (other.decode(z1, x) - other.decode(z2, x)).abs().amax() > 1e-3, path
    none = tiny()
    with torch.no_grad():
        none.z_to_memory.weight.zero_()
        none.z_to_input.weight.zero_()
    assert torch.allclose(none.decode(z1, x), none.decode(z2, x), atol=1e-6)


def test_sample_stops_at_eos_and_pads_after_it():
    m = tiny()
    with torch.no_grad():
        m.to_logits.bias[TV.EOS] += 2.0  # make EOS likely so that most rows end early
    s = m.sample(32, generator=torch.Generator().manual_seed(0))
    assert (s[:, 0] == TV.BOS).all() and not (s[:, 1:] == TV.BOS).any()
    ended = 0
    for row in s.tolist():
        if TV.EOS in row:
            e = row.index(TV.EOS)
            ended += 1
            assert all(t == TV.PAD for t in row[e + 1:]) and TV.PAD not in row[:e]
        else:
            assert TV.PAD not in row  # ran to max_len without EOS
    assert ended > 0


def test_sample_length_seed_and_temperature():
    m = tiny()
    m.train()
    assert m.sample(4, max_len=5, generator=torch.Generator().manual_seed(1)).shape == (4, 5)
    s = [m.sample(4, generator=torch.Generator().manual_seed(k)) for k in (7, 7, 8)]
    assert torch.equal(s[0], s[1]) and not torch.equal(s[0], s[2])
    assert m.training  # sample switches dropout off and restores the mode
    z = torch.randn(3, Z)
    assert torch.equal(m.sample(z=z, temperature=0.0), m.sample(z=z, temperature=0.0))
    greedy = m.sample(z=z, temperature=0.0)
    logits = m.eval().decode(z, greedy)
    keep = (greedy != TV.PAD)
    keep[:, 0] = False  # BOS is given, not drawn
    pred = logits.float()
    pred[..., [TV.PAD, TV.BOS]] = float("-inf")
    assert torch.equal(pred.argmax(-1)[keep], greedy[keep])  # greedy = argmax of the teacher-forced logits


def test_make_loss_with_pad_token_by_hand():
    m, x = tiny(), batch()
    fn = make_loss(beta=0.5, pad_token=TV.PAD)
    loss, logs = fn(m, (x,), TrainState(training=False))
    logits, mu, logvar = m(x)
    logp = torch.log_softmax(logits, -1).gather(-1, x[..., None]).squeeze(-1)
    keep = x != TV.PAD
    nll = -(logp * keep).sum(1)
    assert torch.allclose(loss, nll.mean() + 0.5 * gaussian_kl(mu, logvar).mean(), atol=1e-5)
    assert torch.allclose(logs["recon"], nll.mean(), atol=1e-5)
    hits = (logits.argmax(-1) == x)[keep]
    assert float(logs["acc"]) == pytest.approx(hits.float().mean().item())
    assert float(logs["acc"]) == pytest.approx(TV.token_accuracy(m, x))
    wider = torch.cat([x, torch.zeros(4, 3, dtype=torch.long)], dim=1)  # more PAD targets: the same loss
    loss2, logs2 = fn(m, (wider,), TrainState(training=False))
    assert torch.allclose(loss, loss2, atol=1e-4) and float(logs2["acc"]) == pytest.approx(float(logs["acc"]))
    plain, _ = make_loss(beta=0.5)(m, (x,), TrainState(training=False))
    assert torch.allclose(plain, sequence_nll(logits, x).mean() + 0.5 * gaussian_kl(mu, logvar).mean(), atol=1e-5)
    assert plain > loss  # without pad_token the PAD targets are scored too


def test_word_dropout_uses_the_mask_token():
    m, x = tiny(dropout=0.0), batch()
    ids = m.decoder_inputs(x)
    dropped = m._word_dropout(ids, 0.999999, torch.Generator().manual_seed(0))
    real = (ids != m.start) & (ids != TV.BOS) & (ids != TV.PAD)
    assert (dropped[real] == m.mask).all() and torch.equal(dropped[~real], ids[~real])
    z = torch.randn(4, Z)
    g = lambda: torch.Generator().manual_seed(1)
    assert torch.allclose(m.decode(z, x, word_dropout=0.5, generator=g()), m.decode(z, x, word_dropout=0.5, generator=g()))
    assert not torch.allclose(m.decode(z, x, word_dropout=0.5, generator=g()), m.decode(z, x))
    fn, plain = make_loss(beta=0.0, word_dropout=0.5, pad_token=0), make_loss(beta=0.0, pad_token=0)
    assert torch.allclose(fn(m, (x,), TrainState(training=False))[0], plain(m, (x,), TrainState(training=False))[0])
    assert not torch.allclose(fn(m, (x,), TrainState(training=True))[0], plain(m, (x,), TrainState(training=True))[0])


def test_training_memorises_a_few_variable_length_sequences():
    x = batch((4, 12, 7, 9, 5, 11, 6, 8, 10, 4, 12, 7, 5, 9, 6, 11), seed=3, vocab=16)
    torch.manual_seed(0)
    m = TV.TransformerVAE(16, 12, d_model=32, n_heads=2, n_layers=1, latent=16, dropout=0.0)
    before = TV.token_accuracy(m, x)
    train(m, make_loss(beta=0.0, pad_token=TV.PAD), (x,), epochs=40, batch_size=16, lr=1e-2,
          optimizer="adamw", betas=(0.9, 0.98), seed=0, progress=False)
    after = TV.token_accuracy(m, x)
    assert before < 0.5 and after > 0.9


def test_bad_inputs_raise_clear_errors():
    m, x = tiny(), batch()
    with pytest.raises(ValueError, match="teacher-forced only"):
        m(x, teacher_forcing=0.5)
    with pytest.raises(ValueError, match="longer than max_len=16"):
        m.encode(torch.ones(2, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="integers"):
        m.encode(x.float())
    with pytest.raises(ValueError, match=r"\(batch, length\)"):
        m.encode(x[0])
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 8\)"):
        m.decode(torch.zeros(4, 5), x)
    with pytest.raises(ValueError, match="batch size"):
        m.decode(torch.zeros(3, Z), x)
    with pytest.raises(ValueError, match=r"z must have shape"):
        m.sample(z=torch.zeros(Z))
    with pytest.raises(ValueError, match="temperature"):
        m.sample(2, temperature=-1.0)
    with pytest.raises(ValueError, match=r"max_len .*1\.\.16"):
        m.sample(2, max_len=17)
    with pytest.raises(ValueError, match="n >= 1"):
        m.sample()
    with pytest.raises(ValueError, match="word_dropout"):
        m.decode(torch.zeros(4, Z), x, word_dropout=1.0)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        TV.TransformerVAE(V, L, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="distinct ids"):
        TV.TransformerVAE(V, L, eos=TV.BOS)
    with pytest.raises(ValueError, match="positive integers"):
        TV.TransformerVAE(V, 0)
    with pytest.raises(ValueError, match="dropout"):
        TV.TransformerVAE(V, L, dropout=1.0)


def test_last_step_logits_equal_the_full_projection():
    m = tiny()
    z = torch.randn(3, Z)
    ids = torch.randint(3, V, (3, 7))
    full = m._run_decoder(z, ids)
    last = m._run_decoder(z, ids, last=True)
    assert last.shape == (3, 1, V)
    torch.testing.assert_close(last[:, 0], full[:, -1], rtol=1e-5, atol=1e-5)
