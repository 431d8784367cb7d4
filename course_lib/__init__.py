"""course_lib: the helper library of the course "Generative models for music"."""
from .config import Context, Cfg, pick_device, profile_name, seed_everything, setup, sizes

__all__ = ["Context", "Cfg", "pick_device", "profile_name", "seed_everything", "setup", "sizes"]
__version__ = "0.1.0"
