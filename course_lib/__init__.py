"""course_lib: the helper library of the course "Generative models for music"."""
from .context import Context, pick_device, seed_everything, setup
from .sizes import Cfg, chapter_sizes, data_sizes, profile_name, resolve

__all__ = ["Context", "Cfg", "chapter_sizes", "data_sizes", "pick_device", "profile_name", "resolve",
           "seed_everything", "setup"]
__version__ = "0.1.0"
