"""Tests of course_lib.models.lstm_vae: shapes, the two decode paths (teacher-forced and step by step), the flat and
hierarchical decoders, sampling, a tiny memorisation run, clear errors on bad inputs. The loss, encode_all and
z_sensitivity are tested in test_models_common.py."""
import pytest
import torch

from course_lib.models import lstm_vae as V
from course_lib.models.common import make_loss
from course_lib.train import train

T, BAR = 32, 8
SMALL = dict(embed=8, enc_hidden=16, dec_hidden=16, latent=4, bar_steps=BAR, conductor_hidden=16, conductor_out=6)


def tiny(hierarchical: bool, seed: int = 0) -> V.MelodyVAE:
    torch.manual_seed(seed)
    return V.MelodyVAE(T, hierarchical=hierarchical, **SMALL).eval()


def tokens(b: int = 3, seed: int = 1, t: int = T) -> torch.Tensor:
    return torch.randint(0, V.N_MELODY_TOKENS, (b, t), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("hier", [False, True])
def test_shapes_and_dtypes(hier):
    m, x = tiny(hier), tokens()
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (3, 4)
    logits = m.decode(mu, x)
    assert logits.shape == (3, T, 90) and logits.dtype == torch.float32
    logits_s, fed = m.decode_stepwise(mu, x, teacher_forcing=1.0)
    assert logits_s.shape == (3, T, 90) and fed.dtype == torch.long and torch.equal(fed, x)
    logits2, mu2, logvar2 = m(x, teacher_forcing=0.5)
    assert logits2.shape == (3, T, 90) and torch.equal(mu2, mu)
    s = m.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, T) and s.dtype == torch.long and 0 <= s.min() and s.max() < 90
    assert m.reconstruct(x).shape == (3, T)
    assert m.embedding.num_embeddings == 91 and V.START == 90


@pytest.mark.parametrize("hier", [False, True])
def test_fast_path_equals_step_loop(hier):
    m, x = tiny(hier), tokens()
    z = torch.randn(3, 4)
    fast = m.decode(z, x)
    slow, fed = m.decode_stepwise(z, x, teacher_forcing=1.0)
    assert torch.allclose(fast, slow, atol=1e-5) and torch.equal(fed, x)


def test_eval_uses_mu_and_train_draws_z():
    m, x = tiny(False), tokens()
    a, mu, _ = m(x)
    b, _, _ = m(x)
    assert torch.equal(a, b) and torch.equal(a, m.decode(mu, x))
    m.train()
    c, _, _ = m(x)
    d, _, _ = m(x)
    assert not torch.allclose(c, d)


@pytest.mark.parametrize("hier", [False, True])
def test_free_running_feeds_argmax_chain(hier):
    m = tiny(hier)
    logits, fed = m.decode_stepwise(torch.randn(4, 4), teacher_forcing=0.0, temperature=0.0)
    assert torch.equal(fed, logits.argmax(-1))


def test_free_running_is_teacher_forcing_on_own_output():
    m = tiny(True)
    z = torch.randn(4, 4)
    logits, fed = m.decode_stepwise(z, temperature=0.0)
    forced = m.decode(z, fed)
    assert torch.allclose(logits, forced, atol=1e-5)


def test_partial_teacher_forcing_mixes_true_and_drawn_tokens():
    m, x = tiny(False), tokens(64)
    _, fed = m.decode_stepwise(torch.randn(64, 4), x, teacher_forcing=0.5, temperature=0.0,
                               generator=torch.Generator().manual_seed(0))
    share = (fed == x).float().mean().item()
    assert 0.4 < share < 0.6  # about half the steps pass on the true token, the rest the model's draw


def test_sample_is_reproducible_per_seed():
    m = tiny(True)
    m.train()
    s = [m.sample(4, generator=torch.Generator().manual_seed(k)) for k in (7, 7, 8)]
    assert torch.equal(s[0], s[1]) and not torch.equal(s[0], s[2])
    assert m.training
    z = torch.randn(2, 4)
    assert torch.equal(m.sample(z=z, temperature=0.0), m.decode_stepwise(z, None, 0.0, 0.0)[1])


def test_hierarchical_conductor_reaches_every_bar():
    m, x = tiny(True), tokens()
    a = m.decode(torch.randn(3, 4), x)
    b = m.decode(torch.randn(3, 4), x)
    for bar in range(T // BAR):
        assert (a[:, bar * BAR:(bar + 1) * BAR] - b[:, bar * BAR:(bar + 1) * BAR]).abs().amax() > 1e-4


def test_hierarchical_previous_token_crosses_bar_and_state_restarts():
    m, x, z = tiny(True), tokens(), torch.randn(3, 4)
    base = m.decode(z, x)
    last = x.clone()
    last[:, BAR - 1] = (last[:, BAR - 1] + 1) % 90  # last token of bar 0 feeds the first step of bar 1
    changed = m.decode(z, last)
    assert (changed[:, BAR] - base[:, BAR]).abs().amax() > 1e-4
    early = x.clone()
    early[:, :BAR - 1] = (early[:, :BAR - 1] + 1) % 90  # the bottom LSTM restarts at each bar from c_b
    same = m.decode(z, early)
    assert torch.allclose(same[:, BAR:], base[:, BAR:], atol=1e-6)
    assert not torch.allclose(same[:, :BAR], base[:, :BAR])


def test_flat_decoder_carries_state_through_the_sequence():
    m, x, z = tiny(False), tokens(), torch.randn(3, 4)
    early = x.clone()
    early[:, 0] = (early[:, 0] + 1) % 90
    assert (m.decode(z, early)[:, -1] - m.decode(z, x)[:, -1]).abs().amax() > 1e-6


def test_training_memorises_a_few_sequences():
    torch.manual_seed(0)
    x = torch.randint(0, 90, (16, 16), generator=torch.Generator().manual_seed(3))
    m = V.MelodyVAE(16, embed=16, enc_hidden=32, dec_hidden=32, latent=8)
    before = V.step_accuracy(m, x)
    train(m, make_loss(beta=0.0), (x,), epochs=50, batch_size=16, lr=2e-2, seed=0, progress=False)
    after = V.step_accuracy(m, x)
    assert before < 0.2 and after > 0.9
    assert V.step_accuracy(m, x, teacher_forced=False) > 0.5


def test_bad_inputs_raise_clear_errors():
    m, x = tiny(False), tokens()
    with pytest.raises(ValueError, match=r"\(batch, 32\)"):
        m.encode(x[:, :16])
    with pytest.raises(ValueError, match="divisible by bar_steps"):
        V.MelodyVAE(20, hierarchical=True, bar_steps=16)
    z = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.decode_stepwise(z, x, teacher_forcing=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m(x, teacher_forcing=1.5)
    with pytest.raises(ValueError, match="needs the true tokens"):
        m.decode_stepwise(z, None, teacher_forcing=0.5)
    with pytest.raises(ValueError, match="needs the true tokens"):
        m.decode(z, None)
    with pytest.raises(ValueError, match="temperature"):
        m.decode_stepwise(z, None, teacher_forcing=0.0, temperature=-1.0)
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 4\)"):
        m.decode(torch.zeros(3, 5), x)
    with pytest.raises(ValueError, match="integers"):
        m.encode(x.float())
    with pytest.raises(ValueError, match="positive integers"):
        V.MelodyVAE(32, latent=0)
    with pytest.raises(ValueError, match="positive integers"):
        V.MelodyVAE(32.5)


def test_encoder_reads_both_directions_final_states():
    m, x = tiny(False), tokens()
    out, _ = m.encoder(m.embedding(x))
    H = SMALL["enc_hidden"]
    last = torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=-1)  # forward ends at T-1, backward ends at step 0
    mu, logvar = m.encode(x)
    assert torch.allclose(mu, m.to_mu(last), atol=1e-6) and torch.allclose(logvar, m.to_logvar(last), atol=1e-6)


def test_word_dropout_blanks_the_decoder_inputs():
    torch.manual_seed(0)
    model = V.MelodyVAE(16, embed=8, enc_hidden=16, dec_hidden=16, latent=4).eval()
    z = torch.randn(3, 4)
    a, b = torch.randint(2, 90, (3, 16)), torch.randint(2, 90, (3, 16))
    plain_a = model.decode(z, a)
    assert not torch.allclose(plain_a, model.decode(z, b))  # normally the inputs matter
    g = lambda: torch.Generator().manual_seed(1)
    blank_a = model.decode(z, a, word_dropout=0.999999, generator=g())
    blank_b = model.decode(z, b, word_dropout=0.999999, generator=g())
    assert torch.allclose(blank_a, blank_b)  # every input is START: the tokens no longer reach the decoder
    half = model.decode(z, a, word_dropout=0.5, generator=g())
    assert torch.allclose(half, model.decode(z, a, word_dropout=0.5, generator=g()))
    assert not torch.allclose(half, plain_a)
    assert torch.allclose(model.decode(z, a, word_dropout=0.0), plain_a)
    _, fed = model.decode_stepwise(z, a, teacher_forcing=1.0, word_dropout=0.5, generator=g())
    assert torch.equal(fed, a)  # the tokens passed on are the undropped ones
    with pytest.raises(ValueError, match="word_dropout"):
        model.decode(z, a, word_dropout=1.0)
