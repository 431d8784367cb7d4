import pytest
import torch

from course_lib import audio, features


def test_standardizer_global_matches_the_hand_written_form_and_inverts():
    g = torch.Generator().manual_seed(0)
    x = 3.0 + 2.5 * torch.randn(40, 2, 8, 8, generator=g)
    st = features.Standardizer.fit(x)
    mean, std = float(x.mean()), float(x.std())
    assert torch.equal(st(x), (x - mean) / std)  # bit for bit what the notebooks wrote by hand
    y = st(x)
    assert abs(float(y.mean())) < 1e-5 and abs(float(y.std()) - 1) < 1e-5
    assert torch.allclose(st.inverse(y), x, atol=1e-5)


def test_standardizer_per_channel_and_identity():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(30, 2, 5, 7, generator=g) * torch.tensor([1.0, 10.0]).view(1, 2, 1, 1)
    st = features.Standardizer.fit(x, dims=(0, 2, 3))
    assert st.mean.shape == (1, 2, 1, 1)
    y = st(x)
    assert torch.allclose(y.std(dim=(0, 2, 3)), torch.ones(2), atol=1e-5)
    ident = features.Standardizer.identity((1, 2, 1, 1))
    assert torch.equal(ident(x), x) and torch.equal(ident.inverse(x), x)
    assert set(dict(st.named_buffers())) == {"mean", "std", "scale"}  # saved with a model's state_dict


def test_standardizer_target_std_scales_like_edm_notebooks():
    g = torch.Generator().manual_seed(2)
    m = -5 + 4.0 * torch.randn(100, 16, generator=g)
    st = features.Standardizer.fit(m, target_std=0.5)
    mean, raw_std = m.mean().item(), m.std().item()
    assert torch.equal(st(m), (m - mean) * (0.5 / raw_std))
    assert abs(st(m).std().item() - 0.5) < 1e-5
    assert torch.allclose(st.inverse(st(m)), m, atol=1e-4)
    with pytest.raises(ValueError, match="target_std"):
        features.Standardizer(0.0, 1.0, target_std=0)


def test_log_mel_frames_crops_pads_and_batches():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 4096, generator=g)
    whole = audio.log_mel(x, 16000, n_fft=512, hop=128, n_mels=32)
    out = features.log_mel_frames(x, 16000, 512, 128, 32, n_frames=20, batch_size=2)
    assert out.shape == (5, 32, 20) and torch.allclose(out, whole[..., :20], atol=1e-5)
    long = features.log_mel_frames(x, 16000, 512, 128, 32, n_frames=whole.shape[-1] + 3, batch_size=4)
    assert torch.equal(long[..., -1], long[..., -4])  # padded by repeating the last frame
    with pytest.raises(ValueError, match="N, samples"):
        features.log_mel_frames(x[0], 16000, 512, 128, 32, 10)
