"""Tests of course_lib.models.hierarchical: upsampling modes, refinement, level dropout, the two encoders,
progressive stages, conditions (masking, dropout only in training, the repeat bug), decoding, the loss through
course_lib.train, and the clip classifier."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.models import hierarchical as H
from course_lib.train import train

M, T, C = 16, 32, 4  # mel bins, frames, latent channels
SMALL = dict(n_mels=M, n_frames=T, latent_channels=C, enc_channels=(8, 16, 16), unet_channels=(16, 16, 16, 16),
             emb_dim=16, groups=4)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


def model(kind: str = "multiscale", seed: int = 0, perturb: bool = True, **kw) -> H.HierarchicalDiffusionAE:
    """A small model; perturb gives the zero-initialised last U-Net conv random weights (so conditions matter)."""
    torch.manual_seed(seed)
    m = H.HierarchicalDiffusionAE(kind, **{**SMALL, **kw})
    if perturb:
        with torch.no_grad():
            m.unet.conv_out.weight.normal_(0, 0.1)
    return m


def clips(n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, M, T, generator=torch.Generator().manual_seed(seed))


def latents(n: int = 3, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, C, T // 8, generator=g) - 0.5, torch.rand(n, C, T // 4, generator=g) - 0.5,
            torch.rand(n, C, T // 2, generator=g) - 0.5]


# --------------------------------------------------------------------------------------- latent operations

def test_upsample_time_modes():
    z = torch.tensor([[[1.0, 2.0]]])
    assert H.upsample_time(z, 2, "repeat_interleave").tolist() == [[[1, 1, 2, 2]]]
    assert H.upsample_time(z, 2, "repeat").tolist() == [[[1, 2, 1, 2]]]
    assert H.upsample_time(z, 2).tolist() == [[[1, 1, 2, 2]]]
    assert H.upsample_time(z, 3, "repeat_interleave").tolist() == [[[1, 1, 1, 2, 2, 2]]]
    with pytest.raises(ValueError, match="mode"):
        H.upsample_time(z, 2, "nearest")
    with pytest.raises(ValueError, match="factor"):
        H.upsample_time(z, 0)


def test_refine_by_hand():
    h1 = torch.tensor([[[1.0, 2.0]]])
    h2 = torch.tensor([[[10.0, 20.0, 30.0, 40.0]]])
    h3 = torch.arange(8.0).reshape(1, 1, 8) * 100
    r1, r2, r3 = H.refine([h1, h2, h3])
    assert torch.equal(r1, h1)
    assert r2.tolist() == [[[11, 21, 32, 42]]]
    assert r3.tolist() == [[[11, 111, 221, 321, 432, 532, 642, 742]]]
    _, r2b, _ = H.refine([h1, h2, h3], "repeat")
    assert r2b.tolist() == [[[11, 22, 31, 42]]]
    with pytest.raises(ValueError, match="level 2"):
        H.refine([h1, h3])


def test_level_dropout_identity_rate_and_independence():
    lat = latents(n=4000)
    assert all(a is b for a, b in zip(H.level_dropout(lat, 0.0), lat))
    out = H.level_dropout(lat, 0.3, torch.Generator().manual_seed(0))
    dropped = torch.stack([(z == 0).flatten(1).all(1) for z in out])  # (levels, examples)
    kept_equal = torch.stack([(a == b).flatten(1).all(1) for a, b in zip(out, lat)])
    assert bool((dropped ^ kept_equal).all())  # each example of each level: wholly zero or unchanged
    for rate in dropped.float().mean(1):
        assert abs(rate.item() - 0.3) < 0.03
    both = (dropped[0] & dropped[1]).float().mean().item()
    assert abs(both - 0.09) < 0.02  # independent across levels: 0.3 * 0.3
    assert 0 < dropped[0].float().mean() < 1  # per example, not per batch
    again = H.level_dropout(lat, 0.3, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(out, again))
    for p in (-0.1, 1.0, 1.5, True):
        with pytest.raises(ValueError, match="p must"):
            H.level_dropout(lat, p)


# ---------------------------------------------------------------------------------------------------- encoders

@pytest.mark.parametrize("encoder", [H.HDAEEncoder, H.MultiScaleEncoder])
def test_encoder_shapes_and_tanh_range(encoder):
    torch.manual_seed(0)
    enc = encoder(M, C, (8, 16, 16), groups=4)
    codes = enc(clips())
    assert [tuple(h.shape) for h in codes] == [(3, C, 4), (3, C, 8), (3, C, 16)]
    big = enc(100 * clips())
    assert all(h.abs().max() <= 1 for h in big) and any(h.abs().max() > 0.9 for h in big)
    with pytest.raises(ValueError, match="multiple of 8"):
        enc(torch.randn(2, M, 20))


def test_multiscale_pyramid_pools_time_and_frequency():
    x = clips()
    x1, x2, x3 = H.MultiScaleEncoder.pyramid(x)
    assert x1.shape == (3, M // 4, T // 4) and x2.shape == (3, M // 2, T // 2) and x3 is x
    assert torch.allclose(x2[0, 0, 0], x[0, :2, :2].mean()) and torch.allclose(x1[1, 2, 3], x[1, 8:12, 12:16].mean())


def test_encode_refined_and_hdae_raw():
    x = clips()
    m, b = model(), model("hdae")
    e = m.encode(x)
    assert all(torch.allclose(a, r) for a, r in zip(e["refined"], H.refine(e["raw"])))
    eh = b.encode(x)
    assert all(torch.equal(a, r) for a, r in zip(eh["refined"], eh["raw"]))
    with pytest.raises(ValueError, match="shape"):
        m.encode(torch.randn(2, M, 16))


# ------------------------------------------------------------------------------------ stages and conditions

def trainable(m: H.HierarchicalDiffusionAE) -> set[str]:
    return {name.split(".")[0] if name.startswith("unet") else ".".join(name.split(".")[:2])
            for name, p in m.named_parameters() if p.requires_grad}


def test_set_stage_freezes_the_right_parameters():
    m = model()
    assert m.stage == 3 and trainable(m) == {"unet", "encoder.e1", "encoder.e2", "encoder.e3"}
    for stage, enc in ((1, "encoder.e1"), (2, "encoder.e2"), (3, "encoder.e3")):
        m.set_stage(stage)
        assert m.stage == stage and trainable(m) == {"unet", enc}
    b = model("hdae")
    b.set_stage(3)
    assert all(p.requires_grad for p in b.parameters())
    with pytest.raises(ValueError, match="hdae"):
        b.set_stage(1)
    for bad in (0, 4, "2", True):
        with pytest.raises(ValueError, match="stage"):
            m.set_stage(bad)


def test_stage_masks_conditions():
    m = model().eval()
    lat = latents()
    m.set_stage(1)
    c = m.conditions(lat)
    assert len(c) == 4 and c[3] is None
    assert [tuple(t.shape) for t in c[:3]] == [(3, C, 32), (3, C, 16), (3, C, 8)]
    assert torch.equal(c[2], H.upsample_time(lat[0], 2))
    assert not c[0].any() and not c[1].any()  # levels 3 and 2 are zeros in stage 1
    m.set_stage(2)
    c = m.conditions(lat)
    assert c[1].any() and not c[0].any()
    assert torch.allclose(c[1], H.upsample_time(H.refine(lat)[1], 2))


def test_level_dropout_only_in_training_and_on_active_levels():
    m = model(p_level_dropout=0.9)
    lat = latents(n=64)
    m.eval()
    first = m.conditions(lat)
    assert all(torch.equal(a, b) for a, b in zip(first[:3], m.conditions(lat)[:3]))
    assert all(t.flatten(1).any(1).all() for t in first[:3])  # nothing dropped in eval mode
    m.train()
    dropped = m.conditions(lat, torch.Generator().manual_seed(0))
    rates = [(~t.flatten(1).any(1)).float().mean().item() for t in dropped[:3]]
    assert all(r > 0.7 for r in rates)
    m.set_stage(1)
    c = m.conditions(lat, torch.Generator().manual_seed(0))
    assert 0.7 < (~c[2].flatten(1).any(1)).float().mean() < 1 and not c[0].any() and not c[1].any()


@pytest.mark.parametrize("kind", ["multiscale", "hdae"])
def test_repeat_bug_misaligns_time(kind):
    good, bad = model(kind).eval(), model(kind, upsample_mode="repeat").eval()
    lat = latents()
    differ = [not torch.equal(a, b) for a, b in zip(good.conditions(lat)[:3], bad.conditions(lat)[:3])]
    assert all(differ)
    const = [z.mean(-1, keepdim=True).expand_as(z).contiguous() for z in lat]
    assert all(torch.allclose(a, b) for a, b in zip(good.conditions(const)[:3], bad.conditions(const)[:3]))


def test_conditions_check_latent_shapes():
    m = model()
    lat = latents()
    with pytest.raises(ValueError, match="level 2"):
        m.conditions([lat[0], lat[0], lat[2]])
    with pytest.raises(ValueError, match="3 latent levels"):
        m.conditions(lat[:2])


# ------------------------------------------------------------------------------------------ decode and loss

def test_decode_shape_determinism_and_swap():
    m = model().train()
    lat = latents(n=2)
    g = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    a = m.decode(lat, n_steps=3, generator=g())
    assert a.shape == (2, M, T) and torch.isfinite(a).all() and m.training
    assert torch.equal(a, m.decode(lat, n_steps=3, generator=g()))
    assert torch.equal(a, m.decode(lat, n_steps=3, generator=g(), sampler="heun"))
    other = latents(n=2, seed=1)
    swapped = m.decode([lat[0], other[1], lat[2]], n_steps=3, generator=g())
    assert not torch.equal(a, swapped)
    assert m.decode(lat, n_steps=2, generator=g(), sampler="euler").shape == (2, M, T)
    assert m.reconstruct(clips(2), n_steps=2, generator=g()).shape == (2, M, T)
    with pytest.raises(ValueError, match="sampler"):
        m.decode(lat, sampler="ddim")


@pytest.mark.parametrize("kind", ["multiscale", "hdae"])
def test_loss_is_finite_and_reaches_the_encoders(kind):
    m = model(kind).train()
    loss = m.loss(clips(4), torch.Generator().manual_seed(0))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in m.encoder.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert m.unet.conv_out.weight.grad.abs().sum() > 0


def test_frozen_encoders_get_no_gradient():
    m = model().train()
    m.set_stage(2)
    m.loss(clips(4), torch.Generator().manual_seed(0)).backward()
    assert all(p.grad is None for p in m.encoder.e1.parameters())
    assert all(p.grad is None for p in m.encoder.e3.parameters())
    assert any(p.grad.abs().sum() > 0 for p in m.encoder.e2.parameters())


def test_loss_fn_trains_with_course_loop():
    m = model(perturb=False)
    x = clips(16)

    def score() -> float:  # eval mode, the same noise every time
        with torch.no_grad():
            return m.eval().loss(x.repeat(8, 1, 1), torch.Generator().manual_seed(1)).item()

    before = score()
    train(m, H.loss_fn, (x,), epochs=15, batch_size=8, lr=1e-2, seed=0, progress=False)
    assert score() < 0.95 * before


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="kind"):
        H.HierarchicalDiffusionAE("vae", **SMALL)
    with pytest.raises(ValueError, match="upsample_mode"):
        H.HierarchicalDiffusionAE(upsample_mode="nearest", **SMALL)
    with pytest.raises(ValueError, match="p_level_dropout"):
        H.HierarchicalDiffusionAE(p_level_dropout=1.0, **SMALL)
    with pytest.raises(ValueError, match="n_frames"):
        H.HierarchicalDiffusionAE(**{**SMALL, "n_frames": 20})
    with pytest.raises(ValueError, match="unet_channels"):
        H.HierarchicalDiffusionAE(**{**SMALL, "unet_channels": (16, 16)})


# ---------------------------------------------------------------------------------------------- classifier

def test_clip_classifier_shapes_features_and_loss():
    torch.manual_seed(0)
    clf = H.ClipClassifier(M, T, {"timbre": 3, "melody": 5}, channels=(8, 16), feature_dim=24, groups=4).eval()
    x = clips(4)
    out = clf(x)
    assert list(out) == ["timbre", "melody"] and out["timbre"].shape == (4, 3) and out["melody"].shape == (4, 5)
    assert clf.features(x).shape == (4, 24)
    y1, y2 = torch.tensor([0, 1, 2, 0]), torch.tensor([4, 3, 2, 1])
    loss = H.classifier_loss(clf, (x, y1, y2))
    assert torch.allclose(loss, F.cross_entropy(out["timbre"], y1) + F.cross_entropy(out["melody"], y2))
    with pytest.raises(ValueError, match="label"):
        H.classifier_loss(clf, (x, y1))
    with pytest.raises(ValueError, match="n_frames"):
        H.ClipClassifier(M, 30, {"a": 2})
    with pytest.raises(ValueError, match="n_classes"):
        H.ClipClassifier(M, T, {})
