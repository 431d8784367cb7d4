"""Automatic checks for the chapters' exercises: helpful feedback, never a crash.

Each check takes the learner's answer, prints what is right or wrong with a hint, and returns True/False.
An answer that still raises NotImplementedError is reported as "not attempted yet".
One module per chapter (ch00 ... ch09); notebooks call them as `exercises.check_chNN_...`.
"""
from .ch00 import check_ch00_family_counts
from .ch01 import check_ch01_alias, check_ch01_interleave, check_ch01_mu_law, check_ch01_n_frames
from .ch02 import check_ch02_matched_conv, check_ch02_mrstft_loss, check_ch02_overlap_add
from .ch03 import check_ch03_instantaneous_frequency, check_ch03_rows_to_pad, check_ch03_thesis_accuracy
from .ch04 import check_ch04_active_units, check_ch04_gaussian_kl, check_ch04_reparameterize
from .ch05 import check_ch05_cyclical, check_ch05_free_bits, check_ch05_logistic
from .ch06 import check_ch06_pitch_class_entropy, check_ch06_roll_zero_accuracy, check_ch06_transpose
from .ch07 import check_ch07_sample_and_hold, check_ch07_time_shifts, check_ch07_velocity_bins
from .ch08 import check_ch08_ddpm_sigma, check_ch08_karras, check_ch08_precond
from .ch09 import check_ch09_level_dropout, check_ch09_refine, check_ch09_upsample

__all__ = [
    "check_ch00_family_counts", "check_ch01_mu_law", "check_ch01_alias", "check_ch01_n_frames", "check_ch01_interleave",
    "check_ch02_mrstft_loss", "check_ch02_matched_conv", "check_ch02_overlap_add", "check_ch03_rows_to_pad",
    "check_ch03_thesis_accuracy", "check_ch03_instantaneous_frequency", "check_ch04_reparameterize",
    "check_ch04_gaussian_kl", "check_ch04_active_units", "check_ch05_logistic", "check_ch05_cyclical",
    "check_ch05_free_bits", "check_ch06_roll_zero_accuracy", "check_ch06_pitch_class_entropy", "check_ch06_transpose",
    "check_ch07_time_shifts", "check_ch07_sample_and_hold", "check_ch07_velocity_bins", "check_ch08_ddpm_sigma",
    "check_ch08_precond", "check_ch08_karras", "check_ch09_upsample", "check_ch09_refine", "check_ch09_level_dropout",
]
