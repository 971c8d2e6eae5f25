"""A local AWS emulator (moto in server mode on 127.0.0.1), and the demo organization we seed into it."""

from keysentry.emulator.seed import SeedManifest, seed_demo
from keysentry.emulator.server import Emulator

__all__ = ["Emulator", "SeedManifest", "seed_demo"]
