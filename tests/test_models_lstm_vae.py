import pytest
import torch

from course_lib.annealing import make_schedule
from course_lib.losses import free_bits_kl, gaussian_kl, sequence_nll
from course_lib.models import lstm_vae as V
from course_lib.train import TrainState, train

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
    logits, fed = m.decode(mu, x)
    assert logits.shape == (3, T, 90) and fed.dtype == torch.long and torch.equal(fed, x)
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
    fast, fed_fast = m.decode(z, x)
    slow, fed_slow = m.decode(z, x, step_by_step=True)
    assert torch.allclose(fast, slow, atol=1e-5) and torch.equal(fed_fast, fed_slow)


def test_eval_uses_mu_and_train_draws_z():
    m, x = tiny(False), tokens()
    a, mu, _ = m(x)
    b, _, _ = m(x)
    assert torch.equal(a, b) and torch.equal(a, m.decode(mu, x)[0])
    m.train()
    c, _, _ = m(x)
    d, _, _ = m(x)
    assert not torch.allclose(c, d)


@pytest.mark.parametrize("hier", [False, True])
def test_free_running_feeds_argmax_chain(hier):
    m = tiny(hier)
    logits, fed = m.decode(torch.randn(4, 4), teacher_forcing=0.0, temperature=0.0)
    assert torch.equal(fed, logits.argmax(-1))


def test_free_running_is_teacher_forcing_on_own_output():
    m = tiny(True)
    z = torch.randn(4, 4)
    logits, fed = m.decode(z, teacher_forcing=0.0, temperature=0.0)
    forced, _ = m.decode(z, fed)
    assert torch.allclose(logits, forced, atol=1e-5)


def test_partial_teacher_forcing_mixes_true_and_drawn_tokens():
    m, x = tiny(False), tokens(64)
    _, fed = m.decode(torch.randn(64, 4), x, teacher_forcing=0.5, temperature=0.0,
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
    assert torch.equal(m.sample(z=z, temperature=0.0), m.decode(z, None, 0.0, 0.0)[1])


def test_hierarchical_conductor_reaches_every_bar():
    m, x = tiny(True), tokens()
    a, _ = m.decode(torch.randn(3, 4), x)
    b, _ = m.decode(torch.randn(3, 4), x)
    for bar in range(T // BAR):
        assert (a[:, bar * BAR:(bar + 1) * BAR] - b[:, bar * BAR:(bar + 1) * BAR]).abs().amax() > 1e-4


def test_hierarchical_previous_token_crosses_bar_and_state_restarts():
    m, x, z = tiny(True), tokens(), torch.randn(3, 4)
    base, _ = m.decode(z, x)
    last = x.clone()
    last[:, BAR - 1] = (last[:, BAR - 1] + 1) % 90  # last token of bar 0 feeds the first step of bar 1
    changed, _ = m.decode(z, last)
    assert (changed[:, BAR] - base[:, BAR]).abs().amax() > 1e-4
    early = x.clone()
    early[:, :BAR - 1] = (early[:, :BAR - 1] + 1) % 90  # the bottom LSTM restarts at each bar from c_b
    same, _ = m.decode(z, early)
    assert torch.allclose(same[:, BAR:], base[:, BAR:], atol=1e-6)
    assert not torch.allclose(same[:, :BAR], base[:, :BAR])


def test_flat_decoder_carries_state_through_the_sequence():
    m, x, z = tiny(False), tokens(), torch.randn(3, 4)
    early = x.clone()
    early[:, 0] = (early[:, 0] + 1) % 90
    assert (m.decode(z, early)[0][:, -1] - m.decode(z, x)[0][:, -1]).abs().amax() > 1e-6


def collapse(m: V.MelodyVAE) -> None:
    """Zero every weight that reads z, so the decoder ignores it."""
    with torch.no_grad():
        if m.hierarchical:
            m.conductor_init.weight.zero_()
        else:
            m.decoder_init.weight.zero_()
            m.decoder.weight_ih_l0[:, SMALL["embed"]:] = 0


@pytest.mark.parametrize("hier", [False, True])
def test_z_sensitivity(hier):
    m, x = tiny(hier), tokens(8)
    m.train()
    s = V.z_sensitivity(m, x.numpy(), batch_size=3)
    assert s["kl"] > 0 and 0 <= s["changed"] <= 1 and m.training
    collapse(m)
    assert V.z_sensitivity(m, x, batch_size=3) == {"changed": 0.0, "kl": 0.0}


def test_encode_all_matches_encode_and_restores_mode():
    m, x = tiny(False), tokens(7)
    m.train()
    mu, logvar = V.encode_all(m, x.numpy(), batch_size=3)
    assert m.training and mu.shape == (7, 4)
    ref = m.encode(x)
    assert torch.allclose(mu, ref[0], atol=1e-6) and torch.allclose(logvar, ref[1], atol=1e-6)


def test_make_loss_by_hand_and_schedules():
    m, x = tiny(False), tokens(4)
    sched = make_schedule("logistic", W=8, b=0.1)
    state = TrainState(epoch=2, step=5, training=False)
    loss, logs = V.make_loss(beta=sched, free_nats=1.0, free_bits_mode="dim")(m, (x,), state)
    logits, mu, logvar = m(x)
    nll = sequence_nll(logits, x)
    expect = nll.mean() + sched(5) * free_bits_kl(mu, logvar, 1.0, "dim")
    assert torch.allclose(loss, expect)
    assert torch.isclose(logs["recon"], nll.mean()) and torch.isclose(logs["kl"], gaussian_kl(mu, logvar).mean())
    assert float(logs["beta"]) == pytest.approx(sched(5))
    assert float(logs["acc"]) == pytest.approx((logits.argmax(-1) == x).float().mean().item())
    _, logs = V.make_loss(beta=sched, per_epoch=True)(m, (x,), state)
    assert float(logs["beta"]) == pytest.approx(sched(2))


def test_make_loss_teacher_forcing_schedule_and_validation():
    m, x = tiny(False), tokens(4)
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, tokens, teacher_forcing=1.0):
            seen.append(teacher_forcing)
            return m(tokens, teacher_forcing=teacher_forcing)

    fn = V.make_loss(beta=0.0, teacher_forcing=lambda s: 1.0 - 0.1 * s)
    fn(Spy(), (x,), TrainState(step=3, training=True))
    fn(Spy(), (x,), TrainState(step=3, training=False))
    assert seen == [pytest.approx(0.7), 1.0]


def test_training_memorises_a_few_sequences():
    torch.manual_seed(0)
    x = torch.randint(0, 90, (16, 16), generator=torch.Generator().manual_seed(3))
    m = V.MelodyVAE(16, embed=16, enc_hidden=32, dec_hidden=32, latent=8)
    before = V.step_accuracy(m, x)
    train(m, V.make_loss(beta=0.0), (x,), epochs=50, batch_size=16, lr=2e-2, seed=0, progress=False)
    after = V.step_accuracy(m, x)
    assert before < 0.2 and after > 0.9
    assert V.step_accuracy(m, x, teacher_forced=False) > 0.5


def test_bad_inputs_raise_clear_errors():
    m, x = tiny(False), tokens()
    bad = x.clone()
    bad[0, 3] = 90
    with pytest.raises(ValueError, match=r"token 90 .*0\.\.89"):
        m.encode(bad)
    with pytest.raises(ValueError, match=r"token -1"):
        m.encode(x - x - 1)
    with pytest.raises(ValueError, match=r"\(batch, 32\)"):
        m.encode(x[:, :16])
    with pytest.raises(ValueError, match="divisible by bar_steps"):
        V.MelodyVAE(20, hierarchical=True, bar_steps=16)
    z = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.decode(z, x, teacher_forcing=1.5)
    with pytest.raises(ValueError, match="needs the true tokens"):
        m.decode(z, None, teacher_forcing=0.5)
    with pytest.raises(ValueError, match="temperature"):
        m.decode(z, None, teacher_forcing=0.0, temperature=-1.0)
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 4\)"):
        m.decode(torch.zeros(3, 5), x)
    with pytest.raises(ValueError, match="integers"):
        m.encode(x.float())
    with pytest.raises(ValueError, match="free_bits_mode"):
        V.make_loss(free_bits_mode="sum")


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
    plain_a = model.decode(z, a)[0]
    assert not torch.allclose(plain_a, model.decode(z, b)[0])  # normally the inputs matter
    g = lambda: torch.Generator().manual_seed(1)
    blank_a = model.decode(z, a, word_dropout=0.999999, generator=g())[0]
    blank_b = model.decode(z, b, word_dropout=0.999999, generator=g())[0]
    assert torch.allclose(blank_a, blank_b)  # every input is START: the tokens no longer reach the decoder
    half = model.decode(z, a, word_dropout=0.5, generator=g())[0]
    assert torch.allclose(half, model.decode(z, a, word_dropout=0.5, generator=g())[0])
    assert not torch.allclose(half, plain_a)
    assert torch.allclose(model.decode(z, a, word_dropout=0.0)[0], plain_a)
    with pytest.raises(ValueError, match="word_dropout"):
        model.decode(z, a, word_dropout=1.0)
    with pytest.raises(ValueError, match="word_dropout"):
        V.make_loss(word_dropout=-0.1)


def test_make_loss_word_dropout_only_while_training():


    torch.manual_seed(0)
    model = V.MelodyVAE(16, embed=8, enc_hidden=16, dec_hidden=16, latent=4).eval()
    x = torch.randint(2, 90, (4, 16))
    plain, dropped = V.make_loss(beta=0.0), V.make_loss(beta=0.0, word_dropout=0.9)
    val = TrainState(training=False)
    assert torch.allclose(plain(model, (x,), val)[0], dropped(model, (x,), val)[0])
    train_state = TrainState(training=True)
    assert not torch.allclose(plain(model, (x,), train_state)[0], dropped(model, (x,), train_state)[0])


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
    loss, logs = V.make_loss(beta=0.3, pad_token=0)(Fixed(logits), (x,), state)
    keep = x != 0
    nll = (torch.nn.functional.cross_entropy(logits.transpose(1, 2), x, reduction="none") * keep).sum(1)
    assert torch.allclose(loss, nll.mean() + 0.3 * gaussian_kl(mu, logvar).mean(), atol=1e-5)
    hits = logits.argmax(-1) == x
    assert float(logs["acc"]) == pytest.approx(hits[keep].float().mean().item())
    other = logits.clone()
    other[~keep] = 50.0 * torch.eye(9)[0]  # the PAD steps now predict PAD perfectly: nothing may change
    loss2, logs2 = V.make_loss(beta=0.3, pad_token=0)(Fixed(other), (x,), state)
    assert torch.allclose(loss, loss2) and float(logs2["acc"]) == pytest.approx(float(logs["acc"]))
    plain, plain_logs = V.make_loss(beta=0.3)(Fixed(logits), (x,), state)  # default: every step counts, as before
    assert torch.allclose(plain, sequence_nll(logits, x).mean() + 0.3 * gaussian_kl(mu, logvar).mean())
    assert float(plain_logs["acc"]) == pytest.approx(hits.float().mean().item())
    with pytest.raises(ValueError, match="pad_token"):
        V.make_loss(pad_token=0.0)
